# The community report's weeks, written once (storage/weeks.py): the Python
# the writer and the report use and the SQL migration 5 ran over old rows
# agree on every moment, a week starts on a Monday at midnight UTC, and
# migration 5's text is still exactly what it always was (an old migration
# must never change what it does to a file).

from __future__ import annotations

import contextlib
import sqlite3
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.fields import MAX_TIMESTAMP
from storage import schema
from storage.weeks import WEEK, week_of, week_of_sql, week_start

MOMENTS = st.integers(0, MAX_TIMESTAMP - 1)


@settings(max_examples=300)
@given(st.lists(MOMENTS, min_size=1, max_size=50))
def test_the_sql_and_the_python_weeks_agree(moments: list[int]) -> None:
    with contextlib.closing(sqlite3.connect(":memory:")) as db:
        db.execute("CREATE TABLE t (created_at INTEGER)")
        db.executemany("INSERT INTO t VALUES (?)", [(m,) for m in moments])
        sql = f"SELECT created_at, {week_of_sql('created_at')} FROM t"  # noqa: S608 (constants only)
        rows = db.execute(sql).fetchall()
    assert [(m, week_of(m)) for m in moments] == rows


@given(st.integers(0, 2**35))  # to the year 3058: datetime stops at 9999
def test_a_moment_falls_in_the_week_that_starts_on_its_monday(moment: int) -> None:
    start = week_start(week_of(moment))
    assert start <= moment < start + WEEK
    monday = datetime.fromtimestamp(start, UTC)
    assert (monday.weekday(), monday.hour, monday.minute, monday.second) == (0, 0, 0, 0)


def test_the_first_weeks() -> None:
    assert week_of(0) == 0  # Thursday 1970-01-01 is in the week that began on Monday 1969-12-29
    assert week_start(0) == -3 * 86_400
    assert week_of(4 * 86_400) == 1  # Monday 1970-01-05
    assert week_of(4 * 86_400 - 1) == 0


def test_migration_5_still_fills_old_rows_as_it_always_did() -> None:
    statement = next(s for s in schema.MIGRATIONS[5] if "report_week =" in s)
    assert statement == (
        "UPDATE records SET report_area = substr(area, 1, 3), "
        "report_week = (coalesce(opened_at, created_at) + 259200) / 604800"
    )
