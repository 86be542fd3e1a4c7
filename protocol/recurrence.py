"""When an event happens again: the subset of RFC 5545 recurrence rules a chapter's events use.

An event starts at a local date and time in an IANA time zone; its ``rrule``
(optional) says how it repeats. The subset, written as RFC 5545 writes it:

- ``FREQ`` is ``DAILY``, ``WEEKLY`` or ``MONTHLY`` (required);
- ``INTERVAL`` from 1 to 99 (every 2 weeks: ``INTERVAL=2``; default 1);
- exactly one of ``COUNT`` (1 to ``MAX_OCCURRENCES``, the first one included)
  or ``UNTIL``, a date (``YYYYMMDD``): the last day an occurrence may start,
  in the event's own time zone;
- ``BYDAY`` (``WEEKLY`` only): days of the week such as ``MO,WE``; the
  event's start must fall on one of them, so the start is always the first
  occurrence (RFC 5545 leaves a start off the rule undefined);
- a ``MONTHLY`` rule repeats on the start's day of the month, and skips the
  months that lack it (the 31st), as RFC 5545 does.

Each part at most once, in capitals; anything else (``YEARLY``, ``BYSETPOS``,
``UNTIL`` with a time...) is refused with a reason naming what is outside
the subset. Occurrences are local wall-clock times: a weekly meeting at 18:00
stays at 18:00 across a daylight-saving change (the node turns each into UTC
with the time zone, ``node/chapter/calendar.py``). At most
``MAX_OCCURRENCES`` occurrences, all within ``MAX_SPAN_DAYS`` of the start.

Pure: dates in, dates out; no clock, no time zone database.
"""

from __future__ import annotations

import calendar
import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from protocol.errors import RecordInvalid

FREQUENCIES = ("DAILY", "WEEKLY", "MONTHLY")
DAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
MAX_OCCURRENCES = 200
MAX_INTERVAL = 99
"""Every 99 days, weeks or months at most (``INTERVAL``)."""
MAX_SPAN_DAYS = 400
"""An event's occurrences all start within this many days of its first."""
MAX_RULE_CHARS = 120
RULE_PATTERN = "^[A-Z]+=[A-Z0-9,]+(;[A-Z]+=[A-Z0-9,]+){0,4}$"
"""The shape of a rule (NAME=VALUE parts); ``parse`` says which rules of that shape are in the subset."""
_PART = re.compile(r"[A-Z]+=[A-Z0-9,]+\Z")


def _refuse(message: str) -> RecordInvalid:
    return RecordInvalid("bad_rrule", f"rrule: {message}", field="rrule")


@dataclass(frozen=True)
class Rule:
    freq: str
    interval: int = 1
    count: int | None = None
    until: date | None = None
    days: tuple[int, ...] = ()
    """Weekdays (Monday 0) of a weekly rule, ascending; empty: the start's."""

    def text(self) -> str:
        """The rule as RFC 5545 writes it (canonical: parts in a fixed order)."""
        parts = [f"FREQ={self.freq}"]
        if self.interval != 1:
            parts.append(f"INTERVAL={self.interval}")
        if self.count is not None:
            parts.append(f"COUNT={self.count}")
        if self.until is not None:
            parts.append(f"UNTIL={self.until:%Y%m%d}")
        if self.days:
            parts.append("BYDAY=" + ",".join(DAYS[d] for d in self.days))
        return ";".join(parts)


