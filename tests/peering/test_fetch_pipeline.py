# A sync's fetch pipeline (node/peering/sync.py): batches are fetched, checked
# and stored at once, yet each is stored after the one fetched before it. A
# real Ingestor on a real store; the peer's side is an in-memory stand-in for
# PeerClient.fetch (the HTTP path is the node tests': a whole initial sync
# between node processes).

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any, cast

import pytest

from crypto import NodeIdentity
from node.core.clock import ManualClock
from node.core.metrics import Metrics
from node.peering.feed import RecordFeed
from node.peering.ingest import Ingestor
from node.peering.peer_client import PeerClient, PeerUnavailable
from node.peering.policy import Limits, Policy
from node.peering.sync import CHECK_AHEAD, Progress, SyncResult, _fetch_all
from protocol.filters import SyncFilter
from protocol.peerwire import MAX_BATCH
from protocol.records import Record
from storage import RecordStore
from tests.peering.conftest import make_post

NOW = 1_750_000_000
PEER = NodeIdentity.generate()


class Peer:
    """What ``_fetch_all`` asks of a PeerClient: its key, its URL and ``fetch``;
    the fetch numbered ``fails_at`` (from 0) fails as an unreachable peer's would."""

    def __init__(self, records: Sequence[Record], fails_at: int | None = None) -> None:
        self.key = PEER.public_key
        self.url = "http://peer.invalid"
        self.raws = {record.id: record.raw for record in records}
        self.fetches = 0
        self.fails_at = fails_at

    async def fetch(self, ids: list[bytes]) -> list[bytes]:
        await asyncio.sleep(0)
        self.fetches += 1
        if self.fetches - 1 == self.fails_at:
            raise PeerUnavailable("connection reset")
        return [self.raws[record_id] for record_id in ids]


async def fetch_all(
    peer: Peer, ids: list[bytes], ingest: Ingestor, result: SyncResult, progress: Progress | None
) -> None:
    await _fetch_all(cast(PeerClient, peer), ids, ingest, result, progress)


class Watched(Ingestor):
    """The real ingest, counting how many of its calls run at once."""

    running = 0
    most = 0

    async def ingest(self, raws: Sequence[bytes], source: bytes | None, **options: Any) -> list[str]:
        self.running += 1
        self.most = max(self.most, self.running)
        try:
            return await super().ingest(raws, source, **options)
        finally:
            self.running -= 1


@pytest.fixture
async def ingest(tmp_path: Path) -> AsyncIterator[Watched]:
    clock = ManualClock(wall=NOW)
    store = await RecordStore.open(str(tmp_path / "records.db"))
    try:
        yield Watched(store, RecordFeed(), Metrics(), Policy(Limits(), clock), SyncFilter(areas=("u4pr",)), clock)
    finally:
        await store.close()


def posts(count: int) -> list[Record]:
    authors = [NodeIdentity.generate() for _ in range(4)]
    return [make_post(authors[n % 4], f"Seed tray {n}", created_at=NOW - 60 - n) for n in range(count)]


async def test_batches_are_checked_ahead_and_stored_in_the_order_fetched(ingest: Watched) -> None:
    records = posts(5 * MAX_BATCH + 7)
    ids = [record.id for record in records]
    result, seen = SyncResult(), list[tuple[int, int]]()
    await fetch_all(Peer(records), ids, ingest, result, lambda _, done, total: seen.append((done, total)))
    assert (result.fetched, result.accepted) == (len(ids), len(ids))
    entries, _, _ = ingest.feed.since(0, b"", len(ids))
    assert [entry.id for entry in entries] == ids  # published, so stored, in the order fetched
    assert 2 < ingest.most <= CHECK_AHEAD + 1  # more than one batch checked while one is stored
    assert seen[-1] == (len(ids), len(ids)) and [done for done, _ in seen] == sorted(done for done, _ in seen)


async def test_a_peer_lost_mid_sync_leaves_the_batches_before_it_stored_in_order(ingest: Watched) -> None:
    records = posts(6 * MAX_BATCH)
    ids = [record.id for record in records]
    with pytest.raises(PeerUnavailable):
        await fetch_all(Peer(records, fails_at=5), ids, ingest, SyncResult(), None)
    assert ingest.running == 0  # none left behind
    held = await ingest.store.reads.held_ids(ids)
    kept = sum(1 for record_id in ids if record_id in held)
    assert MAX_BATCH <= kept < len(ids)
    assert held == set(ids[:kept])  # whole batches, from the first: never one stored before the one ahead of it
    assert kept % MAX_BATCH == 0
