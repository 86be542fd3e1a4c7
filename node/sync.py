"""One reconciliation with one peer, driven over HTTP.

We are the initiator: the pure ``Reconciler`` says what to send; the peer's
replies go back into it until it is done. Then what we lack is fetched in
batches and ingested like any peer record, and what the peer lacks is pushed
in batches. A session that stopped at ``max_need_ids`` is simply run again.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from aiohttp import web

from node.peer_client import PeerClient
from node.state import CONFIG, INGEST, METRICS, STORE
from protocol.filters import SyncFilter
from protocol.peerwire import MAX_BATCH, MAX_BATCH_BYTES
from protocol.reconcile import ItemSet, Reconciler

log = logging.getLogger("mutualaid.sync")
MAX_SESSIONS = 20  # a peer cannot keep us re-running sessions for ever


def node_filter(app: web.Application) -> SyncFilter:
    """What this node replicates: every kind, in the areas it serves (or all)."""
    areas = app[CONFIG].areas
    return SyncFilter(areas=tuple(areas) if areas else None)


@dataclass
class SyncResult:
    rounds: int = 0
    fetched: int = 0
    accepted: int = 0
    pushed: int = 0
    bytes: int = 0


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


async def reconcile_with(app: web.Application, client: PeerClient, common: SyncFilter) -> SyncResult:
    result = SyncResult()
    store = app[STORE]
    for _ in range(MAX_SESSIONS):
        items = await store.sync_index(common, int(time.time()))
        session = Reconciler(ItemSet(items))
        message: bytes | None = session.initiate()
        while message is not None:
            reply = await client.reconcile(common, message)
            result.bytes += len(message) + len(reply)
            message = session.receive(reply)
        result.rounds += session.rounds
        for start in range(0, len(session.need_ids), MAX_BATCH):
            raws = await client.fetch(session.need_ids[start : start + MAX_BATCH])
            result.fetched += len(raws)
            outcomes = await app[INGEST].ingest(raws, client.key, solicited=True)
            result.accepted += outcomes.count("accepted")
        if session.have_ids:
            raws = await store.get_raw_many(session.have_ids, int(time.time()))
            for batch in batches(raws):
                await client.push(batch)
                result.pushed += len(batch)
        if session.complete:
            break
    app[METRICS].count("sync_sessions_total")
    app[METRICS].count("sync_rounds_total", result.rounds)
    log.info(
        "reconciled with %s: %d rounds, %d fetched (%d new), %d pushed, %d bytes",
        client.url, result.rounds, result.fetched, result.accepted, result.pushed, result.bytes,
    )  # fmt: skip
    return result
