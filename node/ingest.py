"""How records from outside get in: the cheapest checks first, the signature last.

For a batch from a peer: decode and field rules and the clock (pure, cheap),
then local policy (blocked authors, kinds and areas served), then drop the ids we already hold (one
indexed lookup), then the rate limits for records pushed unasked, and only
then verify signatures, in a worker thread (off the event loop), and one
``put_many``. Accepted records go to the feed for long-polling peers, tagged
with the peer they came from so they are never sent back to it. A peer is
penalised for every record that was malformed, invalid or badly signed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence

from node.feed import RecordFeed
from node.metrics import Metrics
from node.policy import Policy
from protocol.errors import RemoteProtocolError, SignatureInvalid
from protocol.filters import SyncFilter
from protocol.records import Record, check_time, parse_record, verify_record
from storage import RecordStore

log = logging.getLogger("mutualaid.ingest")
# Rejections an honest peer can cause (clocks, races, our own limits and policy).
_NOT_THE_PEERS_FAULT = frozenset(
    {"expired", "from_future", "rate_limited", "blocked_author", "not_served", "removed"}
)


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
    def __init__(
        self, store: RecordStore, feed: RecordFeed, metrics: Metrics, policy: Policy, serves: SyncFilter
    ) -> None:
        self.store = store
        self.feed = feed
        self.metrics = metrics
        self.policy = policy
        self.serves = serves
        """Records outside the kinds and areas this node serves are not kept."""

    async def ingest(self, raws: Sequence[bytes], source: bytes | None, *, solicited: bool = False) -> list[str]:
        """One outcome per raw record: accepted, duplicate, superseded, or rejected:<reason>.

        ``solicited``: we fetched these ourselves, so rate limits do not apply."""
        now = int(time.time())
        if source is not None and self.policy.refusal(source):
            return ["rejected:peer_refused" for _ in raws]  # blocked or banned since it connected
        outcomes: list[str] = ["" for _ in raws]
        parsed: list[tuple[int, Record]] = []
        for index, raw in enumerate(raws):
            try:
                record = parse_record(raw)
                check_time(record, now)
            except RemoteProtocolError as exc:
                outcomes[index] = f"rejected:{getattr(exc, 'reason', exc.code)}"
                continue
            if record.author in self.policy.blocked_authors:
                outcomes[index] = "rejected:blocked_author"
                continue
            if not self.serves.matches(record):
                outcomes[index] = "rejected:not_served"
                continue
            parsed.append((index, record))
        held = await self.store.held_ids([record.id for _, record in parsed])
        fresh: list[tuple[int, Record]] = []
        for index, record in parsed:
            if record.id in held:
                outcomes[index] = "duplicate"
            elif source is not None and not solicited and (refusal := self.policy.admit_pushed(source, record.author)):
                outcomes[index] = f"rejected:{refusal}"
            else:
                fresh.append((index, record))
        verified = await asyncio.to_thread(_verify_all, [r for _, r in fresh])
        good: list[tuple[int, Record]] = []
        for (index, record), ok in zip(fresh, verified, strict=True):
            if ok:
                good.append((index, record))
            else:
                outcomes[index] = "rejected:bad_signature"
        results = await self.store.put_many([r for _, r in good], now) if good else []
        accepted: list[Record] = []
        for (index, record), result in zip(good, results, strict=True):
            outcomes[index] = result.status if result.reason is None else f"rejected:{result.reason}"
            if result.status == "accepted":
                accepted.append(record)
        await self.feed.publish(accepted, source)
        invalid = 0
        for outcome in outcomes:
            kind, _, reason = outcome.partition(":")
            self.metrics.count("records_received_total", outcome=kind)
            if reason:
                self.metrics.count("records_rejected_total", reason=reason)
            if reason and reason not in _NOT_THE_PEERS_FAULT:
                invalid += 1
        if source is not None:
            self.policy.penalise(source, invalid)
        return outcomes
