"""Events: meetings, assemblies, teach-ins, study groups, distributions; when, where, and who will come.

Organizers (a mandate; the admin token in the founding period) publish an
``event`` record: what it is, its start and end as local times in an IANA
time zone, how it repeats (an RRULE of ``protocol/recurrence.py``'s subset),
a public meeting place (never a home: the form says it is published), the
coarse area, languages, what it offers so everyone can come, study
materials, and the findings or decisions on its agenda. It travels to peers
like a post and expires after its last occurrence. Any member may suggest an
event for the organizers to publish. "I'll come" is an anonymous count per
occurrence, kept on this node.

The calendar feed (``/calendar.ics``, and ``/calendar/{what}.ics`` for one
kind) holds this chapter's events; the page shows peers' events too,
labelled with their chapter. Times: ``node/members/calendar.py``.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import secrets
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from node.chapter.auth import require_member, require_organizer
from node.chapter.state import CHAPTER_STORE
from node.core.auth import private
from node.core.bodies import Body, BodyField, from_table, id_list
from node.core.clock import iso, now
from node.core.config import NodeConfig
from node.core.errors import ApiError, Code, read_json_object
from node.core.params import Param, limit_param, read_params
from node.core.state import CONFIG, IDENTITY, STORE
from node.members import calendar
from node.members.api import record_or_404
from node.members.render import render
from node.members.terms import DEFAULT_EVENTS_LIST, EVENT_DAYS, MAX_EVENT_DAYS, MAX_EVENTS_LIST
from node.peering.state import FEED
from protocol.errors import RecordInvalid
from protocol.records import DAY, EVENT_KINDS, FIELDS, MAX_EVENT_TTL, Record, build_record, new_version
from storage import Query

log = logging.getLogger("mutualaid.events")
routes = web.RouteTableDef()

_ROWS = {row.name: row for row in FIELDS}
MAX_AHEAD_DAYS = 365
"""An event starts within a year of being published (it then lives its occurrences' span)."""
MAX_LIST, DEFAULT_DAYS, MAX_DAYS = MAX_EVENTS_LIST, EVENT_DAYS, MAX_EVENT_DAYS
_REQUIRED = ("title", "what", "start", "end", "tz")
_OPTIONAL = ("area", "details", "rrule", "venue", "languages", "access", "materials")


def _fields(*, editing: bool) -> list[BodyField]:
    fields = [from_table(_ROWS[name], required=not editing) for name in _REQUIRED]
    fields += [from_table(_ROWS[name], nullable=editing) for name in _OPTIONAL]
    fields.append(id_list(_ROWS["agenda"], nullable=editing, description="findings and decisions it will discuss"))
    return fields


EVENT_BODY = Body(_fields(editing=False), Code.INVALID_EVENT)
EDIT_BODY = Body(
    [*_fields(editing=True), from_table(_ROWS["state"], description="cancelled: it will not take place")],
    Code.INVALID_EVENT,
    at_least_one=True,
)
LIST_PARAMS = (
    Param("what", {"type": "string", "enum": list(EVENT_KINDS)}, "one kind of event"),
    Param("days", {"type": "integer", "minimum": 1, "maximum": MAX_DAYS}, f"how far ahead (default {DEFAULT_DAYS})"),
    limit_param(DEFAULT_EVENTS_LIST, MAX_LIST),
)
ATTEND_BODY = Body(
    [BodyField("occurrence", {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"}, str, required=True,
               description="the local date of the occurrence (YYYY-MM-DD)")],
    Code.INVALID_EVENT,
)  # fmt: skip
SUGGESTIONS = (limit_param(100, 200),)
_SUGGESTION_NUMBER = re.compile("[0-9]{1,18}", re.ASCII)
"""A suggestion's number as SQLite holds it (``isdigit`` takes '²', and 30 digits overflow)."""


async def _checked(
    request: web.Request, values: dict[str, Any], moment: int, kept: frozenset[str] = frozenset()
) -> dict[str, Any]:
    """An event's fields as a record holds them, or ``invalid_event`` saying why
    they do not fit together; agenda ids must name findings or decisions held,
    but those ``kept`` from the version an edit changes stay as they are (a
    finding on the agenda may have expired since, and the event must still be
    changed or cancelled)."""
    tz = calendar.zone(values["tz"])
    if tz is None:
        raise ApiError(Code.INVALID_EVENT, f"{values['tz']!r} is not a time zone this node knows", field="tz")
    fields = {name: value for name, value in values.items() if value is not None and name != "agenda"}
    starts = datetime.fromisoformat(values["start"]).replace(tzinfo=tz).astimezone(UTC)
    if starts.timestamp() > moment + MAX_AHEAD_DAYS * DAY:
        raise ApiError(Code.INVALID_EVENT, f"an event starts within {MAX_AHEAD_DAYS} days", field="start")
    try:
        ends = calendar.last_end(values["start"], values["end"], tz, values.get("rrule"))
        probe = {"kind": "event", "slot": "x", "created_at": moment, "expires_at": moment + 1, **fields}
        build_record(_Nobody(), probe)  # every rule a peer would apply to it
    except RecordInvalid as exc:
        raise ApiError(Code.INVALID_EVENT, str(exc), field=exc.field, reason=exc.reason) from None
    if ends <= moment:
        raise ApiError(Code.INVALID_EVENT, "every occurrence of this event is over", field="end")
    if ends + DAY > moment + MAX_EVENT_TTL:  # the record lives a day past its last end
        most = MAX_EVENT_TTL // DAY - 1
        raise ApiError(Code.INVALID_EVENT, f"its last occurrence ends more than {most} days from now", field="end")
    fields["expires_at"] = ends + DAY
    agenda = values.get("agenda")
    if agenda:
        fields["agenda"] = []
        for text in agenda:
            if text in kept:
                fields["agenda"].append(bytes.fromhex(text))
                continue
            held = await request.app[STORE].reads.get(bytes.fromhex(text), moment)
            if held is None or held.kind not in ("finding", "decision"):
                raise ApiError(Code.UNKNOWN_REFERENCE, f"this node holds no finding or decision {text[:12]}...")
            fields["agenda"].append(held.id)
    return fields


def home_area(config: NodeConfig) -> str | None:
    """The coarse area every area this node serves lies in (their common geohash prefix): an
    event given no area is placed there; None when the node serves every area, or areas apart."""
    if not config.areas:
        return None
    first, last = min(config.areas), max(config.areas)  # the sorted extremes share what all share
    n = next((i for i, (a, b) in enumerate(zip(first, last, strict=False)) if a != b), min(len(first), len(last)))
    return first[:n] or None


class _Nobody:
    """Signs with a throwaway key: a probe of the record rules, never stored."""

    public_key = bytes(32)

    def sign_message(self, message: bytes) -> bytes:
        return bytes(64)


async def _publish(request: web.Request, record: Record) -> None:
    outcome = await request.app[STORE].writer.put(record, now())
    if outcome.status != "accepted":
        raise ApiError(Code.CONFLICT, "the event changed meanwhile; load it again")
    await request.app[FEED].publish([record], None)


@routes.post("/api/v1/events")
async def publish_event(request: web.Request) -> web.Response:
    organizer = await require_organizer(request)
    values = EVENT_BODY.read(await read_json_object(request))
    moment = now()
    if values.get("area") is None and (area := home_area(request.app[CONFIG])):
        values["area"] = area
    fields = await _checked(request, values, moment)
    record = build_record(request.app[IDENTITY], {"kind": "event", "slot": secrets.token_hex(8),
                                                  "created_at": moment, **fields})  # fmt: skip
    await _publish(request, record)
    await request.app[CHAPTER_STORE].mandates.log(organizer.id, "event", record.id.hex(), values["title"], moment)
    log.info("event id=%s published", record.id.hex())
    return web.json_response({"event": await event_json(request, record, moment)}, status=201)


@routes.patch(r"/api/v1/events/{id:[0-9a-f]{8,64}}")  # not /events/suggestions: a PATCH there is 405
async def edit_event(request: web.Request) -> web.Response:
    """Change or cancel one of this chapter's events (a new version of it)."""
    organizer = await require_organizer(request)
    old = await record_or_404(request)
    if old.kind != "event":
        raise ApiError(Code.WRONG_KIND, f"this record is a {old.kind}, not an event")
    if old.author != request.app[IDENTITY].public_key:
        raise ApiError(Code.NOT_THIS_NODE, "only the chapter that published an event changes it")
    changes = EDIT_BODY.read(await read_json_object(request))
    moment = now()
    merged: dict[str, Any] = {name: old.get(name) for name in (*_REQUIRED, *_OPTIONAL)}
    kept = [bytes(a).hex() for a in old.get("agenda") or []]
    merged["agenda"] = kept or None
    merged |= {name: value for name, value in changes.items() if name != "state"}
    fields = await _checked(request, merged, moment, frozenset(kept))
    fields["state"] = changes.get("state") or old.get("state")
    # Every field as it now stands; None removes one the new version no longer has.
    names = (*_REQUIRED, *_OPTIONAL, "agenda", "state", "expires_at")
    record = new_version(request.app[IDENTITY], old, moment, {name: fields.get(name) for name in names})
    await _publish(request, record)
    what = "cancelled" if fields["state"] == "cancelled" else "changed"
    await request.app[CHAPTER_STORE].mandates.log(organizer.id, "event", record.id.hex(), what, moment)
    return web.json_response({"event": await event_json(request, record, moment)})


def attendance_key(event: Record) -> bytes:
    """What "I'll come" counts are kept under: the event's slot, the same for every version
    of it (an edit or a cancellation makes a new version with a new id; the counts stay)."""
    return event.slot.encode()


async def event_json(request: web.Request, record: Record, moment: int, days: int = MAX_DAYS) -> dict[str, Any]:
    own = record.author == request.app[IDENTITY].public_key
    key = attendance_key(record)
    going = (await request.app[CHAPTER_STORE].outreach.attendance([key]))[key] if own else {}
    horizon = calendar.window_end(moment, days)
    shown = []
    for occurrence in calendar.occurrences(record):
        if occurrence.end.timestamp() <= moment or occurrence.start.timestamp() > horizon:
            continue
        date = occurrence.local.date().isoformat()
        shown.append({"date": date, "local": occurrence.local.isoformat(timespec="minutes"),
                      "start": iso(int(occurrence.start.timestamp())), "end": iso(int(occurrence.end.timestamp())),
                      "going": going.get(date, 0) if own else None})  # fmt: skip
    return render(record) | {"own": own, "occurrences": shown}


MAX_SCANNED = 5_000
"""Events read to answer one listing or feed: every live event of a chapter and its
neighbours, many times over (a node's events number in the tens to hundreds)."""


async def _events(request: web.Request, what: str | None, moment: int, author: bytes | None = None) -> list[Record]:
    """The live events held (of one ``author``, one kind ``what``), read page by page so
    that a filter never hides events past a page's end; at most ``MAX_SCANNED`` read."""
    query = Query(kinds=("event",), statuses=("open",), author=author, limit=MAX_LIST)
    found: list[Record] = []
    for _ in range(MAX_SCANNED // MAX_LIST):
        page = await request.app[STORE].reads.query(query, moment)
        found += [r for r in page.records if what is None or r.get("what") == what]
        if page.next is None:
            break
        query = replace(query, cursor=page.next)
    return found


@routes.get("/api/v1/events")
async def list_events(request: web.Request) -> web.Response:
    """Events this node holds (its chapter's and its peers') with their coming occurrences, soonest first."""
    params = read_params(request.query, LIST_PARAMS)
    moment, days = now(), params["days"] or DEFAULT_DAYS
    out = [await event_json(request, r, moment, days) for r in await _events(request, params["what"], moment)]
    out = [e for e in out if e["occurrences"]]
    out.sort(key=lambda e: e["occurrences"][0]["start"])
    return web.json_response({"events": out[: params["limit"]]})


@routes.post("/api/v1/records/{id}/attend")
async def attend(request: web.Request) -> web.Response:
    """ "I'll come": one more for an occurrence of one of this chapter's events; no name kept."""
    record = await record_or_404(request)
    if record.kind != "event":
        raise ApiError(Code.WRONG_KIND, f"this record is a {record.kind}, not an event")
    if record.author != request.app[IDENTITY].public_key:
        raise ApiError(Code.NOT_THIS_NODE, "say you will come on the node of the chapter holding the event")
    if record.get("state") == "cancelled":
        raise ApiError(Code.INVALID_EVENT, "this event is cancelled: it will not take place", field="occurrence")
    date = ATTEND_BODY.read(await read_json_object(request))["occurrence"]
    dates = {o.local.date().isoformat(): o for o in calendar.occurrences(record)}
    if date not in dates or dates[date].end.timestamp() <= now():
        raise ApiError(Code.INVALID_EVENT, "the event has no coming occurrence on that date", field="occurrence")
    going = await request.app[CHAPTER_STORE].outreach.attend(attendance_key(record), date)
    return web.json_response({"going": going}, status=201)


@routes.post("/api/v1/events/suggestions")
async def suggest(request: web.Request) -> web.Response:
    """A member suggests an event for the organizers to publish."""
    caller = await require_member(request)
    values = EVENT_BODY.read(await read_json_object(request))
    await _checked(request, values, now())
    n = await request.app[CHAPTER_STORE].outreach.suggest(caller.member.id, values, now())
    return private(web.json_response({"suggested": n}, status=201))


@routes.get("/api/v1/events/suggestions")
async def suggestions(request: web.Request) -> web.Response:
    await require_organizer(request)
    limit = read_params(request.query, SUGGESTIONS)["limit"]
    found = await request.app[CHAPTER_STORE].outreach.suggestions(limit)
    return private(web.json_response({"suggestions": [
        {"n": s.n, "member": s.member_name, "at": iso(s.at), "event": s.event} for s in found]}))  # fmt: skip


@routes.delete("/api/v1/events/suggestions/{n}")
async def drop_suggestion(request: web.Request) -> web.Response:
    await require_organizer(request)
    text = request.match_info["n"]
    known = _SUGGESTION_NUMBER.fullmatch(text) and await request.app[CHAPTER_STORE].outreach.drop_suggestion(int(text))
    if not known:
        raise ApiError(Code.NOT_FOUND, "no such suggestion")
    return private(web.json_response({"dropped": True}))


def _feed_name(config: NodeConfig, what: str | None) -> str:
    name = config.name or "mutualaid"
    return f"{name}: {what}" if what else name


class CalendarCache:
    """Each feed as last made, kept while the chapter's events and the day are
    the same (``reads.marker``): calendar apps poll, and a poll of an unchanged
    feed costs one count. When one event changes, the feed is made again from
    the parts ``calendar.Feed`` kept: the changed event alone is written."""

    def __init__(self) -> None:
        self._made: dict[str | None, tuple[tuple[Any, ...], bytes, str]] = {}
        self.parts = calendar.Feed()
        self.making = asyncio.Lock()
        """One feed made at a time: the parts are shared, and made off the event loop."""

    def get(self, what: str | None, key: tuple[Any, ...]) -> tuple[bytes, str] | None:
        made = self._made.get(what)
        return None if made is None or made[0] != key else (made[1], made[2])

    def put(self, what: str | None, key: tuple[Any, ...], body: bytes) -> str:
        etag = hashlib.sha256(body).hexdigest()[:20]
        self._made[what] = (key, body, etag)
        return etag


CALENDAR_CACHE = web.AppKey("calendar_cache", CalendarCache)


async def _calendar(request: web.Request, what: str | None) -> web.Response:
    own, moment = request.app[IDENTITY].public_key, now()
    key = (moment // DAY, *await request.app[STORE].reads.marker(own, "event", moment))
    cache = request.app[CALENDAR_CACHE]
    made = cache.get(what, key)
    if made is None:
        records = await _events(request, what, moment, own)
        name = request.app[CONFIG].name
        pairs, title = [(r, name) for r in records], _feed_name(request.app[CONFIG], what)
        async with cache.making:  # a feed made whole takes ~170 ms for 500 events: not on the loop
            body = await asyncio.to_thread(cache.parts.make, pairs, title, moment, whole=what is None)
        made = body, cache.put(what, key, body)
    body, etag = made
    headers = {
        "ETag": f'"{etag}"',
        "Cache-Control": "no-cache",
        "Content-Disposition": 'inline; filename="calendar.ics"',
    }
    if f'"{etag}"' in request.headers.get("If-None-Match", ""):
        return web.Response(status=304, headers=headers)
    return web.Response(body=body, content_type="text/calendar", charset="utf-8", headers=headers)


@routes.get("/calendar.ics")
async def calendar_feed(request: web.Request) -> web.Response:
    read_params(request.query, ())
    return await _calendar(request, None)


@routes.get("/calendar/{what}.ics")
async def calendar_of_kind(request: web.Request) -> web.Response:
    read_params(request.query, ())
    what = request.match_info["what"]
    if what not in EVENT_KINDS:
        raise ApiError(Code.NOT_FOUND, f"no calendar {what!r}: one of {', '.join(EVENT_KINDS)}")
    return await _calendar(request, what)
