"""The mass line over HTTP, against a real node on 127.0.0.1: findings written
from the report (never finer than it), the community's answers (counted as the
report counts, notes for organizers only), events with local times in their
zone, "I'll come", the calendar feed expanded by a calendar library across
daylight-saving changes, and the year report kept through the expiry sweep.
Every bad input is answered with its code and stores nothing; every answer is
held to the OpenAPI document. Times are relative to the real clock: the
daylight-saving changes are the next ones the zone database knows."""

from __future__ import annotations

import asyncio
import itertools
import secrets
import time as clock
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import icalendar
import pytest
import recurring_ical_events

from crypto import NodeIdentity
from node.core.config import NodeConfig
from node.core.datadir import CHAPTER_FILE
from node.core.state import IDENTITY, STORE
from node.members import calendar
from node.members.events import home_area
from node.members.report import REPORT_CACHE, week_label
from protocol.records import DAY, EVENT_KINDS, build_record, new_version
from storage.weeks import week_of
from tests.node._support import need, offer, sql_rows
from tests.node.conftest import RunningNode
from tests.node.test_chapter_api import Chapter

Json = dict[str, Any]
FOOD = 7  # the report shows 5
HOUSING = 2  # the report shows "fewer than 5": null


class MassLine(Chapter):
    """The chapter's helpers, and the mass line's, each answer held to the document."""

    async def finding(self, body: Json, token: str | None = None) -> Json:
        answer = await self.ok("POST", "/api/v1/findings", "/api/v1/findings", body, token or self.admin)
        return dict(answer["finding"])

    async def findings(self) -> list[Json]:
        return list((await self.ok("GET", "/api/v1/findings", "/api/v1/findings"))["findings"])

    async def answer(self, finding_id: str, body: Json) -> Json:
        path = f"/api/v1/records/{finding_id}/answers"
        return dict((await self.ok("POST", path, "/api/v1/records/{id}/answers", body))["answers"])

    async def notes(self, finding_id: str, token: str | None = None) -> list[Json]:
        path = f"/api/v1/findings/{finding_id}/notes"
        return list((await self.ok("GET", path, "/api/v1/findings/{id}/notes", card=token or self.admin))["notes"])

    async def event(self, body: Json, token: str | None = None) -> Json:
        answer = await self.ok("POST", "/api/v1/events", "/api/v1/events", body, token or self.admin)
        return dict(answer["event"])

    async def events(self, query: str = "") -> list[Json]:
        return list((await self.ok("GET", f"/api/v1/events{query}", "/api/v1/events"))["events"])

    async def edit(self, event_id: str, body: Json, token: str | None = None) -> Json:
        answer = await self.ok("PATCH", f"/api/v1/events/{event_id}", "/api/v1/events/{id}", body, token or self.admin)
        return dict(answer["event"])

    async def attend(self, event_id: str, day: str) -> int:
        path = f"/api/v1/records/{event_id}/attend"
        return int((await self.ok("POST", path, "/api/v1/records/{id}/attend", {"occurrence": day}))["going"])

    async def report(self, weeks: int) -> Json:
        self.node.app[REPORT_CACHE].clear()  # a report is kept a minute: read it afresh
        return dict(await self.ok("GET", f"/api/v1/report?weeks={weeks}", "/api/v1/report"))

    async def calendar(self, path: str = "/calendar.ics") -> icalendar.Calendar:
        async with self.node.session.get(path) as response:
            assert response.status == 200 and response.content_type == "text/calendar"
            return icalendar.Calendar.from_ical(await response.read())

    async def answer_rows(self) -> list[tuple[Any, ...]]:
        return await asyncio.to_thread(sql_rows, self.node.config.data_dir / CHAPTER_FILE,
                                       "SELECT finding, answer, note FROM answers ORDER BY n")  # fmt: skip


@pytest.fixture
def line(node: RunningNode) -> MassLine:
    return MassLine(node)


async def posted(line: MassLine) -> None:
    """The community's posts the report counts: 7 food needs, 2 housing needs, an offer of food."""
    for i in range(FOOD):
        await line.node.post(need(title=f"Groceries {i}", category="food"))
    for i in range(HOUSING):
        await line.node.post(need(title=f"A room {i}", category="housing"))
    await line.node.post(offer(category="food"))


def peer_record(kind: str, **fields: Any) -> Any:
    """A record signed by another node, as a neighbour's finding or event arrives."""
    now = int(clock.time())
    body = {"kind": kind, "slot": secrets.token_hex(8), "created_at": now, "expires_at": now + 30 * DAY} | fields
    return build_record(NodeIdentity.generate(), body)


async def held_from_a_peer(line: MassLine, kind: str, **fields: Any) -> str:
    record = peer_record(kind, **fields)
    outcome = await line.node.app[STORE].writer.put(record, int(clock.time()))
    assert outcome.status == "accepted", outcome
    return str(record.id.hex())


def soon(days: int, hour: int = 18) -> datetime:
    """A local time ``days`` from today, at ``hour``:00."""
    return datetime.combine(date.today() + timedelta(days=days), time(hour))


