# Gossip's decisions (node/peering/decisions.py) as plain functions: randomness
# from a seeded Random, time as a number, feed entries built in memory.

from __future__ import annotations

import random

import pytest

from node.peering import decisions
from node.peering.decisions import (
    FOUND_GIVE_UP_AFTER,
    MAX_BACKOFF_S,
    MAX_DIALING,
    MIN_RESYNC_GAP_S,
    RESYNC_INTERVAL_S,
)
from node.peering.feed import FeedEntry
from protocol.filters import SyncFilter

PEER, OTHER = b"p" * 32, b"o" * 32


def entry(seq: int, source: bytes | None = None, kind: str = "offer", area: str | None = "u4pru") -> FeedEntry:
    return FeedEntry(seq, bytes([seq]) * 32, b"raw", kind, area, source)


def test_backoff_doubles_per_failure_up_to_the_cap_and_jitters_down_to_half() -> None:
    rng = random.Random(1)
    for failures, full in [(1, 1.0), (2, 2.0), (3, 4.0), (6, 32.0), (7, MAX_BACKOFF_S), (50, MAX_BACKOFF_S)]:
        delays = [decisions.backoff_delay(failures, rng) for _ in range(200)]
        assert all(full / 2 <= d <= full for d in delays), failures
        assert max(delays) - min(delays) > full / 10  # jittered, not one fixed delay


def test_a_peer_that_cannot_be_reached_is_retried_within_seconds_however_long_it_was_gone() -> None:
    rng = random.Random(2)
    for failures in (1, 3, 5, 50):
        full = min(decisions.UNREACHABLE_MAX_BACKOFF_S, 0.5 * 2**failures)
        delays = [decisions.backoff_delay(failures, rng, unreachable=True) for _ in range(200)]
        assert all(full / 2 <= d <= full for d in delays), failures
    assert decisions.backoff_delay(50, random.Random(3)) > decisions.UNREACHABLE_MAX_BACKOFF_S  # one that answers


def test_the_jitter_comes_from_the_rng_given() -> None:
    first = [decisions.backoff_delay(3, random.Random(9)) for _ in range(3)]
    assert first == [decisions.backoff_delay(3, random.Random(9))] * 3


def test_only_a_found_peer_gives_up_and_only_after_a_few_failures() -> None:
    assert not decisions.gives_up(True, FOUND_GIVE_UP_AFTER - 1)
    assert decisions.gives_up(True, FOUND_GIVE_UP_AFTER)
    assert not decisions.gives_up(False, 1000)  # a configured peer is retried for ever


def test_the_periodic_resync_is_spread_within_a_fifth_of_its_interval() -> None:
    rng = random.Random(2)
    delays = [decisions.resync_delay(rng) for _ in range(500)]
    assert all(0.8 * RESYNC_INTERVAL_S <= d <= 1.2 * RESYNC_INTERVAL_S for d in delays)
    assert min(delays) < 0.85 * RESYNC_INTERVAL_S and max(delays) > 1.15 * RESYNC_INTERVAL_S


@pytest.mark.parametrize(
    ("behind", "short", "now", "last", "expected"),
    [
        (False, False, 1000.0, None, False),  # nothing asks for it
        (True, False, 1000.0, None, True),  # fell behind the peer's feed, never resynced for it
        (False, True, 1000.0, None, True),  # the fetch budget left announced records out
        (True, False, 1000.0, 1000.0 - MIN_RESYNC_GAP_S, False),  # too soon after the last
        (False, True, 1000.0, 1000.0 - MIN_RESYNC_GAP_S - 0.1, True),
    ],
)
def test_a_pull_resyncs_when_behind_or_short_at_most_every_gap(
    behind: bool, short: bool, now: float, last: float | None, expected: bool
) -> None:
    assert decisions.resync_after_pull(behind, short, now, last) is expected


def test_push_offers_what_the_peer_shares_and_did_not_send_unless_it_polls_us() -> None:
    common = SyncFilter(areas=("u4pr",))
    entries = [
        entry(1),  # posted here, in the area: offered
        entry(2, source=PEER),  # came from that peer: never sent back
        entry(3, source=OTHER),  # from another peer: offered
        entry(4, area="ezs42"),  # outside the common filter: not even announced
        entry(5, kind="node", area=None),  # a node profile: every filter admits those
    ]
    offered = decisions.to_push(entries, PEER, common, polling=False)
    assert [e.seq for e in offered] == [1, 3, 5]
    assert decisions.to_push(entries, PEER, common, polling=True) == []  # its long poll tells it


@pytest.mark.parametrize(
    ("max_peers", "found", "dialing", "slots"),
    [(8, 0, 0, MAX_DIALING), (8, 6, 0, 2), (8, 5, MAX_DIALING - 1, 1), (8, 8, 0, 0), (2, 5, 0, 0), (8, 4, 9, 0)],
)
def test_slots_fill_up_to_max_peers_a_few_dials_at_a_time(max_peers: int, found: int, dialing: int, slots: int) -> None:
    assert decisions.dial_slots(max_peers, found, dialing) == slots


def test_found_urls_keep_what_a_node_like_ours_may_dial() -> None:
    urls = ["http://192.168.1.5:8440/", "http://127.0.0.1:9000", "http://8.8.4.4:8440", "ftp://x:1",
            "http://198.51.100.1:8440"]  # fmt: skip
    own = {"http://198.51.100.1:8440"}
    assert decisions.found_urls(urls, "mdns", own=own, listens_on_loopback=False) == [
        "http://192.168.1.5:8440",
        "http://8.8.4.4:8440",
    ]
    # Relayed from afar: no private (nor documentation) addresses; a node on loopback may dial loopback.
    assert decisions.found_urls(urls, "exchange", own=own, listens_on_loopback=True) == [
        "http://127.0.0.1:9000",
        "http://8.8.4.4:8440",
    ]
