# protocol/recurrence.py against dateutil.rrule, the expansion calendar
# libraries use: for random rules of the subset (daily, weekly with or
# without BYDAY, monthly; INTERVAL; COUNT or UNTIL) and random starts, the
# same local occurrences, or a refusal exactly where dateutil's expansion
# goes past the bounds (more than MAX_OCCURRENCES, or past MAX_SPAN_DAYS).
# Any text fed to the parser gives a rule that reads back the same, or
# RecordInvalid and nothing else; the rules outside the subset are named.

from __future__ import annotations

import itertools
from datetime import date, datetime, time, timedelta

import pytest
from dateutil import rrule as du
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol import recurrence
from protocol.errors import RecordInvalid
from protocol.recurrence import DAYS, MAX_OCCURRENCES, MAX_SPAN_DAYS, Rule

STARTS = st.datetimes(datetime(1990, 1, 1), datetime(2150, 12, 31)).map(lambda d: d.replace(second=0, microsecond=0))
_FREQ = {"DAILY": du.DAILY, "WEEKLY": du.WEEKLY, "MONTHLY": du.MONTHLY}
_WEEKDAYS = (du.MO, du.TU, du.WE, du.TH, du.FR, du.SA, du.SU)


@st.composite
def rules(draw: st.DrawFn) -> tuple[datetime, Rule]:
    """A start and a rule of the subset that fits it (a weekly BYDAY lists the start's day)."""
    start = draw(STARTS)
    freq = draw(st.sampled_from(recurrence.FREQUENCIES))
    interval = draw(st.one_of(st.integers(1, 4), st.integers(1, 99)))
    days: tuple[int, ...] = ()
    if freq == "WEEKLY" and draw(st.booleans()):
        others = draw(st.sets(st.integers(0, 6)))
        days = tuple(sorted(others | {start.weekday()}))
    if draw(st.booleans()):
        return start, Rule(freq, interval, count=draw(st.integers(1, MAX_OCCURRENCES)), days=days)
    until = start.date() + timedelta(days=draw(st.one_of(st.integers(0, 60), st.integers(0, 2 * MAX_SPAN_DAYS))))
    return start, Rule(freq, interval, until=until, days=days)


def dateutil_occurrences(start: datetime, rule: Rule) -> list[datetime]:
    """What dateutil makes of the same rule, cut a little past the bounds the subset keeps."""
    until = None if rule.until is None else datetime.combine(rule.until, time(23, 59, 59))
    byweekday = [_WEEKDAYS[d] for d in rule.days] or None
    expanded = du.rrule(_FREQ[rule.freq], dtstart=start, interval=rule.interval, count=rule.count, until=until,
                        byweekday=byweekday, wkst=du.MO)  # fmt: skip
    last = start.date() + timedelta(days=MAX_SPAN_DAYS)
    out = []
    for moment in itertools.islice(expanded, MAX_OCCURRENCES + 1):
        out.append(moment)
        if moment.date() > last:
            break
    return out


@settings(max_examples=600, deadline=None)
@given(rules())
def test_the_same_occurrences_as_dateutil(case: tuple[datetime, Rule]) -> None:
    start, rule = case
    assert recurrence.parse(rule.text()) == rule
    theirs = dateutil_occurrences(start, rule)
    try:
        ours = recurrence.occurrences(start, rule)
    except RecordInvalid as exc:
        assert exc.field == "rrule"
        too_many = len(theirs) > MAX_OCCURRENCES
        too_far = theirs[-1].date() > start.date() + timedelta(days=MAX_SPAN_DAYS)
        assert too_many or too_far, (rule.text(), start, exc)
        return
    assert ours == theirs, rule.text()
    assert ours[0] == start  # the start is always the first occurrence


@settings(max_examples=300)
@given(st.text(alphabet="FREQ=DAILYWEKMONTHCUIVSB,;0123456789-:TZ", max_size=80) | st.text(max_size=40))
def test_any_text_is_a_rule_that_reads_back_or_refused_as_bad_rrule(text: str) -> None:
    try:
        rule = recurrence.parse(text)
    except RecordInvalid as exc:
        assert exc.reason == "bad_rrule" and exc.field == "rrule"
        return
    assert recurrence.parse(rule.text()) == rule


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("FREQ=YEARLY;COUNT=2", "FREQ must be one of DAILY, WEEKLY, MONTHLY"),
        ("FREQ=MONTHLY;COUNT=2;BYSETPOS=1", "BYSETPOS is outside"),
        ("FREQ=WEEKLY;UNTIL=20270301T000000Z", "UNTIL must be a date"),
        ("FREQ=MONTHLY;COUNT=3;BYDAY=MO", "BYDAY goes with FREQ=WEEKLY only"),
        ("FREQ=WEEKLY", "give exactly one of COUNT or UNTIL"),
        ("FREQ=WEEKLY;COUNT=2;UNTIL=20270301", "give exactly one of COUNT or UNTIL"),
        ("FREQ=WEEKLY;COUNT=201", "COUNT must be a whole number from 1 to 200"),
        ("FREQ=DAILY;COUNT=2;COUNT=3", "COUNT is given twice"),
        ("freq=weekly;count=2", "is not NAME=VALUE in capitals"),
        ("FREQ=WEEKLY;COUNT=2;BYDAY=MO,MO", "BYDAY lists distinct days"),
    ],
)
def test_rules_outside_the_subset_say_what_is_outside(text: str, says: str) -> None:
    with pytest.raises(RecordInvalid, match=says):
        recurrence.parse(text)


def test_a_start_off_its_days_and_a_repeat_too_far_are_refused() -> None:
    tuesday = datetime(2027, 2, 23, 18, 0)
    with pytest.raises(RecordInvalid, match="the start falls on TU, not one of the BYDAY days"):
        recurrence.occurrences(tuesday, recurrence.parse("FREQ=WEEKLY;COUNT=2;BYDAY=MO"))
    with pytest.raises(RecordInvalid, match="UNTIL is before the start"):
        recurrence.occurrences(tuesday, recurrence.parse("FREQ=DAILY;UNTIL=20270222"))
    # Every 99 months: the second occurrence is years away, never silently left out.
    with pytest.raises(RecordInvalid, match=f"past {MAX_SPAN_DAYS} days"):
        recurrence.occurrences(tuesday, recurrence.parse("FREQ=MONTHLY;INTERVAL=99;COUNT=2"))
    with pytest.raises(RecordInvalid, match=f"more than {MAX_OCCURRENCES} occurrences"):
        recurrence.occurrences(tuesday, recurrence.parse("FREQ=DAILY;UNTIL=20271231"))


def test_a_monthly_event_on_the_31st_skips_the_short_months() -> None:
    found = recurrence.occurrences(datetime(2027, 1, 31, 10, 0), recurrence.parse("FREQ=MONTHLY;COUNT=4"))
    assert [d.date() for d in found] == [date(2027, 1, 31), date(2027, 3, 31), date(2027, 5, 31), date(2027, 7, 31)]


def test_the_days_are_rfc_5545s() -> None:
    assert [d[:2].upper() for d in ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")] == [
        *DAYS
    ]
