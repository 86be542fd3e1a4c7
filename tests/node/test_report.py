# The community needs report: exact numbers from hand-made groups (the pure part),
# then a real node holding its own posts and a peer's (pushed over the signed
# peer API), read as JSON and CSV: counts under 5 never appear, every count is
# rounded to 5 so subtraction cannot recover a small one, fulfilment time runs
# from the first version seen open to the fulfilled one, and a report is made
# at most once a minute per window.

from __future__ import annotations

import csv
import io
import json
import time

import aiohttp
import pytest

from crypto import NodeIdentity
from node.members.report import REPORT_CACHE, ReportCache, build_report, week_label
from node.peering.peer_client import PeerClient
from protocol.figures import shown
from protocol.records import DAY, Record, build_record, new_version
from storage.community import ReportRow
from storage.weeks import week_of, week_start
from tests.node._support import assert_error_shape, need, offer
from tests.node.conftest import RunningNode

NOW = 1_795_000_000  # a Wednesday


def test_weeks_start_on_monday_and_carry_iso_labels() -> None:
    week = week_of(NOW)
    start = week_start(week)
    assert start <= NOW < start + 7 * DAY
    assert time.gmtime(start).tm_wday == 0 and time.gmtime(start)[3:6] == (0, 0, 0)
    assert week_label(week) == time.strftime("%G-W%V", time.gmtime(NOW))


@pytest.mark.parametrize(
    ("count", "published"),
    [(0, 0), (1, None), (2, None), (4, None), (5, 5), (7, 5), (8, 10), (12, 10), (13, 15), (1002, 1000)],
)
def test_counts_are_rounded_to_five_and_small_ones_hidden(count: int, published: int | None) -> None:
    assert shown(count) == published


def test_counts_under_five_are_suppressed_everywhere() -> None:
    week = week_of(NOW)
    rows = [
        ReportRow("need", "open", "food", "u4p", week, 4),
        ReportRow("need", "fulfilled", "food", "u4p", week, 1),
        ReportRow("offer", "open", "food", "u4p", week, 5),
        ReportRow("need", "open", "housing", "ezs", week - 1, 8),
        ReportRow("offer", "claimed", "housing", "ezs", week - 1, 2),
    ]
    report = build_report(rows, [(24, 1)], 4, NOW)
    assert report["suppressed_below"] == 5 and report["rounded_to"] == 5
    # 13 needs, 7 offers, 1 fulfilled, 12 open.
    assert report["totals"] == {"needs": 15, "offers": 5, "fulfilled_needs": None, "open_needs": 10}
    assert report["by_category"] == [  # 10 posts each: by name
        {"category": "food", "needs": 5, "offers": 5, "fulfilled": None},
        {"category": "housing", "needs": 10, "offers": None, "fulfilled": 0},
    ]
    assert report["by_area"] == [
        {"area": "ezs", "needs": 10, "offers": None, "fulfilled": 0},
        {"area": "u4p", "needs": 5, "offers": 5, "fulfilled": None},
    ]
    assert [w["week"] for w in report["by_week"]] == [week_label(w) for w in range(week - 3, week + 1)]
    assert report["by_week"][-2:] == [
        {"week": week_label(week - 1), "needs": 10, "offers": None, "fulfilled": 0},
        {"week": week_label(week), "needs": 5, "offers": 5, "fulfilled": None},
    ]
    assert report["by_week"][0] == {"week": week_label(week - 3), "needs": 0, "offers": 0, "fulfilled": 0}
    # housing: 8 needs against 2 offers; food is even, so not outrun.
    assert report["outrun"] == [{"category": "housing", "needs": 10, "offers": None}]
    assert report["outrun_by_area"] == [{"area": "ezs", "needs": 10, "offers": None}]
    assert report["fulfilment"] == {"fulfilled": None, "median_days": None}  # one known time: not shown


def test_outrun_lists_only_categories_with_five_needs_or_more() -> None:
    week = week_of(NOW)
    rows = [ReportRow("need", "open", "tools", "u4p", week, 4), ReportRow("need", "open", "health", "ezs", week, 9)]
    report = build_report(rows, [], 2, NOW)
    assert [r["category"] for r in report["outrun"]] == ["health"]
    assert [r["area"] for r in report["outrun_by_area"]] == ["ezs"]