def parse(text: str) -> Rule:
    """A rule of the subset, or ``RecordInvalid`` (reason ``bad_rrule``) saying what is outside it."""
    if not isinstance(text, str) or not 0 < len(text) <= MAX_RULE_CHARS:
        raise _refuse(f"a rule of 1 to {MAX_RULE_CHARS} characters such as FREQ=WEEKLY;COUNT=6")
    parts: dict[str, str] = {}
    for part in text.split(";"):
        if not _PART.match(part):
            raise _refuse(f"{part[:30]!r} is not NAME=VALUE in capitals")
        name, _, value = part.partition("=")
        if name in parts:
            raise _refuse(f"{name} is given twice")
        parts[name] = value
    unknown = sorted(set(parts) - {"FREQ", "INTERVAL", "COUNT", "UNTIL", "BYDAY"})
    if unknown:
        raise _refuse(f"{unknown[0]} is outside the rules a chapter's events use (FREQ, INTERVAL, COUNT, UNTIL, BYDAY)")
    freq = parts.get("FREQ")
    if freq not in FREQUENCIES:
        raise _refuse(f"FREQ must be one of {', '.join(FREQUENCIES)}")
    if ("COUNT" in parts) == ("UNTIL" in parts):
        raise _refuse("give exactly one of COUNT or UNTIL: a chapter's events end")
    return Rule(
        freq,
        interval=_number(parts.get("INTERVAL", "1"), "INTERVAL", 1, MAX_INTERVAL),
        count=None if "COUNT" not in parts else _number(parts["COUNT"], "COUNT", 1, MAX_OCCURRENCES),
        until=None if "UNTIL" not in parts else _until(parts["UNTIL"]),
        days=_days(parts["BYDAY"], freq) if "BYDAY" in parts else (),
    )


def _number(value: str, name: str, low: int, high: int) -> int:
    if not value.isdigit() or not low <= int(value) <= high:
        raise _refuse(f"{name} must be a whole number from {low} to {high}")
    return int(value)


def _until(value: str) -> date:
    try:
        if len(value) != 8:
            raise ValueError
        return datetime.strptime(value, "%Y%m%d").date()
    except ValueError:
        raise _refuse("UNTIL must be a date, YYYYMMDD: the last day an occurrence may start") from None


def _days(value: str, freq: str) -> tuple[int, ...]:
    if freq != "WEEKLY":
        raise _refuse("BYDAY goes with FREQ=WEEKLY only")
    names = value.split(",")
    if any(n not in DAYS for n in names) or len(set(names)) != len(names):
        raise _refuse(f"BYDAY lists distinct days among {','.join(DAYS)}")
    return tuple(sorted(DAYS.index(n) for n in names))


def occurrences(start: datetime, rule: Rule | None) -> list[datetime]:
    """Every occurrence's local start, the first being ``start`` (naive, local
    wall time). Raises ``RecordInvalid`` when the rule does not fit the start
    or makes too many or too distant occurrences."""
    if rule is None:
        return [start]
    if rule.days and start.weekday() not in rule.days:
        raise _refuse(f"the start falls on {DAYS[start.weekday()]}, not one of the BYDAY days")
    if rule.until is not None and rule.until < start.date():
        raise _refuse("UNTIL is before the start")
    found: list[datetime] = []
    last = start.date() + timedelta(days=MAX_SPAN_DAYS)
    for moment in _candidates(start, rule):
        if rule.until is not None and moment.date() > rule.until:
            break
        if moment.date() > last:
            raise _refuse(f"its occurrences reach past {MAX_SPAN_DAYS} days after the start")
        found.append(moment)
        if rule.count is not None and len(found) == rule.count:
            break
        if len(found) > MAX_OCCURRENCES:
            raise _refuse(f"more than {MAX_OCCURRENCES} occurrences")
    return found


def _candidates(start: datetime, rule: Rule) -> Iterator[datetime]:
    """The rule's candidate starts in order, from ``start`` (the caller stops them)."""
    step = rule.interval
    if rule.freq == "DAILY":
        for k in itertools.count():
            yield start + timedelta(days=k * step)
    elif rule.freq == "WEEKLY":
        monday = start - timedelta(days=start.weekday())
        for week in itertools.count():
            for day in rule.days or (start.weekday(),):
                moment = monday + timedelta(days=7 * week * step + day)
                if moment >= start:
                    yield moment
    else:
        for k in itertools.count():
            total = start.month - 1 + k * step
            year, month = start.year + total // 12, total % 12 + 1
            if year > start.year + 2:
                # Past MAX_SPAN_DAYS whatever the rule: a stand-in no later than the
                # next real occurrence, so the caller stops at UNTIL or refuses the
                # span (returning here would drop a COUNT's occurrences silently).
                yield start.replace(year=year, month=month, day=1)
                return
            if start.day <= calendar.monthrange(year, month)[1]:
                yield start.replace(year=year, month=month)
