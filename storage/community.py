"""What the member page and the organizers read: replies, flags, removals, the report.

``CommunityStore`` keeps a connection of its own to the node's database file
(like ``AdminStore``): flags are small, rare writes, and the report's
aggregation reads must not queue behind the record writer. Removals are
written by the record writer (``store.writer.remove``: they delete a record
row, so they belong in its transaction); this module only lists them. The
expiry sweep, in the same writer, deletes flags past ``FLAG_DAYS``.

The report reads the counts the record writer keeps (``storage/tally.py``:
by day of expiry, kind, status, category, area prefix and week; fulfilment
hours by week), today's posts themselves, and the archive; Python does the
rest on a few thousand grouped rows at most.
"""

from __future__ import annotations

from dataclasses import dataclass

from protocol.records import Record, parse_record
from storage.query import at_address_of
from storage.sqlite import Connection, open_side, translate
from storage.tally import DAY_S
from storage.weeks import EXPIRED_STATUS, week_of

MAX_FLAGS = 10_000
"""Flags kept at most; past it, the oldest go to make room (a flood cannot
switch flagging off: it can only push out old flags, and the client rate
limit slows it down)."""
MAX_FLAGS_PER_POST = 100
"""...and on one post: enough to see a pattern, too few for a flood to matter."""
FLAG_DAYS = 30
"""A member's flag is kept this long at most, and only while its post is held
(the expiry sweep deletes the rest; an organizer's removal deletes its flags)."""
MAX_REPLIES_READ = 500


@dataclass(frozen=True)
class Flag:
    record_id: bytes
    reason: str
    note: str
    flagged_at: int
    count: int
    """Flags raised on this address in all."""
    current: Record | None
    """The address's current version, if this node still holds it."""


@dataclass(frozen=True)
class Removal:
    record_id: bytes
    author: bytes
    kind: str
    slot: str
    reason: str
    removed_at: int


@dataclass(frozen=True)
class ReportRow:
    """One group of posts: how many of ``kind`` in ``status``, by category, area prefix and week."""

    kind: str
    status: str
    category: str
    area: str
    week: int
    """Monday-based weeks since 1970 (``storage.weeks``)."""
    count: int


