"""The finding and event kinds as every node checks them: a finding never finer
than the report, an event whose times and repeat fit together, and the
RRULE subset by hand (protocol/recurrence.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crypto import NodeIdentity
from protocol import recurrence
from protocol.errors import RecordInvalid
from protocol.figures import ROUNDED_TO, shown
from protocol.records import DAY, build_record

IDENTITY = NodeIdentity.from_seed(bytes(range(32)))
NOW = 1_800_000_000


def finding(**changes: Any) -> dict[str, Any]:
    body = {"kind": "finding", "slot": "f1", "created_at": NOW, "expires_at": NOW + 300 * DAY, "title": "Food",
            "text": "Needs for food outrun offers.", "weeks": 13, "as_of": NOW - 60,
            "figures": [["totals", "all", 100, 80, 40], ["by_category", "food", 25, 10, None]]}  # fmt: skip
    return body | changes


def event(**changes: Any) -> dict[str, Any]:
    body = {"kind": "event", "slot": "e1", "created_at": NOW, "expires_at": NOW + 90 * DAY, "title": "Study group",
            "what": "study-group", "start": "2027-03-02T18:00", "end": "2027-03-02T20:00", "tz": "America/Chicago",
            "area": "dp3w"}  # fmt: skip
    return body | changes


def refused(body: dict[str, Any]) -> str:
    with pytest.raises(RecordInvalid) as caught:
        build_record(IDENTITY, body)
    return caught.value.reason


def test_a_finding_as_the_report_published_it() -> None:
    record = build_record(IDENTITY, finding())
    assert record.get("figures")[1] == ["by_category", "food", 25, 10, None]


@pytest.mark.parametrize(
    ("figures", "reason"),
    [
        ([["totals", "all", 7, 0, 0]], "finer_than_report"),  # 7 is not a published count
        ([["by_category", "food", -5, 0, 0]], "finer_than_report"),
        ([["by_category", "food", True, 0, 0]], "finer_than_report"),
        ([["by_town", "x", 5, 5, 5]], "bad_figures"),  # not a section of the report
        ([["totals", "all", 5, 5]], "bad_figure"),
        ([["totals", "all", 5, 5, 5], ["totals", "all", 5, 5, 5]], "duplicate_item"),
        ([["by_week", "", 5, 5, 5]], "empty"),
    ],
)
def test_a_finding_finer_than_the_report_is_refused_everywhere(figures: list[Any], reason: str) -> None:
    assert refused(finding(figures=figures)) == reason


def test_a_finding_cites_a_report_made_before_it() -> None:
    assert refused(finding(as_of=NOW + 1)) == "bad_as_of"
    assert refused(finding(expires_at=NOW + 400 * DAY)) == "lifetime_too_long"


@given(st.integers(0, 10_000))
def test_every_published_count_is_citable(count: int) -> None:
    value = shown(count)
    assert value is None or value % ROUNDED_TO == 0
    build_record(IDENTITY, finding(figures=[["totals", "all", value, 0, 0]]))


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"end": "2027-03-02T18:00"}, "bad_end"),  # not after the start
        ({"end": "2027-03-01T20:00"}, "bad_end"),
        ({"end": "2027-03-04T18:00"}, "bad_end"),  # over a day
        ({"start": "2027-02-30T18:00"}, "bad_start"),  # no such date
        ({"tz": "not a zone"}, "bad_tz"),
        ({"rrule": "FREQ=YEARLY;COUNT=2"}, "bad_rrule"),
        ({"rrule": "FREQ=WEEKLY"}, "bad_rrule"),  # never ends
        ({"rrule": "FREQ=WEEKLY;COUNT=2;UNTIL=20270401"}, "bad_rrule"),
        ({"rrule": "FREQ=WEEKLY;COUNT=2;BYSETPOS=1"}, "bad_rrule"),
        ({"rrule": "FREQ=WEEKLY;UNTIL=20270401T000000Z"}, "bad_rrule"),  # an UNTIL with a time
        ({"rrule": "FREQ=MONTHLY;COUNT=2;BYDAY=TU"}, "bad_rrule"),
        ({"rrule": "FREQ=WEEKLY;COUNT=2;BYDAY=MO,WE"}, "bad_rrule"),  # the start is a Tuesday
        ({"rrule": "FREQ=WEEKLY;COUNT=200"}, "bad_rrule"),  # past 400 days
        ({"rrule": "FREQ=DAILY;UNTIL=20270301"}, "bad_rrule"),  # before the start
        ({"what": "party"}, "bad_what"),
        ({"access": ["wheelchair"]}, "bad_access"),
        ({"expires_at": NOW + 401 * DAY}, "lifetime_too_long"),
    ],
)
def test_an_event_whose_parts_do_not_fit_is_refused_everywhere(changes: dict[str, Any], reason: str) -> None:
    assert refused(event(**changes)) == reason


def test_occurrences_by_hand() -> None:
    start = datetime(2027, 3, 2, 18, 0)  # a Tuesday
    weekly = recurrence.occurrences(start, recurrence.parse("FREQ=WEEKLY;COUNT=6"))
    assert [d.day for d in weekly] == [2, 9, 16, 23, 30, 6] and all(d.hour == 18 for d in weekly)
    twice = recurrence.occurrences(start, recurrence.parse("FREQ=WEEKLY;BYDAY=TU,TH;UNTIL=20270311"))
    assert [d.day for d in twice] == [2, 4, 9, 11]
    fortnight = recurrence.occurrences(start, recurrence.parse("FREQ=WEEKLY;INTERVAL=2;COUNT=3"))
    assert [d.day for d in fortnight] == [2, 16, 30]
    monthly = recurrence.occurrences(datetime(2027, 1, 31, 9, 0), recurrence.parse("FREQ=MONTHLY;COUNT=4"))
    assert [(d.month, d.day) for d in monthly] == [(1, 31), (3, 31), (5, 31), (7, 31)]  # months without a 31st skipped
    daily = recurrence.occurrences(start, recurrence.parse("FREQ=DAILY;INTERVAL=3;UNTIL=20270310"))
    assert [d.day for d in daily] == [2, 5, 8]
    assert recurrence.occurrences(start, None) == [start]


def test_rules_read_in_any_order_and_are_written_one_way() -> None:
    rule = recurrence.parse("COUNT=6;BYDAY=TH,TU;FREQ=WEEKLY")
    assert rule.text() == "FREQ=WEEKLY;COUNT=6;BYDAY=TU,TH"
    assert recurrence.parse(rule.text()) == rule
