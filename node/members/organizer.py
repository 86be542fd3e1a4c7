"""Flags from members, the organizers' view, and the log of what organizers did.

Anyone may flag a need or an offer (``POST /api/v1/records/{id}/flags``):
the flag stays on this node, for its organizers, who may dismiss a post's
flags; flags go with their post (removed, expired) and after 30 days.
Organizers act by the members' mandate (``node/chapter/auth.py``: a member
card holding a live mandate; in the founding period, the admin token). An
organizer sees the open needs nobody has answered yet, the flags, and may
remove a post from this node with a reason: the record is deleted here, no
later version of its address is stored again (so it is neither found in
searches nor served to peers nor fetched back from them), and the removal is
listed with its reason. A removal is local: other nodes decide for
themselves, and this node's members may reverse it by a decision. Every
removal and dismissal is logged with the organizer's name and reason, and
any member reads the log (``GET /api/v1/organizer/log``).
"""

from __future__ import annotations

import logging

from aiohttp import web

from node.chapter.auth import Organizer, require_member, require_organizer
from node.chapter.state import CHAPTER_STORE
from node.core.bodies import Body, BodyField, choice, from_table, matching
from node.core.clock import now
from node.core.errors import ApiError, Code
from node.core.params import Param, limit_param, read_params
from node.core.state import COMMUNITY, STORE
from node.members.api import post_or_404, private, read_body, record_id
from node.members.render import iso, render
from node.members.terms import FLAG_REASONS as FLAG_REASONS  # noqa: PLC0414 - node/openapi.py reads it here
from node.members.terms import MAX_NOTE_CHARS, MAX_ORGANIZER_LIST, MAX_REASON_CHARS
from protocol.fieldtable import Text
from protocol.records import DAY, POST_KINDS

log = logging.getLogger("mutualaid.organizer")
routes = web.RouteTableDef()
MAX_LIST = MAX_ORGANIZER_LIST


def _optional_text(name: str, max_chars: int) -> BodyField:
    """A free text a member may leave out, empty or null."""
    kind = Text(max_chars, multiline=True)
    return BodyField(
        name,
        {"anyOf": [{"type": "string", "maxLength": 0}, kind.json_schema()]},
        lambda value: kind.check(name, value).strip() if value != "" else "",
        nullable=True,
    )


FLAG_BODY = Body(
    [
        choice("reason", FLAG_REASONS, required=True, code=Code.INVALID_FLAG, description="why it is flagged"),
        _optional_text("note", MAX_NOTE_CHARS),
    ],
    Code.INVALID_NOTE,
)
REMOVAL_BODY = Body(
    [
        matching("id", "^[0-9a-f]{64}$", "a record id (64 hex characters)", required=True, code=Code.INVALID_ID),
        from_table(Text(MAX_REASON_CHARS, multiline=True), "reason", required=True, description="shown on the post"),
    ],
    Code.INVALID_REASON,
)
LIMIT = (limit_param(100, MAX_LIST),)
DISMISS_PARAMS = (
    Param("reason", {"type": "string", "minLength": 1, "maxLength": MAX_REASON_CHARS},
          "why the flags are dismissed, for the organizers' log"),
)  # fmt: skip


@routes.post("/api/v1/records/{id}/flags")
async def flag(request: web.Request) -> web.Response:
    record = await post_or_404(request, "flags")
    values = await read_body(request, FLAG_BODY)
    reason, note = values["reason"], values.get("note") or ""
    if not await request.app[COMMUNITY].add_flag(record, reason, note, now()):
        raise ApiError(
            Code.TOO_MANY_FLAGS, "this post has as many flags as one post keeps; its organizers will see them"
        )
    log.info("record id=%s flagged reason=%s", record.id.hex(), reason)
    return web.json_response({"flagged": True}, status=201)


