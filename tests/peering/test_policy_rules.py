# Local policy in memory, with a hand-turned clock: the push limits per peer,
# per (peer, author) and by bytes, the fetch budget, the penalty that turns
# into a ban and wears off, and scores that survive a save and a restore.

from __future__ import annotations

import pytest

from node.core.clock import ManualClock
from node.peering import policy as policy_module
from node.peering.policy import Limits, Policy

PEER, OTHER, AUTHOR = b"p" * 32, b"o" * 32, b"a" * 32
SMALL = Limits(peer_rate=1.0, peer_burst=3.0, author_rate=1.0, author_burst=2.0, peer_bytes_burst=1000.0)


def test_pushes_are_limited_per_peer_and_per_author_as_relayed_by_that_peer() -> None:
    clock = ManualClock()
    policy = Policy(SMALL, clock)
    assert [policy.admit_pushed(PEER, AUTHOR) for _ in range(3)] == [None, None, "rate_limited"]  # author's burst
    assert policy.admit_pushed(OTHER, AUTHOR) is None  # the same author through another peer: its own budget
    # The refused third record still spent the peer's third token: its burst is gone.
    assert policy.admit_pushed(PEER, b"b" * 32) == "rate_limited"
    clock.advance(1.0)
    assert policy.admit_pushed(PEER, b"b" * 32) is None
    assert policy.admit_pushed(PEER, b"c" * 32) == "rate_limited"


def test_bytes_are_limited_too_and_the_fetch_budget_is_the_push_budget() -> None:
    policy = Policy(SMALL, ManualClock())
    assert policy.admit_pushed(PEER, AUTHOR, size=900) is None
    assert policy.admit_pushed(PEER, b"b" * 32, size=200) == "rate_limited"
    assert policy.fetch_budget(OTHER, 10) == 3
    assert policy.fetch_budget(OTHER, 10) == 0


def test_invalid_records_ban_a_peer_for_a_while_and_points_wear_off() -> None:
    clock = ManualClock()
    policy = Policy(Limits(penalty_limit=10.0, penalty_recovery_per_s=1.0, ban_seconds=60.0), clock)
    policy.penalise(PEER, 6.0)
    clock.advance(4.0)
    assert policy.penalty(PEER) == 6.0  # read as last counted
    policy.penalise(PEER, 6.0)  # 6 - 4 recovered + 6 = 8: still under
    assert policy.refusal(PEER) is None and policy.penalty(PEER) == 8.0
    policy.penalise(PEER, 2.0)
    refusal = policy.refusal(PEER)
    assert refusal is not None and "try again in 60 s" in refusal
    clock.advance(60.0)
    assert policy.refusal(PEER) is None


def test_blocks_and_the_allow_list_come_before_anything_else() -> None:
    policy = Policy(clock=ManualClock())
    policy.load([("peer", PEER, "block"), ("author", AUTHOR, "block")])
    assert policy.refusal(PEER) == "this node has blocked your key"
    assert policy.refusal(OTHER) is None and AUTHOR in policy.blocked_authors
    policy.load([("peer", PEER, "allow")])
    assert policy.refusal(PEER) is None
    assert policy.refusal(OTHER) == "this node only peers with the nodes on its allow list"


def test_a_repeated_over_rate_push_within_half_a_second_is_ignoring_the_limit() -> None:
    clock = ManualClock()
    policy = Policy(clock=clock)
    assert not policy.ignored_limit(PEER)
    clock.advance(0.2)
    assert policy.ignored_limit(PEER)
    clock.advance(1.0)
    assert not policy.ignored_limit(PEER)


def test_scores_and_bans_survive_a_save_and_a_restore() -> None:
    clock = ManualClock(wall=1_700_000_000, monotonic=500.0)
    policy = Policy(Limits(penalty_limit=10.0, ban_seconds=600.0), clock)
    policy.penalise(PEER, 4.0)
    policy.penalise(OTHER, 10.0)
    saved = policy.dirty_scores(clock.monotonic(), clock.wall())
    assert policy.dirty_scores(clock.monotonic(), clock.wall()) == []  # nothing changed since
    later = ManualClock(wall=1_700_000_100, monotonic=20.0)  # a restart: the monotonic clock starts afresh
    restored = Policy(Limits(penalty_limit=10.0, ban_seconds=600.0), later)
    restored.restore_scores(saved, later.monotonic(), later.wall())
    assert restored.penalty(PEER) == 4.0
    refusal = restored.refusal(OTHER)
    assert refusal is not None and "try again in 500 s" in refusal


def test_the_ban_table_stays_bounded_and_makes_room_from_bans_that_ran_out(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(policy_module, "MAX_TRACKED", 3)
    clock = ManualClock()
    policy = Policy(Limits(penalty_limit=1.0, ban_seconds=10.0), clock)
    keys = [bytes([n]) * 32 for n in range(5)]
    policy.penalise(keys[0], 1.0)
    clock.advance(20.0)  # key 0's ban ran out
    for key in keys[1:4]:
        policy.penalise(key, 1.0)
    assert len(policy._banned_until) == 3
    assert all(policy.refusal(key) for key in keys[1:4])
    policy.penalise(keys[4], 1.0)  # full of live bans: the oldest goes
    assert len(policy._banned_until) == 3 and policy.refusal(keys[4])
