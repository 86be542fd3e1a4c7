"""Proposals over HTTP: propose, list, read, vote, comment. Members only (their card).

Any member proposes; the chapter's settings give the defaults (closing
time, quorum, threshold) and the quorum's floor: a proposal may ask for
more of the electorate, never less. A change the node could not make (a
category it already has, a member not on the roll) is refused when proposed,
not discovered when it passes. Results stay hidden until the proposal
closes; until then members see who may vote and how many have.
"""

from __future__ import annotations

import json
import logging
import secrets
from typing import Any

from aiohttp import web

from node.chapter import cards, effects
from node.chapter.auth import Caller, require_member
from node.chapter.closer import CLOSER, ballot_of, effect_parts
from node.chapter.settings import MAX_CLOSES_IN_MINUTES, MIN_CLOSES_IN_MINUTES, MINUTE
from node.chapter.state import CHAPTER, CHAPTER_STORE
from node.core.auth import private
from node.core.bodies import Body, BodyField, Variants, choice, from_table, integer
from node.core.clock import iso, now
from node.core.errors import ApiError, Code, read_json_object
from node.core.params import Param, limit_param, read_params
from protocol.ballots import BALLOTS, CHOICES, MAX_OPTIONS, THRESHOLDS, BallotInvalid, Rules, check_ballot, receipt_hash
from protocol.fieldtable import ListOf, Text
from protocol.records import DECISION_TYPES, FIELDS
from storage.chapter import Mine, NewProposal, Proposal

log = logging.getLogger("mutualaid.chapter")
routes = web.RouteTableDef()

_ROWS = {row.name: row for row in FIELDS}
MAX_COMMENT_CHARS = 1000
MAX_LIST = 200
PROPOSAL_ID = "^[0-9a-f]{8,32}$"
"""A proposal's id (32 hex characters) or its first 8 or more."""


def _common(kind: str) -> list[BodyField]:
    return [
        choice("type", (kind,), required=True, description="what the proposal changes if it passes"),
        from_table(_ROWS["title"], required=True, description="what is proposed, in a few words"),
        from_table(_ROWS["text"], description="the proposal in full"),
        integer("closes_in_minutes", MIN_CLOSES_IN_MINUTES, MAX_CLOSES_IN_MINUTES,
                description="minutes until it closes (default: the chapter's setting)"),
        integer("quorum", 0, 100, description="percent of the electorate that must vote (at least the chapter's)"),
        choice("threshold", THRESHOLDS, description="what it needs to pass (default: the chapter's setting)"),
        choice("ballot", BALLOTS, description="secret (the default) or open"),
    ]  # fmt: skip


def _body(kind: str) -> Body:
    fields = _common(kind)
    effect = effects.EFFECTS[kind]
    if effect is None:
        options = ListOf(Text(80), MAX_OPTIONS, min_items=2)
        fields.append(from_table(options, "options", description="options to rank: choosing between them by "
                                 "instant runoff instead of agreeing or not"))  # fmt: skip
    elif isinstance(effect, Variants):
        fields.append(effect.field("effect", required=True, description="what changes when it passes"))
    else:
        fields.append(BodyField("effect", effect.schema(), effect.read, required=True,
                                description="what changes when it passes"))  # fmt: skip
    return Body(fields, Code.INVALID_PROPOSAL)


PROPOSAL_BODY = Variants("type", {kind: _body(kind) for kind in DECISION_TYPES}, Code.INVALID_PROPOSAL)


def _ranking(value: Any) -> list[int]:
    """What the schema says, exactly: distinct option numbers 1..MAX_OPTIONS (whether
    the proposal has that many is its own rule: 409 ``not_offered``)."""
    # JSON Schema counts 2.0 as an integer; JSON parsers hand it over as a float.
    if len(value) > MAX_OPTIONS or not all(
        not isinstance(n, bool) and isinstance(n, int | float) and n == int(n) and 1 <= n <= MAX_OPTIONS for n in value
    ):
        raise ApiError(Code.INVALID_BALLOT, f"a ranking lists option numbers from 1 to {MAX_OPTIONS}", field="ranking")
    ranking = [int(n) for n in value]
    if len(set(ranking)) != len(ranking):
        raise ApiError(Code.INVALID_BALLOT, "a ranking names each option once", field="ranking")
    return ranking


_RANKING = {"type": "array", "items": {"type": "integer", "minimum": 1, "maximum": MAX_OPTIONS},
            "maxItems": MAX_OPTIONS, "uniqueItems": True}  # fmt: skip