def test_categories_outside_the_page_list_are_counted_as_other() -> None:
    week = week_of(NOW)
    rows = [
        ReportRow("need", "open", "rides", "u4p", week, 3),
        ReportRow("need", "open", "<script>", "u4p", week, 2),
        ReportRow("need", "open", "other", "u4p", week, 1),
        ReportRow("offer", "open", "food", "u4p", week, 5),
    ]
    report = build_report(rows, [], 1, NOW)
    assert report["by_category"] == [
        # 6 needs (shown 5) and 5 offers read alike, so they are ordered by name.
        {"category": "food", "needs": 0, "offers": 5, "fulfilled": 0},
        {"category": "other", "needs": 5, "offers": 0, "fulfilled": 0},
    ]
    assert [r["category"] for r in report["outrun"]] == ["other"]


def _published(rows: list[ReportRow], weeks: int) -> dict[str, object]:
    report = build_report(rows, [], weeks, NOW)
    del report["generated_at"]
    return report


def _known(value: int | None) -> int:
    return 0 if value is None else value


def test_subtraction_cannot_recover_a_small_count() -> None:
    """Two worlds that differ only in a small hidden count (1 or 2 housing needs,
    posted last week) publish the same numbers: total minus the rows shown, and
    the 2-week report minus the 1-week one, come out the same in both, so
    neither tells which world it came from. With exact counts above 5 (the
    first version of the report), total 11 minus food 10 gave housing = 1."""
    week = week_of(NOW)
    food = ReportRow("need", "open", "food", "u4p", week, 10)
    worlds = [[food, ReportRow("need", "open", "housing", "ezs", week - 1, hidden)] for hidden in (1, 2)]
    seen = []
    for rows in worlds:
        two, one = _published(rows, 2), _published(rows, 1)
        totals, totals_one = two["totals"], one["totals"]
        assert isinstance(totals, dict) and isinstance(totals_one, dict)
        by_category = two["by_category"]
        assert isinstance(by_category, list)
        housing = {r["category"]: r for r in by_category}["housing"]
        assert housing["needs"] is None  # hidden in the row itself
        rest = totals["needs"] - sum(_known(r["needs"]) for r in by_category)
        last_week = totals["needs"] - totals_one["needs"]
        seen.append((rest, last_week, json.dumps(two, sort_keys=True), json.dumps(one, sort_keys=True)))
    assert seen[0] == seen[1]
    # And neither difference is the true hidden count of either world.
    assert {seen[0][0], seen[0][1]}.isdisjoint({1, 2})


@pytest.mark.parametrize(
    ("hours", "median"),
    [
        ([(24, 5)], 1.0),
        ([(0, 2), (48, 1), (72, 2)], 2.0),
        ([(12, 3), (36, 3)], 1.0),  # even count: between the two middle values
        ([(1, 1), (2, 1), (3, 1), (4, 1)], None),
    ],
)
def test_median_fulfilment_days(hours: list[tuple[int, int]], median: float | None) -> None:
    assert build_report([], hours, 1, NOW)["fulfilment"]["median_days"] == median


# --- a real node --------------------------------------------------------------------------------------


def peer_need(author: NodeIdentity, slot: str, created: int) -> Record:
    body = {
        "kind": "need",
        "slot": slot,
        "created_at": created,
        "expires_at": created + 20 * DAY,
        "status": "open",
        "title": "Room for a week",
        "category": "housing",
        "area": "u4pru",
    }
    return build_record(author, body)


