"""``chapter.db``: the file that holds the chapter, and how its transactions run.

The chapter (the roll, invites, proposals and their ballots, mandates, the
organizers' log, the decided settings) lives in a SQLite file of its own,
beside the records, for two reasons:

- **Secret ballots.** It runs with a rollback journal (``journal_mode=DELETE``),
  not WAL, and ``secure_delete``: once a vote commits, the file holds the
  current rows only. A WAL file keeps every committed page in commit order
  until it is overwritten, so a copy of it would show which turnout flag and
  which ballot changed in the same transaction; here nothing does. Within
  the file, who voted (a flag on the electorate row written at opening,
  changed in place) and what was voted (a row keyed by a receipt's hash)
  share no key, no order and no time (tests/storage/test_chapter_secrecy.py
  reads the file's bytes to hold this).
- **Small, rare writes that span several statements** (redeem an invite and
  add the member; check the electorate and store a ballot). Each is a plain
  function run as one transaction on one ``sqlite3`` connection in a worker
  thread, one at a time, so no other coroutine's statement can land inside
  it. aiosqlite, used for the records, hands each statement to its thread
  separately and would let them interleave.

Every SQLite error goes through ``storage.sqlite.translate``. The schema is
versioned by ``PRAGMA user_version`` like the records', with its own
migrations.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Callable
from typing import Any, TypeVar

from storage.errors import SchemaTooNew, StoreClosed
from storage.sqlite import translate

T = TypeVar("T")
Transaction = Callable[..., T]

MIGRATIONS: dict[int, list[str]] = {
    1: [
        # The roll: a chosen name and who invited whom, nothing else. A member
        # is active while they hold a card (card_hash); one who left or whose
        # card a decision retired keeps the entry (history) without a card.
        """
        CREATE TABLE members (
            id          BLOB PRIMARY KEY,
            name        TEXT NOT NULL,
            name_key    TEXT NOT NULL,
            invited_by  BLOB,
            joined_at   INTEGER NOT NULL,
            card_hash   BLOB UNIQUE,
            ended_at    INTEGER,
            ended       TEXT
        ) WITHOUT ROWID
        """,
        "CREATE UNIQUE INDEX members_active_name ON members(name_key) WHERE card_hash IS NOT NULL",
        # Invites: a hash of the code only; kept after use (without a way back
        # to the code) until it would have expired, for the weekly quota.
        """
        CREATE TABLE invites (
            code_hash   BLOB PRIMARY KEY,
            made_by     BLOB,
            made_at     INTEGER NOT NULL,
            expires_at  INTEGER NOT NULL,
            used_at     INTEGER
        ) WITHOUT ROWID
        """,
        "CREATE INDEX invites_made_by ON invites(made_by, made_at)",
        """
        CREATE TABLE proposals (
            n           INTEGER PRIMARY KEY,
            id          BLOB NOT NULL UNIQUE,
            proposer    BLOB NOT NULL,
            title       TEXT NOT NULL,
            text        TEXT,
            type        TEXT NOT NULL,
            effect      TEXT NOT NULL,
            method      TEXT NOT NULL,
            options     TEXT NOT NULL,
            threshold   TEXT NOT NULL,
            quorum      INTEGER NOT NULL,
            ballot      TEXT NOT NULL,
            opened_at   INTEGER NOT NULL,
            closes_at   INTEGER NOT NULL,
            electorate  INTEGER NOT NULL,
            closed_at   INTEGER,
            result      TEXT,
            receipts    BLOB,
            applied     TEXT,
            decision    BLOB
        )
        """,
        "CREATE INDEX proposals_open ON proposals(closed_at, closes_at)",
        # Who may vote on a proposal (frozen when it opens) and whether they
        # did. Written at opening in one go, ordered by member id; a vote flips
        # ``voted`` in place, so the rows keep no trace of when or in what order.
        """
        CREATE TABLE electorate (
            proposal    BLOB NOT NULL,
            member      BLOB NOT NULL,
            voted       INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (proposal, member)
        ) WITHOUT ROWID
        """,
        # What was voted. A proposal gets one ballot slot per elector when it
        # opens, all at once and in the order of their random keys, blank and
        # of fixed width; a vote fills a slot chosen at random in place (the
        # receipt's hash over zeros, the choice padded to its width), so no
        # cell moves and the file keeps no trace of the order of the votes.
        # No member (``voter`` stays zeros unless the ballot is open), no time.
        """
        CREATE TABLE ballots (
            proposal    BLOB NOT NULL,
            slot        BLOB NOT NULL,
            receipt     BLOB NOT NULL,
            choice      TEXT NOT NULL,
            voter       BLOB NOT NULL,
            PRIMARY KEY (proposal, slot)
        ) WITHOUT ROWID
        """,
        """
        CREATE TABLE comments (
            n           INTEGER PRIMARY KEY,
            proposal    BLOB NOT NULL,
            member      BLOB NOT NULL,
            at          INTEGER NOT NULL,
            text        TEXT NOT NULL
        )
        """,
        "CREATE INDEX comments_proposal ON comments(proposal, n)",
        """
        CREATE TABLE mandates (
            member      BLOB NOT NULL,
            proposal    BLOB NOT NULL,
            granted_at  INTEGER NOT NULL,
            ends_at     INTEGER NOT NULL,
            revoked_at  INTEGER,
            PRIMARY KEY (member, proposal)
        ) WITHOUT ROWID
        """,
        """
        CREATE TABLE organizer_log (
            n           INTEGER PRIMARY KEY,
            at          INTEGER NOT NULL,
            organizer   BLOB,
            action      TEXT NOT NULL,
            target      TEXT NOT NULL,
            reason      TEXT NOT NULL
        )
        """,
        "CREATE TABLE settings (name TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID",
        """
        CREATE TABLE decisions (
            seq         INTEGER PRIMARY KEY,
            proposal    BLOB NOT NULL UNIQUE,
            record_id   BLOB NOT NULL
        )
        """,
    ],
    # The mass line (issue 11): answers to the chapter's findings (a note is for
    # its organizers only, and deleted after 90 days), "I'll come" counts per
    # occurrence of an event (no names), and events members suggest.
    2: [
        """
        CREATE TABLE answers (
            n           INTEGER PRIMARY KEY,
            finding     BLOB NOT NULL,
            answer      TEXT NOT NULL,
            note        TEXT,
            at          INTEGER NOT NULL
        )
        """,
        "CREATE INDEX answers_finding ON answers(finding, answer)",
        "CREATE INDEX answers_at ON answers(at) WHERE note IS NOT NULL",
        """
        CREATE TABLE attendance (
            event       BLOB NOT NULL,
            occurrence  TEXT NOT NULL,
            count       INTEGER NOT NULL,
            PRIMARY KEY (event, occurrence)
        ) WITHOUT ROWID
        """,
        """
        CREATE TABLE suggestions (
            n           INTEGER PRIMARY KEY,
            member      BLOB NOT NULL,
            at          INTEGER NOT NULL,
            event       TEXT NOT NULL
        )
        """,
    ],
}
SCHEMA_VERSION = max(MIGRATIONS)
CACHE_KIB = 512
"""The chapter's file is small (a chapter of 500 members and a year of
proposals is a few megabytes): a small page cache keeps a Pi's memory for
the records."""


class ChapterDB:
    """One connection to ``chapter.db``; ``run`` executes a transaction function
    in a worker thread, one at a time. A caller cancelled meanwhile does not
    release the connection before its transaction has ended."""

    def __init__(self, conn: sqlite3.Connection, path: str) -> None:
        self._conn = conn
        self.path = path
        self._lock = asyncio.Lock()
        self._closed = False

    @classmethod
    async def open(cls, path: str) -> ChapterDB:
        conn = await asyncio.to_thread(_connect, path)
        return cls(conn, path)

    async def release_memory(self) -> None:
        """Give SQLite's unused cache pages back (the node's idle trim)."""

        def shrink(conn: sqlite3.Connection) -> None:
            conn.execute("PRAGMA shrink_memory")

        await self.run(shrink)

    async def close(self) -> None:
        async with self._lock:
            self._closed = True
            await asyncio.to_thread(self._conn.close)

    async def run(self, transaction: Transaction[T], *args: Any) -> T:
        """``transaction(conn, *args)`` inside BEGIN IMMEDIATE ... COMMIT (ROLLBACK on any error)."""
        async with self._lock:
            if self._closed:
                raise StoreClosed(f"the chapter database {self.path} is closed")
            work = asyncio.ensure_future(asyncio.to_thread(self._transaction, transaction, *args))
            try:
                return await asyncio.shield(work)
            finally:
                # Cancelled while the thread runs the transaction: hold the lock
                # until it ends, or close() would pull the connection from under it.
                while not work.done():
                    with contextlib.suppress(asyncio.CancelledError):
                        await asyncio.shield(work)

    def _transaction(self, transaction: Transaction[T], *args: Any) -> T:
        with translate(self.path):
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                result = transaction(self._conn, *args)
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")
            return result


def _connect(path: str) -> sqlite3.Connection:
    with translate(path):
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        try:
            conn.execute("PRAGMA busy_timeout = 10000")
            conn.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
            version = int(conn.execute("PRAGMA user_version").fetchone()[0])
            if version > SCHEMA_VERSION:
                raise SchemaTooNew(
                    f"{path} has chapter schema version {version}, newer than this mutualaid understands "
                    f"({SCHEMA_VERSION}); upgrade mutualaid"
                )
            conn.execute("PRAGMA journal_mode = DELETE")
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("PRAGMA secure_delete = ON")
            conn.execute("PRAGMA foreign_keys = OFF")
            _migrate(conn, version)
        except BaseException:
            conn.close()
            raise
    return conn


def _migrate(conn: sqlite3.Connection, version: int) -> None:
    for target in range(version + 1, SCHEMA_VERSION + 1):
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in MIGRATIONS[target]:
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {target}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
