"""How records from outside get in: the cheapest checks first, the signature last.

For a batch from a peer: decode and field rules and the clock (pure, cheap),
then drop the ids we already hold (one indexed lookup, before any signature
work), then verify signatures in a worker thread (off the event loop), then
one ``put_many``. Accepted records go to the feed for long-polling peers,
tagged with the peer they came from so they are never sent back to it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence

from node.feed import RecordFeed
from node.metrics import Metrics
from protocol.errors import RemoteProtocolError, SignatureInvalid
from protocol.records import Record, check_time, parse_record, verify_record
from storage import RecordStore

log = logging.getLogger("mutualaid.ingest")


def _verify_all(records: Sequence[Record]) -> list[bool]:
    ok = []
    for record in records:
        try:
            verify_record(record)
            ok.append(True)
        except SignatureInvalid:
            ok.append(False)
    return ok


class Ingestor:
    def __init__(self, store: RecordStore, feed: RecordFeed, metrics: Metrics) -> None:
        self.store = store
        self.feed = feed
        self.metrics = metrics

    async def ingest(self, raws: Sequence[bytes], source: bytes | None) -> list[str]:
        """One outcome per raw record: accepted, duplicate, superseded, or rejected:<reason>."""
        now = int(time.time())
        outcomes: list[str] = ["" for _ in raws]
        parsed: list[tuple[int, Record]] = []
        for index, raw in enumerate(raws):
            try:
                record = parse_record(raw)
                check_time(record, now)
            except RemoteProtocolError as exc:
                outcomes[index] = f"rejected:{getattr(exc, 'reason', exc.code)}"
                continue
            parsed.append((index, record))
        held = await self.store.held_ids([record.id for _, record in parsed])
        fresh = [(i, r) for i, r in parsed if r.id not in held]
        for i, r in parsed:
            if r.id in held:
                outcomes[i] = "duplicate"
        verified = await asyncio.to_thread(_verify_all, [r for _, r in fresh])
        good: list[tuple[int, Record]] = []
        for (index, record), ok in zip(fresh, verified, strict=True):
            if ok:
                good.append((index, record))
            else:
                outcomes[index] = "rejected:bad_signature"
        results = await self.store.put_many([r for _, r in good], now) if good else []
        accepted: list[bytes] = []
        for (index, record), result in zip(good, results, strict=True):
            outcomes[index] = result.status if result.reason is None else f"rejected:{result.reason}"
            if result.status == "accepted":
                accepted.append(record.raw)
        await self.feed.publish(accepted, source)
        for outcome in outcomes:
            self.metrics.count("records_received_total", outcome=outcome.split(":")[0])
        return outcomes
