"""What the community says back: answers to the chapter's findings, "I'll come" counts, suggested events.

The mass line's return step: anyone who visits the chapter's node may answer
one of its findings (agree, partly, you missed something) with an optional
note. The answers are counted for everyone (the node rounds them as the
report does); the notes are for the chapter's organizers only, never leave
the node (not a record, not gossiped, not logged) and are deleted
``NOTE_DAYS`` after they were written. "I'll come" is a count per occurrence
of an event, with no name or address. Members suggest events for the
organizers to publish; a suggestion holds the member's id and the event's
fields, and is kept ``SUGGESTION_DAYS``.
"""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from protocol.records import DAY
from storage.chapter.db import ChapterDB
from storage.chapter.errors import ChapterError

ANSWERS = ("agree", "partly", "missed")
NOTE_DAYS = 90
MAX_NOTES_READ = 500
MAX_ANSWERS_PER_FINDING = 100_000
"""Answers kept for one finding: past it, a new answer is refused (a flood
cannot grow the file without end; the per-address limit slows it first)."""
SUGGESTION_DAYS = 60
MAX_SUGGESTIONS = 200
MAX_ATTENDANCE = 100_000
"""A count per occurrence stops here (so a script cannot overflow it)."""


@dataclass(frozen=True)
class Note:
    answer: str
    note: str
    at: int


@dataclass(frozen=True)
class Suggestion:
    n: int
    member_name: str
    at: int
    event: dict[str, Any]


class Outreach:
    def __init__(self, db: ChapterDB) -> None:
        self._db = db

    async def answer(self, finding: bytes, answer: str, note: str | None, now: int) -> None:
        def add(conn: sqlite3.Connection) -> None:
            held = conn.execute("SELECT count(*) FROM answers WHERE finding = ?", (finding,)).fetchone()[0]
            if int(held) >= MAX_ANSWERS_PER_FINDING:
                raise ChapterError("too_many_answers", "this finding has as many answers as one finding keeps")
            conn.execute(
                "INSERT INTO answers (finding, answer, note, at) VALUES (?, ?, ?, ?)", (finding, answer, note, now)
            )

        await self._db.run(add)

    async def counts(self, findings: list[bytes]) -> dict[bytes, dict[str, int]]:
        """Exact counts by answer for each finding (the caller rounds them)."""

        def read(conn: sqlite3.Connection) -> dict[bytes, dict[str, int]]:
            out: dict[bytes, dict[str, int]] = {}
            for finding in findings:
                found = Counter({str(a): int(n) for a, n in conn.execute(
                    "SELECT answer, count(*) FROM answers WHERE finding = ? GROUP BY 1", (finding,))})  # fmt: skip
                out[finding] = {a: found.get(a, 0) for a in ANSWERS}
            return out

        return await self._db.run(read)

    async def notes(self, finding: bytes, now: int) -> list[Note]:
        """The notes left with answers to a finding, newest first (organizers only)."""

        def read(conn: sqlite3.Connection) -> list[Note]:
            rows = conn.execute(
                "SELECT answer, note, at FROM answers WHERE finding = ? AND note IS NOT NULL AND at > ? "
                "ORDER BY n DESC LIMIT ?",
                (finding, now - NOTE_DAYS * DAY, MAX_NOTES_READ),
            )
            return [Note(str(a), str(t), int(at)) for a, t, at in rows]

        return await self._db.run(read)

    async def sweep(self, now: int) -> int:
        """Delete notes past NOTE_DAYS (the answer's count stays), old suggestions and the counts of
        occurrences past; how many notes went."""

        def sweep(conn: sqlite3.Connection) -> int:
            cursor = conn.execute(
                "UPDATE answers SET note = NULL WHERE note IS NOT NULL AND at <= ?", (now - NOTE_DAYS * DAY,)
            )
            conn.execute("DELETE FROM suggestions WHERE at <= ?", (now - SUGGESTION_DAYS * DAY,))
            # An occurrence's count once its local day is surely over in every zone.
            past = datetime.fromtimestamp(now - 2 * DAY, UTC).date().isoformat()
            conn.execute("DELETE FROM attendance WHERE occurrence < ?", (past,))
            return cursor.rowcount

        return await self._db.run(sweep)

    async def attend(self, event: bytes, occurrence: str) -> int:
        """One more "I'll come" for an occurrence (``event``: a key the same for every version of
        the event, ``occurrence``: its local date, YYYY-MM-DD); the count now."""

        def add(conn: sqlite3.Connection) -> int:
            conn.execute(
                "INSERT INTO attendance (event, occurrence, count) VALUES (?, ?, 1) ON CONFLICT (event, occurrence) "
                "DO UPDATE SET count = min(count + 1, ?)",
                (event, occurrence, MAX_ATTENDANCE),
            )
            row = conn.execute(
                "SELECT count FROM attendance WHERE event = ? AND occurrence = ?", (event, occurrence)
            ).fetchone()
            return int(row[0])

        return await self._db.run(add)

    async def attendance(self, events: list[bytes]) -> dict[bytes, dict[str, int]]:
        def read(conn: sqlite3.Connection) -> dict[bytes, dict[str, int]]:
            out: dict[bytes, dict[str, int]] = {}
            for event in events:
                rows = conn.execute("SELECT occurrence, count FROM attendance WHERE event = ?", (event,))
                out[event] = {str(o): int(c) for o, c in rows}
            return out

        return await self._db.run(read)

    async def suggest(self, member: bytes, event: dict[str, Any], now: int) -> int:
        def add(conn: sqlite3.Connection) -> int:
            held = conn.execute("SELECT count(*) FROM suggestions").fetchone()[0]
            if int(held) >= MAX_SUGGESTIONS:
                raise ChapterError("too_many_suggestions", "the organizers have as many suggestions as they keep")
            cursor = conn.execute(
                "INSERT INTO suggestions (member, at, event) VALUES (?, ?, ?)",
                (member, now, json.dumps(event, sort_keys=True)),
            )
            return int(cursor.lastrowid or 0)

        return await self._db.run(add)

    async def suggestions(self, limit: int) -> list[Suggestion]:
        def read(conn: sqlite3.Connection) -> list[Suggestion]:
            rows = conn.execute(
                "SELECT s.n, m.name, s.at, s.event FROM suggestions AS s JOIN members AS m ON m.id = s.member "
                "ORDER BY s.n DESC LIMIT ?",
                (limit,),
            )
            return [Suggestion(int(n), str(name), int(at), json.loads(e)) for n, name, at, e in rows]

        return await self._db.run(read)

    async def drop_suggestion(self, n: int) -> bool:
        def drop(conn: sqlite3.Connection) -> bool:
            return conn.execute("DELETE FROM suggestions WHERE n = ?", (n,)).rowcount > 0

        return await self._db.run(drop)
