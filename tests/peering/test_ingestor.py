# The ingestor with its collaborators in memory: a real RecordStore on a file in
# tmp_path, a fresh feed and policy, and a manual clock that decides what is
# expired or from the future. No node, no HTTP.

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from crypto import NodeIdentity
from node.core.clock import ManualClock
from node.core.metrics import Metrics
from node.peering.checkers import VERIFY_SHARE_MIN, shares
from node.peering.feed import RecordFeed
from node.peering.ingest import Ingestor, verify_parallel
from node.peering.policy import Limits, Policy
from protocol.filters import SyncFilter
from protocol.records import DAY, MAX_FUTURE_SKEW, Record, build_record, parse_record
from storage import RecordStore
from tests.peering.conftest import make_post
from tests.peering.test_chapter_decisions import decision

NOW = 1_750_000_000
PEER = NodeIdentity.generate()


@dataclass
class Parts:
    ingest: Ingestor
    store: RecordStore
    feed: RecordFeed
    policy: Policy
    metrics: Metrics
    clock: ManualClock


@pytest.fixture
async def parts(tmp_path: Path) -> AsyncIterator[Parts]:
    clock = ManualClock(wall=NOW)
    store = await RecordStore.open(str(tmp_path / "records.db"))
    feed, metrics = RecordFeed(), Metrics()
    policy = Policy(Limits(peer_burst=5.0, penalty_limit=3.0), clock)
    ingest = Ingestor(store, feed, metrics, policy, SyncFilter(areas=("u4pr",)), clock)
    try:
        yield Parts(ingest, store, feed, policy, metrics, clock)
    finally:
        await store.close()


def post(author: NodeIdentity, title: str, *, created_at: int = NOW - 60, ttl_s: int = 7 * DAY) -> Record:
    return make_post(author, title, created_at=created_at, ttl_s=ttl_s)


async def test_a_batch_is_sorted_out_record_by_record_and_the_new_ones_reach_the_feed(parts: Parts) -> None:
    author = NodeIdentity.generate()
    fresh, held = post(author, "Soup pot to lend"), post(author, "Jump leads")
    assert await parts.ingest.ingest([held.raw], None) == ["accepted"]
    expired = post(author, "Old coat", created_at=NOW - 3 * DAY, ttl_s=DAY)
    future = post(author, "Tomorrow's bread", created_at=NOW + MAX_FUTURE_SKEW + 60)
    tampered = bytearray(post(author, "Paraffin lantern").raw)
    tampered[tampered.index(b"lantern")] ^= 0x01  # still well formed, no longer signed
    outcomes = await parts.ingest.ingest(
        [fresh.raw, held.raw, expired.raw, future.raw, bytes(tampered), b"\x00junk"], PEER.public_key
    )
    assert outcomes[:5] == [
        "accepted",
        "duplicate",
        "rejected:expired",
        "rejected:from_future",
        "rejected:bad_signature",
    ]
    assert outcomes[5].startswith("rejected:")
    assert await parts.store.reads.held_ids([fresh.id, expired.id, future.id]) == {fresh.id}
    entries, _, _ = parts.feed.since(0, b"", 10)
    assert [(e.id, e.source) for e in entries] == [(held.id, None), (fresh.id, PEER.public_key)]
    assert parts.feed.since(0, PEER.public_key, 10)[0] == entries[:1]  # never sent back to the peer it came from
    assert parts.policy.penalty(PEER.public_key) > 2.0  # the bad signature and the junk cost the most


async def test_the_clock_decides_what_is_expired(parts: Parts) -> None:
    author = NodeIdentity.generate()
    short = post(author, "Ladder, this afternoon", ttl_s=3600)
    parts.clock.advance(3600)
    assert await parts.ingest.ingest([short.raw], None) == ["rejected:expired"]
    assert await parts.store.reads.held_ids([short.id]) == set()


async def test_local_policy_refuses_without_charging_the_peer(parts: Parts) -> None:
    blocked, author = NodeIdentity.generate(), NodeIdentity.generate()
    parts.policy.load([("author", blocked.public_key, "block")])
    outside = in_area(author, "ezs42")  # this node serves u4pr only
    outcomes = await parts.ingest.ingest([post(blocked, "Spam").raw, outside.raw], PEER.public_key)
    assert outcomes == ["rejected:blocked_author", "rejected:not_served"]
    assert parts.policy.penalty(PEER.public_key) == 0


