# The ingestor with its collaborators in memory: a real RecordStore on a file in
# tmp_path, a fresh feed and policy, and a manual clock that decides what is
# expired or from the future. No node, no HTTP.

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from crypto import NodeIdentity
from node.core.clock import ManualClock
from node.core.metrics import Metrics
from node.peering.feed import RecordFeed
from node.peering.ingest import Ingestor
from node.peering.policy import Limits, Policy
from protocol.filters import SyncFilter
from protocol.records import DAY, MAX_FUTURE_SKEW, Record, build_record
from storage import RecordStore
from tests.peering.conftest import make_post

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
