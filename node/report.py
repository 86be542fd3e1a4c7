"""The community needs report: what the members need and offer, for the members.

Built from every live need and offer the node holds, its own and its peers',
first seen open in the last ``weeks`` weeks (weeks start on Monday, UTC):
totals, by category, by coarse area (3 geohash characters, ~150 km), by the
week a post was first seen open; how many needs were fulfilled and the median
time from first seen open to fulfilled; and the categories where needs
outrun offers.

Nobody can be singled out: every count under 5 is given as ``null`` in JSON
and ``<5`` in CSV ("fewer than 5"), a median over fewer than 5 needs is not
given, and a category is listed as outrun only when its needs are 5 or more.
``fulfilled`` counts needs marked fulfilled. The fulfilment time of a peer's
need is measured from the first version this node saw open (a lower bound
when an edit reached it first); a need first seen already fulfilled has no
known time and is left out of the median (but counted as fulfilled).
"""

from __future__ import annotations

import csv
import io
import re
import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from node.errors import ApiError
from node.render import iso
from node.state import COMMUNITY
from storage.community import CommunityStore, ReportRow, week_of, week_start

routes = web.RouteTableDef()
SUPPRESS_BELOW = 5
DEFAULT_WEEKS = 12
MAX_WEEKS = 52
_OPEN = ("open", "claimed")


def shown(count: int) -> int | None:
    """A count as published: None ("fewer than 5") under the threshold."""
    return count if count >= SUPPRESS_BELOW else None


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


def build_report(rows: list[ReportRow], hours: list[tuple[int, int]], weeks: int, now: int) -> dict[str, Any]:
    """The report from grouped rows; pure, so a test can feed it exact counts."""
    needs, offers, fulfilled, open_needs = Counter[str](), Counter[str](), Counter[str](), 0
    by: dict[str, tuple[Counter[str], Counter[str], Counter[str]]] = {
        "category": (Counter(), Counter(), Counter()),
        "area": (Counter(), Counter(), Counter()),
        "week": (Counter(), Counter(), Counter()),
    }
    labels: dict[int, str] = {}
    for row in rows:
        label = labels.get(row.week) or labels.setdefault(row.week, week_label(row.week))
        keys = {"category": row.category, "area": row.area, "week": label}
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

    def busiest(name: str) -> list[str]:
        n, o, _ = by[name]
        return sorted(set(n) | set(o), key=lambda k: (-(n[k] + o[k]), k))

    first_week = week_of(now) - weeks + 1
    category_needs, category_offers, _ = by["category"]
    outrun = [
        {"category": k, "needs": shown(category_needs[k]), "offers": shown(category_offers[k])}
        for k in sorted(category_needs, key=lambda k: (-(category_needs[k] - category_offers[k]), k))
        if category_needs[k] > category_offers[k] and category_needs[k] >= SUPPRESS_BELOW
    ]
    return {
        "generated_at": iso(now),
        "weeks": weeks,
        "suppressed_below": SUPPRESS_BELOW,
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
        "outrun": outrun,
    }


async def generate(request: web.Request) -> dict[str, Any]:
    text = request.query.get("weeks", str(DEFAULT_WEEKS))
    if not re.fullmatch(r"[0-9]{1,2}", text) or not 1 <= int(text) <= MAX_WEEKS:
        raise ApiError(400, "bad_query", f"weeks must be a whole number from 1 to {MAX_WEEKS}")
    unknown = sorted(set(request.query) - {"weeks"})
    if unknown:
        raise ApiError(400, "bad_query", f"unknown parameter {unknown[0]!r}; allowed: weeks")
    return await compute(request.app[COMMUNITY], int(text), int(time.time()))


async def compute(community: CommunityStore, weeks: int, now: int) -> dict[str, Any]:
    """The report over the ``weeks`` weeks up to ``now`` (the benchmark calls this too)."""
    since = week_start(week_of(now) - weeks + 1)
    rows = await community.report_rows(since, now)
    hours = await community.fulfilment_hours(since, now)
    return build_report(rows, hours, weeks, now)


def to_csv(report: dict[str, Any]) -> str:
    """One table: section, key, needs, offers, fulfilled; small counts as "<5"."""

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
    return out.getvalue()


@routes.get("/api/v1/report")
async def report_json(request: web.Request) -> web.Response:
    return web.json_response(await generate(request))


@routes.get("/api/v1/report.csv")
async def report_csv(request: web.Request) -> web.Response:
    report = await generate(request)
    return web.Response(
        text=to_csv(report),
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": 'attachment; filename="community-report.csv"'},
    )
