"""Closing proposals: count, apply what passed, publish the decision. Survives restarts.

One task owns it. It sleeps until the next proposal is due (at most
``CHECK_EVERY_S``), or until woken (a proposal opened, or its last voter
voted), then for each due proposal: closes it and counts its ballots in one
transaction (``storage.chapter.votes``); applies a passed typed proposal
(``effects.apply``); and signs and publishes a ``decision`` record that
chains to the chapter's previous one. Each step is noted in the chapter's
store once done, so a node stopped between steps takes up where it was at
the next start; the decision's address (its place in the chain) makes a
second publication impossible, and one already stored is adopted.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from typing import Any

from aiohttp import web

from node.chapter import effects
from node.chapter.state import CHAPTER, CHAPTER_STORE
from node.core.clock import SYSTEM_CLOCK, Clock
from node.core.state import ADMIN, STORE
from node.peering.feed import RecordFeed
from node.peering.state import GOSSIP, POLICY
from protocol.ballots import Ballot, Rules, receipts_digest, tally
from protocol.records import MAX_DECISION_TTL, Record, Signer, build_record
from storage import RecordStore
from storage.chapter import ChapterStore, Proposal

log = logging.getLogger("mutualaid.chapter")
CHECK_EVERY_S = 60.0
MIN_WAIT_S = 1.0
"""Between rounds at least (a proposal due now is woken for, not polled)."""


def ballot_of(stored: str) -> Ballot:
    """A ballot as the chapter store keeps it: a choice, or a ranking in JSON."""
    return tuple(int(n) for n in json.loads(stored)) if stored.startswith("[") else stored


def count(proposal: Proposal, rows: list[tuple[bytes, str]]) -> tuple[dict[str, Any], bytes]:
    """The result to keep, and the receipts list's digest."""
    rules = Rules(proposal.method, proposal.threshold, proposal.quorum, proposal.electorate, len(proposal.options))
    parsed: dict[str, Ballot] = {}  # many ballots are the same text: parse each text once
    ballots = [(h, parsed[c] if c in parsed else parsed.setdefault(c, ballot_of(c))) for h, c in rows]
    result = tally(rules, [b for _, b in ballots])
    kept = {
        "outcome": result.outcome,
        "counts": result.counts,
        "turnout": result.turnout,
        "electorate": result.electorate,
        "quorum_met": result.quorum_met,
        "winner": result.winner,
        "rounds": [{str(n): v for n, v in r.items()} for r in result.rounds],
    }
    return kept, receipts_digest(ballots)


