# The report for a whole year (schema 6): when the expiry sweep deletes a need
# or an offer, it first adds it to report_archive (and a fulfilled need's
# hours to fulfilment_archive), in the same transaction. Driven on a real
# store with a clock moved past every expiry, in small sweep batches: the
# grouped rows the report reads after the sweep are exactly those it read
# before (an expired open need counted as "expired"), and the archive holds
# counts by kind, status, category, area and week, nothing that names a post.

from __future__ import annotations

import sqlite3
from collections import Counter

from protocol.records import DAY, Record, build_record, new_version
from storage import RecordStore, StoreConfig
from storage.community import CommunityStore, ReportRow
from storage.weeks import week_of, week_start
from tests.storage._support import ALICE, BOB, NOW, close_or_fail, post

LATER = NOW + 200 * DAY
"""Past every expiry below, within the year."""
SINCE = week_start(week_of(LATER) - 51)


def grouped(rows: list[ReportRow]) -> Counter[tuple[str, str, str, str, int]]:
    """The report's rows added up by group (held and archived rows of a group may both appear)."""
    out: Counter[tuple[str, str, str, str, int]] = Counter()
    for row in rows:
        out[(row.kind, row.status, row.category, row.area, row.week)] += row.count
    return out


def records() -> list[Record]:
    made = [
        *(post(ALICE, f"food{i}", category="food", created_at=NOW - i * 3 * DAY) for i in range(7)),
        *(post(BOB, f"room{i}", category="housing", area="ezjm1", status="claimed") for i in range(3)),
        *(post(BOB, f"bike{i}", kind="offer", category="transport", status="withdrawn") for i in range(2)),
        post(ALICE, "coat", kind="offer", category="clothing", created_at=NOW - 40 * DAY),
    ]
    opened = post(ALICE, "fulfilled", category="food", created_at=NOW - 10 * DAY)
    fulfilled = new_version(ALICE, opened, NOW - 8 * DAY, {"status": "fulfilled"})
    finding = build_record(ALICE, {"kind": "finding", "slot": "f1", "created_at": NOW, "expires_at": NOW + 30 * DAY,
                                   "title": "Food", "text": "Food.", "weeks": 13, "as_of": NOW,
                                   "figures": [["totals", "all", 10, 5, 0]]})  # fmt: skip
    return [*made, opened, fulfilled, finding]


async def test_the_sweep_counts_what_it_deletes_and_the_report_reads_the_same(db_path: str) -> None:
    store = await RecordStore.open(db_path, StoreConfig(sweep_batch=4))
    community = await CommunityStore.open(db_path)
    try:
        for record in records():
            outcome = await store.writer.put(record, record.created_at)
            assert outcome.status == "accepted", outcome
        before = grouped(await community.report_rows(SINCE, LATER))
        hours_before = sorted(await community.fulfilment_hours(SINCE, LATER))
        by_status: Counter[tuple[str, str, str]] = Counter()
        for (kind, status, category, _, _), n in before.items():
            by_status[(kind, status, category)] += n
        assert by_status == Counter(
            {
                ("need", "expired", "food"): 7,
                ("need", "expired", "housing"): 3,
                ("need", "fulfilled", "food"): 1,
                ("offer", "withdrawn", "transport"): 2,
                ("offer", "expired", "clothing"): 1,
            }
        )  # fmt: skip - open or claimed: expired
        assert hours_before == [(48, 1)]  # opened, fulfilled two days later

        swept = [await store.writer.sweep(LATER) for _ in range(6)]
        assert sum(swept) == 15 and max(swept) <= 4 and swept[-1] == 0  # every address, the finding too
        with sqlite3.connect(db_path) as db:
            assert db.execute("SELECT count(*) FROM records WHERE kind IN ('need', 'offer')").fetchone() == (0,)
            columns = [row[1] for row in db.execute("PRAGMA table_info(report_archive)")]
            finding_rows = db.execute("SELECT count(*) FROM report_archive WHERE kind = 'finding'").fetchone()
        assert columns == ["kind", "status", "category", "report_area", "report_week", "count"]
        assert finding_rows == (0,)  # only needs and offers are counted
        assert grouped(await community.report_rows(SINCE, LATER)) == before
        assert sorted(await community.fulfilment_hours(SINCE, LATER)) == hours_before
        assert await community.has_posts_before(week_start(week_of(NOW)), LATER)  # from the archive alone

        # Another sweep into the same groups adds to their counts.
        again = post(ALICE, "food-again", category="food", created_at=NOW)
        await store.writer.put(again, NOW)
        assert await store.writer.sweep(LATER) == 1
        after = grouped(await community.report_rows(SINCE, LATER))
        key = ("need", "expired", "food", "u4p", week_of(NOW))
        assert before[key] >= 1
        assert after[key] == before[key] + 1 and after - Counter({key: 1}) == before
    finally:
        await community.close()
        await close_or_fail(store)
