"""How records from outside get in: the cheapest checks first, the signature last.

For a batch from a peer: decode and field rules and the clock (pure, cheap),
then local policy (blocked authors, kinds and areas served), then drop the ids we already hold (one
indexed lookup), then the rate limits for records pushed unasked, and only
then verify signatures, in worker threads off the event loop (one share of
the batch per core: libsodium releases the GIL, so a 2-core node verifies
twice as fast). A big batch we fetched ourselves (a sync's) is decoded,
validated and verified in worker processes instead, on a node with two
cores or more (``node/peering/checkers.py``), its outcomes the same. Then a
chapter's decisions must link to the ones held (``protocol/chain.py``), and
one ``put_many``. Accepted records go to the feed for long-polling peers, tagged
with the peer they came from so they are never sent back to it. A peer is
penalised for every record that was malformed, invalid or badly signed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

from node.core.clock import SYSTEM_CLOCK, Clock
from node.core.metrics import Metrics
from node.peering.checkers import Checked, Checker, decoded, shares, verify_all, verify_workers
from node.peering.decisions import InFlight
from node.peering.feed import RecordFeed
from node.peering.policy import Policy
from protocol.chain import chain_fault, neighbour_slots
from protocol.filters import SyncFilter
from protocol.records import Record, checked_record
from protocol.rotation import recovery_fault, rotation_fault
from storage import RecordStore
from storage.rows import Address, TextRow

log = logging.getLogger("mutualaid.ingest")
# What each rejection costs the peer's score (anything not listed: 1 point).
# Honest peers cause some rejections too (a record expiring in flight, a
# clock a little off), so those cost a little: a peer that keeps doing it is
# still refused in the end. Over-rate records cost only when the peer pushes
# again within half a second of being told it is over (an honest node waits
# a second, see PeerClient.push). Our own policy (blocked authors, areas we
# do not serve) costs nothing.
REJECTION_COST = {
    "expired": 0.1,
    "from_future": 0.1,
    "rate_limited": 0.01,
    "blocked_author": 0.0,
    "not_served": 0.0,
    "peer_refused": 0.0,
    "removed": 0.0,  # an organizer's removal here: the peer did nothing wrong
    "too_many_replies": 0.0,  # an honest relay carries whatever replies the sending node made
    # A chapter's history that does not link up is the chapter's doing (a
    # rewrite, or a node restored without its files): relays are not to blame.
    "chain_broken": 0.0,
    "decision_rewritten": 0.0,
    # A chapter's key rotation: what the old key signs is refused from then on,
    # and relays that carried it before they heard are not to blame.
    "key_rotated": 0.0,
    "key_rotation_rewritten": 0.0,
    "unknown_recovery": 0.0,  # the old key's profile, naming its recovery key, has not reached us yet
    "recovery_changed": 1.0,
    "recovery_dropped": 1.0,
    "key_taken": 1.0,
    "not_recovery_key": 1.0,
}
MAX_REPLIES_PER_SENDER = 50
"""Live replies kept from one sending node about one post (any version of a
post of this node's; the version named otherwise). The member API stops at
the same number, so an honest node's replies are never refused here; a
node that floods one post is."""


async def verify_parallel(records: Sequence[Record], workers: int | None = None) -> tuple[list[bool], float]:
    """``verify_all`` over a batch, cut into shares verified in worker threads at
    once (the loop's default executor); results in the batch's order, CPU
    seconds summed over the threads."""
    if not records:
        return [], 0.0
    ranges = shares(len(records), verify_workers() if workers is None else workers)
    results = await asyncio.gather(*(asyncio.to_thread(verify_all, records[r.start : r.stop]) for r in ranges))
    return [ok for oks, _ in results for ok in oks], sum(cpu for _, cpu in results)


class BatchAbandoned(Exception):
    """A sync's batch not stored because the batch fetched before it was not
    (that one failed or was cancelled): a sync stores no batch after a gap."""


class Ingestor:
    def __init__(
        self,
        store: RecordStore,
        feed: RecordFeed,
        metrics: Metrics,
        policy: Policy,
        serves: SyncFilter,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.clock = clock
        """Its wall time checks records' times and dates what is stored."""
        self.store = store
        self.feed = feed
        self.metrics = metrics
        self.policy = policy
        self.serves = serves
        """Records outside the kinds and areas this node serves are not kept..."""
        self.own_key: bytes | None = None
        """...except replies sealed to this node (set once the app has started),
        which a member may send about a post outside the areas it serves."""
        self.inflight = InFlight()
        """Ids asked of one peer and not yet here: not asked of another meanwhile
        (a fetch after a feed named them, an announce answered "wanted")."""
        self.checker: Checker | None = None
        """Worker processes that check big batches we fetched (set by the app,
        which closes it); without it, or when it declines, the checks run here."""
        self.on_rotation: Callable[[bytes, bytes], Awaitable[None]] | None = None
        """Told (old key, new key) once a chapter's key rotation is stored: the
        app moves its peer pins and links to the new key."""

    def _local_refusal(self, record: Record) -> str | None:
        """This node's own reasons not to keep a record, whoever sent it."""
        if record.author in self.policy.blocked_authors:
            return "blocked_author"
        if self.store.keys.retired(record.author):  # its chapter named a new key: the old one is not trusted
            return "key_rotated"
        if self.store.moderation.is_removed(record.address):  # an organizer's removal: no signature work for it
            return "removed"
        if not self.serves.matches(record) and not (record.kind == "reply" and record.get("to") == self.own_key):
            return "not_served"
        return None

    async def ingest(
        self,
        raws: Sequence[bytes],
        source: bytes | None,
        *,
        solicited: bool = False,
        after: asyncio.Future[Any] | None = None,
    ) -> list[str]:
        """One outcome per raw record: accepted, duplicate, superseded, or rejected:<reason>.

        ``solicited``: we fetched these ourselves, so rate limits do not apply.
        ``after``: an earlier batch's ingest (a sync's previous fetch). This
        batch is decoded and verified while that one is stored, and waits for
        it to finish before the checks that read what it stores (the replies
        a sender has made, a chapter's chain, pinned keys) and before its own
        put, so a sync's batches are stored in order, each seeing the one
        before. If that one failed or was cancelled, this one is not stored
        either (``BatchAbandoned``): a sync never stores a batch after a gap."""
        now = self.clock.wall()
        if source is not None and self.policy.refusal(source):
            return ["rejected:peer_refused" for _ in raws]  # blocked or banned since it connected
        outcomes: list[str] = ["" for _ in raws]
        # A batch we asked for is wanted whole: its signatures may be checked
        # before what is held and the rates (in other processes, on other cores).
        checked = await self.checker.check(raws, now) if solicited and self.checker is not None else None
        texts: dict[bytes, TextRow] | None = None
        if checked is None:
            parsed, signatures = self._screen(raws, now, outcomes), None
        else:
            parsed, signatures = self._screen_checked(raws, checked[0], outcomes), [ok for _, _, ok, _ in checked[0]]
            texts = {record.id: text for index, record in parsed if (text := checked[0][index][3]) is not None}
            self.metrics.count("signature_verify_microseconds_total", int(checked[1] * 1e6))
        self.inflight.release(record.id for _, record in parsed)  # here now: whoever asked, asks no more
        fresh = await self._admit(parsed, source, solicited, now, outcomes, cap_replies=after is None)
        verified = await self._verify(fresh, outcomes, signatures)
        if after is not None:
            await asyncio.wait([after])  # its outcome is its caller's to read; whether it was stored is ours
            if after.cancelled() or after.exception() is not None:
                raise BatchAbandoned("the batch fetched before it was not stored")
            verified = await self._capped(verified, now, outcomes)  # counting the replies that one stored
        good = await self._chained(verified, now, outcomes)
        good = await self._keys_checked(good, outcomes)
        results = await self.store.writer.put_many([r for _, r in good], now, texts=texts) if good else []
        accepted: list[Record] = []
        for (index, record), result in zip(good, results, strict=True):
            outcomes[index] = result.status if result.reason is None else f"rejected:{result.reason}"
            if result.status == "accepted":
                accepted.append(record)
        await self.feed.publish(accepted, source)
        if accepted and log.isEnabledFor(logging.DEBUG):  # when each record arrived: the mesh bench reads it
            for record in accepted:
                log.debug("accepted record id=%s", record.id.hex())
        self._account(outcomes, source)
        for record in accepted:
            if record.kind == "key_rotation":
                await self._rotated(record)
        return outcomes

    async def _keys_checked(self, good: list[tuple[int, Record]], outcomes: list[str]) -> list[tuple[int, Record]]:
        """Drop a profile that changes its pinned recovery key, and a key
        rotation not signed by the recovery key pinned for the key it retires
        (pinned before, or named by a profile in this batch)."""
        if not any(r.kind in ("node", "key_rotation") for _, r in good):
            return good
        named: dict[bytes, bytes] = {}
        kept: list[tuple[int, Record]] = []
        for index, record in sorted(good, key=lambda item: item[1].kind == "key_rotation"):
            fault = None
            if record.kind == "node":
                pinned = await self.store.keys.recovery_for(record.author)
                fault = recovery_fault(record, pinned)
                if fault is None and pinned is None and record.get("recovery") is not None:
                    named.setdefault(record.author, bytes(record.get("recovery")))
            elif record.kind == "key_rotation":
                old, new = bytes(record.get("old")), bytes(record.get("new"))
                pinned = await self.store.keys.recovery_for(old) or named.get(old)
                new_pinned = await self.store.keys.recovery_for(new) or named.get(new)
                fault = rotation_fault(record, pinned, new_pinned)
            if fault is None:
                kept.append((index, record))
            else:
                outcomes[index] = f"rejected:{fault}"
        kept.sort(key=lambda item: item[0])
        return kept

    async def _rotated(self, rotation: Record) -> None:
        old, new = bytes(rotation.get("old")), bytes(rotation.get("new"))
        log.warning("chapter key %s replaced by %s (a rotation signed by its recovery key)", old.hex(), new.hex())
        if self.on_rotation is not None:
            await self.on_rotation(old, new)

    def _screen(self, raws: Sequence[bytes], now: int, outcomes: list[str]) -> list[tuple[int, Record]]:
        """Decode, field rules, the clock and this node's own refusals: the cheap checks."""
        return self._refuse_locally(decoded(raws, now), outcomes)

    def _screen_checked(
        self, raws: Sequence[bytes], checked: list[Checked], outcomes: list[str]
    ) -> list[tuple[int, Record]]:
        """``_screen`` for a batch a checker process decoded, validated and timed:
        the good records rebuilt, the refused given its reason, then our own refusals."""
        decoded = (
            (index, checked_record(raw, status) if status is not None else str(reason))
            for index, (raw, (status, reason, _, _)) in enumerate(zip(raws, checked, strict=True))
        )
        return self._refuse_locally(decoded, outcomes)

    def _refuse_locally(
        self, decoded: Iterable[tuple[int, Record | str]], outcomes: list[str]
    ) -> list[tuple[int, Record]]:
        """The records that pass this node's own refusals too; each refused one
        (a reason in ``decoded``, or ours) gets its outcome."""
        parsed: list[tuple[int, Record]] = []
        for index, record in decoded:
            refusal = record if isinstance(record, str) else self._local_refusal(record)
            if refusal is None and not isinstance(record, str):
                parsed.append((index, record))
            else:
                outcomes[index] = f"rejected:{refusal}"
        return parsed

    async def _admit(
        self,
        parsed: list[tuple[int, Record]],
        source: bytes | None,
        solicited: bool,
        now: int,
        outcomes: list[str],
        *,
        cap_replies: bool,
    ) -> list[tuple[int, Record]]:
        """Drop what we hold, replies over their cap (before any signature work;
        a sync's batch counts them once the batch before it is stored:
        ``cap_replies`` False) and pushes over the peer's rate."""
        held = await self.store.reads.held_ids([record.id for _, record in parsed])
        fresh: list[tuple[int, Record]] = []
        for index, record in parsed:
            if record.id in held:
                outcomes[index] = "duplicate"
            else:
                fresh.append((index, record))
        if cap_replies:
            fresh = await self._capped(fresh, now, outcomes)
        if source is None or solicited:
            return fresh
        admitted: list[tuple[int, Record]] = []
        for index, record in fresh:
            if refusal := self.policy.admit_pushed(source, record.author, len(record.raw)):
                outcomes[index] = f"rejected:{refusal}"
            else:
                admitted.append((index, record))
        return admitted

    async def _capped(self, fresh: list[tuple[int, Record]], now: int, outcomes: list[str]) -> list[tuple[int, Record]]:
        """Drop the replies over their sender's cap (counting this batch's):
        in ``_admit``, or for a sync's batch once the batch before it is stored."""
        kept: list[tuple[int, Record]] = []
        replies: dict[tuple[bytes, bytes], int] = {}
        for index, record in fresh:
            if record.kind == "reply" and await self._over_reply_cap(record, replies, now):
                outcomes[index] = "rejected:too_many_replies"
            else:
                kept.append((index, record))
        return kept

    async def _verify(
        self, fresh: list[tuple[int, Record]], outcomes: list[str], signatures: list[bool] | None = None
    ) -> list[tuple[int, Record]]:
        """The signatures, in worker threads (one per core): the only expensive
        check, so the last. ``signatures``: already verified by a checker
        process (one per raw record of the batch): only read here, in the same place."""
        if signatures is not None:
            verified = [signatures[index] for index, _ in fresh]
        else:
            # While the checkers keep the loop to one core, its threads still share out over all of them.
            cores = self.checker.cores() if self.checker is not None else None
            verified, cpu_s = await verify_parallel([r for _, r in fresh], cores)
            self.metrics.count("signature_verify_microseconds_total", int(cpu_s * 1e6))
        good: list[tuple[int, Record]] = []
        for (index, record), ok in zip(fresh, verified, strict=True):
            if ok:
                good.append((index, record))
            else:
                outcomes[index] = "rejected:bad_signature"
        return good

    async def _chained(self, good: list[tuple[int, Record]], now: int, outcomes: list[str]) -> list[tuple[int, Record]]:
        """Drop the decisions that break their chapter's chain as this node holds
        it. A batch's decisions are checked in chain order, each against what is
        held and what this batch already let in (after the signatures, so an
        unverified record never stands as a neighbour, and the first of two
        conflicting links is the one kept)."""
        decisions = sorted((r for _, r in good if r.kind == "decision"), key=lambda r: (r.author, r.get("seq")))
        if not decisions:
            return good
        let_in: dict[Address, Record] = {}
        refused: dict[bytes, str] = {}
        for record in decisions:
            fault = await self._chain_fault(record, let_in, now)
            if fault is None:
                let_in[record.address] = record
            else:
                refused[record.id] = fault
        kept = []
        for index, record in good:
            if record.id in refused:
                outcomes[index] = f"rejected:{refused[record.id]}"
            else:
                kept.append((index, record))
        return kept

    async def _chain_fault(self, decision: Record, batch: dict[Address, Record], now: int) -> str | None:
        """Whether a decision breaks its chapter's chain: its neighbours must name it and it them."""
        before, after = neighbour_slots(decision)
        found: list[Record | None] = []
        for slot in (before, after):
            if slot is None:
                found.append(None)
                continue
            address = (decision.author, "decision", slot)
            held = await self.store.reads.get_by_address(*address, now)
            found.append(held if held is not None else batch.get(address))
        return chain_fault(decision, found[0], found[1])

    async def _over_reply_cap(self, reply: Record, counted: dict[tuple[bytes, bytes], int], now: int) -> bool:
        """Whether ``reply`` would pass ``MAX_REPLIES_PER_SENDER`` (counting this batch)."""
        key = (reply.author, bytes(reply.get("about", b"")))
        if key not in counted:
            counted[key] = await self.store.own.replies_from(*key, now)
        if counted[key] >= MAX_REPLIES_PER_SENDER:
            return True
        counted[key] += 1
        return False

    def _account(self, outcomes: list[str], source: bytes | None) -> None:
        """Count outcomes, and charge the peer for what it got wrong."""
        cost = 0.0
        over_rate = source is not None and "rejected:rate_limited" in outcomes
        ignored = over_rate and source is not None and self.policy.ignored_limit(source)
        for outcome in outcomes:
            kind, _, reason = outcome.partition(":")
            self.metrics.count("records_received_total", outcome=kind)
            if reason:
                self.metrics.count("records_rejected_total", reason=reason)
                if reason != "rate_limited" or ignored:
                    cost += REJECTION_COST.get(reason, 1.0)
        if source is not None:
            self.policy.penalise(source, cost)
