"""Events in time: their occurrences in UTC, and the calendar feed any calendar app subscribes to.

An ``event`` record keeps its start and end as local wall times in an IANA
time zone, and its recurrence as an RRULE of ``protocol/recurrence.py``'s
subset. Here they meet the time zone database (``zoneinfo``): each
occurrence's local start becomes a UTC instant with that zone's offset *on
that day*, so a weekly 18:00 meeting stays at 18:00 across a daylight-saving
change (a local time the change skips is read with the offset before it, as
RFC 5545 says).

The feed (``/calendar.ics``, and ``/calendar/{what}.ics`` for one kind of
event) is made with ``icalendar``: one VEVENT per event with DTSTART and
DTEND in the event's own zone, its RRULE (UNTIL in UTC, as RFC 5545 wants
with a zoned start), a VTIMEZONE for each zone used, and a stable UID (the
event's address), so an app updates an event rather than adding a copy.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from protocol import recurrence
from protocol.records import Record

PRODUCT = "-//mutualaid//chapter calendar//EN"


@dataclass(frozen=True)
class Occurrence:
    local: datetime
    """The local start (naive, in the event's zone)."""
    start: datetime
    """The start in UTC."""
    end: datetime


NOT_PORTABLE = frozenset({"localtime", "posixrules", "Factory"})
"""Files of the time zone database that are no place's zone: the machine's own
zone (so each node would read it differently), the POSIX default, a placeholder."""


@functools.cache
def _portable() -> frozenset[str]:
    import zoneinfo  # noqa: PLC0415 - loaded when an event is: a node without events never reads the database

    names = zoneinfo.available_timezones() - NOT_PORTABLE
    return frozenset(n for n in names if not n.startswith(("right/", "posix/")))


def zone(name: str) -> tzinfo | None:
    """The zone of this portable IANA name (``America/Chicago``), or None when the
    time zone database lacks it or the name is no place's (``localtime``, the
    leap-second ``right/`` copies): a zone must read the same on every node."""
    import zoneinfo  # noqa: PLC0415 - see _portable

    if name not in _portable():
        return None
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):  # pragma: no cover - listed, then removed
        return None


def _zone_or_utc(name: object) -> tzinfo:
    return zone(str(name)) or UTC


def _utc(local: datetime, tz: tzinfo) -> datetime:
    return local.replace(tzinfo=tz).astimezone(UTC)


def occurrences(event: Record) -> list[Occurrence]:
    """Every occurrence of an event (an unknown zone is read as UTC)."""
    tz = _zone_or_utc(event.get("tz"))
    start = datetime.fromisoformat(str(event.get("start")))
    length = datetime.fromisoformat(str(event.get("end"))) - start
    rule = event.get("rrule")
    found = recurrence.occurrences(start, None if rule is None else recurrence.parse(str(rule)))
    return [Occurrence(local, _utc(local, tz), _utc(local + length, tz)) for local in found]


def last_end(start: str, end: str, tz: tzinfo, rule: str | None) -> int:
    """When an event's last occurrence ends, in Unix seconds (its record expires then)."""
    begins = datetime.fromisoformat(start)
    length = datetime.fromisoformat(end) - begins
    found = recurrence.occurrences(begins, None if rule is None else recurrence.parse(rule))
    return int(_utc(found[-1] + length, tz).timestamp())


def _rrule_for_ics(rule: str, tz: tzinfo) -> str:
    """The rule with UNTIL as the UTC instant that ends its local day."""
    parsed = recurrence.parse(rule)
    if parsed.until is None:
        return parsed.text()
    last = _utc(datetime.combine(parsed.until, time(23, 59, 59)), tz)
    return parsed.text().replace(f"UNTIL={parsed.until:%Y%m%d}", f"UNTIL={last:%Y%m%dT%H%M%SZ}")


_END = b"END:VCALENDAR\r\n"


