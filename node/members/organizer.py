"""Flags from members, and the organizers' view (admin token).

Any member may flag a need or an offer (``POST /api/v1/records/{id}/flags``):
the flag stays on this node, for its organizers, who may dismiss a post's
flags; flags go with their post (removed, expired) and after 30 days. With the node's admin token an
organizer sees the open needs nobody has answered yet, the flags, and may
remove a post from this node with a reason: the record is deleted here, no
later version of its address is stored again (so it is neither found in
searches nor served to peers nor fetched back from them), and the removal is
listed with its reason. A removal is local: other nodes decide for themselves.
"""

from __future__ import annotations

import logging
import re
import time

from aiohttp import web

from node.core.auth import require_admin
from node.core.errors import ApiError, Code, read_json_object
from node.core.state import COMMUNITY, STORE
from node.members.api import check_keys, private, record_or_404
from node.members.render import iso, render
from protocol.records import DAY

log = logging.getLogger("mutualaid.organizer")
routes = web.RouteTableDef()
FLAG_REASONS = ("spam", "abuse", "personal_info", "other")
MAX_NOTE_CHARS = 500
MAX_REASON_CHARS = 300
MAX_LIST = 500
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def now() -> int:
    return int(time.time())


def _free_text(name: str, value: object, low: int, high: int) -> str:
    code = Code.INVALID_NOTE if name == "note" else Code.INVALID_REASON
    if not isinstance(value, str):
        raise ApiError(code, f"{name} must be a string")
    text = value.strip()
    if not low <= len(text) <= high:
        raise ApiError(code, f"{name} must be {low} to {high} characters")
    if _CONTROL.search(text):
        raise ApiError(code, f"{name} contains a control character")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ApiError(code, f"{name} is not valid Unicode text") from None
    return text


def _limit(request: web.Request, default: int = 100) -> int:
    unknown = sorted(set(request.query) - {"limit"})
    if unknown:
        raise ApiError(Code.BAD_QUERY, f"unknown parameter {unknown[0]!r}; allowed: limit")
    text = request.query.get("limit", str(default))
    if not re.fullmatch(r"[0-9]{1,3}", text) or not 1 <= int(text) <= MAX_LIST:
        raise ApiError(Code.BAD_QUERY, f"limit must be a whole number from 1 to {MAX_LIST}")
    return int(text)


@routes.post("/api/v1/records/{id}/flags")
async def flag(request: web.Request) -> web.Response:
    record = await record_or_404(request)
    body = await read_json_object(request)
    check_keys(body, frozenset({"reason", "note"}))
    if record.kind not in ("need", "offer"):
        raise ApiError(Code.NOT_FOUND, "flags go to needs and offers")
    reason = body.get("reason")
    if reason not in FLAG_REASONS:
        raise ApiError(Code.INVALID_FLAG, f"reason must be one of {', '.join(FLAG_REASONS)}")
    note = body.get("note") or ""
    if note:
        note = _free_text("note", note, 1, MAX_NOTE_CHARS)
    elif not isinstance(note, str):
        raise ApiError(Code.INVALID_NOTE, "note must be a string")
    if not await request.app[COMMUNITY].add_flag(record, str(reason), note, now()):
        raise ApiError(
            Code.TOO_MANY_FLAGS, "this post has as many flags as one post keeps; its organizers will see them"
        )
    log.info("record id=%s flagged reason=%s", record.id.hex(), reason)
    return web.json_response({"flagged": True}, status=201)


@routes.get("/api/v1/organizer/unanswered")
async def unanswered(request: web.Request) -> web.Response:
    require_admin(request)
    limit = _limit(request)
    moment = now()
    needs = await request.app[COMMUNITY].unanswered_needs(moment, limit)
    return private(
        web.json_response(
            {"records": [render(r) | {"days_open": (moment - since) // DAY, "replies": 0} for r, since in needs]}
        )
    )


@routes.get("/api/v1/organizer/flags")
async def flags(request: web.Request) -> web.Response:
    require_admin(request)
    found = await request.app[COMMUNITY].flags(now(), _limit(request))
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
    require_admin(request)
    text = request.match_info["record_id"]
    if not re.fullmatch(r"[0-9a-f]{64}", text):
        raise ApiError(Code.NOT_FOUND, "no flags on such a record (ids are 64 hex characters)")
    dismissed = await request.app[COMMUNITY].dismiss_flags(bytes.fromhex(text))
    if not dismissed:
        raise ApiError(Code.NOT_FOUND, "no flags on this record")
    log.info("flags on record id=%s dismissed: %d", text, dismissed)
    return private(web.json_response({"dismissed": dismissed}))


@routes.post("/api/v1/organizer/removals")
async def remove(request: web.Request) -> web.Response:
    require_admin(request)
    body = await read_json_object(request)
    check_keys(body, frozenset({"id", "reason"}))
    reason = _free_text("reason", body.get("reason"), 1, MAX_REASON_CHARS)
    record_id = body.get("id")
    if not isinstance(record_id, str) or not re.fullmatch(r"[0-9a-f]{64}", record_id):
        raise ApiError(Code.INVALID_ID, "id must be a record id (64 hex characters)")
    record = await request.app[STORE].reads.get(bytes.fromhex(record_id), now())
    if record is None and (earlier := await request.app[STORE].moderation.removal_reason(bytes.fromhex(record_id))):
        raise ApiError(Code.REMOVED, f"removed by this node's organizers: {earlier}")
    if record is None:
        raise ApiError(Code.NOT_FOUND, "no such record; it may have expired or been replaced by a newer version")
    if record.kind not in ("need", "offer"):
        raise ApiError(Code.INVALID_ID, "only needs and offers can be removed")
    moment = now()
    await request.app[STORE].writer.remove(record.address, record.id, reason, moment)
    log.info("record id=%s removed by an organizer", record.id.hex())
    return private(
        web.json_response(
            {"removal": {"record_id": record.id.hex(), "reason": reason, "removed_at": iso(moment)}}, status=201
        )
    )


@routes.get("/api/v1/organizer/removals")
async def removals(request: web.Request) -> web.Response:
    require_admin(request)
    found = await request.app[COMMUNITY].removals(_limit(request))
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
