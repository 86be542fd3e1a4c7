"""The community report's weeks: Monday-based weeks since 1970, in UTC.

Written once, here: the writer fills a row's ``report_week`` with ``week_of``,
the report turns weeks back into dates with ``week_start``, and migration 5
fills the rows stored before it with ``week_of_sql``, built from the same
constants. Pure arithmetic: no clock, no I/O.
"""

from __future__ import annotations

DAY = 86_400
WEEK = 7 * DAY
MONDAY_OFFSET = 3 * DAY
"""1970-01-01 was a Thursday: shifted by three days, weeks start on Mondays."""


def week_of(timestamp: int) -> int:
    """The week a moment falls in."""
    return (timestamp + MONDAY_OFFSET) // WEEK


def week_start(week: int) -> int:
    """The Monday 00:00 UTC a week starts at."""
    return week * WEEK - MONDAY_OFFSET


def week_of_sql(expression: str) -> str:
    """``week_of`` as SQL over an integer expression. SQLite's ``/`` truncates
    toward zero where Python's ``//`` floors; the two agree on every moment
    from the Monday before 1970-01-01 on, and a record's times never precede 1970."""
    return f"({expression} + {MONDAY_OFFSET}) / {WEEK}"


EXPIRED_STATUS = "CASE WHEN status IN ('open', 'claimed') THEN 'expired' ELSE status END"
"""A post's status as the report counts it once it has expired: a need still
open when it expired is ``expired``, not open (SQL, for the sweep's archive
and for expired rows not yet swept)."""
