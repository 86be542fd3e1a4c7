# One whole turn of the mass line (issue 11) in a real Chromium against real
# node processes: needs are posted; the organizer (the founding period's
# admin token) writes a finding from the report page; six visitors answer it
# in their own browsers, one with a note, and the page shows "fewer than 5"
# agree until the fifth agree, then 5 (the report's rounding step); the
# organizer reads the note, publishes a weekly study group (FREQ=WEEKLY;COUNT=6,
# across a daylight-saving change) with the finding on its agenda, and writes
# a revised finding that the study group acts on; the chain links both ways;
# the calendar file the page downloads parses with icalendar and expands with
# recurring_ical_events to its six dates at 18:00 Chicago time; a neighbouring
# node shows the finding and the event labelled with the chapter's name; and
# the note is found nowhere on that neighbour (every file of its data
# directory, its log) nor in the chapter's log: a canary. Also: "What we
# heard" on the home page, "I'll come" counted once per device, the handout
# printed in Spanish on one page, and the event form saying what to fix
# beside the field (an end before its start, a rule outside the subset).

from __future__ import annotations

import re
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import icalendar
import pytest
import recurring_ical_events
from playwright.sync_api import Browser, Locator, Page, expect

from tests._nodes import call, stop
from tests.web._flows import eventually
from tests.web.conftest import Node, Visit, open_page, screenshot, start_node

pytestmark = pytest.mark.slow

CHAPTER = "Riverside pantry"
NEIGHBOUR = "Hillside kitchen"
CHICAGO = ZoneInfo("America/Chicago")
FIRST_TITLE = "Food runs out before the month does"
REVISED_TITLE = "Food runs out, and Sundays are the worst"
STUDY = "Study group: reading our own figures"


def post_needs(url: str) -> None:
    """Needs and offers through the API: enough that the report shows rows."""
    for n in range(12):
        call(f"{url}/api/v1/records", "POST", {"kind": "need", "title": f"Groceries for a family, week {n}",
                                               "category": "food", "area": "u4pru"})  # fmt: skip
    for n in range(6):
        call(f"{url}/api/v1/records", "POST", {"kind": "need", "title": f"A room for a month, {n}",
                                               "category": "housing", "area": "u4prv"})  # fmt: skip
    for n in range(3):
        call(f"{url}/api/v1/records", "POST", {"kind": "offer", "title": f"Vegetables from the garden, {n}",
                                               "category": "food", "area": "u4pru"})  # fmt: skip


def study_dates() -> list[date]:
    """Six Tuesdays, the first in the future, whose 18:00 in Chicago spans a daylight-saving change."""
    day = date.today() + timedelta(days=2)
    while True:
        if day.weekday() == 1:
            dates = [day + timedelta(weeks=k) for k in range(6)]
            offsets = {datetime.combine(d, datetime.min.time(), CHICAGO).replace(hour=18).utcoffset() for d in dates}
            if len(offsets) == 2:
                return dates
        day += timedelta(days=1)


def finding_on(page: Page, title: str) -> Locator:
    return page.locator("article.finding", has=page.get_by_role("heading", name=title))


def agree_count(page: Page, title: str) -> str:
    return finding_on(page, title).locator(".answers [data-answer=agree] .count").text_content() or ""


def answer(browser: Browser, url: str, choice: str, note: str = "") -> Visit:
    """A visitor, on their own device, answers the first finding from the report page."""
    visit = open_page(browser)
    page = visit.page
    page.goto(f"{url}/#/report")
    card = finding_on(page, FIRST_TITLE)
    card.get_by_label(choice).check()
    if note:
        card.get_by_label("Anything to add? (optional)").fill(note)
    card.get_by_role("button", name="Send my answer").click()
    card.get_by_text("Thank you: your answer is counted.").wait_for()
    return visit


def error_beside(page: Page, control: Locator) -> str:
    expect(control).to_have_attribute("aria-invalid", "true")
    described = (control.get_attribute("aria-describedby") or "").split()
    note = page.locator(f"#{described[-1]}")
    assert note.get_attribute("role") == "alert"
    return note.text_content() or ""


