"""What the chapter decided that the node keeps: settings by name, and the chain of its decisions.

Settings are JSON values by name (the categories in force, the invite
quota...); what each means, its default and its bounds are the node's
(``node/chapter/settings.py``), this only keeps them. ``founded_at`` marks
the end of the founding period (the first ``organizers`` decision applied).
The decisions table indexes the chapter's decision records by their place
in the chain.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from storage.chapter.db import ChapterDB


def put_setting(conn: sqlite3.Connection, name: str, value: Any) -> None:
    conn.execute("INSERT OR REPLACE INTO settings (name, value) VALUES (?, ?)", (name, json.dumps(value)))


class Settings:
    def __init__(self, db: ChapterDB) -> None:
        self._db = db

    async def all(self) -> dict[str, Any]:
        def read(conn: sqlite3.Connection) -> dict[str, Any]:
            return {str(n): json.loads(v) for n, v in conn.execute("SELECT name, value FROM settings")}

        return await self._db.run(read)

    async def put(self, values: dict[str, Any]) -> None:
        def write(conn: sqlite3.Connection) -> None:
            for name, value in values.items():
                put_setting(conn, name, value)

        await self._db.run(write)

    async def last_decision(self) -> tuple[int, bytes] | None:
        """(seq, record id) of the chapter's latest published decision."""

        def read(conn: sqlite3.Connection) -> tuple[int, bytes] | None:
            row = conn.execute("SELECT seq, record_id FROM decisions ORDER BY seq DESC LIMIT 1").fetchone()
            return None if row is None else (int(row[0]), bytes(row[1]))

        return await self._db.run(read)

    async def published(self, seq: int, proposal: bytes, record_id: bytes) -> None:
        """Decision ``seq`` (the record ``record_id``) was published for ``proposal``."""

        def write(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO decisions (seq, proposal, record_id) VALUES (?, ?, ?)", (seq, proposal, record_id)
            )
            conn.execute("UPDATE proposals SET decision = ? WHERE id = ?", (record_id, proposal))

        await self._db.run(write)