def local(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M")


def study_group(start: datetime, **changes: Any) -> Json:
    body = {"title": "Study group: the report", "what": "study-group", "start": local(start),
            "end": local(start + timedelta(hours=2)), "tz": "America/Chicago", "rrule": "FREQ=WEEKLY;COUNT=6",
            "area": "dp3w", "venue": "Public library, room 2"}  # fmt: skip
    return {name: value for name, value in (body | changes).items() if value is not None}


# --- findings -----------------------------------------------------------------------------------------


async def test_a_finding_cites_the_report_as_published(line: MassLine) -> None:
    await posted(line)
    report = await line.report(13)
    finding = await line.finding({"title": "Food needs outrun offers", "text": "Most needs are food."})
    totals = report["totals"]
    expected = [["totals", "all", totals["needs"], totals["offers"], totals["fulfilled_needs"]]]
    expected += [["by_category", r["category"], r["needs"], r["offers"], r["fulfilled"]] for r in report["by_category"]]
    assert finding["figures"] == expected  # the default: the totals and every category, as published
    assert ["by_category", "food", 5, None, 0] in expected and ["by_category", "housing", None, 0, 0] in expected
    assert finding["weeks"] == 13 and finding["own"] is True and finding["revised_by"] is None
    assert finding["answers"] == {"agree": 0, "partly": 0, "missed": 0}
    # Chosen rows, in the order asked; a week's row by its label; a longer period.
    this_week = week_label(week_of(int(clock.time())))
    rows = [["by_category", "housing"], ["by_week", this_week], ["totals", "all"]]
    chosen = await line.finding({"title": "Housing", "text": "Few, but there.", "weeks": 52, "cite": rows})
    assert chosen["weeks"] == 52
    assert chosen["figures"] == [["by_category", "housing", None, 0, 0], ["by_week", this_week, 10, None, 0],
                                 ["totals", "all", 10, None, 0]]  # fmt: skip
    # Both are records: found by kind on the node, newest first, and listed.
    status, records = await line.node.call("GET", "/api/v1/records?kind=finding")
    assert status == 200 and [r["id"] for r in records["records"]] == [chosen["id"], finding["id"]]
    assert [f["id"] for f in await line.findings()] == [chosen["id"], finding["id"]]


async def test_a_finding_the_report_does_not_support_is_refused_and_nothing_stored(line: MassLine) -> None:
    await posted(line)
    first = await line.finding({"title": "Food", "text": "Food."})
    before = await line.node.stored()
    path = "/api/v1/findings"
    unknown = "ab" * 32
    cases: list[tuple[str, Json]] = [
        ("not_in_report", {"cite": [["by_category", "pets"]]}),
        ("not_in_report", {"cite": [["by_area", "zzz"]]}),
        ("not_in_report", {"cite": [["totals", "open"]]}),
        ("not_in_report", {"cite": [["by_street", "x"]]}),  # no report has such a section
        ("unknown_reference", {"revises": unknown}),
        ("unknown_reference", {"acts": [unknown]}),
        ("unknown_reference", {"acts": [first["id"]]}),  # a finding does not act on a finding
        ("invalid_finding", {"text": "x" * 4001}),
        ("invalid_finding", {"title": "x" * 121}),
        ("invalid_finding", {"title": " "}),
        ("invalid_finding", {"weeks": 53}),
        ("invalid_finding", {"cite": [["by_category", "food"], ["by_category", "food"]]}),
        ("invalid_finding", {"revises": "abc"}),
        # Shapes no client should send, each a refusal naming the field (never a fault of the node).
        ("invalid_finding", {"cite": [["by_category"]]}),
        ("invalid_finding", {"cite": [1, 2]}),
        ("invalid_finding", {"cite": [["totals", 5]]}),
        ("invalid_finding", {"cite": [["by_category", ""]]}),
        ("invalid_finding", {"cite": [["by_week", f"2027-W{n:02}"] for n in range(1, 26)]}),
        ("invalid_finding", {"cite": "totals:all"}),
        ("invalid_finding", {"acts": ["zz"]}),
        ("invalid_finding", {"acts": [5]}),
        ("invalid_finding", {"acts": [unknown, unknown]}),
        ("invalid_finding", {"acts": [unknown[:-2] + f"{n:02x}" for n in range(9)]}),
        ("unknown_field", {"figures": [["totals", "all", 1, 0, 0]]}),  # the node copies the figures itself
    ]
    for code, change in cases:
        body = {"title": "A finding", "text": "What we heard."} | change
        message = await line.refused(code, "POST", path, path, body, line.admin)
        assert "x" * 100 not in message  # a refusal never echoes the text
    status, pet = await line.node.call("POST", "/api/v1/records", json=need(category="food", title="a need"))
    assert status == 201
    await line.refused("unknown_reference", "POST", path, path,
                       {"title": "t", "text": "t", "revises": pet["record"]["id"]}, line.admin)  # fmt: skip
    after = await line.node.stored()
    assert after[0] - before[0] == {bytes.fromhex(pet["record"]["id"])}  # the need, and no finding
    assert [f["id"] for f in await line.findings()] == [first["id"]]
    # Writing one is an organizer's: nobody else, and no member without a mandate.
    (card,) = await line.join("Ana")
    await line.refused("unauthorized", "POST", path, path, {"title": "t", "text": "t"})
    await line.refused("no_mandate", "POST", path, path, {"title": "t", "text": "t"}, card)


async def test_a_revised_finding_links_back_and_names_what_acts_on_it(line: MassLine) -> None:
    await posted(line)
    first = await line.finding({"title": "Food", "text": "Food needs."})
    unknown = study_group(soon(10), agenda=["ab" * 32])
    await line.refused("unknown_reference", "POST", "/api/v1/events", "/api/v1/events", unknown, line.admin)
    group = await line.event(study_group(soon(10), agenda=[first["id"]]))
    assert group["agenda"] == [first["id"]]
    revised = await line.finding({"title": "Food, revised", "text": "Food and rooms.", "revises": first["id"],
                                  "acts": [group["id"]], "languages": ["en", "es"]})  # fmt: skip
    assert revised["revises"] == first["id"] and revised["acts"] == [group["id"]]
    listed = {f["id"]: f for f in await line.findings()}
    assert listed[first["id"]]["revised_by"] == revised["id"] and listed[revised["id"]]["revised_by"] is None


async def test_only_a_chapter_revises_its_own_findings(line: MassLine) -> None:
    await posted(line)
    ours = await line.finding({"title": "Food", "text": "Food needs."})
    # A neighbour's finding naming ours as the one it revises neither hides ours nor revises it.
    theirs = await held_from_a_peer(line, "finding", title="Yours, corrected", text="t", weeks=13,
                                    as_of=int(clock.time()) - 60, figures=[["totals", "all", 5, 0, 0]],
                                    revises=bytes.fromhex(ours["id"]))  # fmt: skip
    listed = {f["id"]: f for f in await line.findings()}
    assert listed[ours["id"]]["revised_by"] is None and listed[theirs]["revises"] == ours["id"]
    # Nor does this chapter revise a neighbour's: a revision is of one's own words.
    path = "/api/v1/findings"
    await line.refused("unknown_reference", "POST", path, path, {"title": "t", "text": "t", "revises": theirs},
                       line.admin)  # fmt: skip


# --- answers ------------------------------------------------------------------------------------------


async def test_answers_are_counted_as_the_report_counts(line: MassLine) -> None:
    await posted(line)
    finding = await line.finding({"title": "Food", "text": "Food needs."})
    for _ in range(4):
        counts = await line.answer(finding["id"], {"answer": "agree"})
    assert counts == {"agree": None, "partly": 0, "missed": 0}  # 4: "fewer than 5"
    assert (await line.findings())[0]["answers"] == {"agree": None, "partly": 0, "missed": 0}
    assert await line.answer(finding["id"][:8], {"answer": "agree"}) == {"agree": 5, "partly": 0, "missed": 0}
    for _ in range(3):
        counts = await line.answer(finding["id"], {"answer": "agree"})
    assert counts["agree"] == 10  # 8 rounds to 10, as the report rounds
    assert (await line.findings())[0]["answers"] == {"agree": 10, "partly": 0, "missed": 0}


async def test_notes_are_for_organizers_and_refusals_store_nothing(line: MassLine) -> None:
    await posted(line)
    finding = await line.finding({"title": "Food", "text": "Food needs."})
    note = "You missed the bus cuts: I walk an hour to the pantry."
    counts = await line.answer(finding["id"], {"answer": "missed", "note": note})
    assert counts == {"agree": 0, "partly": 0, "missed": None}
    notes = await line.notes(finding["id"])
    assert [(n["answer"], n["note"]) for n in notes] == [("missed", note)]
    # The note is in no public answer.
    for path in ("/api/v1/findings", f"/api/v1/records/{finding['id']}", "/api/v1/records?kind=finding"):
        status, body = await line.node.call("GET", path)
        assert status == 200 and "bus cuts" not in str(body)
    rows = await line.answer_rows()
    answers_path, template = f"/api/v1/records/{finding['id']}/answers", "/api/v1/records/{id}/answers"
    await line.refused("invalid_answer", "POST", answers_path, template, {"answer": "partly", "note": "x" * 501})
    await line.refused("invalid_answer", "POST", answers_path, template, {"answer": "maybe"})
    await line.refused("invalid_answer", "POST", answers_path, template, {})
    await line.refused("unknown_field", "POST", answers_path, template, {"answer": "agree", "name": "Ana"})
    await line.refused("not_found", "POST", f"/api/v1/records/{'0' * 64}/answers", template, {"answer": "agree"})
    status, post = await line.node.call("POST", "/api/v1/records", json=need(category="food"))
    a_need = f"/api/v1/records/{post['record']['id']}/answers"
    await line.refused("wrong_kind", "POST", a_need, template, {"answer": "agree"})  # a need takes no answers
    theirs = await held_from_a_peer(line, "finding", title="Their finding", text="t", weeks=13,
                                    as_of=int(clock.time()) - 60, figures=[["totals", "all", 5, 0, 0]])  # fmt: skip
    await line.refused("not_this_node", "POST", f"/api/v1/records/{theirs}/answers", template, {"answer": "agree"})
    assert await line.answer_rows() == rows  # nothing stored
    listed = {f["id"]: f for f in await line.findings()}
    assert listed[theirs]["own"] is False and listed[theirs]["answers"] is None
    # Notes are the organizers': a member without a mandate, or nobody, reads none.
    (card,) = await line.join("Ana")
    notes_path, notes_template = f"/api/v1/findings/{finding['id']}/notes", "/api/v1/findings/{id}/notes"
    await line.refused("no_mandate", "GET", notes_path, notes_template, card=card)
    await line.refused("unauthorized", "GET", notes_path, notes_template)
    await line.refused("not_this_node", "GET", f"/api/v1/findings/{theirs}/notes", notes_template, card=line.admin)


async def test_after_the_founding_period_organizers_act_by_mandate(line: MassLine) -> None:
    await posted(line)
    ana, bo = await line.join("Ana", "Bo")
    roll = await line.ok("GET", "/api/v1/members", "/api/v1/members", card=ana)
    ana_id = next(m["id"] for m in roll["members"] if m["name"] == "Ana")
    grant = {"type": "organizers", "title": "Ana organizes", "effect": {"action": "grant", "member": ana_id}}
    assert (await line.decide([ana, bo], grant))["applied"] == "done"
    path = "/api/v1/findings"
    await line.refused("no_mandate", "POST", path, path, {"title": "t", "text": "t"}, line.admin)
    await line.refused("no_mandate", "POST", "/api/v1/events", "/api/v1/events", study_group(soon(9)), line.admin)
    await line.refused("no_mandate", "POST", path, path, {"title": "t", "text": "t"}, bo)
    finding = await line.finding({"title": "Food", "text": "Food needs."}, ana)
    await line.answer(finding["id"], {"answer": "partly", "note": "Rooms too."})
    assert [n["note"] for n in await line.notes(finding["id"], ana)] == ["Rooms too."]
    event = await line.event(study_group(soon(9)), ana)
    log = await line.ok("GET", "/api/v1/organizer/log", "/api/v1/organizer/log", card=bo)
    assert {(e["organizer"], e["target"]) for e in log["entries"]} >= {("Ana", finding["id"]), ("Ana", event["id"])}


# --- events ---------------------------------------------------------------------------------------------


def _off_day(start: datetime) -> str:
    return ["MO", "TU", "WE", "TH", "FR", "SA", "SU"][(start.weekday() + 1) % 7]


BAD_EVENTS: list[tuple[str, Callable[[datetime], Json], str]] = [
    ("an end before the start", lambda s: {"end": local(s - timedelta(hours=1))}, "end"),
    ("an end at the start", lambda s: {"end": local(s)}, "end"),
    ("an end a day and more later", lambda s: {"end": local(s + timedelta(hours=25))}, "end"),
    ("YEARLY", lambda s: {"rrule": "FREQ=YEARLY;COUNT=2"}, "rrule"),
    ("BYSETPOS", lambda s: {"rrule": "FREQ=MONTHLY;COUNT=2;BYSETPOS=1"}, "rrule"),
    ("UNTIL with a time", lambda s: {"rrule": f"FREQ=WEEKLY;UNTIL={s + timedelta(days=30):%Y%m%dT%H%M%SZ}"}, "rrule"),
    ("BYDAY with MONTHLY", lambda s: {"rrule": "FREQ=MONTHLY;COUNT=3;BYDAY=MO"}, "rrule"),
    ("a start on no BYDAY day", lambda s: {"rrule": f"FREQ=WEEKLY;COUNT=3;BYDAY={_off_day(s)}"}, "rrule"),
    ("a repeat without an end", lambda s: {"rrule": "FREQ=WEEKLY"}, "rrule"),
    ("an unknown time zone", lambda s: {"tz": "Mars/Olympus"}, "tz"),
    ("the machine's own zone", lambda s: {"tz": "localtime"}, "tz"),
    ("a leap-second copy of a zone", lambda s: {"tz": "right/America/Chicago"}, "tz"),
    ("no place's zone", lambda s: {"tz": "Factory"}, "tz"),
    ("no time zone's shape", lambda s: {"tz": "America/Chicago/Loop/Here"}, "tz"),
    ("no real date", lambda s: {"start": "2027-02-30T18:00"}, "start"),
    ("an unknown kind", lambda s: {"what": "party"}, "what"),
    ("an area too precise", lambda s: {"area": "dp3wzz"}, "area"),
    ("over already", lambda s: {"start": local(s - timedelta(days=12)), "end": local(s - timedelta(days=12, hours=-1)),
                                "rrule": None}, "end"),
    ("a last end past the record's life", lambda s: {"rrule": "FREQ=DAILY;INTERVAL=39;COUNT=11"}, "end"),
    ("more than a year ahead", lambda s: {"start": local(s + timedelta(days=400)),
                                          "end": local(s + timedelta(days=400, hours=1))}, "start"),
    ("an access not offered", lambda s: {"access": ["wifi"]}, "access"),
    ("material not on the web", lambda s: {"materials": ["ftp://example.org/reader.pdf"]}, "materials"),
    ("an agenda of no ids", lambda s: {"agenda": ["zz"]}, "agenda"),
    ("an agenda of numbers", lambda s: {"agenda": [5]}, "agenda"),
]  # fmt: skip


@pytest.mark.parametrize(("change", "field"), [case[1:] for case in BAD_EVENTS], ids=[case[0] for case in BAD_EVENTS])
async def test_a_bad_event_is_invalid_event_and_nothing_is_stored(
    line: MassLine, change: Callable[[datetime], Json], field: str
) -> None:
    start = soon(9)
    body = {name: value for name, value in (study_group(start) | change(start)).items() if value is not None}
    before = await line.node.stored()
    for path in ("/api/v1/events", "/api/v1/events/suggestions"):  # a member's suggestion is held to the same rules
        token = line.admin if path == "/api/v1/events" else (await line.join(f"Member {len(path)}"))[0]
        status, answer = await line.call("POST", path, path, body, token)
        assert status == 422 and answer["error"]["code"] == "invalid_event", answer
        assert answer["error"].get("field") == field, answer
    assert await line.node.stored() == before
    assert await line.events() == []
    listed = await line.ok("GET", "/api/v1/events/suggestions", "/api/v1/events/suggestions", card=line.admin)
    assert listed["suggestions"] == []


async def test_an_event_keeps_its_local_time_and_counts_who_will_come(line: MassLine) -> None:
    start = soon(9)
    event = await line.event(study_group(start))
    tz = ZoneInfo("America/Chicago")
    expected = [start + timedelta(weeks=k) for k in range(6)]
    assert [o["local"] for o in event["occurrences"]] == [local(d) for d in expected]
    assert [o["start"] for o in event["occurrences"]] == [
        d.replace(tzinfo=tz).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") for d in expected]  # fmt: skip
    first, second = expected[0].date().isoformat(), expected[1].date().isoformat()
    assert await line.attend(event["id"], first) == 1
    assert await line.attend(event["id"][:10], first) == 2
    assert await line.attend(event["id"], second) == 1
    template = "/api/v1/records/{id}/attend"
    for day in ((expected[0] + timedelta(days=1)).date().isoformat(), "2027-02-30", "tomorrow"):
        await line.refused("invalid_event", "POST", f"/api/v1/records/{event['id']}/attend", template,
                           {"occurrence": day})  # fmt: skip
    # An edit is a new version: the counts stay with the event.
    renamed = await line.edit(event["id"], {"title": "Study group: the year", "venue": None})
    assert renamed["id"] != event["id"] and renamed["slot"] == event["slot"] and "venue" not in renamed
    assert [o["going"] for o in renamed["occurrences"][:3]] == [2, 1, 0]
    (listed,) = await line.events("?what=study-group&days=400")
    assert listed["id"] == renamed["id"] and listed["title"] == "Study group: the year"
    assert await line.events("?what=meeting") == []
    # A bad edit changes nothing.
    await line.refused("invalid_event", "PATCH", f"/api/v1/events/{renamed['id']}", "/api/v1/events/{id}",
                       {"tz": "Mars/Olympus"}, line.admin)  # fmt: skip
    assert (await line.events())[0]["id"] == renamed["id"]
    # Cancelled: still listed, marked; the calendar says so too.
    cancelled = await line.edit(renamed["id"], {"state": "cancelled"})
    assert cancelled["state"] == "cancelled"
    await line.refused("invalid_event", "POST", f"/api/v1/records/{cancelled['id']}/attend", template,
                       {"occurrence": second})  # nobody comes to what will not take place  # fmt: skip
    (vevent,) = (await line.calendar()).walk("VEVENT")
    assert vevent["STATUS"] == "CANCELLED" and vevent["SUMMARY"] == "Study group: the year"


async def test_an_event_without_an_area_is_placed_in_the_area_the_node_serves(line: MassLine) -> None:
    placed = await line.event(study_group(soon(10), area=None))
    assert placed["area"] == "u4pr"  # the node serves u4pr
    moved = await line.edit(placed["id"], {"area": "dp3w"})
    assert moved["area"] == "dp3w"
    cleared = await line.edit(moved["id"], {"area": None})  # an event may have no area at all
    assert "area" not in cleared or cleared["area"] is None


@pytest.mark.parametrize(
    ("areas", "placed"),
    [((), None), (("u4pru",), "u4pru"), (("u4pru", "u4prv", "u4p"), "u4p"), (("u4pru", "dp3w"), None)],
)
def test_the_area_a_node_serves(areas: tuple[str, ...], placed: str | None, tmp_path: Path) -> None:
    assert home_area(NodeConfig(data_dir=tmp_path, areas=areas)) == placed


async def test_events_of_peers_and_the_organizers_rights(line: MassLine) -> None:
    start = soon(5, 10)
    theirs = await held_from_a_peer(line, "event", title="Their assembly", what="assembly", start=local(start),
                                    end=local(start + timedelta(hours=2)), tz="Europe/Madrid", area="ezjm")  # fmt: skip
    (listed,) = await line.events()
    assert listed["id"] == theirs and listed["own"] is False and listed["occurrences"][0]["going"] is None
    await line.refused("not_this_node", "POST", f"/api/v1/records/{theirs}/attend", "/api/v1/records/{id}/attend",
                       {"occurrence": start.date().isoformat()})  # fmt: skip
    await line.refused("not_this_node", "PATCH", f"/api/v1/events/{theirs}", "/api/v1/events/{id}", {"title": "x"},
                       line.admin)  # fmt: skip
    status, post = await line.node.call("POST", "/api/v1/records", json=need())
    assert status == 201
    await line.refused("wrong_kind", "POST", f"/api/v1/records/{post['record']['id']}/attend",
                       "/api/v1/records/{id}/attend", {"occurrence": start.date().isoformat()})  # fmt: skip
    status, answer = await line.node.call("PATCH", "/api/v1/events/suggestions", json={"title": "x"})
    assert status == 405 and answer["error"]["code"] == "method_not_allowed"
    assert [e.get("UID") for e in (await line.calendar()).walk("VEVENT")] == []  # the feed is this chapter's
    ours = await line.event(study_group(soon(9)))
    (ana,) = await line.join("Ana")
    await line.refused("no_mandate", "PATCH", f"/api/v1/events/{ours['id']}", "/api/v1/events/{id}",
                       {"state": "cancelled"}, ana)  # fmt: skip
    await line.refused("no_mandate", "POST", "/api/v1/events", "/api/v1/events", study_group(soon(9)), ana)
    # A member suggests one; the organizers read it and drop it once dealt with.
    suggestion = await line.ok("POST", "/api/v1/events/suggestions", "/api/v1/events/suggestions",
                               study_group(soon(20), title="A skill share"), ana)  # fmt: skip
    await line.refused("invalid_event", "POST", "/api/v1/events/suggestions", "/api/v1/events/suggestions",
                       study_group(soon(20), tz="Mars/Olympus"), ana)  # fmt: skip
    listed_suggestions = await line.ok("GET", "/api/v1/events/suggestions", "/api/v1/events/suggestions",
                                       card=line.admin)  # fmt: skip
    assert [(s["member"], s["event"]["title"]) for s in listed_suggestions["suggestions"]] == [("Ana", "A skill share")]
    await line.refused("no_mandate", "GET", "/api/v1/events/suggestions", "/api/v1/events/suggestions", card=ana)
    n = suggestion["suggested"]
    for number in ("%C2%B2", "9" * 30, "-1", "1.0"):  # '²' is a digit to Python, 30 digits are past SQLite's
        await line.refused("not_found", "DELETE", f"/api/v1/events/suggestions/{number}",
                           "/api/v1/events/suggestions/{n}", card=line.admin)  # fmt: skip
    await line.ok("DELETE", f"/api/v1/events/suggestions/{n}", "/api/v1/events/suggestions/{n}", card=line.admin)
    assert (await line.ok("GET", "/api/v1/events/suggestions", "/api/v1/events/suggestions",
                          card=line.admin))["suggestions"] == []  # fmt: skip


async def test_an_event_is_changed_and_cancelled_after_its_agenda_expired(line: MassLine) -> None:
    now = int(clock.time())
    fleeting = await held_from_a_peer(line, "finding", title="Theirs", text="t", weeks=13, as_of=now - 60,
                                      figures=[["totals", "all", 5, 0, 0]], expires_at=now + 2)  # fmt: skip
    event = await line.event(study_group(soon(9), agenda=[fleeting]))
    await asyncio.sleep(3)  # the finding is past its expiry: the node no longer holds it
    await line.refused("unknown_reference", "POST", "/api/v1/events", "/api/v1/events",
                       study_group(soon(9), agenda=[fleeting]), line.admin)  # fmt: skip
    renamed = await line.edit(event["id"], {"title": "Study group, moved"})
    assert renamed["agenda"] == [fleeting]  # kept as it was, unchecked
    cancelled = await line.edit(renamed["id"], {"state": "cancelled"})
    assert cancelled["state"] == "cancelled"


async def test_a_kind_of_event_is_listed_however_many_others_are_newer(line: MassLine) -> None:
    start = soon(5, 10)
    group = await line.event(study_group(start))
    for i in range(3):
        await held_from_a_peer(line, "event", title=f"Assembly {i}", what="assembly", start=local(start),
                               end=local(start + timedelta(hours=1)), tz="Europe/Madrid")  # fmt: skip
    # Fewer than the newer events of other kinds were asked for: the study group is still found.
    assert [e["id"] for e in await line.events("?what=study-group&limit=1")] == [group["id"]]
    assert len(await line.events("?limit=2")) == 2
    (vevent,) = (await line.calendar("/calendar/study-group.ics")).walk("VEVENT")
    assert vevent["UID"] == uid_of(group)


# --- the calendar feed, as a calendar app expands it ------------------------------------------------------


def next_change(zone: str, month: int, today: date, lead: int) -> date:
    """The first day of ``month`` (this year or next) whose local offset differs from the day before's,
    at least ``lead`` days from today."""
    tz = ZoneInfo(zone)
    for year in (today.year, today.year + 1):
        for day in range(2, 32 if month in (1, 3, 5, 7, 8, 10, 12) else 31):
            when = date(year, month, day)
            before = datetime.combine(when - timedelta(days=1), time(12), tz).utcoffset()
            if before != datetime.combine(when, time(12), tz).utcoffset() and when - timedelta(days=lead) > today:
                return when
    raise AssertionError(f"{zone} has no change in month {month}")


def expanded(calendar: icalendar.Calendar, uid: str, first: date, last: date) -> list[tuple[datetime, datetime]]:
    """(start, end) of every occurrence of ``uid`` a calendar app shows between the two dates."""
    found = recurring_ical_events.of(calendar).between(first, last + timedelta(days=1))
    return sorted((e.decoded("DTSTART"), e.decoded("DTEND")) for e in found if str(e["UID"]) == uid)


def uid_of(event: Json) -> str:
    return f"{event['author']}-{event['slot']}@mutualaid"


async def check_feed(line: MassLine, event: Json, zone: str, locals_: list[datetime], hours: int) -> None:
    """The feed expands to exactly these local starts in ``zone`` (and their UTC instants), each lasting ``hours``."""
    tz = ZoneInfo(zone)
    got = expanded(await line.calendar(), uid_of(event), locals_[0].date(), locals_[-1].date())
    assert [start.astimezone(tz).replace(tzinfo=None) for start, _ in got] == locals_
    assert [start.astimezone(UTC) for start, _ in got] == [d.replace(tzinfo=tz).astimezone(UTC) for d in locals_]
    assert all(end - start == timedelta(hours=hours) for start, end in got)
    # The node's own list agrees with the feed.
    assert [o["local"] for o in event["occurrences"]] == [local(d) for d in locals_]


async def test_weekly_in_chicago_across_the_march_change(line: MassLine) -> None:
    change = next_change("America/Chicago", 3, date.today(), lead=11)
    start = datetime.combine(change - timedelta(days=10), time(18))
    event = await line.event(study_group(start))
    expected = [start + timedelta(weeks=k) for k in range(6)]
    await check_feed(line, event, "America/Chicago", expected, 2)
    offsets = {d.replace(tzinfo=ZoneInfo("America/Chicago")).utcoffset() for d in expected}
    assert offsets == {timedelta(hours=-6), timedelta(hours=-5)}  # the change is crossed


async def test_twice_a_week_in_madrid_across_its_march_change(line: MassLine) -> None:
    change = next_change("Europe/Madrid", 3, date.today(), lead=6)
    tuesday = change - timedelta(days=(change.weekday() - 1) % 7)  # the Tuesday before the change (a Sunday)
    start = datetime.combine(tuesday, time(19, 30))
    body = study_group(start, tz="Europe/Madrid", rrule="FREQ=WEEKLY;COUNT=6;BYDAY=TU,TH", what="teach-in",
                       end=local(start + timedelta(hours=1)))  # fmt: skip
    event = await line.event(body)
    expected = [start + timedelta(weeks=k, days=d) for k in range(3) for d in (0, 2)]
    await check_feed(line, event, "Europe/Madrid", expected, 1)
    assert {d.replace(tzinfo=ZoneInfo("Europe/Madrid")).utcoffset() for d in expected} == {
        timedelta(hours=1), timedelta(hours=2)}  # fmt: skip


async def test_daily_in_chicago_across_the_next_change(line: MassLine) -> None:
    today = date.today()
    tz = ZoneInfo("America/Chicago")
    change = next(d for d in (today + timedelta(days=k) for k in range(3, 400))
                  if datetime.combine(d - timedelta(days=1), time(12), tz).utcoffset()
                  != datetime.combine(d, time(12), tz).utcoffset())  # fmt: skip
    start = datetime.combine(change - timedelta(days=2), time(7))
    event = await line.event(study_group(start, rrule="FREQ=DAILY;COUNT=5", what="distribution"))
    await check_feed(line, event, "America/Chicago", [start + timedelta(days=k) for k in range(5)], 2)


def the_31sts(first: date) -> Iterator[date]:
    """Every 31st from ``first``'s month on."""
    year, month = first.year, first.month
    while True:
        if (date(year, month, 28) + timedelta(days=3)).month == month:
            yield date(year, month, 31)
        year, month = (year, month + 1) if month < 12 else (year + 1, 1)


async def test_monthly_on_the_31st_skips_the_short_months(line: MassLine) -> None:
    first = next(d for d in the_31sts(date.today()) if d > date.today() + timedelta(days=1))
    expected = [datetime.combine(d, time(10)) for d in itertools.islice(the_31sts(first), 4)]
    body = study_group(expected[0], tz="Europe/Madrid", rrule="FREQ=MONTHLY;COUNT=4", what="assembly")
    event = await line.event(body)
    await check_feed(line, event, "Europe/Madrid", expected, 2)
    assert len({(d.year, d.month) for d in expected}) == 4 and expected[-1] - expected[0] > timedelta(days=4 * 31)


def test_a_feed_made_from_kept_parts_is_the_feed_made_whole() -> None:
    now = int(clock.time())
    identity = NodeIdentity.generate()
    start = soon(9)

    def event(n: int, zone: str) -> Any:
        body = {"kind": "event", "slot": f"s{n}", "created_at": now, "expires_at": now + 100 * DAY,
                "title": f"Gathering {n}", "what": EVENT_KINDS[n % len(EVENT_KINDS)], "start": local(start),
                "end": local(start + timedelta(hours=1)), "tz": zone, "rrule": "FREQ=WEEKLY;COUNT=3"}  # fmt: skip
        return build_record(identity, body)

    events = [event(n, zone) for n, zone in enumerate(("America/Chicago", "Europe/Madrid", "UTC", "America/Chicago"))]
    kept = calendar.Feed()
    assert kept.make([(e, "Ours") for e in events], "Ours", now) == calendar.feed([(e, "Ours") for e in events],
                                                                                   "Ours", now)  # fmt: skip
    # One changed (a new version), one gone, the only Madrid one: the feed is as if made whole.
    events[0] = new_version(identity, events[0], now + 1, {"title": "Gathering, moved", "tz": "Africa/Lagos"})
    del events[1]
    again = kept.make([(e, "Ours") for e in events], "Ours", now + 2)
    assert again == calendar.feed([(e, "Ours") for e in events], "Ours", now + 2)
    parsed = icalendar.Calendar.from_ical(again)
    assert sorted(str(z["TZID"]) for z in parsed.walk("VTIMEZONE")) == ["Africa/Lagos", "America/Chicago"]
    assert [str(e["SUMMARY"]) for e in parsed.walk("VEVENT")] == ["Gathering, moved", "Gathering 2", "Gathering 3"]


async def test_a_calendar_for_each_kind(line: MassLine) -> None:
    group = await line.event(study_group(soon(9)))
    meeting = await line.event(study_group(soon(12), what="meeting", rrule=None, title="General meeting"))
    uids = [str(e["UID"]) for e in (await line.calendar()).walk("VEVENT")]
    assert sorted(uids) == sorted([uid_of(group), uid_of(meeting)])
    for kind in EVENT_KINDS:
        feed = await line.calendar(f"/calendar/{kind}.ics")
        wanted = {"study-group": [uid_of(group)], "meeting": [uid_of(meeting)]}.get(kind, [])
        assert [str(e["UID"]) for e in feed.walk("VEVENT")] == wanted, kind
        assert kind in str(feed["X-WR-CALNAME"])
    status, answer = await line.node.call("GET", "/calendar/party.ics")
    assert status == 404 and answer["error"]["code"] == "not_found"
    (vevent,) = (await line.calendar("/calendar/meeting.ics")).walk("VEVENT")
    assert vevent["STATUS"] == "CONFIRMED" and "RRULE" not in vevent and vevent["LOCATION"] == "Public library, room 2"


# --- the year report: what the sweep deletes is still counted ------------------------------------------------


async def test_the_year_report_counts_what_the_expiry_sweep_deleted(line: MassLine) -> None:
    peer = NodeIdentity.generate()
    made = int(clock.time()) - 100 * DAY  # past the 13 weeks, within the year; expired 70 days ago
    store = line.node.app[STORE]

    async def put(kind: str, status: str, category: str, n: int) -> None:
        for i in range(n):
            body = {"kind": kind, "slot": secrets.token_hex(8), "created_at": made + i, "expires_at": made + 30 * DAY,
                    "status": status, "title": f"{kind} {i}", "category": category, "area": "u4pru"}  # fmt: skip
            assert (await store.writer.put(build_record(peer, body), made + i)).status == "accepted"

    await put("need", "open", "food", 7)  # expired while open: counted, neither open nor fulfilled
    await put("need", "fulfilled", "food", 6)
    await put("offer", "open", "housing", 5)
    await line.node.post(need(category="food"))  # one live need, this week
    before = await line.report(52)
    assert before["totals"] == {"needs": 15, "offers": 5, "fulfilled_needs": 5, "open_needs": None}
    swept = await store.writer.sweep(int(clock.time()))
    assert swept == 18
    after = await line.report(52)
    assert {k: v for k, v in after.items() if k != "generated_at"} == {
        k: v for k, v in before.items() if k != "generated_at"}  # fmt: skip
    assert (await line.report(13))["totals"] == {"needs": None, "offers": 0, "fulfilled_needs": 0, "open_needs": None}
    rows = await asyncio.to_thread(sql_rows, line.node.files.database,
                                   "SELECT kind, status, category, report_area, count FROM report_archive "
                                   "ORDER BY 1, 2")  # fmt: skip
    assert rows == [("need", "expired", "food", "u4p", 7), ("need", "fulfilled", "food", "u4p", 6),
                    ("offer", "expired", "housing", "u4p", 5)]  # fmt: skip
    # A finding may cite the year's rows: the archive's, rounded as published.
    finding = await line.finding({"title": "The year", "text": "A year of food needs.", "weeks": 52,
                                  "cite": [["by_category", "food"]]})  # fmt: skip
    assert finding["figures"] == [["by_category", "food", 15, 0, 5]]
    assert line.node.app[IDENTITY].public_key.hex() == finding["author"]