@pytest.fixture
def nodes(tmp_path: Path) -> Iterator[tuple[Node, Node]]:
    chapter = start_node(tmp_path / "chapter", CHAPTER)
    try:
        neighbour = start_node(tmp_path / "neighbour", NEIGHBOUR, chapter.url)
        try:
            yield chapter, neighbour
        finally:
            assert stop(neighbour.process) == 0
    finally:
        assert stop(chapter.process) == 0


def test_one_whole_turn_of_the_mass_line(browser: Browser, nodes: tuple[Node, Node], tmp_path: Path) -> None:
    chapter, neighbour = nodes
    visits: list[Visit] = []
    try:
        turn(browser, chapter, neighbour, visits, tmp_path)
    finally:
        for v in visits:
            v.page.context.close()


def turn(browser: Browser, chapter: Node, neighbour: Node, visits: list[Visit], tmp_path: Path) -> None:
    url = chapter.url
    note = f"canary-{uuid.uuid4().hex} the bus to the pantry stopped running on Sundays"
    post_needs(url)

    # The organizer: the founding period's admin token, typed on #/organizer.
    organizer = open_page(browser)
    visits.append(organizer)
    page = organizer.page
    page.goto(f"{url}/#/organizer")
    page.get_by_label("Admin token").fill(chapter.admin_token())
    page.get_by_role("button", name="Open", exact=True).click()
    page.get_by_role("heading", name="Unanswered needs").wait_for()

    # Writes a finding from the report page: the totals and every category, as the report shows them.
    page.goto(f"{url}/#/report")
    page.get_by_text("No findings yet.").wait_for()
    page.get_by_text("Write a finding from these figures").click()
    write = page.locator("form.write-finding")
    assert write.get_by_label(re.compile(r"^\s*All posts")).is_checked()
    assert write.get_by_label(re.compile(r"^\s*Food")).is_checked()
    assert not write.get_by_label(re.compile(r"^\s*Area u4p")).first.is_checked()
    write.get_by_role("button", name="Publish the finding").click()
    assert error_beside(page, write.get_by_label("Title of the finding")) == "Please write a title."
    write.get_by_label("Title of the finding").fill(FIRST_TITLE)
    write.get_by_label("The finding", exact=True).fill(
        "Most needs are for food, and offers of food are few: families run short in the last week of the month."
    )
    screenshot(page, "mass-line-write-finding")
    write.get_by_role("button", name="Publish the finding").click()
    page.get_by_text("Your finding is published").wait_for()
    first = finding_on(page, FIRST_TITLE)
    cited = first.locator("table.cited")
    cited.locator("tbody tr").first.wait_for()
    rows = {
        (row.locator("th").text_content() or ""): [c.text_content() for c in row.locator("td").all()]
        for row in cited.locator("tbody tr").all()
    }
    assert rows["All posts"] == ["20", "fewer than 5", "0"]  # 18 needs and 3 offers, as the report rounds them
    assert rows["Food"] == ["10", "fewer than 5", "0"]
    assert rows["Housing"] == ["5", "0", "0"]
    assert "From the report over 13 weeks up to" in (first.text_content() or "")
    found = call(f"{url}/api/v1/findings")
    assert isinstance(found, dict)
    first_id = found["findings"][0]["id"]
    assert found["findings"][0]["answers"] == {"agree": 0, "partly": 0, "missed": 0}

    # Six visitors answer, each in their own browser: "fewer than 5" agree until the fifth.
    for n in range(1, 6):
        visit = answer(browser, url, "Yes, you got it right")
        visits.append(visit)
        shown = agree_count(visit.page, FIRST_TITLE)
        assert shown == ("5" if n == 5 else "fewer than 5"), (n, shown)
        visit.page.reload()
        expect(finding_on(visit.page, FIRST_TITLE).get_by_text("You answered from this device: Agree.")).to_be_visible()
        if n == 4:
            screenshot(visit.page, "mass-line-fewer-than-5")
    sixth = answer(browser, url, "You missed something", note)
    visits.append(sixth)
    assert agree_count(sixth.page, FIRST_TITLE) == "5"
    missed = finding_on(sixth.page, FIRST_TITLE).locator(".answers [data-answer=missed] .count")
    assert missed.text_content() == "fewer than 5"
    screenshot(sixth.page, "mass-line-answered")
    counted = call(f"{url}/api/v1/findings")
    assert isinstance(counted, dict)
    assert counted["findings"][0]["answers"] == {"agree": 5, "partly": 0, "missed": None}

    # Only the organizers read the note, on the finding's page.
    page.goto(f"{url}/#/finding/{first_id}")
    notes = page.locator("section.notes")
    notes.get_by_text(note).wait_for()
    assert "You missed something" in (notes.text_content() or "")
    sixth.page.goto(f"{url}/#/finding/{first_id}")
    sixth.page.get_by_role("heading", name=FIRST_TITLE).wait_for()
    assert sixth.page.locator("section.notes").count() == 0 and note not in (sixth.page.content())

    # A weekly study group with the finding on its agenda, across a daylight-saving change.
    dates = study_dates()
    page.goto(f"{url}/#/events")
    page.get_by_text("Publish an event").click()
    form = page.locator("form.event-form")
    form.get_by_label("Title").fill(STUDY)
    form.get_by_label("What it is").select_option("study-group")
    form.get_by_label("Starts").fill(f"{dates[0]}T18:00")
    form.get_by_label("Ends", exact=True).fill(f"{dates[0]}T20:00")
    form.get_by_label("Time zone").fill("America/Chicago")
    form.get_by_label("Repeats").select_option("WEEKLY")
    form.get_by_label("How many times in all").fill("6")
    form.get_by_label("Venue").fill("Riverside public library, room 2")
    form.get_by_label("Childcare").check()
    form.get_by_label("Study materials").fill("https://example.org/reading-the-figures.pdf")
    form.get_by_label(re.compile(re.escape(FIRST_TITLE))).check()
    screenshot(page, "mass-line-event-form")
    form.get_by_role("button", name="Publish the event").click()
    page.get_by_text("The event is published.").wait_for()
    events = call(f"{url}/api/v1/events?days=400")
    assert isinstance(events, dict)
    (event,) = events["events"]
    assert event["rrule"] == "FREQ=WEEKLY;COUNT=6" and event["tz"] == "America/Chicago"
    assert [o["date"] for o in event["occurrences"]] == [d.isoformat() for d in dates]
    assert event["agenda"] == [first_id] and event["access"] == ["childcare"]

    # The revised finding, from the report page: it revises the first, and the study group acts on it.
    page.goto(f"{url}/#/report")
    page.get_by_text("Write a finding from these figures").click()
    write = page.locator("form.write-finding")
    write.get_by_label("Title of the finding").fill(REVISED_TITLE)
    write.get_by_label("The finding", exact=True).fill("You told us we missed Sundays: the pantry closes.")
    write.get_by_label("It revises").select_option(first_id)
    write.get_by_label(re.compile(re.escape(STUDY))).check()
    write.get_by_role("button", name="Publish the finding").click()
    page.get_by_text("Your finding is published").wait_for()
    revised = finding_on(page, REVISED_TITLE)
    found = call(f"{url}/api/v1/findings")
    assert isinstance(found, dict)
    revised_id = next(f["id"] for f in found["findings"] if f["title"] == REVISED_TITLE)
    # The chain: report -> finding -> answers -> revised finding -> the event that acts on it.
    earlier = finding_on(page, FIRST_TITLE)
    earlier.locator(".chain li").first.wait_for()
    expect(earlier.get_by_text("A later finding revised this one:")).to_be_visible()
    assert earlier.locator(".chain").get_by_role("link", name=REVISED_TITLE).get_attribute("href") == (
        f"#/finding/{revised_id}"
    )
    steps = [" ".join((li.text_content() or "").split()) for li in earlier.locator(".chain li").all()]
    assert steps[-3:] == [
        f"On the agenda of: {STUDY}",
        f"Revised by a later finding: {REVISED_TITLE}",
        f"Acted on by: {STUDY} (Study group)",
    ], steps
    assert {a.get_attribute("href") for a in earlier.locator(".chain").get_by_role("link", name=STUDY).all()} == {
        f"#/event/{event['id']}"
    }
    chain = revised.locator(".chain")
    assert chain.get_by_role("link", name=FIRST_TITLE).get_attribute("href") == f"#/finding/{first_id}"
    assert chain.get_by_role("link", name=STUDY).get_attribute("href") == f"#/event/{event['id']}"
    assert "Acted on by:" in (chain.text_content() or "")
    assert chain.get_by_role("link", name=re.compile("The report over 13 weeks")).count() == 1
    screenshot(page, "mass-line-report-findings")
    assert page.evaluate("document.documentElement.scrollWidth") <= 360

    # Home: "What we heard", the newest finding not revised since, loaded after the list.
    home = open_page(browser)
    visits.append(home)
    home.page.goto(f"{url}/")
    heard = home.page.locator("section.heard")
    heard.get_by_role("link", name=REVISED_TITLE).wait_for()
    assert heard.get_by_role("link", name=FIRST_TITLE).count() == 0
    screenshot(home.page, "mass-line-home")

    # Events, seen from Madrid: the time in Chicago and the viewer's own; "I'll come" once per device.
    madrid = open_page(browser, timezone="Europe/Madrid")
    visits.append(madrid)
    events_page = madrid.page
    events_page.goto(f"{url}/#/events")
    card = events_page.locator("article.event", has=events_page.get_by_role("heading", name=STUDY))
    card.wait_for()
    text = card.text_content() or ""
    assert "Study group" in text and "Every week, 6 times" in text and "Riverside public library" in text
    assert "Childcare" in text and "America/Chicago time" in text and "Your time:" in text
    assert card.get_by_role("link", name="https://example.org/reading-the-figures.pdf").get_attribute("rel") == (
        "noopener noreferrer"
    )
    card.get_by_role("link", name=FIRST_TITLE).wait_for()  # the agenda, by the finding's title
    first_date = card.locator("ol.occurrences > li").first
    assert "6:00" in (first_date.locator(".there").text_content() or "")
    first_date.get_by_role("button", name="I'll come").click()
    first_date.get_by_text("You said you'll come.").wait_for()
    assert first_date.locator(".going-count").text_content() == "1 person said they'll come."
    events_page.reload()
    first_date = events_page.locator("ol.occurrences > li").first
    first_date.get_by_text("You said you'll come.").wait_for()
    assert first_date.get_by_role("button", name="I'll come").count() == 0
    screenshot(events_page, "mass-line-events")
    assert events_page.evaluate("document.documentElement.scrollWidth") <= 360

    # The calendar file, downloaded from the page: six dates at 18:00 in Chicago, across the change.
    events_page.get_by_text("Only one kind of event").click()
    with events_page.expect_download() as download:
        events_page.get_by_role("link", name="Download all events (.ics)").click()
    saved = tmp_path / "calendar.ics"
    download.value.save_as(saved)
    calendar = icalendar.Calendar.from_ical(saved.read_bytes())
    found_events = recurring_ical_events.of(calendar).between(dates[0], dates[-1] + timedelta(days=1))
    starts = sorted(e["DTSTART"].dt for e in found_events)
    assert [s.date() for s in starts] == dates
    assert all(s.astimezone(CHICAGO).hour == 18 and s.astimezone(CHICAGO).minute == 0 for s in starts)
    assert len({s.utcoffset() for s in starts}) == 2  # the change is inside the six weeks
    assert all(str(e["SUMMARY"]) == STUDY for e in found_events)

    # Learn: the study group with its materials.
    events_page.goto(f"{url}/#/learn")
    events_page.get_by_role("heading", name="Learn together").wait_for()
    learn = events_page.locator("article.event", has=events_page.get_by_role("heading", name=STUDY))
    learn.get_by_role("link", name="https://example.org/reading-the-figures.pdf").wait_for()

    # The handout, in Spanish from an English page, printed on one page.
    handout = open_page(browser, width=800)
    visits.append(handout)
    sheet_page = handout.page
    sheet_page.goto(f"{url}/#/finding/{revised_id[:12]}/print?lang=es")
    sheet = sheet_page.locator("article.handout")
    sheet.get_by_role("heading", name=REVISED_TITLE).wait_for()
    sheet_page.emulate_media(media="print")
    assert sheet.get_attribute("lang") == "es"
    text = sheet.text_content() or ""
    assert f"{CHAPTER}: lo que escuchamos" in text and "¿Lo entendimos bien?" in text
    assert "Del informe de 13 semanas hasta el" in text and "menos de 5" in text and "Necesidades" in text
    assert f"{url}/#/finding/{revised_id[:12]}" in text
    assert sheet_page.locator("header").is_hidden() and sheet_page.locator(".handout-tools").is_hidden()
    pdf = sheet_page.pdf(format="A4")
    assert len(re.findall(rb"/Type\s*/Page\b", pdf)) == 1  # one sheet of paper
    screenshot(sheet_page, "mass-line-handout-es")

    # The neighbour holds both findings and the event, and its page names the chapter.
    def on_neighbour() -> dict[str, Any] | None:
        findings = call(f"{neighbour.url}/api/v1/findings")
        coming = call(f"{neighbour.url}/api/v1/events?days=400")
        assert isinstance(findings, dict) and isinstance(coming, dict)
        ids = {f["id"] for f in findings["findings"]}
        if {first_id, revised_id} <= ids and any(e["id"] == event["id"] for e in coming["events"]):
            return findings
        return None

    held = eventually("the neighbour holds the findings and the event", on_neighbour)
    assert all(not f["own"] and f["answers"] is None for f in held["findings"])
    visitor = open_page(browser, locale="es-ES")
    visits.append(visitor)

    def labelled() -> bool | None:
        visitor.page.goto(f"{neighbour.url}/#/report")
        visitor.page.reload()
        card = finding_on(visitor.page, REVISED_TITLE)
        card.wait_for()
        return True if f"De {CHAPTER}" in (card.text_content() or "") else None

    eventually("the neighbour's page names the chapter", labelled)
    peer_card = finding_on(visitor.page, REVISED_TITLE)
    assert peer_card.locator("form.answer").count() == 0  # answers go to the chapter that wrote it
    expect(peer_card.get_by_text(f"Las respuestas van al grupo que la escribió, {CHAPTER}.")).to_be_visible()
    screenshot(visitor.page, "mass-line-neighbour-report-es")
    visitor.page.goto(f"{neighbour.url}/#/events")
    peer_event = visitor.page.locator("article.event", has=visitor.page.get_by_role("heading", name=STUDY))
    peer_event.wait_for()
    assert f"De {CHAPTER}" in (peer_event.text_content() or "")
    assert peer_event.get_by_role("button", name="Iré").count() == 0
    screenshot(visitor.page, "mass-line-neighbour-events-es")
    for v in (madrid, visitor):  # Events joined the main navigation: two lines at 360 px, in either language
        rows = v.page.evaluate("[...document.querySelectorAll('#nav a')].map((a) => a.getBoundingClientRect().top)")
        assert len(set(rows)) == 2, rows

    # The canary: the note is nowhere on the neighbour, nor in the chapter's log or its records.
    canary = note.split(maxsplit=1)[0].encode()  # "canary-<random hex>"
    for path in sorted(p for p in neighbour.data.rglob("*") if p.is_file()):
        assert canary not in path.read_bytes(), path
    assert {p.name for p in neighbour.data.iterdir()} >= {"records.db", "chapter.db"}
    assert canary not in neighbour.log.read_bytes()
    assert canary not in chapter.log.read_bytes()
    for name in ("records.db", "records.db-wal"):
        if (chapter.data / name).exists():
            assert canary not in (chapter.data / name).read_bytes(), name
    for v in visits:
        assert v.errors == [], v.errors
        assert v.foreign(url) == [] or v.page.url.startswith(neighbour.url)


