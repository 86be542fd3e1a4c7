# The mass line from the command line, as an organizer and a neighbour use
# it: real node processes started through `mutualaid run` (tests/node/_cli.py),
# the installed command run as a child process, driven exactly as the issue
# writes the commands. The organizer writes findings from the report (the
# founding period's admin token from --data-dir, then a card holding a
# mandate), anyone answers (a note only from standard input), events are
# added with local times in a zone and listed, cancelled, come to, suggested.
# Every bad input is checked for its exit code and its message: what the
# command can tell alone is bad usage (2), what only the node knows its
# refusal (1, its code in the message).

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from pathlib import Path

import pytest

from node.cli.events import machine_zone
from tests._nodes import wait_until
from tests.node._cli import Running, cli, http, modules_loaded, post_need, start_running
from tests.node.test_cli_chapter import as_json, chapter, fails, ok, propose_id

PUBLISHED_FINDING = re.compile(r"published finding ([0-9a-f]{64}): (.*)")
PUBLISHED_EVENT = re.compile(r"published event ([0-9a-f]{64}): (.*)")


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[Running]:
    """A node of its own, for a test that ends the founding period or counts from nothing."""
    yield from start_running(tmp_path)


def operator(running: Running, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """An organizer command as the operator in the founding period: the admin token from --data-dir."""
    return cli(running.env, *args, "--data-dir", str(running.data_dir), "--node", running.url, stdin=stdin)


def anyone(running: Running, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return cli(running.env, *args, "--node", running.url, stdin=stdin)


def write_finding(running: Running, *args: str, stdin: str | None = None) -> tuple[str, str]:
    """``findings add``; the id it prints, and all it printed."""
    out = ok(operator(running, "findings", "add", *args, stdin=stdin))
    match = PUBLISHED_FINDING.match(out.splitlines()[0])
    assert match is not None, out
    return match.group(1), out


def add_event(running: Running, *args: str) -> tuple[str, str]:
    out = ok(operator(running, "events", "add", *args))
    match = PUBLISHED_EVENT.match(out.splitlines()[0])
    assert match is not None, out
    return match.group(1), out


def day(days: int, hour: int = 18) -> datetime:
    return datetime.combine(date.today() + timedelta(days=days), time(hour))


def stamp(moment: datetime) -> str:
    return f"{moment:%Y-%m-%dT%H:%M}"


def posted(running: Running, food: int) -> None:
    for i in range(food):
        post_need(running.env, running.url, f"Groceries {i}")  # category food


# --- findings and answers ---------------------------------------------------------------------------------


def test_a_finding_from_the_report_and_its_answers(fresh: Running) -> None:
    posted(fresh, 7)
    finding_id, out = write_finding(fresh, "--title", "Food needs outrun offers", "--text", "Most needs are food.")
    lines = out.splitlines()
    assert lines[1].startswith("citing the report of the 13 weeks to ")
    assert lines[2].split() == ["section", "key", "needs", "offers", "fulfilled"]
    assert lines[3].split() == ["totals", "all", "5", "0", "0"] and lines[4].split() == ["by_category", "food", "5",
                                                                                          "0", "0"]  # fmt: skip
    assert lines[-1] == f"anyone may answer it: mutualaid answer {finding_id[:12]} agree|partly|missed"
    status, report = http("GET", f"{fresh.url}/api/v1/report")
    assert status == 200 and report["by_category"] == [{"category": "food", "needs": 5, "offers": 0, "fulfilled": 0}]
    # Chosen rows, the text from standard input, JSON for scripts.
    chosen = json.loads(ok(operator(fresh, "findings", "add", "--title", "Food", "--text", "-", "--cite",
                                    "by_category:food", "--cite", "totals:all", "--json",
                                    stdin="Food, as the report shows it.\nA second line.\n")))  # fmt: skip
    finding = chosen["finding"]
    assert finding["figures"] == [["by_category", "food", 5, 0, 0], ["totals", "all", 5, 0, 0]]
    assert finding["text"] == "Food, as the report shows it.\nA second line."

    # Anyone answers, no card: four read "fewer than 5", the fifth 5.
    for _ in range(4):
        answered = ok(anyone(fresh, "answer", finding_id[:12], "agree"))
    assert answered.splitlines()[1].startswith("answers so far: agree <5, partly 0, missed 0")
    assert "answers so far: agree 5, partly 0, missed 0" in ok(anyone(fresh, "answer", finding_id, "agree"))
    noted = ok(anyone(fresh, "answer", finding_id[:12], "missed", "--note", "-", stdin="The buses were cut.\n"))
    assert noted.startswith("answered missed with a note for the organizers")
    listed = ok(anyone(fresh, "findings", "list"))
    block = listed.split("\n\n")[-1]  # the oldest: the first finding
    assert block.startswith(f"{finding_id[:12]}  Food needs outrun offers  (this chapter)")
    assert "answers: agree 5, partly 0, missed <5" in block
    # The note is the organizers' alone.
    notes = ok(operator(fresh, "findings", "notes", finding_id[:12]))
    assert notes.splitlines()[0].endswith("  missed") and notes.splitlines()[1] == "    The buses were cut."
    assert "buses" not in listed and "buses" not in json.dumps(as_json(fresh.env, "findings", "list", "--node",
                                                                       fresh.url))  # fmt: skip

    # A revision names the finding it revises and the event that acts on it, by their first characters.
    event_id, _ = add_event(fresh, "--title", "Study group: food", "--what", "study-group", "--starts",
                            stamp(day(9)), "--tz", "America/Chicago", "--area", "dp3w")  # fmt: skip
    revised, _ = write_finding(fresh, "--title", "Food, revised", "--text", "Food and buses.", "--revises",
                               finding_id[:12], "--acts", event_id[:12], "--language", "en", "es")  # fmt: skip
    listed = ok(anyone(fresh, "findings", "list"))
    assert f"revised by {revised[:12]}" in listed and f"revises {finding_id[:12]}" in listed
    assert f"acted on by {event_id[:12]}" in listed


def test_bad_findings_and_answers(running: Running) -> None:
    posted(running, 1)
    finding_id, _ = write_finding(running, "--title", "Some food", "--text", "Some.")
    before = as_json(running.env, "findings", "list", "--node", running.url)
    cases: list[tuple[tuple[str, ...], int, tuple[str, ...]]] = [
        (("--cite", "by_category:pets"), 1, ("shows no by_category row 'pets'", "not_in_report")),
        (("--cite", "by_street:main"), 2, ("argument --cite: 'by_street:main' is not a report row", "by_category")),
        (("--cite", "food"), 2, ("is not a report row",)),
        (("--cite", "totals:all", "totals:all"), 2, ("--cite names the same row twice",)),
        (("--weeks", "53"), 2, ("argument --weeks: '53' is not a whole number from 1 to 52",)),
        (("--revises", "xyz"), 2, ("argument --revises: 'xyz' is not a finding's id",)),
        (("--revises", "ab" * 32), 1, ("this node holds no finding", "unknown_reference")),
        (("--acts", "0000000000"), 1, ("no live record has an id starting with 0000000000", "not_found")),
        (("--language", "English"), 2, ("argument --language: 'English' is not a language tag",)),
    ]
    for extra, code, words in cases:
        fails(operator(running, "findings", "add", "--title", "t", "--text", "t", *extra), code, *words)
    fails(operator(running, "findings", "add", "--title", "t", "--text", "x" * 4001), 1, "invalid_finding")
    fails(operator(running, "findings", "add", "--title", "t", "--text", "-", stdin="\n \n"), 2,
          "the text read from standard input (--text -) is empty")  # fmt: skip
    # Neither a card nor the operator's data directory: how to give one.
    nowhere = cli(running.env, "findings", "add", "--title", "t", "--text", "t", "--node", running.url)
    fails(nowhere, 2, "findings add acts as an organizer", "MUTUALAID_MEMBER_CARD=card-", "--data-dir DIR")
    (ama,) = chapter(running, "Finding Ama").values()
    fails(cli(ama, "findings", "add", "--title", "t", "--text", "t"), 1, "you hold none", "no_mandate")
    fails(cli(ama, "findings", "notes", finding_id[:12]), 1, "no_mandate")
    assert as_json(running.env, "findings", "list", "--node", running.url) == before  # nothing was stored

    # Answers: the note only from standard input, never sent otherwise.
    secret = cli(running.env, "answer", finding_id, "missed", "--note", "my landlord is Mr X", "--node", running.url)
    fails(secret, 2, "--note takes '-' and reads the note from standard input")
    assert "landlord" not in secret.stderr
    fails(anyone(running, "answer", finding_id, "missed", "--note", "-", stdin=""), 2, "the note read from "
          "standard input (--note -) is empty")  # fmt: skip
    fails(anyone(running, "answer", finding_id, "missed", "--note", "-", stdin="x" * 501), 1, "invalid_answer")
    fails(anyone(running, "answer", finding_id, "maybe"), 2, "argument ANSWER: invalid choice: 'maybe'")
    fails(anyone(running, "answer", "xyz", "agree"), 2, "argument FINDING_ID: 'xyz' is not a finding's id")
    fails(anyone(running, "answer", "0" * 12, "agree"), 1, "not_found")
    assert as_json(running.env, "findings", "list", "--node", running.url) == before  # no answer was counted
    unreachable = cli(running.env, "answer", finding_id, "agree", "--node", "http://127.0.0.1:1")
    fails(unreachable, 3, "cannot reach the node at http://127.0.0.1:1")


def test_after_the_founding_period_a_card_with_a_mandate_writes_them(fresh: Running) -> None:
    posted(fresh, 5)
    people = chapter(fresh, "Ama", "Kofi")
    ama, kofi = people.values()
    pid = propose_id(ama, "--type", "organizers", "--title", "Ama organizes", "--grant", "Ama")
    ok(cli(ama, "vote", pid[:12], "agree"))
    ok(cli(kofi, "vote", pid[:12], "agree"))
    wait_until(lambda: as_json(ama, "members", "me")["mandate"] is not None, "Ama's mandate is in force")
    fails(operator(fresh, "findings", "add", "--title", "t", "--text", "t"), 1, "the founding period is over",
          "act with a member card holding a mandate")  # fmt: skip
    finding_id, _ = write_finding_as(ama, "--title", "Food", "--text", "Food needs.")
    fails(cli(kofi, "findings", "add", "--title", "t", "--text", "t"), 1, "no_mandate")
    ok(cli(kofi, "answer", finding_id[:12], "partly", "--note", "-", stdin="Rents, too."))
    assert "Rents, too." in ok(cli(ama, "findings", "notes", finding_id[:12]))
    out = ok(cli(ama, "events", "add", "--title", "Assembly", "--what", "assembly", "--starts", stamp(day(12, 10)),
                 "--tz", "Europe/Madrid", "--area", "ezjm"))  # fmt: skip
    assert out.startswith("published event ")
    # With a card in the environment, --operator still asks for the admin token (refused now).
    fails(cli(ama, "events", "add", "--title", "x", "--what", "meeting", "--starts", stamp(day(12)), "--tz", "UTC",
              "--area", "ezjm", "--operator", "--data-dir", str(fresh.data_dir)), 1,
          "the founding period is over")  # fmt: skip


def write_finding_as(env: dict[str, str], *args: str) -> tuple[str, str]:
    out = ok(cli(env, "findings", "add", *args))
    match = PUBLISHED_FINDING.match(out.splitlines()[0])
    assert match is not None, out
    return match.group(1), out


# --- events ---------------------------------------------------------------------------------------------------


def test_an_event_added_with_only_the_options_the_issue_names(running: Running) -> None:
    # `events add --title T --starts ... --tz ... --rrule ...` and the admin token from --data-dir: the kind
    # defaults to a meeting, the area to the one this node serves (`init --area u4pr`).
    start = day(12)
    event_id, out = add_event(running, "--title", "Tenants' meeting", "--starts", stamp(start), "--tz",
                              "America/Chicago", "--rrule", "FREQ=WEEKLY;COUNT=6")  # fmt: skip
    assert "  meeting, FREQ=WEEKLY;COUNT=6; area u4pr" in out
    shown = [line.strip() for line in out.splitlines() if line.startswith("    ")]
    assert shown == [f"{start + timedelta(weeks=k):%a %Y-%m-%d} 18:00-19:00 America/Chicago" for k in range(6)]
    status, held = http("GET", f"{running.url}/api/v1/records/{event_id}")
    assert status == 200 and (held["what"], held["area"], held["tz"]) == ("meeting", "u4pr", "America/Chicago")


def test_events_as_the_issue_writes_them(running: Running) -> None:
    start = day(9)
    event_id, out = add_event(running, "--title", "Study group: the report", "--what", "study-group", "--starts",
                              stamp(start), "--duration", "2h", "--tz", "America/Chicago", "--rrule",
                              "FREQ=WEEKLY;COUNT=6", "--area", "dp3w", "--venue", "Public library, room 2",
                              "--access", "step-free", "childcare", "--language", "en", "--language", "es",
                              "--material", "https://example.org/reader.pdf")  # fmt: skip
    expected = [start + timedelta(weeks=k) for k in range(6)]
    shown = [line.strip() for line in out.splitlines() if line.startswith("    ")]
    assert shown == [f"{d:%a %Y-%m-%d} 18:00-20:00 America/Chicago" for d in expected]
    assert "  study-group, FREQ=WEEKLY;COUNT=6; area dp3w" in out and "  at Public library, room 2" in out
    assert out.splitlines()[-1] == f"  I'll come: mutualaid events come {event_id[:12]} {expected[0]:%Y-%m-%d}"
    status, held = http("GET", f"{running.url}/api/v1/records/{event_id}")
    assert status == 200 and held["access"] == ["step-free", "childcare"] and held["languages"] == ["en", "es"]
    assert held["materials"] == ["https://example.org/reader.pdf"] and held["end"] == stamp(start + timedelta(hours=2))

    ok(anyone(running, "events", "come", event_id[:12], f"{expected[0]:%Y-%m-%d}"))
    came = ok(anyone(running, "events", "come", event_id[:12], f"{expected[0]:%Y-%m-%d}"))
    assert came == f"counted: 2 said they will come on {expected[0]:%Y-%m-%d}\n"
    fails(anyone(running, "events", "come", event_id[:12], f"{expected[0] + timedelta(days=1):%Y-%m-%d}"), 1,
          "no coming occurrence on that date", "invalid_event")  # fmt: skip
    fails(anyone(running, "events", "come", event_id[:12], "soon"), 2, "argument DATE: 'soon' is not a date")

    listed = ok(anyone(running, "events", "list", "--what", "study-group", "--days", "60")).splitlines()
    mine = [line for line in listed if f"[{event_id[:12]}]" in line]
    assert mine[0] == (f"{expected[0]:%a %Y-%m-%d} 18:00-20:00 America/Chicago  study-group  Study group: the report"
                       f"  [{event_id[:12]}]  I'll come: 2")  # fmt: skip
    assert [line.split("  ")[0] for line in mine] == [f"{d:%a %Y-%m-%d} 18:00-20:00 America/Chicago" for d in expected]
    assert not any(event_id[:12] in line for line in ok(anyone(running, "events", "list", "--what", "meeting"))
                   .splitlines())  # fmt: skip
    soonest = as_json(running.env, "events", "list", "--node", running.url)["events"]
    starts = [e["occurrences"][0]["start"] for e in soonest]
    assert starts == sorted(starts)

    # Cancelled: asks first; listed as cancelled; its counts stay.
    fails(operator(running, "events", "cancel", event_id[:12], stdin="n\n"), 1, "Cancel the event", "nothing changed")
    cancelled = ok(operator(running, "events", "cancel", event_id[:12], "--yes"))
    new_id = cancelled.split()[2].rstrip(":")
    assert cancelled.startswith("cancelled event ") and "CANCELLED  " in cancelled
    line = next(x for x in ok(anyone(running, "events", "list")).splitlines() if f"[{new_id[:12]}]" in x)
    assert "  CANCELLED  study-group  " in line and line.endswith("I'll come: 2")


def test_bad_events_are_bad_usage_or_the_nodes_refusal(running: Running) -> None:
    start = day(9)
    off_day = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"][(start.weekday() + 1) % 7]
    base = ("--title", "x", "--what", "meeting", "--area", "dp3w")
    cases: list[tuple[tuple[str, ...], int, tuple[str, ...]]] = [
        (("--starts", "2027-02-30T18:00", "--tz", "UTC"), 2, ("argument --starts: '2027-02-30T18:00' is not a local",)),
        (("--starts", "tomorrow", "--tz", "UTC"), 2, ("argument --starts: 'tomorrow'",)),
        (("--starts", stamp(start), "--tz", "Mars/Olympus"), 2, ("argument --tz: 'Mars/Olympus' is not a time zone",)),
        (("--starts", stamp(start), "--tz", "localtime"), 2, ("argument --tz: 'localtime' is not a time zone",)),
        (("--starts", stamp(start), "--tz", "UTC", "--rrule", "FREQ=YEARLY;COUNT=2"), 2,
         ("argument --rrule", "FREQ must be one of DAILY, WEEKLY, MONTHLY")),
        (("--starts", stamp(start), "--tz", "UTC", "--rrule", "FREQ=MONTHLY;COUNT=2;BYSETPOS=1"), 2,
         ("BYSETPOS is outside",)),
        (("--starts", stamp(start), "--tz", "UTC", "--rrule", "FREQ=WEEKLY;UNTIL=20990101T000000Z"), 2,
         ("UNTIL must be a date",)),
        (("--starts", stamp(start), "--tz", "UTC", "--rrule", "FREQ=MONTHLY;COUNT=2;BYDAY=MO"), 2,
         ("BYDAY goes with FREQ=WEEKLY only",)),
        (("--starts", stamp(start), "--tz", "UTC", "--rrule", f"FREQ=WEEKLY;COUNT=2;BYDAY={off_day}"), 2,
         ("not one of the BYDAY days",)),
        (("--starts", stamp(start), "--tz", "UTC", "--ends", stamp(start - timedelta(hours=1))), 2,
         ("is not within 24 hours after --starts",)),
        (("--starts", stamp(start), "--tz", "UTC", "--ends", "17:00"), 2, ("is not within 24 hours after --starts",)),
        (("--starts", stamp(start), "--tz", "UTC", "--ends", "noon"), 2, ("argument --ends: 'noon'",)),
        (("--starts", stamp(start), "--tz", "UTC", "--ends", "20:00", "--duration", "2h"), 2,
         ("argument --duration: not allowed with argument --ends",)),
        (("--starts", stamp(start), "--tz", "UTC", "--duration", "25h"), 2, ("argument --duration",)),
        (("--starts", stamp(start), "--tz", "UTC", "--area", "dp3wzz"), 2, ("argument --area",)),
        (("--starts", stamp(start), "--tz", "UTC", "--access", "wifi"), 2, ("argument --access: invalid choice",)),
        (("--starts", stamp(start), "--tz", "UTC", "--what", "party"), 2, ("argument --what: invalid choice",)),
        (("--starts", stamp(day(400)), "--tz", "UTC"), 1, ("an event starts within 365 days", "invalid_event")),
        (("--starts", stamp(day(-3)), "--tz", "UTC"), 1, ("every occurrence of this event is over",)),
        (("--starts", stamp(start), "--tz", "UTC", "--agenda", "ab" * 32), 1,
         ("holds no finding or decision", "unknown_reference")),
    ]  # fmt: skip
    before = as_json(running.env, "events", "list", "--days", "400", "--node", running.url)
    for extra, code, words in cases:
        fails(operator(running, "events", "add", *base, *extra), code, *words)
    assert as_json(running.env, "events", "list", "--days", "400", "--node", running.url) == before
    # The machine's zone when --tz is not given: $TZ here; none to be found, and --tz is needed.
    madrid = running.env | {"TZ": "Europe/Madrid"}
    made = json.loads(ok(cli(madrid, "events", "add", *base, "--starts", stamp(start), "--json", "--data-dir",
                             str(running.data_dir), "--node", running.url)))  # fmt: skip
    assert made["event"]["tz"] == "Europe/Madrid" and made["event"]["end"] == stamp(start + timedelta(hours=1))
    lost = running.env | {"TZ": "Nowhere/Unknown"}
    fails(cli(lost, "events", "add", *base, "--starts", stamp(start), "--data-dir", str(running.data_dir), "--node",
              running.url), 2, "--tz is needed: this machine's time zone cannot be found")  # fmt: skip


def test_a_member_suggests_an_event(running: Running) -> None:
    (ama,) = chapter(running, "Suggesting Ama").values()
    out = ok(cli(ama, "events", "suggest", "--title", "Skill share: bike repair", "--what", "skill-share",
                 "--starts", stamp(day(20, 11)), "--tz", "America/Chicago", "--area", "dp3w"))  # fmt: skip
    assert re.fullmatch(r"suggested to the organizers \(suggestion \d+\): they may publish it with events add\n", out)
    status, listed = http("GET", f"{running.url}/api/v1/events/suggestions", token=admin_token(running))
    assert status == 200 and "Skill share: bike repair" in [s["event"]["title"] for s in listed["suggestions"]]
    fails(cli(running.env, "events", "suggest", "--title", "x", "--what", "other", "--starts", stamp(day(20)),
              "--tz", "UTC", "--area", "dp3w", "--node", running.url), 2, "acts as a member")  # fmt: skip


def admin_token(running: Running) -> str:
    return (running.data_dir / "admin.token").read_text().strip()


def test_the_machines_zone() -> None:
    assert machine_zone({"TZ": "America/Chicago"}) == "America/Chicago"
    assert machine_zone({"TZ": ":Europe/Madrid"}) == "Europe/Madrid"
    assert machine_zone({"TZ": "Nowhere/Unknown"}) is None
    assert machine_zone({"TZ": "/usr/share/zoneinfo/Asia/Tokyo"}) == "Asia/Tokyo"
    assert machine_zone({}, Path("/nonexistent/localtime")) is None


# --- in process: the options are the data's ----------------------------------------------------------------


def test_the_mass_line_commands_load_no_aiohttp(tmp_path: Path) -> None:
    commands = [["findings", "add", "--title", "t", "--text", "t"], ["findings", "list"],
                ["answer", "0123456789ab", "agree"], ["events", "list"],
                ["events", "add", "--title", "t", "--what", "meeting", "--starts", "2027-02-23T18:00",
                 "--tz", "America/Chicago", "--rrule", "FREQ=WEEKLY;COUNT=6", "--area", "dp3w"]]  # fmt: skip
    assert modules_loaded(tmp_path, commands, ("aiohttp", "icalendar", "segno")) == []


def test_every_printed_time_is_the_events_zone(running: Running) -> None:
    """A peer's event listed here shows its own zone's local time, whatever this machine's zone."""
    start = day(15, 9)
    event_id, _ = add_event(running, "--title", "Clinic", "--what", "clinic", "--starts", stamp(start), "--tz",
                            "Asia/Tokyo", "--area", "xn76")  # fmt: skip
    for zone in ("UTC", "America/Chicago"):
        listed = ok(cli(running.env | {"TZ": zone}, "events", "list", "--what", "clinic", "--node", running.url))
        assert f"{start:%a %Y-%m-%d} 09:00-10:00 Asia/Tokyo  clinic  Clinic  [{event_id[:12]}]" in listed