async def test_the_report_counts_own_and_peer_records(node: RunningNode) -> None:
    for _ in range(6):
        await node.post(need(category="food", area="ezs42"))
    for _ in range(3):
        await node.post(offer(category="food", area="ezs42"))
    now = int(time.time())
    peer = NodeIdentity.generate()
    opened = [peer_need(peer, f"p{i}", now - 2 * DAY) for i in range(5)]
    fulfilled = [new_version(peer, r, now, {"status": "fulfilled"}) for r in opened]
    async with aiohttp.ClientSession() as session:
        client = PeerClient(session, peer, node.url)
        assert await client.push([r.raw for r in opened]) == ["accepted"] * 5
        assert await client.push([r.raw for r in fulfilled]) == ["accepted"] * 5

    status, report = await node.call("GET", "/api/v1/report")
    assert status == 200, report
    assert report["weeks"] == 13  # the default period: the API, the CLI and the page agree
    # Held: 11 needs (6 food open, 5 housing fulfilled), 3 food offers; published rounded to 5.
    assert report["totals"] == {"needs": 10, "offers": None, "fulfilled_needs": 5, "open_needs": 5}
    assert report["by_category"] == [
        {"category": "food", "needs": 5, "offers": None, "fulfilled": 0},
        {"category": "housing", "needs": 5, "offers": 0, "fulfilled": 5},
    ]
    assert report["by_area"] == [
        {"area": "ezs", "needs": 5, "offers": None, "fulfilled": 0},
        {"area": "u4p", "needs": 5, "offers": 0, "fulfilled": 5},
    ]
    assert report["fulfilment"] == {"fulfilled": 5, "median_days": 2.0}
    assert report["outrun"] == [  # both read 5 against fewer than 5 (or 0): ordered by name
        {"category": "food", "needs": 5, "offers": None},
        {"category": "housing", "needs": 5, "offers": 0},
    ]
    assert report["outrun_by_area"] == [
        {"area": "ezs", "needs": 5, "offers": None},
        {"area": "u4p", "needs": 5, "offers": 0},
    ]
    # A new node: the weeks before its first post are left out (the peer's needs are two days old).
    first = time.strftime("%G-W%V", time.gmtime(now - 2 * DAY))
    assert report["by_week"][0]["week"] == first
    assert report["by_week"][-1]["week"] == time.strftime("%G-W%V", time.gmtime())

    status, text = await node.call("GET", "/api/v1/report.csv?weeks=12")
    assert status == 200
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["section", "key", "needs", "offers", "fulfilled"]
    assert ["total", "all", "10", "<5", "5"] in rows
    assert ["category", "food", "5", "<5", "0"] in rows
    assert ["outrun_area", "ezs", "5", "<5", ""] in rows
    assert ["fulfilment", "median_days", "", "", "2.0"] in rows
    for row in rows[1:]:  # no small count anywhere, only "<5", and every count a multiple of 5
        for value in row[2:]:
            assert value in ("", "<5") or row[0] == "fulfilment" or int(value) % 5 == 0, row


async def test_report_headers_and_bad_parameters(node: RunningNode) -> None:
    async with node.session.get("/api/v1/report.csv") as response:
        assert response.status == 200
        assert response.content_type == "text/csv"
        assert "attachment" in response.headers["Content-Disposition"]
    status, report = await node.call("GET", "/api/v1/report?weeks=1")
    assert status == 200 and len(report["by_week"]) == 1
    assert report["totals"] == {"needs": 0, "offers": 0, "fulfilled_needs": 0, "open_needs": 0}  # 0 is 0
    status, report = await node.call("GET", "/api/v1/report?weeks=13")
    assert status == 200 and len(report["by_week"]) == 1  # no post yet: only this week, not 13 empty ones
    for query in ("weeks=0", "weeks=53", "weeks=520", "weeks=x", "weeks=", "week=4", "weeks=1e1"):
        for path in ("/api/v1/report", "/api/v1/report.csv"):
            status, body = await node.call("GET", f"{path}?{query}")
            assert (status, assert_error_shape(status, body)[0]) == (400, "bad_query"), (path, query)


async def test_a_report_is_made_at_most_once_a_minute_per_window(node: RunningNode) -> None:
    status, before = await node.call("GET", "/api/v1/report")
    assert status == 200 and before["totals"]["needs"] == 0  # none yet
    _, csv_before = await node.call("GET", "/api/v1/report.csv")
    for _ in range(5):
        await node.post(need())
    assert await node.call("GET", "/api/v1/report") == (200, before)  # the cached answer
    assert await node.call("GET", "/api/v1/report.csv") == (200, csv_before)
    status, other_window = await node.call("GET", "/api/v1/report?weeks=2")
    assert other_window["totals"]["needs"] == 5  # each window has its own entry
    node.app[REPORT_CACHE].clear()  # what 60 s would do
    status, after = await node.call("GET", "/api/v1/report")
    assert after["totals"]["needs"] == 5


async def test_the_report_cache_keeps_an_entry_for_its_time_only() -> None:
    clock = [1000.0]
    cache = ReportCache(ttl=60, clock=lambda: clock[0])
    made: list[int] = []

    async def make() -> dict[str, object]:
        made.append(1)
        return {"n": len(made)}

    assert (await cache.get(12, make)).report == {"n": 1}
    clock[0] += 59.9
    assert (await cache.get(12, make)).report == {"n": 1}
    assert (await cache.get(4, make)).report == {"n": 2}
    clock[0] += 0.1
    assert (await cache.get(12, make)).report == {"n": 3}