def test_the_event_form_says_what_to_fix_beside_the_field(browser: Browser, tmp_path: Path) -> None:
    node = start_node(tmp_path / "n", CHAPTER)
    visit = open_page(browser)
    try:
        page = visit.page
        page.goto(f"{node.url}/#/organizer")
        page.get_by_label("Admin token").fill(node.admin_token())
        page.get_by_role("button", name="Open", exact=True).click()
        page.get_by_role("heading", name="Unanswered needs").wait_for()
        page.goto(f"{node.url}/#/events")
        page.get_by_text("No events are planned yet.").wait_for()
        page.get_by_text("Publish an event").click()
        form = page.locator("form.event-form")
        day = date.today() + timedelta(days=10)
        form.get_by_label("Title").fill("Skill share: fixing bicycles")
        form.get_by_label("What it is").select_option("skill-share")
        assert form.get_by_label("Time zone").input_value() == "UTC"  # the browser's own zone
        form.get_by_label("Starts").fill(f"{day}T18:00")
        form.get_by_label("Ends", exact=True).fill(f"{day}T17:00")
        form.get_by_role("button", name="Publish the event").click()
        ends = form.get_by_label("Ends", exact=True)
        assert error_beside(page, ends) == "The end must come after the start."
        assert page.evaluate("document.activeElement.name") == "end"
        screenshot(page, "mass-line-event-end-before-start")

        ends.fill(f"{day}T20:00")
        form.get_by_label("Repeats").select_option("custom")
        form.get_by_label("Repeat rule").fill("FREQ=YEARLY;COUNT=2")
        form.get_by_role("button", name="Publish the event").click()
        rule = form.get_by_label("Repeat rule")
        said = error_beside(page, rule)  # the node's refusal, on the field it names
        assert said.startswith("This repeat rule is outside what chapters' events use"), said
        assert "FREQ must be one of DAILY, WEEKLY, MONTHLY" in said
        assert ends.get_attribute("aria-invalid") is None
        screenshot(page, "mass-line-event-bad-rule")

        rule.fill("FREQ=WEEKLY;COUNT=3")
        form.get_by_label("Time zone").fill("Mars/Olympus_Mons")
        form.get_by_role("button", name="Publish the event").click()
        zone = form.get_by_label("Time zone")
        assert error_beside(page, zone).startswith("This is not a time zone this device knows")
        form.get_by_label("Time zone").fill("Europe/Madrid")
        form.get_by_role("button", name="Publish the event").click()
        page.get_by_text("The event is published.").wait_for()
        found = call(f"{node.url}/api/v1/events?days=400")
        assert isinstance(found, dict)
        (event,) = found["events"]
        assert (event["rrule"], event["tz"], len(event["occurrences"])) == ("FREQ=WEEKLY;COUNT=3", "Europe/Madrid", 3)
        assert visit.errors == []
    finally:
        visit.page.context.close()
        assert stop(node.process) == 0