class Closer:
    def __init__(
        self,
        chapter: ChapterStore,
        identity: Signer,
        store: RecordStore,
        feed: RecordFeed,
        parts: Callable[[], effects.Parts],
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.chapter = chapter
        self.identity = identity
        self.store = store
        self.feed = feed
        self.parts = parts
        self.clock = clock
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="proposal closer")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def wake(self) -> None:
        self._wake.set()

    async def _run(self) -> None:
        while True:
            wait = CHECK_EVERY_S
            try:
                await self.run_once()
                upcoming = await self.chapter.votes.next_closing()
                if upcoming is not None:
                    wait = min(CHECK_EVERY_S, max(MIN_WAIT_S, upcoming - self.clock.wall()))
            except Exception:  # the next round retries; a closed proposal is never counted twice
                log.exception("closing proposals failed")
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=wait)

    async def run_once(self) -> int:
        """Close what is due and finish what was closed; how many proposals closed.
        One proposal that fails is logged and retried later; the others go on."""
        closed = 0
        for proposal_id in await self.chapter.votes.due(self.clock.wall()):
            try:
                if await self.chapter.votes.close(proposal_id, self.clock.wall(), count) is not None:
                    closed += 1
                    log.info("proposal %s closed", proposal_id.hex()[:8])
            except Exception:
                log.exception("closing proposal %s failed", proposal_id.hex()[:8])
        for proposal in await self.chapter.votes.unfinished():
            try:
                await self.finish(proposal)
            except Exception:
                log.exception("finishing proposal %s failed", proposal.id.hex()[:8])
        return closed

    async def finish(self, proposal: Proposal) -> None:
        assert proposal.result is not None
        now = self.clock.wall()
        if proposal.applied is None:
            if proposal.result["outcome"] == "passed":
                applied = await effects.apply(self.parts(), proposal.id, proposal.type, proposal.effect, now)
            else:
                applied = "none"
                await self.chapter.votes.mark_applied(proposal.id, applied)
            log.info("proposal %s: %s, applied %s", proposal.id.hex()[:8], proposal.result["outcome"], applied)
        if proposal.decision is None:
            await self.publish(proposal, now)

    async def publish(self, proposal: Proposal, now: int) -> Record:
        """Sign the decision, linked to the chapter's previous one, and send it to peers."""
        last = await self.chapter.settings.last_decision()
        seq, prev = (1, None) if last is None else (last[0] + 1, last[1])
        while True:
            held = await self.store.reads.get_by_address(self.identity.public_key, "decision", str(seq), now)
            if held is None:
                break
            if held.get("proposal") == proposal.id.hex():  # published before a restart: adopt it
                await self.chapter.settings.published(seq, proposal.id, held.id)
                return held
            seq, prev = seq + 1, held.id  # pragma: no cover - a chapter file older than its records
        record = build_record(self.identity, decision_body(proposal, seq, prev, now))
        outcome = await self.store.writer.put(record, now)
        if outcome.status != "accepted":  # pragma: no cover - a fresh address
            raise RuntimeError(f"the decision was not stored: {outcome.status} {outcome.reason}")
        await self.chapter.settings.published(seq, proposal.id, record.id)
        await self.feed.publish([record], None)
        log.info("decision %d published id=%s", seq, record.id.hex())
        return record


def decision_body(proposal: Proposal, seq: int, prev: bytes | None, now: int) -> dict[str, Any]:
    """A closed proposal as a decision record's fields: never a member's name or id (a
    proposal about a member travels under a plain title, without its text)."""
    result = proposal.result
    assert result is not None and proposal.closed_at is not None and proposal.receipts is not None
    body: dict[str, Any] = {
        "kind": "decision",
        "slot": str(seq),
        "created_at": max(now, proposal.closed_at),
        "expires_at": max(now, proposal.closed_at) + MAX_DECISION_TTL,
        "seq": seq,
        "proposal": proposal.id.hex(),
        "title": proposal.title,
        "type": proposal.type,
        "method": proposal.method,
        "threshold": proposal.threshold,
        "ballot": proposal.ballot,
        "quorum": proposal.quorum,
        "outcome": result["outcome"],
        "counts": {name: int(n) for name, n in result["counts"].items()},
        "electorate": proposal.electorate,
        "turnout": int(result["turnout"]),
        "receipts": proposal.receipts,
        "opened_at": proposal.opened_at,
        "closed_at": proposal.closed_at,
    }
    if prev is not None:
        body["prev"] = prev
    if "member" in proposal.effect:
        # About a person: what the members wrote may name them, so neighbours read a plain title instead.
        body["title"] = effects.public_title(proposal.type, proposal.effect)
    elif proposal.text:
        body["text"] = proposal.text
    public = effects.public(proposal.type, proposal.effect)
    if public:
        body["effect"] = public
    if proposal.options:
        body["options"] = list(proposal.options)
        if result.get("winner"):
            body["winner"] = int(result["winner"])
    return body


CLOSER = web.AppKey("closer", Closer)


def effect_parts(app: web.Application) -> effects.Parts:
    """What a decision may change, from the running app (gossip once it has started)."""
    return effects.Parts(app[CHAPTER_STORE], app[CHAPTER], app[STORE], app[ADMIN], app[POLICY], app.get(GOSSIP))
