"""Findings: what the organizers heard, returned to the community, and the community's answer.

The mass line's second and third steps. An organizer holding a mandate (the
admin token in the founding period) writes a finding from the community
report: a title, a text, the period it covers, and the report rows it cites,
which the node copies from its report as it published them (rounded, under 5
hidden: ``protocol/figures.py``), so a finding is never finer than the report
and never cites a row the report did not show. The node signs it as a
``finding`` record, gossiped like a post, so neighbouring chapters see it
labelled with this chapter's name. A later finding may revise an earlier one;
findings link the events and decisions that act on them.

Anyone who visits the chapter's node answers a finding of this chapter:
agree, partly, or "you missed something", with an optional note. The counts
are public, rounded as the report rounds; the notes are for the organizers
only and never leave the node (``storage/chapter/outreach.py``). Logs name a
finding by id only, never an answer's note.
"""

from __future__ import annotations

import logging
import secrets
from typing import Any

from aiohttp import web

from node.chapter.auth import require_organizer
from node.chapter.state import CHAPTER_STORE
from node.core.auth import private
from node.core.bodies import HEX64, Body, BodyField, choice, from_table, id_list, integer, matching
from node.core.clock import iso, now
from node.core.errors import ApiError, Code, read_json_object
from node.core.params import limit_param, read_params
from node.core.state import IDENTITY, STORE
from node.members.api import record_or_404
from node.members.render import parse_iso, render
from node.members.report import report_for, rows_of
from node.members.terms import DEFAULT_FINDINGS_LIST, MAX_ANSWER_NOTE_CHARS, MAX_FINDINGS_LIST, MAX_WEEKS
from node.peering.state import FEED
from protocol.fieldtable import Text
from protocol.figures import MAX_FIGURES, MAX_KEY_CHARS, SECTIONS, Figure, shown
from protocol.records import FIELDS, MAX_FINDING_TTL, Record, build_record
from storage import Query
from storage.chapter.outreach import ANSWERS

log = logging.getLogger("mutualaid.findings")
routes = web.RouteTableDef()

_ROWS = {row.name: row for row in FIELDS}


def _cite(value: Any) -> list[tuple[str, str]]:
    rows = []
    for item in value:
        if not (isinstance(item, list) and len(item) == 2 and all(isinstance(part, str) for part in item)):
            raise ApiError(Code.INVALID_FINDING, "cite lists rows as [section, key], two strings each", field="cite")
        section, key = item
        if not 1 <= len(key) <= MAX_KEY_CHARS:
            raise ApiError(Code.INVALID_FINDING, f"a row's key is 1 to {MAX_KEY_CHARS} characters", field="cite")
        rows.append((section, key))
    if len(rows) > MAX_FIGURES:
        raise ApiError(Code.INVALID_FINDING, f"a finding cites at most {MAX_FIGURES} rows", field="cite")
    if len(set(rows)) != len(rows):
        raise ApiError(Code.INVALID_FINDING, "cites the same row twice", field="cite")
    return rows


_CITE_SCHEMA = {
    "type": "array",
    "maxItems": MAX_FIGURES,
    "uniqueItems": True,
    "description": f"[section, key] pairs: section one of {', '.join(SECTIONS)}; key a row of it (a category, "
                   "an area, a week such as 2026-W48, or all for totals)",
    "items": {"type": "array", "minItems": 2, "maxItems": 2,
              "items": {"type": "string", "minLength": 1, "maxLength": MAX_KEY_CHARS}},
}  # fmt: skip
FINDING_BODY = Body(
    [
        from_table(_ROWS["title"], required=True, description="what was heard, in a few words"),
        from_table(_ROWS["text"], required=True, description="the finding in full: what the report shows, read"),
        from_table(_ROWS["languages"]),
        integer("weeks", 1, MAX_WEEKS, description="the report's period it reads (default: the chapter's)"),
        BodyField("cite", _CITE_SCHEMA, _cite, description="the report rows to cite, [section, key] each "
                  "(default: the totals and every category)"),
        id_list(_ROWS["acts"], description="ids of events and decisions that act on it"),
        matching("revises", HEX64, "a finding's id (64 hex characters)", description="the finding it revises"),
    ],
    Code.INVALID_FINDING,
)  # fmt: skip
ANSWER_BODY = Body(
    [
        choice("answer", ANSWERS, required=True, code=Code.INVALID_ANSWER,
               description="agree, partly, or missed (you missed something)"),
        from_table(Text(MAX_ANSWER_NOTE_CHARS, multiline=True), "note",
                   description="what the organizers should hear (only they read it; deleted after 90 days)"),
    ],
    Code.INVALID_ANSWER,
)  # fmt: skip
LIST_PARAMS = (limit_param(DEFAULT_FINDINGS_LIST, MAX_FINDINGS_LIST),)


async def _held(
    request: web.Request, ids: list[str], kinds: tuple[str, ...], what: str, *, own: bool = False
) -> list[bytes]:
    """The records named, each held here and of one of ``kinds`` (``own``: written by this chapter)."""
    out = []
    for text in ids:
        record = await request.app[STORE].reads.get(bytes.fromhex(text), now())
        if record is None or record.kind not in kinds:
            raise ApiError(Code.UNKNOWN_REFERENCE, f"this node holds no {what} with the id {text[:12]}...")
        if own and record.author != request.app[IDENTITY].public_key:
            raise ApiError(Code.UNKNOWN_REFERENCE, f"a finding revises one of this chapter's own; {text[:12]}... "
                           "is a neighbour's")  # fmt: skip
        out.append(record.id)
    return out


