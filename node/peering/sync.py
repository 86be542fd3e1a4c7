"""One reconciliation with one peer, driven over HTTP.

We are the initiator: the pure ``Reconciler`` says what to send; the peer's
replies go back into it until it is done. Then what we lack is fetched in
batches and ingested like any peer record, and what the peer lacks is pushed
in batches. A session that stopped at ``max_need_ids`` is simply run again.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web

from node.core.clock import SYSTEM_CLOCK, Clock
from node.core.config import NodeConfig
from node.core.metrics import Metrics
from node.peering.ingest import Ingestor
from node.peering.peer_client import PeerClient, PeerUnavailable
from protocol.filters import SyncFilter
from protocol.peerwire import MAX_BATCH, MAX_BATCH_BYTES
from protocol.reconcile import PROTOCOL_VERSION, Items, Reconciler
from storage import RecordStore

log = logging.getLogger("mutualaid.sync")
MAX_SESSIONS = 20  # a peer cannot keep us re-running sessions for ever
PACED_PUSH_S = 120.0
CHECK_AHEAD = 3
"""Batches of a sync in the ingest beyond the one being stored once the next
fetch is in (one fewer while it is on the wire): decoded and verified, or
done and waiting for the batch before them, so a checker has the next batch
the moment it is done with one. With one, the checker
processes, which a sync on two cores waits on most, sat idle whenever a
store ran long: 100k on two cores ran 1.51x the one-core rate at the median
of eleven alternating pairs, 1.54x with three (fifteen pairs; docs/NODE.md)."""
Progress = Callable[[str, int, int], None]
SYNC_PROGRESS: web.AppKey[Progress] = web.AppKey("sync_progress")
"""Optional: told (peer URL, records fetched, records to fetch) after each batch."""


def node_filter(config: NodeConfig) -> SyncFilter:
    """What this node replicates: every kind, in the areas it serves (or all)."""
    return SyncFilter(areas=tuple(config.areas) if config.areas else None)


@dataclass
class SyncResult:
    rounds: int = 0
    fetched: int = 0  # records fetched and through the ingest
    accepted: int = 0
    pushed: int = 0
    pushed_new: int = 0  # of those pushed, the ones the peer did not hold
    bytes: int = 0
    complete: bool = True  # False: it stopped with differences left (session cap, or the peer's rate)


def batches(raws: list[bytes]) -> list[list[bytes]]:
    """Cut records into peer messages of at most MAX_BATCH items and MAX_BATCH_BYTES."""
    out: list[list[bytes]] = [[]]
    size = 0
    for raw in raws:
        if out[-1] and (len(out[-1]) >= MAX_BATCH or size + len(raw) > MAX_BATCH_BYTES):
            out.append([])
            size = 0
        out[-1].append(raw)
        size += len(raw)
    return [batch for batch in out if batch]


async def _fetch_all(
    client: PeerClient, ids: list[bytes], ingest: Ingestor, result: SyncResult, progress: Progress | None
) -> None:
    """Fetch in batches and ingest them in order, every stage at once: the
    next batch on the wire, one being stored, and up to ``CHECK_AHEAD`` after
    it being decoded and verified (in checker processes or worker threads).
    A node's cores stay busy, and each batch is stored only after the one
    before (``Ingestor.ingest``'s ``after``)."""
    chunks = [ids[start : start + MAX_BATCH] for start in range(0, len(ids), MAX_BATCH)]
    pending = asyncio.ensure_future(client.fetch(chunks[0])) if chunks else None
    ingesting: collections.deque[asyncio.Future[list[str]]] = collections.deque()  # the oldest is storing
    try:
        for index in range(len(chunks)):
            assert pending is not None
            raws = await pending
            pending = asyncio.ensure_future(client.fetch(chunks[index + 1])) if index + 1 < len(chunks) else None
            after = ingesting[-1] if ingesting else None
            ingesting.append(asyncio.ensure_future(ingest.ingest(raws, client.key, solicited=True, after=after)))
            while len(ingesting) > CHECK_AHEAD:
                _count(await ingesting.popleft(), client.url, result, progress, len(ids))
        while ingesting:
            _count(await ingesting.popleft(), client.url, result, progress, len(ids))
    finally:
        # Every one cancelled before any is waited for (a batch stops at once
        # when the one before it ends unstored: ``BatchAbandoned``), and the
        # failures of those already done read, as no one else will.
        left = [task for task in (pending, *ingesting) if task is not None]
        for task in left:
            task.cancel()
        for task in left:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


def _count(outcomes: list[str], url: str, result: SyncResult, progress: Progress | None, total: int) -> None:
    """A batch through the ingest: counted, and the progress told how many are."""
    result.fetched += len(outcomes)
    result.accepted += outcomes.count("accepted")
    if progress is not None:
        progress(url, result.fetched, total)


async def push_paced(
    client: PeerClient, raws: list[bytes], give_up_s: float = PACED_PUSH_S, clock: Clock = SYSTEM_CLOCK
) -> tuple[int, int]:
    """Push records the peer lacks at the pace it takes them: records it
    refuses as over its rate go back in the queue, and the next batch is the
    size of what it took last (PeerClient.push waits a second after such a
    reply), until the peer has them all or ``give_up_s`` passes (it gets the
    rest when it next reconciles). Returns how many it took, and how many of
    those were new to it."""
    taken = new = 0
    queue = list(raws)
    size = MAX_BATCH
    deadline = clock.monotonic() + give_up_s
    while queue and clock.monotonic() < deadline:
        batch = batches(queue[:size])[0]
        queue = queue[len(batch) :]
        outcomes = await client.push(batch)
        limited = [raw for raw, outcome in zip(batch, outcomes, strict=False) if outcome == "rejected:rate_limited"]
        taken += len(batch) - len(limited)
        new += outcomes.count("accepted")
        if limited:
            queue = limited + queue
            size = max(10, len(batch) - len(limited))
        else:
            size = min(MAX_BATCH, size * 2)
    return taken, new


_REFUSED_VERSION = "(bad_reconcile_message)"
"""How a node before reconcile version 2 answers our opener (HTTP 400 with this code)."""


async def _session(client: PeerClient, common: SyncFilter, index: Items, result: SyncResult) -> Reconciler:
    """Run one reconciliation to its end. A node before version 2 refuses the
    opener itself; we then start again in version 1 (one small round trip lost)."""
    for version in (PROTOCOL_VERSION, 1):
        session = Reconciler(index, version=version)
        message: bytes | None = session.initiate()
        try:
            while message is not None:
                reply = await client.reconcile(common, message)
                result.bytes += len(message) + len(reply)
                message = session.receive(reply)
        except PeerUnavailable as exc:
            if session.rounds or version == 1 or _REFUSED_VERSION not in str(exc):
                raise
            continue
        return session
    raise AssertionError("version 1 either ends or raises")


async def reconcile_with(
    client: PeerClient,
    common: SyncFilter,
    *,
    store: RecordStore,
    ingest: Ingestor,
    metrics: Metrics,
    clock: Clock = SYSTEM_CLOCK,
    progress: Progress | None = None,
    settle_s: float = 0.0,
) -> SyncResult:
    """Reconcile ``common`` with the peer behind ``client``: fetch what we lack
    (into ``ingest``), push what it lacks (from ``store``), count it in
    ``metrics``. With ``settle_s``, what differs is moved only that long after
    it is found (a lazy link's reconciliation: records on their way over other
    links arrive meanwhile, and are then neither fetched nor counted as new)."""
    result = SyncResult()
    for _ in range(MAX_SESSIONS):
        session = await _session(client, common, await store.sync.items(common, clock.wall()), result)  # kept live
        result.rounds += session.rounds
        need = session.need_ids
        if settle_s > 0 and (need or session.have_ids):
            await asyncio.sleep(settle_s)
            held = await store.reads.held_ids(need)
            need = [record_id for record_id in need if record_id not in held]
        await _fetch_all(client, need, ingest, result, progress)
        if session.have_ids:
            raws = await store.reads.get_raw_many(session.have_ids, clock.wall())
            pushed: tuple[int, int] = await push_paced(client, raws, clock=clock)
            result.pushed += pushed[0]
            result.pushed_new += pushed[1]
            result.complete = result.complete and pushed[0] == len(raws)
        if session.complete:
            break
    else:
        result.complete = False
    metrics.count("sync_sessions_total")
    metrics.count("sync_rounds_total", result.rounds)
    moved = result.fetched or result.pushed  # a lazy link agrees every few seconds: that is not news
    log.log(
        logging.INFO if moved else logging.DEBUG,
        "reconciled with %s: %d rounds, %d fetched (%d new), %d pushed, %d bytes",
        client.url, result.rounds, result.fetched, result.accepted, result.pushed, result.bytes,
    )  # fmt: skip
    return result
