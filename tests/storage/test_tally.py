# The community report from the counts the writer keeps (storage/tally.py,
# schema 12) is the report the rows themselves give: after puts, new
# versions that change a post's status, an organizer's removal, a key
# rotation's deletions and the expiry sweep, read at times on either side of
# posts' expiry, today's included (a post that expired a second before the
# report is read counts as expired). The reference is the grouped query over
# ``records`` the report ran before the counts (schema 6 to 11).

from __future__ import annotations

import contextlib
import hashlib
import random
import sqlite3
from collections import Counter

from protocol.records import DAY, Record, new_version
from storage import RecordStore, StoreConfig, schema
from storage.community import CommunityStore
from storage.tally import DAY_S, count_rows
from storage.weeks import EXPIRED_STATUS, week_of, week_start
from tests.storage._support import ALICE, BOB, NOW, UNDO_16, close_or_fail, post

Group = tuple[str, str, str, str, int]
SINCE = week_start(week_of(NOW) - 12)
MIGRATION_12_SHA256 = "71157b55cd034971e53dc34d2f2ce9d0997d9264def08b477a351f34c996d30b"


def from_rows(path: str, since: int, now: int) -> tuple[Counter[Group], Counter[int]]:
    """The report's groups and fulfilment hours read from the rows, as before schema 12."""
    week = week_of(since)
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        report: Counter[Group] = Counter()
        for k, s, c, a, w, n in db.execute(
            f"SELECT kind, CASE WHEN expires_at > ? THEN status ELSE {EXPIRED_STATUS} END, category, report_area, "  # noqa: S608
            "report_week, count(*) FROM records WHERE kind IN ('need', 'offer') AND report_week >= ? "
            "GROUP BY 1, 2, 3, 4, 5 UNION ALL SELECT kind, status, category, report_area, report_week, count "
            "FROM report_archive WHERE report_week >= ?",
            (now, week, week),
        ):
            report[(str(k), str(s), str(c), str(a), int(w))] += int(n)
        hours: Counter[int] = Counter()
        for h, n in db.execute(
            "SELECT (created_at - opened_at) / 3600, count(*) FROM records WHERE kind = 'need' AND "
            "status = 'fulfilled' AND report_week >= ? AND opened_at IS NOT NULL GROUP BY 1 UNION ALL "
            "SELECT hours, count FROM fulfilment_archive WHERE report_week >= ?",
            (week, week),
        ):
            hours[int(h)] += int(n)
    return report, hours


async def from_counts(community: CommunityStore, since: int, now: int) -> tuple[Counter[Group], Counter[int]]:
    report: Counter[Group] = Counter()
    for row in await community.report_rows(since, now):
        report[(row.kind, row.status, row.category, row.area, row.week)] += row.count
    hours: Counter[int] = Counter()
    for h, n in await community.fulfilment_hours(since, now):
        hours[h] += n
    return report, hours


def posts(seed: int) -> list[Record]:
    """Needs and offers made over 40 days, a fifth of them ending their
    life later on the day NOW falls in, in every status, and new versions."""
    rng = random.Random(seed)
    made: list[Record] = []
    for i in range(120):
        created = NOW - rng.randrange(40 * DAY)
        expires = NOW // DAY_S * DAY_S + rng.randrange(DAY_S) if i % 5 == 0 else created + rng.randrange(1, 30) * DAY
        made.append(post(rng.choice([ALICE, BOB]), f"p{i}", kind=rng.choice(["need", "offer"]), created_at=created,
                         expires_at=max(expires, created + 60), status=rng.choice(["open", "open", "claimed"]),
                         category=rng.choice(["food", "housing", "tools"]),
                         area=rng.choice(["u4pru", "u4prv", "gcpvj"])))  # fmt: skip
    for record in made[::3]:  # a new version: claimed, fulfilled (a need) or withdrawn
        status = rng.choice(["fulfilled", "withdrawn", "claimed"] if record.kind == "need" else ["withdrawn"])
        last = min(NOW, record.expires_at - 1)  # a version is made before its post ends, and not after NOW
        if record.created_at + 3600 < last:
            made.append(new_version(ALICE if record.author == ALICE.public_key else BOB, record,
                                    record.created_at + rng.randrange(3600, last - record.created_at),
                                    {"status": status}))  # fmt: skip
    return made