@routes.post("/api/v1/findings")
async def write_finding(request: web.Request) -> web.Response:
    organizer = await require_organizer(request)
    values = FINDING_BODY.read(await read_json_object(request))
    cached = await report_for(request.app, values.get("weeks"))
    report = cached.report
    available = rows_of(report)
    wanted = values.get("cite")
    if wanted is None:
        wanted = [key for key in available if key[0] in ("totals", "by_category")][:MAX_FIGURES]
    missing = [key for key in wanted if key not in available]
    if missing:
        section, key = missing[0]
        if section not in SECTIONS:  # a schema-valid body, but no report has such a section
            raise ApiError(Code.NOT_IN_REPORT, f"{section[:30]!r} is none of the report's sections "
                           f"({', '.join(SECTIONS)})")  # fmt: skip
        raise ApiError(Code.NOT_IN_REPORT, f"the report over {report['weeks']} weeks shows no {section} row {key!r}")
    figures: list[Figure] = [available[key] for key in wanted]
    identity, moment = request.app[IDENTITY], now()
    body: dict[str, Any] = {
        "kind": "finding",
        "slot": secrets.token_hex(8),
        "created_at": moment,
        "expires_at": moment + MAX_FINDING_TTL,
        "title": values["title"],
        "text": values["text"],
        "weeks": report["weeks"],
        "as_of": min(moment, parse_iso(report["generated_at"])),
        "figures": [figure.as_wire() for figure in figures],
    }
    if values.get("languages"):
        body["languages"] = values["languages"]
    if values.get("acts"):
        body["acts"] = await _held(request, values["acts"], ("event", "decision"), "event or decision")
    if values.get("revises"):
        (earlier,) = await _held(request, [values["revises"]], ("finding",), "finding", own=True)
        body["revises"] = earlier
    record = build_record(identity, body)
    await _publish(request, record)
    await request.app[CHAPTER_STORE].mandates.log(organizer.id, "finding", record.id.hex(), values["title"], moment)
    log.info("finding id=%s published", record.id.hex())
    return web.json_response({"finding": await finding_json(request, record)}, status=201)


async def _publish(request: web.Request, record: Record) -> None:
    outcome = await request.app[STORE].writer.put(record, now())
    if outcome.status != "accepted":  # pragma: no cover - a fresh slot
        raise ApiError(Code.NOT_STORED, f"the record was not stored ({outcome.status})")
    await request.app[FEED].publish([record], None)


def counted(counts: dict[str, int]) -> dict[str, int | None]:
    """Answer counts as the report publishes counts: rounded to 5, 1 to 4 hidden (null)."""
    return {answer: shown(n) for answer, n in counts.items()}


async def finding_json(request: web.Request, record: Record, *, revised_by: str | None = None) -> dict[str, Any]:
    own = record.author == request.app[IDENTITY].public_key
    answers = None
    if own:
        answers = counted((await request.app[CHAPTER_STORE].outreach.counts([record.id]))[record.id])
    return render(record) | {"own": own, "answers": answers, "revised_by": revised_by}


def revisions(found: list[Record]) -> dict[str, str]:
    """Which finding revises which, by id: only a chapter revises its own (a neighbour's
    finding naming ours as the one it revises is shown, but revises nothing)."""
    by_id = {r.id: r for r in found}
    out = {}
    for r in found:
        earlier = r.get("revises")
        if earlier is not None and (old := by_id.get(bytes(earlier))) is not None and old.author == r.author:
            out[old.id.hex()] = r.id.hex()
    return out


@routes.get("/api/v1/findings")
async def list_findings(request: web.Request) -> web.Response:
    """The findings this node holds (its chapter's and its peers'), newest first, with the
    answers' counts for its own and which later finding revises each."""
    limit = read_params(request.query, LIST_PARAMS)["limit"]
    page = await request.app[STORE].reads.query(Query(kinds=("finding",), statuses=("open",), limit=limit), now())
    found = page.records
    revised = revisions(found)
    own = [r.id for r in found if r.author == request.app[IDENTITY].public_key]
    counts = await request.app[CHAPTER_STORE].outreach.counts(own)
    out = []
    for record in found:
        answers = counted(counts[record.id]) if record.id in counts else None
        out.append(render(record) | {"own": record.id in counts, "answers": answers,
                                     "revised_by": revised.get(record.id.hex())})  # fmt: skip
    return web.json_response({"findings": out})


async def _own_finding(request: web.Request) -> Record:
    record = await record_or_404(request)
    if record.kind != "finding":
        raise ApiError(Code.WRONG_KIND, f"answers are for findings; this record is a {record.kind}")
    if record.author != request.app[IDENTITY].public_key:
        raise ApiError(Code.NOT_THIS_NODE, "answers go to the chapter that wrote the finding: answer on its node")
    return record


@routes.post("/api/v1/records/{id}/answers")
async def answer(request: web.Request) -> web.Response:
    """Anyone answers one of this chapter's findings (no account; limited per address)."""
    record = await _own_finding(request)
    values = ANSWER_BODY.read(await read_json_object(request))
    note = values.get("note")
    await request.app[CHAPTER_STORE].outreach.answer(record.id, values["answer"], (note or "").strip() or None, now())
    log.info("finding id=%s answered", record.id.hex())
    counts = (await request.app[CHAPTER_STORE].outreach.counts([record.id]))[record.id]
    return web.json_response({"answers": counted(counts)}, status=201)


@routes.get("/api/v1/findings/{id}/notes")
async def notes(request: web.Request) -> web.Response:
    """The notes left with answers, for the organizers only (never a record, never gossiped)."""
    await require_organizer(request)
    read_params(request.query, ())
    record = await _own_finding(request)
    found = await request.app[CHAPTER_STORE].outreach.notes(record.id, now())
    return private(web.json_response({"notes": [{"answer": n.answer, "note": n.note, "at": iso(n.at)} for n in found]}))