@routes.get("/api/v1/organizer/unanswered")
async def unanswered(request: web.Request) -> web.Response:
    await require_organizer(request)
    limit = read_params(request.query, LIMIT)["limit"]
    moment = now()
    needs = await request.app[COMMUNITY].unanswered_needs(moment, limit)
    return private(
        web.json_response(
            {"records": [render(r) | {"days_open": (moment - since) // DAY, "replies": 0} for r, since in needs]}
        )
    )


@routes.get("/api/v1/organizer/flags")
async def flags(request: web.Request) -> web.Response:
    await require_organizer(request)
    found = await request.app[COMMUNITY].flags(now(), read_params(request.query, LIMIT)["limit"])
    return private(
        web.json_response(
            {
                "flags": [
                    {
                        "record": None if f.current is None else render(f.current),
                        "record_id": f.record_id.hex(),
                        "reason": f.reason,
                        "note": f.note,
                        "flagged_at": iso(f.flagged_at),
                        "count": f.count,
                    }
                    for f in found
                ]
            }
        )
    )


@routes.delete("/api/v1/organizer/flags/{record_id}")
async def dismiss_flags(request: web.Request) -> web.Response:
    """Dismiss every flag on a post (named by any id it was flagged under)."""
    organizer = await require_organizer(request)
    reason = read_params(request.query, DISMISS_PARAMS)["reason"] or "the flags were looked at"
    wanted = record_id(request, "record_id")
    dismissed = await request.app[COMMUNITY].dismiss_flags(wanted)
    if not dismissed:
        raise ApiError(Code.NOT_FOUND, "no flags on this record")
    await _log(request, organizer, "dismiss_flags", wanted.hex(), reason)
    log.info("flags on record id=%s dismissed: %d", wanted.hex(), dismissed)
    return private(web.json_response({"dismissed": dismissed}))


@routes.post("/api/v1/organizer/removals")
async def remove(request: web.Request) -> web.Response:
    organizer = await require_organizer(request)
    values = await read_body(request, REMOVAL_BODY)
    reason, wanted = values["reason"].strip(), bytes.fromhex(values["id"])
    record = await request.app[STORE].reads.get(wanted, now())
    if record is None and (earlier := await request.app[STORE].moderation.removal_reason(wanted)):
        raise ApiError(Code.REMOVED, f"removed by this node's organizers: {earlier}")
    if record is None or record.kind not in POST_KINDS:
        raise ApiError(Code.NOT_FOUND, "no need or offer with this id here; it may have expired or been replaced")
    moment = now()
    await request.app[STORE].writer.remove(record.address, record.id, reason, moment)
    await _log(request, organizer, "remove", record.id.hex(), reason)
    log.info("record id=%s removed by an organizer", record.id.hex())
    return private(
        web.json_response(
            {"removal": {"record_id": record.id.hex(), "reason": reason, "removed_at": iso(moment)}}, status=201
        )
    )


@routes.get("/api/v1/organizer/removals")
async def removals(request: web.Request) -> web.Response:
    await require_organizer(request)
    found = await request.app[COMMUNITY].removals(read_params(request.query, LIMIT)["limit"])
    return private(
        web.json_response(
            {
                "removals": [
                    {
                        "record_id": r.record_id.hex(),
                        "author": r.author.hex(),
                        "kind": r.kind,
                        "slot": r.slot,
                        "reason": r.reason,
                        "removed_at": iso(r.removed_at),
                    }
                    for r in found
                ]
            }
        )
    )


async def _log(request: web.Request, organizer: Organizer, action: str, target: str, reason: str) -> None:
    await request.app[CHAPTER_STORE].mandates.log(organizer.id, action, target, reason, now())


@routes.get("/api/v1/organizer/log")
async def organizer_log(request: web.Request) -> web.Response:
    """What organizers did, newest first, with who and why: for every member."""
    await require_member(request)
    entries = await request.app[CHAPTER_STORE].mandates.entries(read_params(request.query, LIMIT)["limit"])
    return private(
        web.json_response(
            {
                "entries": [
                    {
                        "at": iso(e.at),
                        "organizer": e.organizer,
                        "action": e.action,
                        "target": e.target,
                        "reason": e.reason,
                    }
                    for e in entries
                ]
            }
        )
    )