class Feed:
    """Makes calendar feeds, keeping what it made: each event's VEVENT (a record
    version never changes, so its text is kept by the record's id) and each zone's
    VTIMEZONE (kept for the day: its span starts a year back from today).
    icalendar writes an event in about 0.3 ms, so 500 events are ~170 ms made
    whole; after one event changes, a feed costs that one event and a join.
    A feed of every event (``whole``) keeps only what it used; feeds of a part
    (one kind) add to it, up to ``KEEP_AT_MOST`` parts."""

    KEEP_AT_MOST = 10_000

    def __init__(self) -> None:
        self._events: dict[tuple[bytes, str], bytes] = {}
        self._zones: dict[tuple[str, date], bytes] = {}

    def make(self, events: Iterable[tuple[Record, str]], name: str, now: int, *, whole: bool = True) -> bytes:
        """The calendar of these events (each with its chapter's name), as ICS bytes;
        ``whole``: these are every event the node's feeds hold."""
        from icalendar import Calendar  # noqa: PLC0415 - loaded when a calendar is asked for

        calendar = Calendar()
        calendar.add("prodid", PRODUCT)
        calendar.add("version", "2.0")
        calendar.add("calscale", "GREGORIAN")
        calendar.add("x-wr-calname", name)
        head = bytes(calendar.to_ical())
        assert head.endswith(_END)
        today = datetime.fromtimestamp(now, UTC).date()
        events_kept: dict[tuple[bytes, str], bytes] = {}
        zones_kept: dict[tuple[str, date], bytes] = {}
        for record, chapter in events:
            key = (record.id, chapter)
            events_kept[key] = self._events.get(key) or _vevent(record, chapter)
            tz = str(record.get("tz")) if zone(str(record.get("tz"))) else "UTC"
            if tz != "UTC" and (tz, today) not in zones_kept:
                zones_kept[tz, today] = self._zones.get((tz, today)) or _vtimezone(tz, today)
        if whole or len(self._events) + len(events_kept) > self.KEEP_AT_MOST:
            self._events, self._zones = events_kept, zones_kept
        else:
            self._events |= events_kept
            self._zones |= zones_kept
        parts = [head[: -len(_END)], *(zones_kept[key] for key in sorted(zones_kept)), *events_kept.values(), _END]
        return b"".join(parts)


def feed(events: Iterable[tuple[Record, str]], name: str, now: int) -> bytes:
    """The calendar of these events, made whole (``Feed`` keeps the parts between feeds)."""
    return Feed().make(events, name, now)


def _vevent(record: Record, chapter: str) -> bytes:
    """One event's VEVENT. Its DTSTAMP is when this version was published: a feed
    without METHOD gives there the time the event last changed (RFC 5545 3.8.7.2)."""
    from icalendar import Event, vRecur  # noqa: PLC0415 - see Feed.make

    tz = _zone_or_utc(record.get("tz"))
    changed = datetime.fromtimestamp(record.created_at, UTC)
    item = Event()
    item.add("uid", f"{record.author.hex()}-{record.slot}@mutualaid")
    item.add("dtstamp", changed)
    item.add("dtstart", datetime.fromisoformat(str(record.get("start"))).replace(tzinfo=tz))
    item.add("dtend", datetime.fromisoformat(str(record.get("end"))).replace(tzinfo=tz))
    item.add("summary", str(record.get("title")))
    item.add("categories", [str(record.get("what"))])
    details = [str(record.get("details") or "")]
    if chapter:
        details.append(f"({chapter})")
    item.add("description", "\n".join(d for d in details if d))
    if record.get("venue"):
        item.add("location", str(record.get("venue")))
    if record.get("rrule"):
        item.add("rrule", vRecur.from_ical(_rrule_for_ics(str(record.get("rrule")), tz)))
    item.add("status", "CANCELLED" if record.get("state") == "cancelled" else "CONFIRMED")
    item.add("last-modified", changed)
    return bytes(item.to_ical())


def _vtimezone(name: str, today: date) -> bytes:
    """A zone's rules over the years its events can span: from a year back (a
    calendar app may still show past occurrences) to beyond an event's life,
    not 1970 to 2038."""
    from icalendar import Timezone  # noqa: PLC0415 - see Feed.make

    found = Timezone.from_tzid(name, first_date=today - timedelta(days=366), last_date=today + timedelta(days=800))
    return bytes(found.to_ical())


def window_end(now: int, days: int) -> int:
    return int((datetime.fromtimestamp(now, UTC) + timedelta(days=days)).timestamp())