def test_a_member_suggests_an_event_and_the_organizers_publish_change_and_cancel_it(
    browser: Browser, tmp_path: Path
) -> None:
    node = start_node(tmp_path / "n", CHAPTER)
    visits: list[Visit] = []
    try:
        url = node.url
        sheet = call(f"{url}/api/v1/invites", "POST", {"count": 1}, token=node.admin_token())
        assert isinstance(sheet, dict)
        joined = call(f"{url}/api/v1/members", "POST", {"code": sheet["invites"][0]["code"], "name": "Ana"})
        assert isinstance(joined, dict)
        member = open_page(browser)
        visits.append(member)
        page = member.page
        page.goto(f"{url}/#/card/{joined['card']}")
        page.locator("dl.me").wait_for()

        # A member suggests: the same form, sent to the organizers.
        page.goto(f"{url}/#/events")
        page.get_by_text("No events are planned yet.").wait_for()
        assert page.get_by_text("Publish an event").count() == 0
        page.get_by_text("Suggest an event").click()
        form = page.locator("form.event-form")
        day = date.today() + timedelta(days=5)
        form.get_by_label("Title").fill("Skill share: mending clothes")
        form.get_by_label("What it is").select_option("skill-share")
        form.get_by_label("Starts").fill(f"{day}T10:00")
        form.get_by_label("Ends", exact=True).fill(f"{day}T12:00")
        form.get_by_label("Time zone").fill("America/Chicago")
        form.get_by_label("Venue").fill("Community centre, hall B")
        form.get_by_role("button", name="Send the suggestion").click()
        page.get_by_text("Sent to the organizers. They will publish it or not.").wait_for()
        assert call(f"{url}/api/v1/events?days=400") == {"events": []}

        # The organizer publishes it, changes its title, then cancels it (asked first).
        organizer = open_page(browser)
        visits.append(organizer)
        page = organizer.page
        page.goto(f"{url}/#/organizer")
        page.get_by_label("Admin token").fill(node.admin_token())
        page.get_by_role("button", name="Open", exact=True).click()
        page.get_by_role("heading", name="Unanswered needs").wait_for()
        page.goto(f"{url}/#/events")
        suggested = page.locator("article.suggestion")
        suggested.wait_for()
        assert "Suggested by Ana" in (suggested.text_content() or "")
        screenshot(page, "mass-line-suggestion")
        suggested.get_by_role("button", name="Publish it").click()
        page.get_by_text("The event is published.").wait_for()
        page.get_by_text("No suggestions waiting.").wait_for()
        card = page.locator("article.event")
        card.get_by_role("heading", name="Skill share: mending clothes").wait_for()
        card.get_by_text("Change this event").click()
        edit = card.locator("form.event-form")
        assert edit.get_by_label("Venue").input_value() == "Community centre, hall B"
        assert edit.get_by_label("Starts").input_value() == f"{day}T10:00"
        edit.get_by_label("Title").fill("Skill share: mending winter clothes")
        edit.get_by_role("button", name="Save the changes").click()
        page.get_by_text("The event is changed.").wait_for()
        renamed = page.get_by_role("heading", name="Skill share: mending winter clothes")
        card = page.locator("article.event", has=renamed)
        card.get_by_role("button", name="Cancel this event").click()
        question = card.get_by_text("Cancel this event? Every date of it will show as cancelled")
        expect(question).to_be_focused()
        page.keyboard.press("Escape")  # no: the button is back, with the focus
        expect(card.get_by_role("button", name="Cancel this event")).to_be_focused()
        card.get_by_role("button", name="Cancel this event").click()
        card.get_by_role("button", name="Yes, cancel it").click()
        page.get_by_text("The event is cancelled.").wait_for()
        card = page.locator("article.event.cancelled")
        assert "Cancelled" in (card.locator(".badges").text_content() or "")
        assert card.get_by_role("button", name="I'll come").count() == 0
        screenshot(page, "mass-line-event-cancelled")
        with urllib.request.urlopen(f"{url}/calendar.ics", timeout=30) as response:  # noqa: S310 - loopback
            feed = icalendar.Calendar.from_ical(response.read())
        (one,) = [c for c in feed.walk("VEVENT")]
        assert (str(one["SUMMARY"]), str(one["STATUS"])) == ("Skill share: mending winter clothes", "CANCELLED")
        for v in visits:
            assert v.errors == [], v.errors
    finally:
        for v in visits:
            v.page.context.close()
        assert stop(node.process) == 0