async def test_the_counts_give_the_report_the_rows_give(db_path: str) -> None:
    store = await RecordStore.open(db_path, StoreConfig(sweep_batch=7))
    community = await CommunityStore.open(db_path)
    try:
        for record in posts(seed=12):
            await store.writer.put(record, NOW)
        times = [NOW - 5 * DAY, NOW, NOW // DAY_S * DAY_S + 1, (NOW // DAY_S + 1) * DAY_S - 1, NOW + 3 * DAY]
        for now in times:
            expected = from_rows(db_path, SINCE, now)
            assert await from_counts(community, SINCE, now) == expected
            assert sum(expected[0].values()) > 0
        # An organizer removes one; the sweep deletes what expired, in small batches.
        with contextlib.closing(sqlite3.connect(db_path)) as db:
            author, kind, slot, record_id = db.execute(
                "SELECT author, kind, slot, id FROM records WHERE kind = 'need' LIMIT 1"
            ).fetchone()
        assert await store.writer.remove((bytes(author), kind, slot), bytes(record_id), "spam", NOW)
        later = NOW + 40 * DAY
        while await store.writer.sweep(later):
            assert await from_counts(community, SINCE, later) == from_rows(db_path, SINCE, later)
        for now in [*times, later]:
            assert await from_counts(community, SINCE, now) == from_rows(db_path, SINCE, now)
        with contextlib.closing(sqlite3.connect(db_path)) as db:  # the emptied groups went with their rows
            assert db.execute("SELECT count(*) FROM report_counts WHERE count <= 0").fetchone()[0] == 0
    finally:
        await community.close()
        await close_or_fail(store)


def test_a_count_is_added_or_taken_away_nothing_else() -> None:
    added, taken = count_rows("seq = ?", 1), count_rows("seq = ?", -1)
    assert all("1 * count(*)" in s for s in added) and all("-1 * count(*)" in s for s in taken)
    for sign in (0, 2, -3):
        with contextlib.suppress(ValueError):
            count_rows("1", sign)
            raise AssertionError(f"a sign of {sign} was taken")


async def test_a_schema_11_file_gets_its_counts_from_its_rows(db_path: str) -> None:
    store = await RecordStore.open(db_path)
    for record in posts(seed=13):
        await store.writer.put(record, NOW)
    await close_or_fail(store)
    report_index = next(s for v in range(1, 12) for s in schema.MIGRATIONS[v] if "INDEX records_report" in s)
    with contextlib.closing(sqlite3.connect(db_path)) as db:  # back to schema 11, as the code before 12 left it
        db.executescript(
            f"{UNDO_16} DROP TABLE report_counts; DROP TABLE fulfilment_counts; "
            "DROP INDEX records_kind; DROP INDEX records_urgency; "
            f"CREATE INDEX records_area ON records(area, created_at); {report_index}; PRAGMA user_version = 11;"
        )
    store = await RecordStore.open(db_path)
    community = await CommunityStore.open(db_path)
    try:
        for now in (NOW, NOW + 3 * DAY):
            expected = from_rows(db_path, SINCE, now)
            assert sum(expected[0].values()) > 0
            assert await from_counts(community, SINCE, now) == expected
        with contextlib.closing(sqlite3.connect(db_path)) as db:
            assert db.execute("SELECT count(*) FROM sqlite_schema WHERE name = 'records_report'").fetchone()[0] == 0
    finally:
        await community.close()
        await close_or_fail(store)


def test_migration_12_is_the_text_it_shipped_with() -> None:
    """Its SQL is built from ``storage/tally.py``; a migration never changes once
    shipped, so a change there that would change it must be a new migration."""
    text = "\n".join(schema.MIGRATIONS[12])
    assert hashlib.sha256(text.encode()).hexdigest() == MIGRATION_12_SHA256, text
