# A sync's fetch pipeline (node/peering/sync.py): batches are fetched, checked
# and stored at once, yet each is stored after the one fetched before it. A
# real Ingestor on a real store; the peer's side is an in-memory stand-in for
# PeerClient.fetch (the HTTP path is the node tests': a whole initial sync
# between node processes).

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator, Sequence
from itertools import islice
from pathlib import Path
from typing import Any, cast

import pytest

from crypto import NodeIdentity
from node.core.clock import ManualClock
from node.core.metrics import Metrics
from node.peering import ingest as ingest_module
from node.peering.feed import RecordFeed
from node.peering.ingest import Ingestor
from node.peering.peer_client import PeerClient, PeerUnavailable
from node.peering.policy import Limits, Policy
from node.peering.sync import CHECK_AHEAD, Progress, SyncResult, _fetch_all
from protocol.filters import SyncFilter
from protocol.peerwire import MAX_BATCH
from protocol.records import Record
from protocol.replies import ReplyText, build_reply
from storage import RecordStore
from storage.errors import StorageError
from storage.versions import PutOutcome
from tests.peering.conftest import make_post

NOW = 1_750_000_000
PEER = NodeIdentity.generate()


class Peer:
    """What ``_fetch_all`` asks of a PeerClient: its key, its URL and ``fetch``;
    the fetch numbered ``fails_at`` (from 0) fails as an unreachable peer's
    would, the one numbered ``slow_at`` waits on ``go`` first."""

    def __init__(self, records: Sequence[Record], fails_at: int | None = None, slow_at: int | None = None) -> None:
        self.key = PEER.public_key
        self.url = "http://peer.invalid"
        self.raws = {record.id: record.raw for record in records}
        self.fetches = 0
        self.fails_at, self.slow_at = fails_at, slow_at
        self.go = asyncio.Event()

    async def fetch(self, ids: list[bytes]) -> list[bytes]:
        await asyncio.sleep(0)
        self.fetches += 1
        if self.fetches - 1 == self.slow_at:
            await self.go.wait()
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
    # Told after each batch is through, how many are: never ahead of what is stored.
    assert [done for done, _ in seen] == [min(n * MAX_BATCH, len(ids)) for n in range(1, 7)]
    assert {total for _, total in seen} == {len(ids)}


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


async def test_a_batch_that_fails_to_store_stops_every_batch_after_it(
    ingest: Watched, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The second batch's put fails (a full disk, say) while the sync waits on a
    # slow fetch: the batches checked behind it must not be stored after the gap.
    records = posts(6 * MAX_BATCH)
    ids = [record.id for record in records]
    put_many, puts = ingest.store.writer.put_many, list[int]()
    peer = Peer(records, slow_at=4)

    async def failing(records: Sequence[Record], now: int, **options: Any) -> list[PutOutcome]:
        puts.append(len(records))
        if len(puts) == 2:
            asyncio.get_running_loop().call_later(0.2, peer.go.set)  # the batches behind it have had time
            raise StorageError("SQLite failed on records.db: database or disk is full")
        return await put_many(records, now, **options)

    monkeypatch.setattr(ingest.store.writer, "put_many", failing)
    unretrieved = list[dict[str, Any]]()
    asyncio.get_running_loop().set_exception_handler(lambda _, context: unretrieved.append(context))
    with pytest.raises(StorageError, match="disk is full"):
        await fetch_all(peer, ids, ingest, SyncResult(), None)
    assert await ingest.store.reads.held_ids(ids) == set(ids[:MAX_BATCH])
    assert puts == [MAX_BATCH, MAX_BATCH]  # no batch behind the failed one got to its put
    gc.collect()
    assert unretrieved == []  # every batch's failure was read ("Task exception was never retrieved")


async def test_one_senders_replies_over_many_batches_are_capped_as_in_one(
    ingest: Watched, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Batches are checked ahead of the one being stored, yet the cap on one
    # sender's replies to one post counts what the batches before stored.
    monkeypatch.setattr(ingest_module, "MAX_REPLIES_PER_SENDER", 3)
    post, sender = make_post(NodeIdentity.generate(), "Pram", created_at=NOW - 3600), NodeIdentity.generate()
    seal_key = NodeIdentity.generate().seal_public_key
    replies = [
        build_reply(sender, post, seal_key, ReplyText(f"Is it still free? ({n})", "", NOW - 60), NOW - 60, slot=f"r{n}")
        for n in range(8)
    ]
    filler = iter(posts(4 * MAX_BATCH))
    records = [record for b in range(4) for record in [*replies[2 * b : 2 * b + 2], *islice(filler, MAX_BATCH - 2)]]
    ids = [record.id for record in records]
    result = SyncResult()
    await fetch_all(Peer(records), ids, ingest, result, None)
    assert ingest.most > 2 and result.fetched == len(ids)
    held = await ingest.store.reads.held_ids([reply.id for reply in replies])
    assert held == {reply.id for reply in replies[:3]}  # the first three fetched, as one batch would keep