BALLOT_BODY = Body(
    [
        choice("choice", CHOICES, description="agree, abstain, disagree (or block, under consent)"),
        BodyField("ranking", _RANKING, _ranking,
                  description="a ranked proposal's option numbers, best first (empty: abstain)"),
    ],
    Code.INVALID_BALLOT,
)  # fmt: skip
COMMENT_BODY = Body([from_table(Text(MAX_COMMENT_CHARS, multiline=True), "text", required=True)], Code.INVALID_COMMENT)
LIST_PARAMS = (
    Param("state", {"type": "string", "enum": ["open", "closed"]}, "open or closed (default: both)"),
    limit_param(50, MAX_LIST),
)


async def proposal_or_404(request: web.Request) -> Proposal:
    text = request.match_info["id"]
    if not 8 <= len(text) <= 32 or text.strip("0123456789abcdef"):
        raise ApiError(Code.NOT_FOUND, "no such proposal (an id is 32 hex characters; its first 8 or more also do)")
    found = await request.app[CHAPTER_STORE].votes.by_prefix(text)
    if len(found) > 1:
        raise ApiError(Code.AMBIGUOUS_ID, f"more than one proposal has an id starting with {text}; give more of it")
    if not found:
        raise ApiError(Code.NOT_FOUND, "no such proposal")
    return found[0]


def rules_of(proposal: Proposal) -> Rules:
    return Rules(proposal.method, proposal.threshold, proposal.quorum, proposal.electorate, len(proposal.options))


def _ballot_json(stored: str) -> dict[str, Any]:
    ballot = ballot_of(stored)
    return {"choice": ballot} if isinstance(ballot, str) else {"ranking": list(ballot)}


async def proposals_json(request: web.Request, found: list[Proposal], caller: Caller) -> list[dict[str, Any]]:
    """Proposals as a member sees them: where they stand on each (two reads of the
    chapter's file for the whole list, not one per proposal)."""
    chapter = request.app[CHAPTER_STORE]
    receipts = {p.id: cards.receipt(caller.card, p.id) for p in found}
    mine = await chapter.votes.mine(caller.member.id, {pid: receipt_hash(r) for pid, r in receipts.items()})
    named = [bytes.fromhex(p.effect["member"]) for p in found if "member" in p.effect]
    names = await chapter.roll.names(named) if named else {}
    return [_proposal(p, mine[p.id], receipts[p.id], names) for p in found]


def _proposal(proposal: Proposal, mine: Mine, receipt: bytes, names: dict[bytes, str]) -> dict[str, Any]:
    member_name = names.get(bytes.fromhex(proposal.effect["member"])) if "member" in proposal.effect else None
    ballot = None
    if mine.choice is not None:
        ballot = _ballot_json(mine.choice) | {"receipt": receipt.hex(), "receipt_hash": receipt_hash(receipt).hex()}
    return {
        "id": proposal.id.hex(),
        "title": proposal.title,
        "text": proposal.text,
        "type": proposal.type,
        "effect": proposal.effect or None,
        "summary": effects.summary(proposal.type, proposal.effect, member_name),
        "member_name": member_name,
        "method": proposal.method,
        "options": list(proposal.options),
        "threshold": proposal.threshold,
        "quorum": proposal.quorum,
        "ballot": proposal.ballot,
        "proposer": proposal.proposer_name,
        "opened_at": iso(proposal.opened_at),
        "closes_at": iso(proposal.closes_at),
        "closed_at": None if proposal.closed_at is None else iso(proposal.closed_at),
        "state": "open" if proposal.is_open else "closed",
        "electorate": proposal.electorate,
        "voted": proposal.voted,
        "choices": list(rules_of(proposal).choices()) if proposal.method == "choice" else [],
        "you": {"in_electorate": mine.in_electorate, "voted": mine.voted, "locked": mine.voted and ballot is None},
        "my_ballot": ballot,
        "result": proposal.result,
        "applied": proposal.applied,
        "decision": None if proposal.decision is None else proposal.decision.hex(),
    }


async def proposal_json(request: web.Request, proposal: Proposal, caller: Caller, *, detail: bool) -> dict[str, Any]:
    (out,) = await proposals_json(request, [proposal], caller)
    if detail:
        out |= await _details(request, proposal)
    return out


async def _details(request: web.Request, proposal: Proposal) -> dict[str, Any]:
    found = await request.app[CHAPTER_STORE].votes.details(proposal.id)
    out: dict[str, Any] = {
        "electorate_names": [{"name": name, "voted": voted} for name, voted in found.electorate],
        "comments": [{"name": c.member_name, "at": iso(c.at), "text": c.text} for c in found.comments],
        "receipts": None,
        "open_ballots": None,
    }
    if not proposal.is_open:
        out["receipts"] = [{"hash": h.hex()} | _ballot_json(c) for h, c in found.receipts]
        out["receipts_digest"] = None if proposal.receipts is None else proposal.receipts.hex()
        if proposal.ballot == "open":
            out["open_ballots"] = [{"name": n} | _ballot_json(c) for n, c in found.open_ballots]
    return out


