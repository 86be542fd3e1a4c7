# The community needs report: exact numbers from hand-made groups (the pure part),
# then a real node holding its own posts and a peer's (pushed over the signed
# peer API), read as JSON and CSV: counts under 5 never appear, fulfilment time
# runs from the first version seen open to the fulfilled one.

from __future__ import annotations

import csv
import io
import time

import aiohttp
import pytest

from crypto import NodeIdentity
from node.peer_client import PeerClient
from node.report import build_report, week_label
from protocol.records import DAY, Record, build_record, new_version
from storage.community import ReportRow, week_of, week_start
from tests.node._support import assert_error_shape, need, offer
from tests.node.conftest import RunningNode

NOW = 1_795_000_000  # a Wednesday


def test_weeks_start_on_monday_and_carry_iso_labels() -> None:
    week = week_of(NOW)
    start = week_start(week)
    assert start <= NOW < start + 7 * DAY
    assert time.gmtime(start).tm_wday == 0 and time.gmtime(start)[3:6] == (0, 0, 0)
    assert week_label(week) == time.strftime("%G-W%V", time.gmtime(NOW))


def test_counts_under_five_are_suppressed_everywhere() -> None:
    week = week_of(NOW)
    rows = [
        ReportRow("need", "open", "food", "u4p", week, 4),
        ReportRow("need", "fulfilled", "food", "u4p", week, 1),
        ReportRow("offer", "open", "food", "u4p", week, 5),
        ReportRow("need", "open", "housing", "ezs", week - 1, 7),
        ReportRow("offer", "claimed", "housing", "ezs", week - 1, 2),
    ]
    report = build_report(rows, [(24, 1)], 4, NOW)
    assert report["suppressed_below"] == 5
    assert report["totals"] == {"needs": 12, "offers": 7, "fulfilled_needs": None, "open_needs": 11}
    assert report["by_category"] == [
        {"category": "food", "needs": 5, "offers": 5, "fulfilled": None},
        {"category": "housing", "needs": 7, "offers": None, "fulfilled": None},
    ]
    assert report["by_area"] == [
        {"area": "u4p", "needs": 5, "offers": 5, "fulfilled": None},
        {"area": "ezs", "needs": 7, "offers": None, "fulfilled": None},
    ]
    assert [w["week"] for w in report["by_week"]] == [week_label(w) for w in range(week - 3, week + 1)]
    assert report["by_week"][-2:] == [
        {"week": week_label(week - 1), "needs": 7, "offers": None, "fulfilled": None},
        {"week": week_label(week), "needs": 5, "offers": 5, "fulfilled": None},
    ]
    assert report["by_week"][0] == {"week": week_label(week - 3), "needs": None, "offers": None, "fulfilled": None}
    # housing: 7 needs against 2 offers; food is even, so not outrun.
    assert report["outrun"] == [{"category": "housing", "needs": 7, "offers": None}]
    assert report["fulfilment"] == {"fulfilled": None, "median_days": None}  # one known time: not shown


def test_outrun_lists_only_categories_with_five_needs_or_more() -> None:
    week = week_of(NOW)
    rows = [ReportRow("need", "open", "tools", "u4p", week, 4), ReportRow("need", "open", "rides", "u4p", week, 9)]
    assert [r["category"] for r in build_report(rows, [], 2, NOW)["outrun"]] == ["rides"]


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
    assert report["weeks"] == 12
    assert report["totals"] == {"needs": 11, "offers": None, "fulfilled_needs": 5, "open_needs": 6}
    assert report["by_category"] == [
        {"category": "food", "needs": 6, "offers": None, "fulfilled": None},
        {"category": "housing", "needs": 5, "offers": None, "fulfilled": 5},
    ]
    assert report["by_area"] == [
        {"area": "ezs", "needs": 6, "offers": None, "fulfilled": None},
        {"area": "u4p", "needs": 5, "offers": None, "fulfilled": 5},
    ]
    assert report["fulfilment"] == {"fulfilled": 5, "median_days": 2.0}
    assert report["outrun"] == [
        {"category": "housing", "needs": 5, "offers": None},
        {"category": "food", "needs": 6, "offers": None},
    ]
    assert len(report["by_week"]) == 12
    assert report["by_week"][-1]["week"] == time.strftime("%G-W%V", time.gmtime())

    status, text = await node.call("GET", "/api/v1/report.csv?weeks=12")
    assert status == 200
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["section", "key", "needs", "offers", "fulfilled"]
    assert ["total", "all", "11", "<5", "5"] in rows
    assert ["category", "food", "6", "<5", "<5"] in rows
    assert ["fulfilment", "median_days", "", "", "2.0"] in rows
    for row in rows[1:]:  # no small count anywhere, only "<5"
        for value in row[2:]:
            assert value in ("", "<5") or float(value) >= 5 or row[0] == "fulfilment", row


async def test_report_headers_and_bad_parameters(node: RunningNode) -> None:
    async with node.session.get("/api/v1/report.csv") as response:
        assert response.status == 200
        assert response.content_type == "text/csv"
        assert "attachment" in response.headers["Content-Disposition"]
    status, report = await node.call("GET", "/api/v1/report?weeks=1")
    assert status == 200 and len(report["by_week"]) == 1
    assert report["totals"] == {"needs": None, "offers": None, "fulfilled_needs": None, "open_needs": None}
    for query in ("weeks=0", "weeks=53", "weeks=x", "weeks=", "week=4", "weeks=1e1"):
        for path in ("/api/v1/report", "/api/v1/report.csv"):
            status, body = await node.call("GET", f"{path}?{query}")
            assert (status, assert_error_shape(status, body)[0]) == (400, "bad_query"), (path, query)
