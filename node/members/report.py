"""The community needs report: what the members need and offer, for the members.

Built from every live need and offer the node holds, its own and its peers',
first seen open in the last ``weeks`` weeks (weeks start on Monday, UTC):
totals, by category, by coarse area (3 geohash characters, ~150 km), by the
week a post was first seen open; how many needs were fulfilled and the median
time from first seen open to fulfilled; and the categories where needs
outrun offers.

Nobody should be singled out: every published count is rounded to the
nearest multiple of 5, and a count from 1 to 4 is given as ``null`` in JSON
and ``<5`` in CSV ("fewer than 5"); 0 is 0 (an empty week reads as empty, not
as "fewer than 5": that says a hidden count is 1 to 4 rather than 0 to 4,
which rounding still keeps from being pinned down). Rounding is what keeps a small
count hidden from subtraction: with exact counts above 5, a total minus the
rows shown (or the 2-week report minus the 1-week one) would give the hidden
small count exactly; rounded, the difference is off by up to a few posts
either way. Rows are ordered by their rounded counts, then by name. This
blurs small counts; it does not make every inference impossible (a total
crossing a rounding boundary can still narrow a hidden row), and the posts
themselves are public records anyway: what the report must not add is a way
to pick out one person's need. A median over fewer than 5 needs is not
given, and a category or area is listed as outrun only when its needs are 5
or more (which says needs exceed offers there, never by how many). Categories outside the chapter's
list (node/chapter/categories.py) are counted under ``other``: a peer's
made-up category would otherwise be a row of its own. The weeks before the
first week holding a post are left out (a new node does not show months of
empty weeks), unless a live post is older than the period.
``fulfilled`` counts needs marked fulfilled. The fulfilment time of a peer's
need is measured from the first version this node saw open (a lower bound
when an edit reached it first); a need first seen already fulfilled has no
known time and is left out of the median (but counted as fulfilled).
"""

from __future__ import annotations

import asyncio
import csv
import io
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from node.chapter.categories import Categories
from node.chapter.state import CHAPTER
from node.core.clock import now
from node.core.params import Param, read_params
from node.core.state import COMMUNITY
from node.members.render import iso
from node.members.terms import DEFAULT_WEEKS, ROUNDED_TO, SUPPRESS_BELOW
from node.members.terms import MAX_WEEKS as MAX_WEEKS  # noqa: PLC0414 - node/openapi.py reads it here
from protocol.figures import Figure, shown
from storage.community import CommunityStore, ReportRow
from storage.weeks import week_of, week_start

routes = web.RouteTableDef()
_OPEN = ("open", "claimed")
PARAMS = (
    Param(
        "weeks",
        {"type": "integer", "minimum": 1, "maximum": MAX_WEEKS},
        f"how many weeks back (default: the chapter's report_weeks setting, at first {DEFAULT_WEEKS})",
    ),
)


def week_label(week: int) -> str:
    year, number, _ = datetime.fromtimestamp(week_start(week), UTC).isocalendar()
    return f"{year}-W{number:02d}"


def _median_days(hours: list[tuple[int, int]]) -> float | None:
    total = sum(n for _, n in hours)
    if total < SUPPRESS_BELOW:
        return None
    middle = (total - 1) / 2
    seen = 0
    values: list[int] = []
    for hour, n in sorted(hours):
        # The two middle values (one when the total is odd), read off the histogram.
        for position in (int(middle), int(middle + 0.5)):
            if seen <= position < seen + n:
                values.append(hour)
        seen += n
    return round(sum(values) / len(values) / 24, 1)


def build_report(
    rows: list[ReportRow],
    hours: list[tuple[int, int]],
    weeks: int,
    now: int,
    categories: Categories | None = None,
    *,
    older_posts: bool = True,
) -> dict[str, Any]:
    """The report from grouped rows; pure, so a test can feed it exact counts.
    ``older_posts``: whether a live post is older than the period (if not, the
    weeks before the first one holding a post are left out)."""
    fold = (categories or Categories()).fold
    needs, offers, fulfilled, open_needs = Counter[str](), Counter[str](), Counter[str](), 0
    by: dict[str, tuple[Counter[str], Counter[str], Counter[str]]] = {
        "category": (Counter(), Counter(), Counter()),
        "area": (Counter(), Counter(), Counter()),
        "week": (Counter(), Counter(), Counter()),
    }
    labels: dict[int, str] = {}
    for row in rows:
        label = labels.get(row.week) or labels.setdefault(row.week, week_label(row.week))
        keys = {"category": fold(row.category), "area": row.area, "week": label}
        for name, key in keys.items():
            n, o, f = by[name]
            if row.kind == "need":
                n[key] += row.count
                if row.status == "fulfilled":
                    f[key] += row.count
            else:
                o[key] += row.count
        if row.kind == "need":
            needs["all"] += row.count
            fulfilled["all"] += row.count if row.status == "fulfilled" else 0
            open_needs += row.count if row.status in _OPEN else 0
        else:
            offers["all"] += row.count

    def table(name: str, keys: list[str]) -> list[dict[str, Any]]:
        n, o, f = by[name]
        return [{name: k, "needs": shown(n[k]), "offers": shown(o[k]), "fulfilled": shown(f[k])} for k in keys]

    def published(count: int) -> int:
        return shown(count) or 0

    # Rows are ordered by their published (rounded) counts, then by name: an
    # order by exact counts would rank rows that all read "fewer than 5".
    def busiest(name: str) -> list[str]:
        n, o, _ = by[name]
        return sorted(set(n) | set(o), key=lambda k: (-(published(n[k]) + published(o[k])), k))

    def outrun(name: str) -> list[dict[str, Any]]:
        n, o, _ = by[name]
        return [
            {name: k, "needs": shown(n[k]), "offers": shown(o[k])}
            for k in sorted(n, key=lambda k: (-(published(n[k]) - published(o[k])), k))
            if n[k] > o[k] and n[k] >= SUPPRESS_BELOW
        ]

    first_week = week_of(now) - weeks + 1
    if not older_posts:
        first_week = max(first_week, min((row.week for row in rows), default=week_of(now)))
    return {
        "generated_at": iso(now),
        "weeks": weeks,
        "suppressed_below": SUPPRESS_BELOW,
        "rounded_to": ROUNDED_TO,
        "totals": {
            "needs": shown(needs["all"]),
            "offers": shown(offers["all"]),
            "fulfilled_needs": shown(fulfilled["all"]),
            "open_needs": shown(open_needs),
        },
        "by_category": table("category", busiest("category")),
        "by_area": table("area", busiest("area")),
        "by_week": table("week", [week_label(w) for w in range(first_week, week_of(now) + 1)]),
        "fulfilment": {"fulfilled": shown(fulfilled["all"]), "median_days": _median_days(hours)},
        "outrun": outrun("category"),
        "outrun_by_area": outrun("area"),
    }


