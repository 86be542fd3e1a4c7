"""The chapter's part of the OpenAPI document: invites, the roll, proposals, ballots, the organizers' log.

Made like the rest (``node/openapi.py``): request bodies from the
declarations the handlers read (``roll_api``, ``proposals_api``, the
effects of ``node/chapter/effects.py``), errors from the registry. Links
carry a new member's card and a new proposal's id to the next operations,
so a stateful fuzzer can join with an invite it made and vote on a proposal
it opened.
"""

from __future__ import annotations

from typing import Any

from node.chapter import proposals_api, roll_api
from node.core.errors import Code
from node.members import organizer
from node.openapi_parts import (
    ADMIN,
    CARD,
    HEX64,
    INT,
    MEMBER,
    STR,
    TIME,
    Schema,
    json_answer,
    link,
    op,
    path_id,
)
from protocol.ballots import BALLOTS, CHOICES, MAX_OPTIONS, METHODS, OUTCOMES, THRESHOLDS
from protocol.records import DECISION_TYPES

_NULL_STR: Schema = {"type": ["string", "null"]}
_HEX32: Schema = {"type": "string", "pattern": "^[0-9a-f]{32}$"}


def _object(properties: dict[str, Any], *, optional: tuple[str, ...] = ()) -> Schema:
    required = [name for name in properties if name not in optional]
    return {"type": "object", "additionalProperties": False, "required": required, "properties": properties}


_MEMBER = _object({
    "id": _HEX32,
    "name": STR,
    "invited_by": {"oneOf": [{"type": "null"}, _object({"id": _HEX32, "name": _NULL_STR})]},
    "joined_at": TIME,
    "status": {"type": "string", "enum": ["active", "left", "retired"]},
    "organizer": {"type": "boolean"},
})  # fmt: skip
_BALLOT: Schema = {
    "oneOf": [
        _object({"choice": {"type": "string", "enum": list(CHOICES)}}),
        _object({"ranking": {"type": "array", "items": {"type": "integer", "minimum": 1, "maximum": MAX_OPTIONS}}}),
    ]
}
_COUNTS: Schema = {"type": "object", "additionalProperties": INT}
_RESULT = _object({
    "outcome": {"type": "string", "enum": list(OUTCOMES)},
    "counts": _COUNTS,
    "turnout": INT,
    "electorate": INT,
    "quorum_met": {"type": "boolean"},
    "winner": {"type": ["integer", "null"]},
    "rounds": {"type": "array", "items": _COUNTS},
})  # fmt: skip


def _with_ballot(extra: dict[str, Schema]) -> Schema:
    """A ballot (a choice or a ranking) with more fields beside it."""
    return {"oneOf": [_object({"choice": {"type": "string", "enum": list(CHOICES)}, **extra}),
                      _object({"ranking": {"type": "array", "items": INT}, **extra})]}  # fmt: skip


_PROPOSAL_FIELDS: dict[str, Schema] = {
    "id": _HEX32,
    "title": STR,
    "text": _NULL_STR,
    "type": {"type": "string", "enum": list(DECISION_TYPES)},
    "effect": {"type": ["object", "null"]},
    "summary": STR,
    "member_name": _NULL_STR,
    "method": {"type": "string", "enum": list(METHODS)},
    "options": {"type": "array", "items": STR},
    "threshold": {"type": "string", "enum": list(THRESHOLDS)},
    "quorum": {"type": "integer", "minimum": 0, "maximum": 100},
    "ballot": {"type": "string", "enum": list(BALLOTS)},
    "proposer": STR,
    "opened_at": TIME,
    "closes_at": TIME,
    "closed_at": {"oneOf": [{"type": "null"}, TIME], "description": "before closes_at when everyone voted"},
    "state": {"type": "string", "enum": ["open", "closed"]},
    "electorate": INT,
    "voted": INT,
    "choices": {"type": "array", "items": {"type": "string", "enum": list(CHOICES)}},
    "you": _object(
        {
            "in_electorate": {"type": "boolean"},
            "voted": {"type": "boolean"},
            "locked": {"type": "boolean", "description": "voted with an earlier card: no change"},
        }
    ),
    "my_ballot": {"oneOf": [{"type": "null"}, _with_ballot({"receipt": _HEX32, "receipt_hash": HEX64})]},
    "result": {"oneOf": [{"type": "null"}, _RESULT]},
    "applied": _NULL_STR,
    "decision": {"oneOf": [{"type": "null"}, HEX64]},
}
_PROPOSAL = _object(_PROPOSAL_FIELDS)
_DETAILED = _object(
    {
        **_PROPOSAL_FIELDS,
        "electorate_names": {"type": "array", "items": _object({"name": STR, "voted": {"type": "boolean"}})},
        "comments": {"type": "array", "items": _object({"name": STR, "at": TIME, "text": STR})},
        "receipts": {"oneOf": [{"type": "null"}, {"type": "array", "items": _with_ballot({"hash": HEX64})}]},
        "receipts_digest": {"oneOf": [{"type": "null"}, HEX64]},
        "open_ballots": {"oneOf": [{"type": "null"}, {"type": "array", "items": _with_ballot({"name": STR})}]},
    },
    optional=("receipts_digest",),
)

