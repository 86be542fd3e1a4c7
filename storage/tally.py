"""The community report's counts, kept by the record writer as rows come and go.

The report groups needs and offers by (kind, status, category, area prefix,
week first seen open), and tells an open post from an expired one at the
time it is read. An index in that order (``records_report``, schema
migrations 6 to 11) took every new record at one of its hundreds of groups:
at a million records a batch of 1000 dirtied a page per group, about 30 us
a record of the put's 90. Counts take its place, in the put's (and every
deletion's) transaction:

- ``report_counts``: how many rows per (day of expiry, kind, status,
  category, area prefix, week). Keyed by the day of expiry first, so a
  batch's new keys sit together at the latest days. The report sums the
  days before today as expired and those after as their status, and reads
  today's posts themselves (``records_expiry``, one day's rows), so a post
  that expired a second before the report is read is counted as expired.
- ``fulfilment_counts``: fulfilled needs with a known first open time, per
  (week, whole hours from open to fulfilled).

Each statement adds ``sign`` for every row a condition on ``records``
selects: the writer adds the rows it inserted (+1) and, before deleting
rows, takes them away (-1); a count that reaches 0 is deleted with them.
Rows whose area (or category, under older rules) is unknown are counted
under ``''`` (a key column cannot be NULL) and read back as NULL, as the
rows themselves say.
"""

from __future__ import annotations

DAY_S = 86_400

CREATE = (
    "CREATE TABLE report_counts (expiry_day INTEGER NOT NULL, kind TEXT NOT NULL, status TEXT NOT NULL, "
    "category TEXT NOT NULL, report_area TEXT NOT NULL, report_week INTEGER NOT NULL, count INTEGER NOT NULL, "
    "PRIMARY KEY (expiry_day, kind, status, category, report_area, report_week)) WITHOUT ROWID",
    "CREATE TABLE fulfilment_counts (report_week INTEGER NOT NULL, hours INTEGER NOT NULL, "
    "count INTEGER NOT NULL, PRIMARY KEY (report_week, hours)) WITHOUT ROWID",
)

_REPORTED = "kind IN ('need', 'offer') AND report_week IS NOT NULL"
"""The rows the report counts."""
_FULFILLED = "kind = 'need' AND status = 'fulfilled' AND opened_at IS NOT NULL AND report_week IS NOT NULL"


def count_rows(where: str, sign: int) -> tuple[str, str]:
    """The two statements that add ``sign`` (+1 or -1) to the counts of every
    row of ``records`` meeting ``where`` (SQL over its columns; its
    parameters are the statements' own, the same for both)."""
    if sign not in (1, -1):
        raise ValueError("a row counts once, added or taken away")
    report = (
        "INSERT INTO report_counts (expiry_day, kind, status, category, report_area, report_week, count) "
        f"SELECT expires_at / {DAY_S}, kind, status, coalesce(category, ''), coalesce(report_area, ''), report_week, "
        f"{sign} * count(*) FROM records WHERE ({where}) AND {_REPORTED} GROUP BY 1, 2, 3, 4, 5, 6 "
        "ORDER BY 1, 2, 3, 4, 5, 6 ON CONFLICT (expiry_day, kind, status, category, report_area, report_week) "
        "DO UPDATE SET count = count + excluded.count"
    )
    fulfilment = (
        "INSERT INTO fulfilment_counts (report_week, hours, count) "
        f"SELECT report_week, (created_at - opened_at) / 3600, {sign} * count(*) FROM records "
        f"WHERE ({where}) AND {_FULFILLED} GROUP BY 1, 2 ORDER BY 1, 2 "
        "ON CONFLICT (report_week, hours) DO UPDATE SET count = count + excluded.count"
    )
    return report, fulfilment


DROP_EMPTY = (
    "DELETE FROM report_counts WHERE count = 0",
    "DELETE FROM fulfilment_counts WHERE count = 0",
)
"""Run by the expiry sweep: groups whose every row has gone (a count below
zero would be a fault, left for the report and the tests to show)."""