async def test_records_pushed_unasked_are_rate_limited_but_fetched_ones_are_not(parts: Parts) -> None:
    author = NodeIdentity.generate()
    pushed = [post(author, f"Pushed {n}").raw for n in range(8)]
    outcomes = await parts.ingest.ingest(pushed, PEER.public_key)
    assert outcomes == ["accepted"] * 5 + ["rejected:rate_limited"] * 3  # the peer's burst is 5
    fetched = [post(author, f"Fetched {n}").raw for n in range(8)]
    assert await parts.ingest.ingest(fetched, PEER.public_key, solicited=True) == ["accepted"] * 8
    parts.clock.advance(1.0)  # a second later the bucket has refilled a little
    assert (await parts.ingest.ingest([post(author, "One more").raw], PEER.public_key)) == ["accepted"]


async def test_a_banned_peer_is_refused_whole_until_the_ban_runs_out(parts: Parts) -> None:
    author = NodeIdentity.generate()
    junk = [b"\x00junk"] * 3
    await parts.ingest.ingest(junk, PEER.public_key)
    assert parts.policy.refusal(PEER.public_key) is not None
    good = post(author, "Bread")
    assert await parts.ingest.ingest([good.raw], PEER.public_key) == ["rejected:peer_refused"]
    parts.clock.advance(Limits().ban_seconds)
    assert await parts.ingest.ingest([good.raw], PEER.public_key) == ["accepted"]
    assert parts.metrics.render({}).count("rejected") > 0


def in_area(author: NodeIdentity, area: str) -> Record:
    body = {"kind": "offer", "slot": f"area-{area}", "created_at": NOW - 60, "expires_at": NOW + DAY,
            "status": "open", "title": "Far away", "category": "food", "area": area}  # fmt: skip
    return build_record(author, body)


@pytest.mark.parametrize("count", [0, 1, 63, 64, 127, 128, 129, 1000, 1001])
@pytest.mark.parametrize("workers", [1, 2, 3, 8])
def test_a_batch_is_cut_into_contiguous_shares_of_at_least_the_minimum(count: int, workers: int) -> None:
    ranges = shares(count, workers)
    assert [i for r in ranges for i in r] == list(range(count))  # every record once, in order
    assert 1 <= len(ranges) <= workers
    assert len(ranges) == 1 or min(len(r) for r in ranges) >= VERIFY_SHARE_MIN
    assert max(len(r) for r in ranges) - min(len(r) for r in ranges) <= 1  # the cores get even shares


@pytest.mark.parametrize("workers", [1, 2, 4])
async def test_signatures_checked_in_several_threads_come_back_in_the_batch_order(workers: int) -> None:
    author = NodeIdentity.generate()
    batch = [post(author, f"Jar {n}") for n in range(300)]
    bad = {5, 150, 299}  # one in each share
    for n in bad:
        raw = bytearray(batch[n].raw)
        raw[raw.index(f"Jar {n}".encode())] ^= 0x01
        batch[n] = parse_record(bytes(raw))
    ok, cpu_s = await verify_parallel(batch, workers)
    assert ok == [n not in bad for n in range(300)]
    assert cpu_s > 0


async def test_a_batch_ingested_after_another_is_stored_after_it_and_sees_it(parts: Parts) -> None:
    # A sync ingests batch N+1 while batch N is being stored; a chapter's chain
    # must still be judged as if they came one after the other: the first of two
    # conflicting decisions, in the order fetched, is the one kept.
    chapter = NodeIdentity.generate()
    times = {"created_at": NOW - 60, "expires_at": NOW + 30 * DAY, "opened_at": NOW - 120, "closed_at": NOW - 60}
    first = decision(chapter, 1, None, "Open on Sundays", **times)
    unchained = decision(chapter, 2, bytes(32), "Close on Sundays", **times)  # names another first decision
    earlier = asyncio.ensure_future(parts.ingest.ingest([first.raw], PEER.public_key, solicited=True))
    later = asyncio.ensure_future(parts.ingest.ingest([unchained.raw], PEER.public_key, solicited=True, after=earlier))
    assert await later == ["rejected:chain_broken"]
    assert await earlier == ["accepted"]