class CommunityStore:
    def __init__(self, connection: Connection) -> None:
        self._conn = connection
        self.path = connection.path

    @classmethod
    async def open(cls, path: str) -> CommunityStore:
        """Open beside a ``RecordStore``, which must have created the schema."""
        return cls(await open_side(path))

    async def close(self) -> None:
        await self._conn.close()

    async def release_memory(self) -> None:
        """Give SQLite's unused cache pages back (the report reads a whole index)."""
        await self._conn.run("PRAGMA shrink_memory")

    # -- replies ---------------------------------------------------------------

    async def replies_about(self, recipient: bytes, post: Record, now: int) -> list[Record]:
        """Live replies sealed to ``recipient`` about any version of ``post`` this
        node made (or about ``post`` itself), newest first."""
        rows = await self._conn.run(
            "SELECT raw FROM records WHERE about IN (SELECT id FROM own_versions WHERE author = ? AND kind = ? "
            "AND slot = ? UNION SELECT ?) AND kind = 'reply' AND recipient = ? AND expires_at > ? "
            "ORDER BY created_at DESC, seq DESC LIMIT ?",
            (*post.address, post.id, recipient, now, MAX_REPLIES_READ),
        )
        return [parse_record(bytes(row[0]), validate=False) for row in rows]

    async def unanswered_needs(self, now: int, limit: int) -> list[tuple[Record, int]]:
        """Open needs no live reply is about (any version this node made, or the
        current one), most urgent then longest open first: (record, opened_at)."""
        rows = await self._conn.run(
            "SELECT r.raw, coalesce(r.opened_at, r.created_at) AS since FROM records AS r "
            "WHERE r.kind = 'need' AND r.status = 'open' AND r.expires_at > ? "
            "AND NOT EXISTS (SELECT 1 FROM records AS x WHERE x.about = r.id AND x.kind = 'reply' "
            "AND x.expires_at > ?) "
            "AND NOT EXISTS (SELECT 1 FROM own_versions AS v JOIN records AS x ON x.about = v.id "
            "WHERE v.author = r.author AND v.kind = r.kind AND v.slot = r.slot AND x.kind = 'reply' "
            "AND x.expires_at > ?) "
            "ORDER BY r.urgency DESC, since ASC, r.seq ASC LIMIT ?",
            (now, now, now, limit),
        )
        return [(parse_record(bytes(raw), validate=False), int(since)) for raw, since in rows]

    # -- flags and removals ------------------------------------------------------

    async def add_flag(self, record: Record, reason: str, note: str, now: int) -> bool:
        """False when this post has as many flags as one post keeps (nothing
        stored). Past ``MAX_FLAGS`` in all, the oldest flags are deleted."""
        db = self._conn.db
        with translate(self.path):
            await db.execute("BEGIN IMMEDIATE")
            try:
                rows = await db.execute_fetchall(
                    "SELECT count(*) FROM flags WHERE author = ? AND kind = ? AND slot = ?", record.address
                )
                if int(next(iter(rows))[0]) >= MAX_FLAGS_PER_POST:
                    await db.execute("ROLLBACK")
                    return False
                await db.execute(
                    "INSERT INTO flags (record_id, author, kind, slot, reason, note, flagged_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (record.id, *record.address, reason, note, now),
                )
                await db.execute(
                    "DELETE FROM flags WHERE n IN (SELECT n FROM flags ORDER BY n "
                    "LIMIT max(0, (SELECT count(*) FROM flags) - ?))",
                    (MAX_FLAGS,),
                )
                await db.execute("COMMIT")
            except BaseException:
                await db.execute("ROLLBACK")
                raise
        return True

    async def dismiss_flags(self, record_id: bytes) -> int:
        """Delete every flag on the post ``record_id`` was flagged as (any of its
        versions); how many were deleted."""
        await self._conn.run(
            "DELETE FROM flags WHERE (author, kind, slot) IN "
            "(SELECT author, kind, slot FROM flags WHERE record_id = ?)",
            (record_id,),
        )
        return int((await self._conn.run("SELECT changes()"))[0][0])

    async def flags(self, now: int, limit: int) -> list[Flag]:
        """Newest first, with the current version of the flagged address if held."""
        rows = await self._conn.run(
            "SELECT f.record_id, f.reason, f.note, f.flagged_at, "
            "(SELECT count(*) FROM flags AS g WHERE g.author = f.author AND g.kind = f.kind AND g.slot = f.slot), "
            f"(SELECT r.raw FROM records AS r WHERE {at_address_of('f')} AND r.expires_at > ?) "
            "FROM flags AS f ORDER BY f.n DESC LIMIT ?",
            (now, limit),
        )
        return [
            Flag(
                bytes(rid),
                str(reason),
                str(note),
                int(at),
                int(count),
                None if raw is None else parse_record(bytes(raw), validate=False),
            )
            for rid, reason, note, at, count, raw in rows
        ]

    async def removals(self, limit: int) -> list[Removal]:
        rows = await self._conn.run(
            "SELECT record_id, author, kind, slot, reason, removed_at FROM removals ORDER BY removed_at DESC LIMIT ?",
            (limit,),
        )
        return [
            Removal(bytes(rid), bytes(author), str(kind), str(slot), str(reason), int(at))
            for rid, author, kind, slot, reason, at in rows
        ]

    # -- the community needs report -------------------------------------------------

    async def report_rows(self, since: int, now: int) -> list[ReportRow]:
        """Needs and offers first seen open in the week of ``since`` or later,
        grouped: those held (an expired one as ``expired`` unless it was closed)
        and those the expiry sweep has counted into the archive (a row may
        repeat a group: the caller adds them up)."""
        week, today = week_of(since), now // DAY_S
        rows = await self._conn.run(
            # The counts of the days of expiry before today (expired) and after (as they stand)...
            f"SELECT kind, CASE WHEN expiry_day > ? THEN status ELSE {EXPIRED_STATUS} END, nullif(category, ''), "
            "nullif(report_area, ''), report_week, sum(count) FROM report_counts WHERE report_week >= ? "
            "AND expiry_day != ? GROUP BY 1, 2, 3, 4, 5 UNION ALL "
            # ...today's posts themselves, each against the time now...
            f"SELECT kind, CASE WHEN expires_at > ? THEN status ELSE {EXPIRED_STATUS} END, category, report_area, "
            "report_week, count(*) FROM records INDEXED BY records_expiry WHERE expires_at >= ? AND expires_at < ? "
            "AND kind IN ('need', 'offer') AND report_week >= ? GROUP BY 1, 2, 3, 4, 5 "
            # ...and what the sweep archived.
            "UNION ALL SELECT kind, status, category, report_area, report_week, count FROM report_archive "
            "WHERE report_week >= ?",
            (today, week, today, now, today * DAY_S, (today + 1) * DAY_S, week, week),
        )
        return [ReportRow(str(k), str(s), str(c), str(a), int(w), int(n)) for k, s, c, a, w, n in rows if n]

    async def has_posts_before(self, since: int, now: int) -> bool:
        """Whether a need or an offer was made before ``since``, held or counted
        in the archive (the report then shows its period's first weeks, even
        empty). Seeks the sync index by time, so it reads only rows older than ``since``."""
        rows = await self._conn.run(
            "SELECT 1 FROM records INDEXED BY records_sync WHERE created_at < ? AND kind IN ('need', 'offer') "
            "UNION ALL SELECT 1 FROM report_archive WHERE report_week < ? LIMIT 1",
            (since, week_of(since)),
        )
        return bool(rows)

    async def fulfilment_hours(self, since: int, now: int) -> list[tuple[int, int]]:
        """(whole hours from first seen open to fulfilled, how many needs) for the
        fulfilled needs first seen open in the week of ``since`` or later; needs whose first
        version never reached this node open are left out (time unknown)."""
        week = week_of(since)
        rows = await self._conn.run(
            "SELECT hours, sum(count) FROM fulfilment_counts WHERE report_week >= ? GROUP BY 1 UNION ALL "
            "SELECT hours, count FROM fulfilment_archive WHERE report_week >= ?",
            (week, week),
        )
        return [(int(h), int(n)) for h, n in rows if n]