CACHE_S = 60.0
"""A report is made at most once a minute per ``weeks`` value: a loop of
requests reads the same answer instead of loading the node."""


@dataclass
class _Cached:
    made_at: float
    report: dict[str, Any]
    csv: str | None = None


class ReportCache:
    """The latest report for each ``weeks`` value (so at most ``MAX_WEEKS``
    entries), with its CSV once asked for, kept ``ttl`` seconds. One lock:
    requests arriving together while it is cold wait for one computation."""

    def __init__(self, ttl: float = CACHE_S, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self._clock = clock
        self._entries: dict[int, _Cached] = {}
        self._lock = asyncio.Lock()

    async def get(self, weeks: int, make: Callable[[], Awaitable[dict[str, Any]]]) -> _Cached:
        async with self._lock:
            entry = self._entries.get(weeks)
            if entry is None or self._clock() - entry.made_at >= self.ttl:
                entry = _Cached(self._clock(), await make())
                self._entries[weeks] = entry
            return entry

    def clear(self) -> None:
        self._entries.clear()


REPORT_CACHE = web.AppKey("report_cache", ReportCache)


async def generate(request: web.Request) -> _Cached:
    return await report_for(request.app, read_params(request.query, PARAMS)["weeks"])


async def report_for(app: web.Application, weeks: int | None) -> _Cached:
    """The report over ``weeks`` (None: the chapter's period), as the API serves it (cached)."""
    state = app[CHAPTER].state
    period = weeks or state.int_setting("report_weeks")
    community, categories = app[COMMUNITY], state.categories
    return await app[REPORT_CACHE].get(period, lambda: compute(community, period, now(), categories))


def rows_of(report: dict[str, Any]) -> dict[tuple[str, str], Figure]:
    """Every row a finding may cite from a report, by (section, key), with its published counts."""
    totals = report["totals"]
    out = {("totals", "all"): Figure("totals", "all", totals["needs"], totals["offers"], totals["fulfilled_needs"])}
    for section, key in (("by_category", "category"), ("by_area", "area"), ("by_week", "week")):
        for row in report[section]:
            out[(section, row[key])] = Figure(section, row[key], row["needs"], row["offers"], row["fulfilled"])
    return out


async def compute(
    community: CommunityStore, weeks: int, now: int, categories: Categories | None = None
) -> dict[str, Any]:
    """The report over the ``weeks`` weeks up to ``now`` (the benchmark calls this too)."""
    since = week_start(week_of(now) - weeks + 1)
    rows = await community.report_rows(since, now)
    hours = await community.fulfilment_hours(since, now)
    older = await community.has_posts_before(since, now)
    return build_report(rows, hours, weeks, now, categories, older_posts=older)


def to_csv(report: dict[str, Any]) -> str:
    """One table: section, key, needs, offers, fulfilled; small counts as "<5",
    the others rounded to 5 as in the JSON."""

    def cell(value: Any) -> str:
        return "<5" if value is None else str(value)

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["section", "key", "needs", "offers", "fulfilled"])
    totals = report["totals"]
    writer.writerow(["total", "all", cell(totals["needs"]), cell(totals["offers"]), cell(totals["fulfilled_needs"])])
    writer.writerow(["total", "open", cell(totals["open_needs"]), "", ""])
    for section, name in (("category", "category"), ("area", "area"), ("week", "week")):
        for row in report[f"by_{section}"]:
            writer.writerow([section, row[name], cell(row["needs"]), cell(row["offers"]), cell(row["fulfilled"])])
    median = report["fulfilment"]["median_days"]
    writer.writerow(["fulfilment", "median_days", "", "", "" if median is None else median])
    for row in report["outrun"]:
        writer.writerow(["outrun", row["category"], cell(row["needs"]), cell(row["offers"]), ""])
    for row in report["outrun_by_area"]:
        writer.writerow(["outrun_area", row["area"], cell(row["needs"]), cell(row["offers"]), ""])
    return out.getvalue()


@routes.get("/api/v1/report")
async def report_json(request: web.Request) -> web.Response:
    return web.json_response((await generate(request)).report)


@routes.get("/api/v1/report.csv")
async def report_csv(request: web.Request) -> web.Response:
    cached = await generate(request)
    if cached.csv is None:
        cached.csv = to_csv(cached.report)
    return web.Response(
        text=cached.csv,
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": 'attachment; filename="community-report.csv"'},
    )
