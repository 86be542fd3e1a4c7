"""The community report's blur, and the figures a finding may cite: never finer than the report.

Every count the report publishes is rounded to the nearest multiple of
``ROUNDED_TO``; a count from 1 to ``SUPPRESS_BELOW - 1`` is published as
"fewer than 5" (nil on the wire, null in JSON); 0 is 0. A ``finding`` record
cites report rows as they were published: each count a multiple of
``ROUNDED_TO`` or nil, so any node can tell, from the record alone, that a
finding says nothing finer than a report would (``fieldtable.Figures``). The
chapter's own node also checks that each cited row is one its report showed.

Pure: no I/O, no clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from protocol import fields as f

ROUNDED_TO = 5
"""Every published count is rounded to the nearest multiple of this..."""
SUPPRESS_BELOW = 5
"""...and one from 1 to this less one is published as "fewer than 5"."""
SECTIONS = ("totals", "by_category", "by_area", "by_week")
"""The report's tables a finding may cite (``totals`` has the one key ``all``)."""
MAX_FIGURES = 24
MAX_KEY_CHARS = 40

Count = int | None
"""A published count: a multiple of ROUNDED_TO, or None for 1 to 4."""


def shown(count: int) -> Count:
    """A count as published: 0 is 0, 1 to 4 is None ("fewer than 5"), anything
    else is rounded to the nearest multiple of 5 (so 7 is 5, 8 is 10)."""
    if count == 0:
        return 0
    if count < SUPPRESS_BELOW:
        return None
    return (count + ROUNDED_TO // 2) // ROUNDED_TO * ROUNDED_TO


@dataclass(frozen=True)
class Figure:
    """One cited report row: its table, its key (a category, an area, a week
    such as ``2026-W48``, or ``all``), and its published counts."""

    section: str
    key: str
    needs: Count
    offers: Count
    fulfilled: Count

    def as_wire(self) -> list[Any]:
        return [self.section, self.key, self.needs, self.offers, self.fulfilled]


def _count(name: str, value: Any) -> Count:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0 or value % ROUNDED_TO:
        raise f.invalid(name, "finer_than_report", f"a cited count is a multiple of {ROUNDED_TO}, or nil for 1 to 4")
    return value


def figure(name: str, value: Any) -> Figure:
    """A figure from its wire form ``[section, key, needs, offers, fulfilled]``."""
    if not isinstance(value, list) or len(value) != 5:
        raise f.invalid(name, "bad_figure", "a figure is [section, key, needs, offers, fulfilled]")
    section, key, needs, offers, fulfilled = value
    f.choice(name, section, SECTIONS)
    f.text(name, key, max_chars=MAX_KEY_CHARS)
    return Figure(section, key, _count(name, needs), _count(name, offers), _count(name, fulfilled))