@routes.post("/api/v1/proposals")
async def propose(request: web.Request) -> web.Response:
    caller = await require_member(request)
    values = PROPOSAL_BODY.read(await read_json_object(request))
    state, moment = request.app[CHAPTER].state, now()
    floor = state.int_setting("quorum")
    quorum = values.get("quorum")
    if quorum is not None and quorum < floor:
        raise ApiError(Code.NOT_APPLICABLE, f"the chapter asks a quorum of at least {floor}%", field="quorum")
    kind, effect = values["type"], values.get("effect") or {}
    await effects.check(effect_parts(request.app), kind, effect, moment)
    minutes = values.get("closes_in_minutes") or state.int_setting("closes_in_minutes")
    options = tuple(values.get("options") or ())
    new = NewProposal(
        id=secrets.token_bytes(16),
        proposer=caller.member.id,
        title=values["title"],
        text=values.get("text"),
        type=kind,
        effect=dict(effect),
        method="ranked" if options else "choice",
        options=options,
        # A ranked choice passes by instant runoff's majority, whatever threshold was asked.
        threshold="majority" if options else values.get("threshold") or str(state.settings["threshold"]),
        quorum=floor if quorum is None else quorum,
        ballot=values.get("ballot") or "secret",
        closes_at=moment + minutes * MINUTE,
    )
    proposal = await request.app[CHAPTER_STORE].votes.open(new, moment)
    request.app[CLOSER].wake()
    log.info("proposal %s opened type=%s", proposal.id.hex()[:8], kind)
    return private(web.json_response({"proposal": await proposal_json(request, proposal, caller, detail=False)},
                                     status=201))  # fmt: skip


@routes.get("/api/v1/proposals")
async def list_proposals(request: web.Request) -> web.Response:
    caller = await require_member(request)
    params = read_params(request.query, LIST_PARAMS)
    found = await request.app[CHAPTER_STORE].votes.listing(
        open_only=params["state"] == "open", closed_only=params["state"] == "closed", limit=params["limit"]
    )
    return private(web.json_response({"proposals": await proposals_json(request, found, caller)}))


@routes.get("/api/v1/proposals/{id}")
async def get_proposal(request: web.Request) -> web.Response:
    read_params(request.query, ())
    caller = await require_member(request)
    proposal = await proposal_or_404(request)
    return private(web.json_response({"proposal": await proposal_json(request, proposal, caller, detail=True)}))


@routes.post("/api/v1/proposals/{id}/ballots")
async def vote(request: web.Request) -> web.Response:
    """Cast or change one's ballot; the answer holds the voter's receipt."""
    caller = await require_member(request)
    proposal = await proposal_or_404(request)
    values = BALLOT_BODY.read(await read_json_object(request))
    if ("choice" in values) == ("ranking" in values):
        raise ApiError(Code.INVALID_BALLOT, "send either choice or ranking")
    given: Any = values.get("choice") if "choice" in values else tuple(values["ranking"])
    try:
        ballot = check_ballot(rules_of(proposal), given)
    except BallotInvalid as exc:
        raise ApiError(Code.NOT_OFFERED, str(exc), field="ranking" if "ranking" in values else "choice") from None
    stored = ballot if isinstance(ballot, str) else json.dumps(list(ballot))
    receipt = cards.receipt(caller.card, proposal.id)
    result = await request.app[CHAPTER_STORE].votes.vote(
        proposal.id, caller.member.id, receipt_hash(receipt), stored, now(), open_ballot=proposal.ballot == "open"
    )
    if result.everyone_voted:
        request.app[CLOSER].wake()
    return private(
        web.json_response(
            {"receipt": receipt.hex(), "receipt_hash": receipt_hash(receipt).hex(), "changed": result.changed}
        )
    )


@routes.post("/api/v1/proposals/{id}/comments")
async def comment(request: web.Request) -> web.Response:
    caller = await require_member(request)
    proposal = await proposal_or_404(request)
    text = COMMENT_BODY.read(await read_json_object(request))["text"].strip()
    await request.app[CHAPTER_STORE].votes.comment(proposal.id, caller.member.id, text, now())
    return private(web.json_response({"comment": {"name": caller.member.name, "at": iso(now()), "text": text}},
                                     status=201))  # fmt: skip
