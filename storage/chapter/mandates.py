"""Organizers: their mandates (granted by a decision, for a term) and the log of what they did.

A mandate is live while its member is active, its term has not ended and no
decision revoked it. The log keeps every organizer action with who did it
(a member, or the operator's admin token in the founding period) and why;
members read it. It keeps the newest ``MAX_LOG`` entries.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

from storage.chapter.db import ChapterDB

MAX_LOG = 10_000


@dataclass(frozen=True)
class Mandate:
    member: bytes
    member_name: str
    proposal: bytes
    """The decision's proposal that granted it."""
    granted_at: int
    ends_at: int
    revoked_at: int | None


@dataclass(frozen=True)
class LogEntry:
    at: int
    organizer: str | None
    """The organizer's name on the roll; None for the operator (founding period)."""
    action: str
    target: str
    reason: str


_MANDATE = (
    "SELECT d.member, m.name, d.proposal, d.granted_at, d.ends_at, d.revoked_at "
    "FROM mandates AS d JOIN members AS m ON m.id = d.member"
)


def _mandate(row: tuple[Any, ...]) -> Mandate:
    member, name, proposal, granted, ends, revoked = row
    return Mandate(bytes(member), str(name), bytes(proposal), int(granted), int(ends),
                   None if revoked is None else int(revoked))  # fmt: skip


def grant(conn: sqlite3.Connection, member: bytes, proposal: bytes, now: int, ends_at: int) -> None:
    conn.execute(
        "INSERT OR IGNORE INTO mandates (member, proposal, granted_at, ends_at) VALUES (?, ?, ?, ?)",
        (member, proposal, now, ends_at),
    )


def revoke(conn: sqlite3.Connection, member: bytes, now: int) -> int:
    cursor = conn.execute(
        "UPDATE mandates SET revoked_at = ? WHERE member = ? AND revoked_at IS NULL AND ends_at > ?",
        (now, member, now),
    )
    return cursor.rowcount


class Mandates:
    def __init__(self, db: ChapterDB) -> None:
        self._db = db

    async def live(self, member: bytes, now: int) -> Mandate | None:
        """The member's live mandate ending last, if any."""

        def read(conn: sqlite3.Connection) -> Mandate | None:
            row = conn.execute(
                f"{_MANDATE} WHERE d.member = ? AND d.revoked_at IS NULL AND d.granted_at <= ? AND d.ends_at > ? "
                "AND m.card_hash IS NOT NULL ORDER BY d.ends_at DESC LIMIT 1",
                (member, now, now),
            ).fetchone()
            return None if row is None else _mandate(row)

        return await self._db.run(read)

    async def latest(self, member: bytes) -> Mandate | None:
        """The member's most recent mandate, live or not (to say when it ended)."""

        def read(conn: sqlite3.Connection) -> Mandate | None:
            row = conn.execute(f"{_MANDATE} WHERE d.member = ? ORDER BY d.ends_at DESC LIMIT 1", (member,)).fetchone()
            return None if row is None else _mandate(row)

        return await self._db.run(read)

    async def all_live(self, now: int) -> list[Mandate]:
        def read(conn: sqlite3.Connection) -> list[Mandate]:
            rows = conn.execute(
                f"{_MANDATE} WHERE d.revoked_at IS NULL AND d.granted_at <= ? AND d.ends_at > ? "
                "AND m.card_hash IS NOT NULL ORDER BY m.name_key",
                (now, now),
            )
            return [_mandate(r) for r in rows]

        return await self._db.run(read)

    async def log(self, organizer: bytes | None, action: str, target: str, reason: str, now: int) -> None:
        def write(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO organizer_log (at, organizer, action, target, reason) VALUES (?, ?, ?, ?, ?)",
                (now, organizer, action, target, reason),
            )
            conn.execute("DELETE FROM organizer_log WHERE n <= (SELECT max(n) FROM organizer_log) - ?", (MAX_LOG,))

        await self._db.run(write)

    async def entries(self, limit: int) -> list[LogEntry]:
        """Newest first."""

        def read(conn: sqlite3.Connection) -> list[LogEntry]:
            rows = conn.execute(
                "SELECT l.at, m.name, l.action, l.target, l.reason FROM organizer_log AS l "
                "LEFT JOIN members AS m ON m.id = l.organizer ORDER BY l.n DESC LIMIT ?",
                (limit,),
            )
            return [LogEntry(int(a), None if n is None else str(n), str(x), str(t), str(r)) for a, n, x, t, r in rows]

        return await self._db.run(read)