def test_a_finding_is_answered_from_the_keyboard(browser: Browser, tmp_path: Path) -> None:
    node = start_node(tmp_path / "n", CHAPTER)
    visit = open_page(browser)
    try:
        post_needs(node.url)
        hostile = "<img src=x onerror='window.__ran=1'> Sundays \u0645\u0631\u062d\u0628\u0627 🚌"  # text, not markup
        call(f"{node.url}/api/v1/findings", "POST", {"title": FIRST_TITLE, "text": hostile},
             token=node.admin_token())  # fmt: skip
        page = visit.page
        page.goto(f"{node.url}/#/report")
        card = finding_on(page, FIRST_TITLE)
        card.get_by_label("Yes, you got it right").focus()
        page.keyboard.press("ArrowDown")  # the radio group: "Partly"
        expect(card.get_by_label("Partly")).to_be_checked()
        page.keyboard.press("Tab")
        expect(card.get_by_label("Anything to add? (optional)")).to_be_focused()
        page.keyboard.type("Sundays too.")
        page.keyboard.press("Tab")
        expect(card.get_by_role("button", name="Send my answer")).to_be_focused()
        page.keyboard.press("Enter")
        thanks = card.get_by_text("Thank you: your answer is counted.")
        expect(thanks).to_be_focused()  # read out at once, where the form was
        assert card.locator(".answers [data-answer=partly] .count").text_content() == "fewer than 5"
        assert card.locator(".finding-text").text_content() == hostile
        assert page.locator("main img").count() == 0 and page.evaluate("window.__ran") is None
        page.goto(f"{node.url}/#/?q=food")  # a search is not the home page: no "What we heard" there
        page.get_by_role("heading", name="Needs and offers near you").wait_for()
        page.wait_for_load_state("networkidle")
        assert page.locator("section.heard").is_hidden()
        page.goto(f"{node.url}/#/")
        page.locator("section.heard").get_by_role("link", name=FIRST_TITLE).wait_for()
        assert visit.errors == []
    finally:
        visit.page.context.close()
        assert stop(node.process) == 0