_CHANGE = (*MEMBER, Code.MEMBER_RATE)
"""A change made with a card: the member's rate limit applies."""
_CARD_AUTH = "Bearer {$response.body#/card}"
_PROPOSAL_ID = "$response.body#/proposal/id"


def _card_links(auth: str) -> dict[str, Any]:
    """What a member can do next with a card just given."""
    return {
        "Roll": link("listMembers", header__Authorization=auth),
        "Me": link("getMe", header__Authorization=auth),
        "Invite": link("makeInvites", header__Authorization=auth),
        "Proposals": link("listProposals", header__Authorization=auth),
        "Log": link("organizerLog", header__Authorization=auth),
    }


def _proposal_links(auth: str) -> dict[str, Any]:
    return {
        "GetProposal": link("getProposal", path__id=_PROPOSAL_ID, header__Authorization=auth),
        "Vote": link("vote", path__id=_PROPOSAL_ID, header__Authorization=auth),
        "Comment": link("comment", path__id=_PROPOSAL_ID, header__Authorization=auth),
    }


def chapter_paths() -> dict[str, Any]:
    invites = _object({"invites": {"type": "array", "items": _object({"code": STR, "expires_at": TIME})}})
    joined = _object({"card": {"type": "string", "description": "the member card, shown once"}, "member": _MEMBER})
    roll = _object({"members": {"type": "array", "items": _MEMBER}, "founding": {"type": "boolean"}})
    mandate = {"oneOf": [{"type": "null"}, _object({"granted_at": TIME, "ends_at": TIME})]}
    me = _object({"member": _MEMBER, "mandate": mandate, "invites_left": INT, "founding": {"type": "boolean"}})
    new_card = _object({"card": {"type": "string", "description": "the new card, shown once; the old one is retired"}})
    svg = {"200": {"description": "the card's sign-in link as a QR code",
                   "content": {"image/svg+xml": {"schema": STR}}}}  # fmt: skip
    one = _object({"proposal": _PROPOSAL})
    detailed = _object({"proposal": _DETAILED})
    many = _object({"proposals": {"type": "array", "items": _PROPOSAL}})
    voted = _object({"receipt": _HEX32, "receipt_hash": HEX64, "changed": {"type": "boolean"}})
    commented = _object({"comment": _object({"name": STR, "at": TIME, "text": STR})})
    entries = _object({"entries": {"type": "array", "items": _object(
        {"at": TIME, "organizer": _NULL_STR, "action": STR, "target": STR, "reason": STR})}})  # fmt: skip
    proposal_path = [path_id("id", "a proposal's id (32 hex characters), or its first 8 or more",
                             {"type": "string", "pattern": proposals_api.PROPOSAL_ID})]  # fmt: skip
    proposal_errors = (*MEMBER, Code.NOT_FOUND, Code.AMBIGUOUS_ID)
    proposal_changes = (*proposal_errors, Code.MEMBER_RATE)
    example = {"type": "categories", "title": "Add a pets category",
               "effect": {"action": "add", "slug": "pets", "name_en": "Pets", "name_es": "Mascotas"}}  # fmt: skip
    propose_body = proposals_api.PROPOSAL_BODY.schema() | {"examples": [example]}
    return {
        "/api/v1/invites": {
            "post": op("makeInvites", "Invite codes: a member's (weekly quota) or the operator's founding sheet",
                       {"201": json_answer(invites, "made", links={
                           "Join": {"operationId": "join", "requestBody": {
                               "code": "$response.body#/invites/0/code", "name": "Founding member"}}})},
                       (*MEMBER, Code.FOUNDING_OVER, Code.INVALID_INVITE_REQUEST, Code.INVITE_QUOTA),
                       body=roll_api.INVITE_BODY.schema(), security=[*CARD, *ADMIN]),
        },
        "/api/v1/members": {
            "post": op("join", "Join the chapter with an invite code and a name: the answer holds the card, once",
                       {"201": json_answer(joined, "joined", links=_card_links(_CARD_AUTH))},
                       (Code.INVALID_INVITE, Code.INVALID_MEMBER, Code.NAME_TAKEN, Code.TOO_MANY_ATTEMPTS),
                       body=roll_api.JOIN_BODY.schema()),
            "get": op("listMembers", "The roll: names, who invited whom, when they joined",
                      {"200": json_answer(roll)}, MEMBER, params=roll_api.ROLL_PARAMS, security=CARD),
        },
        "/api/v1/members/me": {
            "get": op("getMe", "The member this card names, their mandate and invites left", {"200": json_answer(me)},
                      MEMBER, params=(), security=CARD),
            "delete": op("leave", "Leave the chapter (the card stops working)",
                         {"200": json_answer(_object({"left": {"const": True}}))}, (*_CHANGE, Code.CROSS_SITE),
                         params=(), security=CARD),
        },
        "/api/v1/members/me/card": {
            "post": op("replaceCard", "Retire this card and get a new one", {"201": json_answer(new_card, "replaced")},
                       (*_CHANGE, Code.CROSS_SITE), security=CARD),
        },
        "/api/v1/members/me/qr": {
            "get": op("cardQr", "The card's sign-in link as a QR code", svg, MEMBER, params=(), security=CARD),
        },
        "/api/v1/proposals": {
            "post": op("propose", "Open a proposal; its electorate is the roll of this moment",
                       {"201": json_answer(one, "opened", links=_proposal_links("$request.header.Authorization"))},
                       (*_CHANGE, Code.INVALID_PROPOSAL, Code.NOT_APPLICABLE, Code.TOO_MANY_PROPOSALS),
                       body=propose_body, security=CARD),
            "get": op("listProposals", "Proposals, newest first (results once closed)", {"200": json_answer(many)},
                      MEMBER, params=proposals_api.LIST_PARAMS, security=CARD),
        },
        "/api/v1/proposals/{id}": {
            "get": op("getProposal", "One proposal: who may vote and who has, comments; once closed the "
                      "result, the receipts list and the turnout", {"200": json_answer(detailed)}, proposal_errors,
                      params=(), path=proposal_path, security=CARD),
        },
        "/api/v1/proposals/{id}/ballots": {
            "post": op("vote", "Cast or change one's ballot; the answer holds the receipt",
                       {"200": json_answer(voted)},
                       (*proposal_changes, Code.INVALID_BALLOT, Code.NOT_OFFERED, Code.PROPOSAL_CLOSED,
                        Code.NOT_IN_ELECTORATE, Code.BALLOT_LOCKED), path=proposal_path,
                       body=proposals_api.BALLOT_BODY.schema(minProperties=1, maxProperties=1), security=CARD),
        },
        "/api/v1/proposals/{id}/comments": {
            "post": op("comment", "Comment on an open proposal", {"201": json_answer(commented, "added")},
                       (*proposal_changes, Code.INVALID_COMMENT, Code.PROPOSAL_CLOSED, Code.TOO_MANY_COMMENTS),
                       path=proposal_path, body=proposals_api.COMMENT_BODY.schema(), security=CARD),
        },
        "/api/v1/organizer/log": {
            "get": op("organizerLog", "What organizers did, with who and why (every member reads it)",
                      {"200": json_answer(entries)}, MEMBER, params=organizer.LIMIT, security=CARD),
        },
    }  # fmt: skip
