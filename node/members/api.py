"""The member API under /api/v1: post, search, read and manage records.

Anyone who can reach the node may post: no account, no email, no ID. The node
signs the record with its own key and returns a manage token once; it keeps
only the token's SHA-256, stored in the same transaction as the record. The
token, sent as ``Authorization: Bearer``, is what lets a poster change the
status, edit or renew their post.

Every body and query parameter is declared once below (``NEED_BODY``,
``SEARCH_PARAMS``...), from the field table where it is a record field; the
handlers read requests with those declarations and node/openapi.py documents
them from the same ones.

Logs name records by id and kind only: never a title, details or anything
that could identify a member.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import logging
import secrets
from typing import Any

from aiohttp import web

from crypto import public_key_to_text
from node import __version__
from node.chapter.categories import Categories
from node.chapter.settings import ChapterState
from node.chapter.state import CHAPTER
from node.core.auth import private as private  # noqa: PLC0414 - the members' modules read it here
from node.core.bodies import Body, BodyField, choice, from_table, integer, read_date
from node.core.clock import PEER_OFFSETS, now
from node.core.errors import ApiError, Code, read_json_object
from node.core.params import Param, read_params
from node.core.state import CONFIG, IDENTITY, METRICS, STORE
from node.members.render import render
from node.members.terms import DEFAULT_TTL_DAYS, MIN_ID_PREFIX, OPTIONAL, REQUIRED
from node.peering.state import FEED, GOSSIP
from protocol import fieldtable
from protocol.errors import RecordInvalid
from protocol.fields import DATE_PATTERN, URGENCIES
from protocol.records import DAY, FIELDS, MAX_TTL, POST_KINDS, STATUSES, Record, build_record, new_version
from storage import Query
from storage.query import MAX_LIMIT

log = logging.getLogger("mutualaid.api")
routes = web.RouteTableDef()

_ROWS = {row.name: row for row in FIELDS}


def _post_fields(categories: Categories, kind: str, *, editing: bool) -> list[BodyField]:
    """The member-set fields of a post of ``kind``: the table's, except that the
    category is one of the chapter's and needed_by a date."""
    fields: list[BodyField] = []
    for name in (*REQUIRED, *OPTIONAL):
        row = _ROWS[name]
        if kind not in row.kinds:
            continue
        required = name in REQUIRED and not editing
        nullable = name in OPTIONAL
        if name == "category":
            field = choice(name, categories.slugs, required=required, description=row.meaning)
        elif name == "needed_by":
            what = "a date (YYYY-MM-DD), or a UTC date and time (YYYY-MM-DDTHH:MM:SSZ)"
            schema = {"type": "string", "pattern": DATE_PATTERN}
            field = BodyField(name, schema, read_date(name), nullable=True, description=what)
        else:
            field = from_table(row, required=required, nullable=nullable)
        fields.append(field)
    ttl = f"days until it expires, from now (default {DEFAULT_TTL_DAYS})"
    fields.append(integer("expires_in_days", 1, MAX_TTL // DAY, description=ttl))
    return fields


@functools.lru_cache(maxsize=8)  # per list of categories and kind: the list changes only by a decision
def post_body(categories: Categories, kind: str) -> Body:
    """A new need or offer: its kind and its fields."""
    kind_field = choice("kind", (kind,), required=True, description="need or offer")
    return Body([kind_field, *_post_fields(categories, kind, editing=False)], Code.INVALID_RECORD)


@functools.lru_cache(maxsize=4)
def edit_body(categories: Categories) -> Body:
    """An edit: any field of a need (null removes an optional one); give_back only for needs."""
    return Body(_post_fields(categories, "need", editing=True), Code.INVALID_RECORD, at_least_one=True)


STATUS_BODY = Body([choice("status", STATUSES, required=True)], Code.INVALID_RECORD)

_URGENCY = "|".join(URGENCIES)
SEARCH_PARAMS = (
    Param(
        "kind",
        {"type": "string", "enum": [*POST_KINDS, "node", "decision", "finding", "event"]},
        "need, offer, node, decision, finding or event",
        repeated=True,
    ),
    Param("category", fieldtable.Slug().json_schema(), "a category's slug"),
    Param("area", fieldtable.Geohash().json_schema(), "a geohash prefix: u4 finds u4pru"),
    Param("status", {"type": "string", "enum": list(STATUSES)}, "open and claimed unless given", repeated=True),
    Param(
        "urgency",
        {"type": "string", "pattern": f"^({_URGENCY})(,({_URGENCY})){{0,{len(URGENCIES) - 1}}}$", "maxItems": 4},
        f"{', '.join(URGENCIES)}; repeat or comma-separate for several",
        repeated=True,
    ),
    Param("language", fieldtable.Language().json_schema(), "a language tag; pt also finds pt-br"),
    Param("q", {"type": "string", "maxLength": 200}, "words to search for"),
    Param("author", {"type": "string", "pattern": "^[0-9a-f]{64}$"}, "only records signed by this node key (hex)"),
    Param("order", {"type": "string", "enum": ["newest", "urgency"]}, "newest (default) or most urgent first"),
    Param("limit", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT}, f"at most {MAX_LIMIT}", 50),
    Param(
        "cursor",
        {"type": "string", "pattern": "^[0-3]\\.[0-9]{1,15}\\.[0-9]{1,15}$"},
        "the next page: the `next` of the page before",
    ),
)


async def read_body(request: web.Request, body: Body) -> dict[str, Any]:
    return body.read(await read_json_object(request))


def chapter_info(state: ChapterState) -> dict[str, Any]:
    """The chapter's decided settings in force, and whether it is still founding."""
    return {"founding": state.founding, "settings": dict(state.settings)}


@routes.get("/api/v1/node")
async def node_info(request: web.Request) -> web.Response:
    counts = await request.app[STORE].reads.counts(now())
    identity, config = request.app[IDENTITY], request.app[CONFIG]
    return web.json_response(
        {
            "public_key": identity.public_key.hex(),
            "key": public_key_to_text(identity.public_key),
            "name": config.name,
            "version": __version__,
            "areas": list(config.areas),
            "records": sum(counts.values()),
            "posts": {kind: sum(n for (k, _), n in counts.items() if k == kind) for kind in POST_KINDS},
            "peers": request.app[GOSSIP].connected(),
            "categories": request.app[CHAPTER].state.categories.as_json(),
            "chapter": chapter_info(request.app[CHAPTER].state),
            "clock": PEER_OFFSETS.skew().as_json(),
        }
    )


@routes.post("/api/v1/records")
async def post_record(request: web.Request) -> web.Response:
    raw = await read_json_object(request)
    kind = raw.get("kind")
    if kind not in POST_KINDS:
        raise ApiError(Code.INVALID_RECORD, "kind must be need or offer", field="kind")
    values = post_body(request.app[CHAPTER].state.categories, str(kind)).read(raw)
    moment = now()
    fields: dict[str, Any] = {
        "kind": kind,
        "slot": secrets.token_hex(8),
        "created_at": moment,
        "expires_at": moment + (values.pop("expires_in_days", None) or DEFAULT_TTL_DAYS) * DAY,
        "status": "open",
    }
    fields |= {name: value for name, value in values.items() if value is not None and name != "kind"}
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
    params = read_params(request.query, SEARCH_PARAMS)
    urgencies = tuple(dict.fromkeys(u for value in params["urgency"] for u in value.split(",")))
    query = Query(
        kinds=tuple(dict.fromkeys(params["kind"])) or POST_KINDS,
        category=params["category"],
        area=params["area"],
        statuses=tuple(dict.fromkeys(params["status"])) or ("open", "claimed"),
        urgencies=urgencies,
        language=params["language"],
        text=params["q"] or None,
        author=None if params["author"] is None else bytes.fromhex(params["author"]),
        order=params["order"] or "newest",
        limit=params["limit"],
        cursor=params["cursor"],
    )
    page = await request.app[STORE].reads.query(query, now())
    return web.json_response({"records": [render(r) for r in page.records], "next": page.next})


def record_id(request: web.Request, name: str = "id") -> bytes:
    """The id in the path, or a 404 that says what an id is."""
    text = request.match_info[name]
    if len(text) != 64 or text.strip("0123456789abcdef"):
        raise ApiError(Code.NOT_FOUND, "no such record (ids are 64 lowercase hex characters)")
    return bytes.fromhex(text)


async def record_or_404(request: web.Request) -> Record:
    """The record the path names by its id (or an earlier id of a post made here), or by
    the start of one (``MIN_ID_PREFIX`` characters or more) that only one record has."""
    text = request.match_info["id"]
    if not MIN_ID_PREFIX <= len(text) <= 64 or text.strip("0123456789abcdef"):
        raise ApiError(
            Code.NOT_FOUND,
            f"no such record (an id is 64 lowercase hex characters; its first {MIN_ID_PREFIX} or more also do)",
        )
    if len(text) < 64:
        return await _record_by_prefix(request, text)
    wanted = bytes.fromhex(text)
    store = request.app[STORE]
    record = await store.reads.get(wanted, now())
    if record is None:  # an earlier version of a post made here: its manage link still works
        record = await store.own.current(wanted, now())
    if record is None and (moved := await store.keys.redirect(wanted)) is not None:
        record = await store.reads.get_by_address(*moved, now())  # signed by a key its chapter replaced
    if record is None:
        reason = await store.moderation.removal_reason(wanted)
        if reason is not None:
            raise ApiError(Code.REMOVED, f"removed by this node's organizers: {reason}")
        raise ApiError(Code.NOT_FOUND, "no such record; it may have expired or been replaced by a newer version")
    return record


async def _record_by_prefix(request: web.Request, prefix: str) -> Record:
    """The one live record whose id starts with ``prefix``, counting the earlier
    ids of this node's own posts (an id copied before an edit still works)."""
    store, moment = request.app[STORE], now()
    found = {record.id: record for record in await store.reads.by_id_prefix(prefix, moment)}
    found |= {record.id: record for record in await store.own.current_by_prefix(prefix, moment)}
    if len(found) > 1:
        raise ApiError(Code.AMBIGUOUS_ID, f"more than one record has an id starting with {prefix}; give more of it")
    if not found:
        raise ApiError(Code.NOT_FOUND, f"no live record has an id starting with {prefix}")
    return next(iter(found.values()))


async def post_or_404(request: web.Request, what: str) -> Record:
    """The need or offer named in the path (``what`` says what is refused for another kind)."""
    record = await record_or_404(request)
    if record.kind not in POST_KINDS:
        raise ApiError(Code.NOT_FOUND, f"{what} are for needs and offers; this record is a {record.kind}")
    return record


@routes.get("/api/v1/records/{id}")
async def get_record(request: web.Request) -> web.Response:
    return web.json_response(render(await record_or_404(request)))


def manage_token_hash(request: web.Request) -> bytes:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(Code.UNAUTHORIZED, "send the post's manage token as 'Authorization: Bearer <token>'")
    return hashlib.sha256(token.strip().encode()).digest()


async def authorised(request: web.Request) -> Record:
    """The post named in the path, if the request carries its manage token."""
    record = await post_or_404(request, "manage tokens")
    given = manage_token_hash(request)
    stored = await request.app[STORE].own.manage_token_hash(*record.address)
    if stored is None and record.author != request.app[IDENTITY].public_key:
        raise ApiError(
            Code.NOT_THIS_NODE, "this post was made through another node: only that node holds its manage token"
        )
    if stored is None or not hmac.compare_digest(stored, given):
        raise ApiError(Code.FORBIDDEN, "this manage token does not belong to this post")
    return record


async def _save_version(request: web.Request, old: Record, changes: dict[str, Any]) -> web.Response:
    moment = now()
    if old.is_tombstone:
        raise ApiError(Code.CLOSED, f"this post is {old.status}: that is final, it cannot change")
    try:
        record = new_version(request.app[IDENTITY], old, moment, changes)
    except RecordInvalid as exc:
        if exc.reason in ("after_tombstone", "bad_transition"):
            raise ApiError(Code.CLOSED, str(exc)) from None
        raise
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
    read_params(request.query, ())
    posts = await request.app[STORE].own.managed_by(manage_token_hash(request), now())
    if not posts:
        raise ApiError(Code.FORBIDDEN, "this manage token manages no post on this node")
    return private(web.json_response({"posts": [render(r) for r in posts]}))


@routes.post("/api/v1/records/{id}/status")
async def change_status(request: web.Request) -> web.Response:
    old = await authorised(request)
    values = await read_body(request, STATUS_BODY)
    return await _save_version(request, old, {"status": values["status"]})


@routes.patch("/api/v1/records/{id}")
async def edit_record(request: web.Request) -> web.Response:
    """Edit fields (null removes an optional one) and/or renew with expires_in_days."""
    old = await authorised(request)
    values = await read_body(request, edit_body(request.app[CHAPTER].state.categories))
    if old.kind != "need" and values.get("give_back") is not None:
        raise ApiError(Code.WRONG_KIND, "give_back is only for needs; this post is an offer", field="give_back")
    changes: dict[str, Any] = {}
    for name, value in values.items():
        if name == "expires_in_days":
            changes["expires_at"] = now() + value * DAY
        elif name == "give_back" and old.kind != "need":
            continue  # null: an offer has none to remove
        else:
            changes[name] = value
    return await _save_version(request, old, changes)
