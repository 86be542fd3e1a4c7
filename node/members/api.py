"""The member API under /api/v1: post, search, read and manage records.

Anyone who can reach the node may post: no account, no email, no ID. The node
signs the record with its own key and returns a manage token once; it keeps
only the token's SHA-256, stored in the same transaction as the record. The
token, sent as ``Authorization: Bearer``, is what lets a poster change the
status, edit or renew their post.

Logs name records by id and kind only: never a title, details or anything
that could identify a member.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
import time
from typing import Any

from aiohttp import web

from node import __version__
from node.core.errors import ApiError, Code, read_json_object
from node.core.state import CONFIG, IDENTITY, METRICS, STORE
from node.members.render import parse_iso, render
from node.peering.state import FEED, GOSSIP
from protocol.records import DAY, MAX_TTL, POST_KINDS, STATUSES, Record, build_record, new_version
from storage import Query

log = logging.getLogger("mutualaid.api")
routes = web.RouteTableDef()

DEFAULT_TTL_DAYS = 30
_OPTIONAL = ("details", "tags", "quantity", "urgency", "needed_by", "languages", "give_back")
_POST_KEYS = frozenset({"kind", "title", "category", "area", "expires_in_days", *_OPTIONAL})
_EDIT_KEYS = frozenset({"title", "category", "area", "expires_in_days", *_OPTIONAL})
_REQUIRED_ON_EDIT = ("title", "category", "area")


def now() -> int:
    return int(time.time())


def check_keys(body: dict[str, Any], allowed: frozenset[str]) -> None:
    unknown = sorted(body.keys() - allowed)
    if unknown:
        raise ApiError(Code.UNKNOWN_FIELD, f"unknown field {unknown[0]!r}; allowed: {', '.join(sorted(allowed))}")


def _ttl_days(body: dict[str, Any]) -> int:
    days = body.get("expires_in_days", DEFAULT_TTL_DAYS)
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_TTL // DAY:
        raise ApiError(Code.INVALID_RECORD, f"expires_in_days must be a whole number from 1 to {MAX_TTL // DAY}")
    return days


_LIST_FIELDS = frozenset({"tags", "languages"})


def _text(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise ApiError(Code.INVALID_RECORD, f"{name} must be a string")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate, which JSON escapes can carry
        raise ApiError(Code.INVALID_RECORD, f"{name} is not valid Unicode text") from None
    return value


def _field_value(name: str, value: Any) -> Any:
    """JSON values to record values (dates become timestamps), with their JSON
    types checked here so nothing that cannot be signed reaches the signer."""
    if value is None:
        return None
    if name in _LIST_FIELDS:
        if not isinstance(value, list):
            raise ApiError(Code.INVALID_RECORD, f"{name} must be a list of strings")
        return [_text(name, item) for item in value]
    if name != "needed_by":
        return _text(name, value)
    if not isinstance(value, str):
        raise ApiError(Code.INVALID_RECORD, "needed_by must be an ISO 8601 date such as 2026-12-24")
    try:
        return parse_iso(value)
    except (ValueError, OverflowError, OSError):
        raise ApiError(Code.INVALID_RECORD, f"needed_by: {value[:40]!r} is not an ISO 8601 date") from None


@routes.get("/api/v1/node")
async def node_info(request: web.Request) -> web.Response:
    counts = await request.app[STORE].reads.counts(now())
    return web.json_response(
        {
            "public_key": request.app[IDENTITY].public_key.hex(),
            "name": request.app[CONFIG].name,
            "version": __version__,
            "records": sum(counts.values()),
            "peers": request.app[GOSSIP].connected(),
        }
    )


@routes.post("/api/v1/records")
async def post_record(request: web.Request) -> web.Response:
    body = await read_json_object(request)
    check_keys(body, _POST_KEYS)
    kind = body.get("kind")
    if kind not in POST_KINDS:
        raise ApiError(Code.INVALID_RECORD, "kind must be 'need' or 'offer'")
    for name in ("title", "category", "area"):
        if name not in body:
            raise ApiError(Code.INVALID_RECORD, f"{name} is required")
    moment = now()
    fields: dict[str, Any] = {
        "kind": kind,
        "slot": secrets.token_hex(8),
        "created_at": moment,
        "expires_at": moment + _ttl_days(body) * DAY,
        "status": "open",
    }
    for name in ("title", "category", "area", *_OPTIONAL):
        if name in body and body[name] is not None:
            fields[name] = _field_value(name, body[name])
    record = build_record(request.app[IDENTITY], fields)
    records = [record]
    if record.kind == "need" and "give_back" in fields:
        records.append(build_record(request.app[IDENTITY], _linked_offer(fields)))
    token = secrets.token_urlsafe(32)
    token_hash = hashlib.sha256(token.encode()).digest()
    for one in records:
        outcome = await request.app[STORE].writer.put_own(one, token_hash, moment)
        if outcome.status != "accepted":  # pragma: no cover - a fresh slot cannot collide
            raise ApiError(Code.NOT_STORED, f"the record was not stored ({outcome.status})")
    await request.app[FEED].publish(records, None)
    for one in records:
        request.app[METRICS].count("records_posted_total", kind=one.kind)
        log.info("posted record id=%s kind=%s", one.id.hex(), one.kind)
    answer: dict[str, Any] = {"record": render(record), "manage_token": token}
    if len(records) > 1:
        answer["linked_offer"] = render(records[1])
    return private(web.json_response(answer, status=201))


LINKED_OFFER_CATEGORY = "other"
LINKED_OFFER_TAG = "give-back"


def _linked_offer(need: dict[str, Any]) -> dict[str, Any]:
    """The offer a need's "something I can give back" becomes: same area, languages
    and lifetime, category "other", tagged give-back; its own slot, same token."""
    text = str(need["give_back"])
    title = " ".join(text.split())
    if len(title) > 120:
        title = title[:119].rstrip() + "\u2026"
    offer: dict[str, Any] = {
        "kind": "offer",
        "slot": secrets.token_hex(8),
        "created_at": need["created_at"],
        "expires_at": need["expires_at"],
        "status": "open",
        "title": title,
        "category": LINKED_OFFER_CATEGORY,
        "area": need["area"],
        "details": text,
        "tags": [LINKED_OFFER_TAG],
    }
    if "languages" in need:
        offer["languages"] = need["languages"]
    return offer


@routes.get("/api/v1/records")
async def search_records(request: web.Request) -> web.Response:
    params = request.query
    allowed = {"kind", "category", "area", "status", "urgency", "language", "q", "limit", "cursor", "order"}
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise ApiError(Code.BAD_QUERY, f"unknown parameter {unknown[0]!r}; allowed: {', '.join(sorted(allowed))}")
    kinds = tuple(params.getall("kind", [])) or ("need", "offer")
    if not set(kinds) <= {"need", "offer", "node"}:
        raise ApiError(Code.BAD_QUERY, "kind must be need, offer or node")
    statuses = tuple(params.getall("status", [])) or ("open", "claimed")
    limit_text = params.get("limit", "50")
    if not re.fullmatch(r"[0-9]{1,6}", limit_text):
        raise ApiError(Code.BAD_QUERY, "limit must be a whole number from 1 to 500")
    urgencies = tuple(u for value in params.getall("urgency", []) for u in value.split(",") if u)
    if len(urgencies) > 8:
        raise ApiError(Code.BAD_QUERY, "urgency: at most 4 values (low, normal, high, urgent)")
    query = Query(
        kinds=kinds,
        category=params.get("category") or None,
        area=params.get("area") or None,
        statuses=statuses,
        urgencies=tuple(dict.fromkeys(urgencies)),
        language=params.get("language") or None,
        text=params.get("q") or None,
        order=params.get("order", "newest"),  # type: ignore[arg-type]
        limit=int(limit_text),
        cursor=params.get("cursor") or None,
    )
    page = await request.app[STORE].reads.query(query, now())
    return web.json_response({"records": [render(r) for r in page.records], "next": page.next})


async def record_or_404(request: web.Request) -> Record:
    text = request.match_info["id"]
    try:
        record_id = bytes.fromhex(text)
    except ValueError:
        record_id = b""
    if len(record_id) != 32:
        raise ApiError(Code.NOT_FOUND, "no such record (ids are 64 hex characters)")
    record = await request.app[STORE].reads.get(record_id, now())
    if record is None:  # an earlier version of a post made here: its manage link still works
        record = await request.app[STORE].own.current(record_id, now())
    if record is None:
        reason = await request.app[STORE].moderation.removal_reason(record_id)
        if reason is not None:
            raise ApiError(Code.REMOVED, f"removed by this node's organizers: {reason}")
        raise ApiError(Code.NOT_FOUND, "no such record; it may have expired or been replaced by a newer version")
    return record


@routes.get("/api/v1/records/{id}")
async def get_record(request: web.Request) -> web.Response:
    return web.json_response(render(await record_or_404(request)))


def private(response: web.Response) -> web.Response:
    """An answer with manage-only or admin-only data: no cache may keep it."""
    response.headers["Cache-Control"] = "no-store"
    return response


def _manage_token_hash(request: web.Request) -> bytes:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(Code.UNAUTHORIZED, "send the post's manage token as 'Authorization: Bearer <token>'")
    return hashlib.sha256(token.strip().encode()).digest()


async def authorised(request: web.Request) -> Record:
    """The record named in the path, if the request carries its manage token."""
    record = await record_or_404(request)
    given = _manage_token_hash(request)
    stored = await request.app[STORE].own.manage_token_hash(*record.address)
    if stored is None or not hmac.compare_digest(stored, given):
        raise ApiError(Code.FORBIDDEN, "this manage token does not belong to this post")
    return record


async def _save_version(request: web.Request, old: Record, changes: dict[str, Any]) -> web.Response:
    moment = now()
    record = new_version(request.app[IDENTITY], old, moment, changes)
    outcome = await request.app[STORE].writer.put_own(record, None, moment)
    if outcome.status != "accepted":
        raise ApiError(Code.CONFLICT, "the post changed meanwhile; load it again and retry")
    await request.app[FEED].publish([record], None)
    log.info("new version id=%s replaces=%s status=%s", record.id.hex(), old.id.hex(), record.status)
    return private(web.json_response({"record": render(record)}))


@routes.get("/api/v1/manage")
async def managed_posts(request: web.Request) -> web.Response:
    """Every post the manage token in the header manages here, newest first:
    a need and its linked give-back offer share one token."""
    if request.query:
        raise ApiError(Code.BAD_QUERY, "this endpoint takes no parameters")
    posts = await request.app[STORE].own.managed_by(_manage_token_hash(request), now())
    if not posts:
        raise ApiError(Code.FORBIDDEN, "this manage token manages no post on this node")
    return private(web.json_response({"posts": [render(r) for r in posts]}))


@routes.post("/api/v1/records/{id}/status")
async def change_status(request: web.Request) -> web.Response:
    old = await authorised(request)
    body = await read_json_object(request)
    check_keys(body, frozenset({"status"}))
    status = body.get("status")
    if status not in STATUSES:
        raise ApiError(Code.INVALID_RECORD, f"status must be one of {', '.join(STATUSES)}")
    return await _save_version(request, old, {"status": status})


@routes.patch("/api/v1/records/{id}")
async def edit_record(request: web.Request) -> web.Response:
    """Edit fields (null removes an optional one) and/or renew with expires_in_days."""
    old = await authorised(request)
    body = await read_json_object(request)
    check_keys(body, _EDIT_KEYS)
    if not body:
        raise ApiError(Code.INVALID_RECORD, "nothing to change")
    changes: dict[str, Any] = {}
    for name, value in body.items():
        if name == "expires_in_days":
            changes["expires_at"] = now() + _ttl_days(body) * DAY
        elif value is None and name in _REQUIRED_ON_EDIT:
            raise ApiError(Code.INVALID_RECORD, f"{name} is required and cannot be removed")
        elif name == "give_back" and old.kind != "need":
            raise ApiError(Code.INVALID_RECORD, "give_back is only for needs")
        else:
            changes[name] = _field_value(name, value)
    return await _save_version(request, old, changes)
