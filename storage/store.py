"""RecordStore: the node's records in one SQLite file, safe on an SD card.

Durability first: WAL with ``synchronous=FULL`` (NORMAL lost acknowledged rows
under simulated power loss on these machines), and ``put_many`` returns only
after COMMIT. To pay for FULL's fsyncs, one writer task owns the write
connection and folds every batch waiting in its queue into one transaction,
so a burst of small puts costs one commit. Readers use a second connection;
WAL lets them run beside the writer.

Within a transaction the writer reads what the batch collides with (ids
already held, current versions of its addresses) in a few set queries, then
decides each record in Python in arrival order, then writes. One bad record
gets its own ``rejected`` outcome and never spoils the batch.

The store trusts that records were verified (``protocol.records.accept_record``)
before they reach it; it re-checks only what depends on what it holds and on
the clock: duplicates, which version outranks which, expiry.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import aiosqlite

from protocol.filters import SyncFilter
from protocol.records import (
    MAX_FUTURE_SKEW,
    Record,
    VersionKey,
    parse_record,
    replaces,
    version_key,
)
from storage import schema
from storage.errors import SchemaTooNew, StorageError, StoreClosed, StoreCorrupt
from storage.query import (
    REPORT_AREA_CHARS,
    URGENCY_RANK,
    Page,
    Query,
    build_sql,
    languages_column,
    next_cursor,
    report_week,
)

Status = Literal["accepted", "duplicate", "superseded", "rejected"]
_CHUNK = 300  # rows per IN (...) lookup; 3 parameters each stays far below SQLite's limit
FLAG_DAYS = 30
"""A member's flag is kept this long at most, and only while its post is held
(the expiry sweep deletes the rest; an organizer's removal deletes its flags)."""


@dataclass(frozen=True)
class StoreConfig:
    """How the store uses SQLite."""

    max_batch_records: int = 2000
    """Most records folded into one write transaction."""
    busy_timeout_ms: int = 10_000
    """How long a connection waits on a lock held by another process."""
    cache_size_kib: int = 32768
    """The writer's SQLite page cache; its random index inserts stay cheap
    while the indexes fit. Filled only as pages are written."""
    reader_cache_size_kib: int = 8192
    """The reader's page cache: queries touch few pages, and what a big sync
    reads would otherwise stay resident."""
    wal_autocheckpoint_pages: int = 10_000
    """WAL pages (4 KiB) before SQLite copies them back into the database.
    Rarer checkpoints write a page touched by many batches once, not once per
    batch: this halved the commit cost of sustained ingest at 100k records."""
    quick_check_at_open: bool = True
    """Run ``PRAGMA quick_check`` when opening and refuse a damaged file."""
    sweep_batch: int = 1000
    """Most rows one expiry sweep transaction deletes."""


@dataclass(frozen=True)
class PutOutcome:
    """What happened to one record handed to ``put_many``."""

    status: Status
    id: bytes
    reason: str | None = None
    """For ``rejected``: the slug (``expired``, ``after_tombstone``...)."""
    replaced: bytes | None = None
    """For ``accepted``: the id of the older version it replaced, if any."""


@dataclass
class _Current:
    seq: int | None  # None: inserted earlier in this same batch
    id: bytes
    created_at: int
    expires_at: int
    purge_at: int
    status: str
    raw: bytes
    opened_at: int | None

    @property
    def version_key(self) -> VersionKey:
        return version_key(self.status, self.created_at, self.id)


@dataclass
class _PutJob:
    records: Sequence[Record]
    now: int
    future: asyncio.Future[list[PutOutcome]]
    token_hash: bytes | None = None  # for put_own: saved with the record, in its transaction
    own: bool = False  # a version of this node's own post: its id goes in own_versions


@dataclass
class _SweepJob:
    now: int
    future: asyncio.Future[int]


@dataclass
class _RemoveJob:
    address: tuple[bytes, str, str]
    record_id: bytes
    reason: str
    now: int
    future: asyncio.Future[bool]


class _Stop:
    """Queued by ``close``: the writer finishes what is ahead of it, then ends."""


@contextlib.contextmanager
def _translate(path: str) -> Iterator[None]:
    """The one place SQLite's exceptions become ours."""
    try:
        yield
    except sqlite3.DatabaseError as exc:
        message = str(exc)
        if "malformed" in message or "not a database" in message:
            raise StoreCorrupt(path, message) from exc
        raise StorageError(f"SQLite failed on {path}: {message}") from exc


def id_key(record_id: bytes) -> int:
    """The indexed stand-in for an id: its first 8 bytes as a signed integer."""
    return int.from_bytes(record_id[:8], "big", signed=True)


def fts_values(fields: Mapping[str, Any]) -> tuple[str, str, str]:
    """The (title, body, tags) text indexed for a record; must be deterministic
    because a contentless FTS5 row is deleted by repeating exactly these values."""
    title = str(fields.get("title") or fields.get("name") or "")
    body = "\n".join(str(fields[k]) for k in ("details", "give_back", "quantity") if k in fields)
    tags = " ".join([str(fields.get("category") or ""), *(str(t) for t in fields.get("tags") or ())])
    return title, body, tags.strip()


class RecordStore:
    """Open with ``await RecordStore.open(path)``; close with ``await store.close()``."""

    def __init__(
        self, path: str, writer: aiosqlite.Connection, reader: aiosqlite.Connection, config: StoreConfig
    ) -> None:
        self.path = path
        self.config = config
        self._writer_db = writer
        self._reader_db = reader
        self._queue: asyncio.Queue[_PutJob | _SweepJob | _RemoveJob | _Stop] = asyncio.Queue()
        self._removed: set[tuple[bytes, str, str]] = set()
        """Addresses an organizer removed: no version of them is stored again."""
        self._next_seq = 1
        self._closed = False
        self._task: asyncio.Task[None] | None = None

    # -- life cycle -------------------------------------------------------

    @classmethod
    async def open(cls, path: str, config: StoreConfig | None = None) -> RecordStore:
        config = config or StoreConfig()
        with _translate(path):
            writer = await cls._connect(path, config)
            try:
                # Nothing is written before we know the file is ours to change:
                # a too-new or damaged file is left exactly as it was.
                await cls._check_version(writer, path)
                if config.quick_check_at_open:
                    await cls._quick_check(path)
                await writer.execute("PRAGMA journal_mode = WAL")
                await writer.execute("PRAGMA synchronous = FULL")
                await writer.execute(f"PRAGMA wal_autocheckpoint = {int(config.wal_autocheckpoint_pages)}")
                # Give the disk back after a checkpoint instead of keeping a big WAL file.
                await writer.execute("PRAGMA journal_size_limit = 67108864")
                await cls._migrate(writer)
                reader = await cls._connect(path, config)
                await reader.execute("PRAGMA query_only = ON")
                await reader.execute(f"PRAGMA cache_size = -{int(config.reader_cache_size_kib)}")
            except BaseException:
                await writer.close()
                raise
        store = cls(path, writer, reader, config)
        rows = await store._fetch("SELECT author, kind, slot FROM removals")
        store._removed = {(bytes(r[0]), str(r[1]), str(r[2])) for r in rows}
        store._task = asyncio.create_task(store._run_writer(), name=f"record-writer {path}")
        return store

    @staticmethod
    async def _connect(path: str, config: StoreConfig) -> aiosqlite.Connection:
        db = await aiosqlite.connect(path, isolation_level=None)
        try:
            await db.execute(f"PRAGMA busy_timeout = {int(config.busy_timeout_ms)}")
            await db.execute(f"PRAGMA cache_size = -{int(config.cache_size_kib)}")
        except BaseException:
            await db.close()
            raise
        return db

    @staticmethod
    async def _quick_check(path: str) -> None:
        # On a connection of its own: the check reads every page, and those
        # pages would otherwise sit in the writer's cache for good.
        db = await aiosqlite.connect(path, isolation_level=None)
        try:
            rows = list(await db.execute_fetchall("PRAGMA quick_check"))
        finally:
            await db.close()
        if [tuple(r) for r in rows] != [("ok",)]:
            raise StoreCorrupt(path, "; ".join(str(r[0]) for r in rows[:3]))

    @staticmethod
    async def _check_version(db: aiosqlite.Connection, path: str) -> None:
        rows = list(await db.execute_fetchall("PRAGMA user_version"))
        version = int(rows[0][0])
        if version > schema.SCHEMA_VERSION:
            raise SchemaTooNew(
                f"{path} has schema version {version}, newer than this mutualaid understands "
                f"({schema.SCHEMA_VERSION}); upgrade mutualaid"
            )

    @staticmethod
    async def _migrate(db: aiosqlite.Connection) -> None:
        rows = list(await db.execute_fetchall("PRAGMA user_version"))
        version = int(rows[0][0])
        for target in range(version + 1, schema.SCHEMA_VERSION + 1):
            await db.execute("BEGIN IMMEDIATE")
            try:
                for statement in schema.MIGRATIONS[target]:
                    await db.execute(statement)
                step = schema.DATA_STEPS.get(target)
                if step is not None:
                    await step(db)
                await db.execute(f"PRAGMA user_version = {target}")
                await db.execute("COMMIT")
            except BaseException:
                await db.execute("ROLLBACK")
                raise

    async def close(self) -> None:
        """Finish queued writes, then close both connections."""
        if self._closed:
            return
        self._closed = True
        if self._task is not None:
            await self._queue.put(_Stop())
            await self._task
        await self._reader_db.close()
        await self._writer_db.close()

    async def __aenter__(self) -> RecordStore:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- writes -------------------------------------------------------------

    async def put_many(self, records: Sequence[Record], now: int) -> list[PutOutcome]:
        """Store verified records; one outcome each, in order, after COMMIT."""
        if self._closed:
            raise StoreClosed("the record store is closed")
        if not records:
            return []
        future: asyncio.Future[list[PutOutcome]] = asyncio.get_running_loop().create_future()
        await self._queue.put(_PutJob(list(records), now, future))
        return await future

    async def put(self, record: Record, now: int) -> PutOutcome:
        return (await self.put_many([record], now))[0]

    async def put_own(self, record: Record, token_hash: bytes | None, now: int) -> PutOutcome:
        """Store a record this node signed for a member, with the hash of its
        manage token, in one transaction: a post is never stored unmanageable.
        ``token_hash=None``: a new version of a post that has its token already."""
        if self._closed:
            raise StoreClosed("the record store is closed")
        future: asyncio.Future[list[PutOutcome]] = asyncio.get_running_loop().create_future()
        await self._queue.put(_PutJob([record], now, future, token_hash, own=True))
        return (await future)[0]

    async def remove(self, address: tuple[bytes, str, str], record_id: bytes, reason: str, now: int) -> bool:
        """An organizer's removal: the address's row is deleted and no version of
        it is stored again. True if a row was deleted (False: already gone)."""
        if self._closed:
            raise StoreClosed("the record store is closed")
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        await self._queue.put(_RemoveJob(address, record_id, reason, now, future))
        return await future

    def is_removed(self, address: tuple[bytes, str, str]) -> bool:
        return address in self._removed

    async def current_own(self, record_id: bytes, now: int) -> Record | None:
        """The live version of this node's own post of which ``record_id`` was
        once a version (a manage link keeps working after edits), or None."""
        rows = await self._fetch(
            "SELECT r.raw FROM own_versions AS v JOIN records AS r "
            "ON r.author = v.author AND r.kind = v.kind AND r.slot = v.slot "
            "WHERE v.id = ? AND r.expires_at > ?",
            (record_id, now),
        )
        return parse_record(bytes(rows[0][0]), validate=False) if rows else None

    async def managed_by(self, token_hash: bytes, now: int, limit: int = 100) -> list[Record]:
        """The live posts whose manage token has this hash, newest first (a need
        and its linked offer share a token). The table holds only this node's
        own posts, so a scan of it is small."""
        rows = await self._fetch(
            "SELECT r.raw FROM manage_tokens AS m JOIN records AS r "
            "ON r.author = m.author AND r.kind = m.kind AND r.slot = m.slot "
            "WHERE m.token_hash = ? AND r.expires_at > ? "
            "ORDER BY coalesce(r.opened_at, r.created_at) DESC, r.kind, r.seq LIMIT ?",
            (token_hash, now, limit),
        )
        return [parse_record(bytes(row[0]), validate=False) for row in rows]

    async def replies_from(self, author: bytes, about: bytes, now: int) -> int:
        """Live replies signed by ``author`` about the post version ``about`` or,
        when that is a version of this node's own post, about any of its versions
        (other nodes' earlier versions are not known here)."""
        rows = await self._fetch(
            "SELECT count(*) FROM records WHERE about IN (SELECT v.id FROM own_versions AS v JOIN own_versions AS w "
            "ON v.author = w.author AND v.kind = w.kind AND v.slot = w.slot WHERE w.id = ? UNION SELECT ?) "
            "AND kind = 'reply' AND author = ? AND expires_at > ?",
            (about, about, author, now),
        )
        return int(rows[0][0])

    async def removal_reason(self, record_id: bytes) -> str | None:
        """The organizers' reason, if ``record_id`` is a removed version (or an
        earlier version of a removed post of this node)."""
        rows = await self._fetch(
            "SELECT reason FROM removals WHERE record_id = ? UNION ALL "
            "SELECT m.reason FROM own_versions AS v JOIN removals AS m "
            "ON m.author = v.author AND m.kind = v.kind AND m.slot = v.slot WHERE v.id = ? LIMIT 1",
            (record_id, record_id),
        )
        return str(rows[0][0]) if rows else None

    async def manage_token_hash(self, author: bytes, kind: str, slot: str) -> bytes | None:
        rows = await self._fetch(
            "SELECT token_hash FROM manage_tokens WHERE author = ? AND kind = ? AND slot = ?", (author, kind, slot)
        )
        return bytes(rows[0][0]) if rows else None

    async def sweep(self, now: int) -> int:
        """Delete rows whose time is up; returns how many. Runs in the writer."""
        if self._closed:
            raise StoreClosed("the record store is closed")
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        await self._queue.put(_SweepJob(now, future))
        return await future

    async def _run_writer(self) -> None:
        held: _PutJob | _SweepJob | _RemoveJob | _Stop | None = None  # taken from the queue, not yet run
        while True:
            job = held if held is not None else await self._queue.get()
            held = None
            if isinstance(job, _Stop):
                return
            if isinstance(job, _SweepJob):
                await self._settle([job], self._sweep_rows(job.now))
                continue
            if isinstance(job, _RemoveJob):
                await self._settle([job], self._remove_rows(job))
                continue
            jobs = [job]
            count = len(job.records)
            while count < self.config.max_batch_records and not self._queue.empty():
                more = self._queue.get_nowait()
                if not isinstance(more, _PutJob):
                    held = more
                    break
                jobs.append(more)
                count += len(more.records)
            await self._settle(jobs, self._write(jobs))

    async def _settle(self, jobs: Sequence[_PutJob | _SweepJob | _RemoveJob], work: Awaitable[Any]) -> None:
        """Run one transaction and hand its results (or its error) to every waiter."""
        try:
            with _translate(self.path):
                result = await work
        except Exception as exc:  # every waiter learns the transaction failed
            with contextlib.suppress(Exception):
                await self._writer_db.execute("ROLLBACK")
            for job in jobs:
                if not job.future.done():
                    job.future.set_exception(exc)
            return
        if isinstance(jobs[0], _SweepJob | _RemoveJob):
            if not jobs[0].future.done():  # its caller may have been cancelled
                jobs[0].future.set_result(result)
            return
        offset = 0
        for job in jobs:
            assert isinstance(job, _PutJob)
            outcomes = result[offset : offset + len(job.records)]
            offset += len(job.records)
            if not job.future.done():
                job.future.set_result(outcomes)

    async def _write(self, jobs: Sequence[_PutJob]) -> list[PutOutcome]:
        db = self._writer_db
        work = [(record, job.now) for job in jobs for record in job.records]
        await db.execute("BEGIN IMMEDIATE")
        # Read under the write lock: another process (a CLI beside the node)
        # may have written since our last transaction.
        rows = list(await db.execute_fetchall("SELECT coalesce(max(seq), 0) FROM records"))
        self._next_seq = int(rows[0][0]) + 1
        # An id names its content, address included, and only the current
        # version of an address is kept: a held id is its address's current row.
        current = await self._current_versions({r.address for r, _ in work})
        outcomes: list[PutOutcome] = []
        deletes: list[_Current] = []
        inserts: dict[tuple[bytes, str, str], tuple[Record, int, int | None]] = {}
        for record, now in work:
            outcome = self._decide(record, now, current, deletes, inserts)
            outcomes.append(outcome)
        await self._apply(deletes, list(inserts.values()))
        tokens = [
            (*job.records[0].address, job.token_hash)
            for job in jobs
            if job.token_hash is not None and job.records[0].address in inserts
        ]
        if tokens:
            await db.executemany("INSERT OR REPLACE INTO manage_tokens VALUES (?, ?, ?, ?)", tokens)
        own = [
            (record.id, *record.address)
            for job in jobs
            if job.own
            for record in job.records
            if inserts.get(record.address, (None,))[0] is record
        ]
        if own:
            await db.executemany("INSERT OR IGNORE INTO own_versions VALUES (?, ?, ?, ?)", own)
        await db.execute("COMMIT")
        return outcomes

    def _decide(
        self,
        record: Record,
        now: int,
        current: dict[tuple[bytes, str, str], _Current],
        deletes: list[_Current],
        inserts: dict[tuple[bytes, str, str], tuple[Record, int, int | None]],
    ) -> PutOutcome:
        if record.address in self._removed:
            return PutOutcome("rejected", record.id, "removed")
        old = current.get(record.address)
        if old is not None and old.id == record.id:
            return PutOutcome("duplicate", record.id)
        if record.expires_at <= now:
            return PutOutcome("rejected", record.id, "expired")
        if record.created_at > now + MAX_FUTURE_SKEW:
            return PutOutcome("rejected", record.id, "from_future")
        purge_at = record.expires_at
        # When the post was first seen open: kept across versions; unknown when
        # the first version seen here is already a tombstone.
        opened_at = None if record.is_tombstone else record.created_at
        if old is not None:
            if not replaces(record.version_key, old.version_key):
                return PutOutcome("superseded", record.id)
            if old.seq is not None:
                deletes.append(old)
            # The row outlives every version it replaced, so a late copy of
            # one of them meets it and is turned away as superseded.
            purge_at = max(purge_at, old.purge_at)
            if old.opened_at is not None:
                opened_at = old.opened_at
        current[record.address] = _Current(
            None, record.id, record.created_at, record.expires_at, purge_at, record.status, record.raw, opened_at
        )
        inserts[record.address] = (record, purge_at, opened_at)
        return PutOutcome("accepted", record.id, replaced=old.id if old else None)

    async def _current_versions(self, addresses: set[tuple[bytes, str, str]]) -> dict[tuple[bytes, str, str], _Current]:
        found: dict[tuple[bytes, str, str], _Current] = {}
        items = list(addresses)
        for start in range(0, len(items), _CHUNK):
            chunk = items[start : start + _CHUNK]
            params = [value for address in chunk for value in address]
            rows = await self._writer_db.execute_fetchall(
                # VALUES as the outer loop of a join makes each address an index
                # lookup; a row-value IN (VALUES ...) would scan the whole index.
                "SELECT r.seq, r.id, r.created_at, r.expires_at, r.purge_at, r.status, r.raw, r.author, r.kind, "
                f"r.slot, r.opened_at FROM (VALUES {','.join(['(?,?,?)'] * len(chunk))}) AS v CROSS JOIN records AS r "
                "ON r.author = v.column1 AND r.kind = v.column2 AND r.slot = v.column3",
                params,
            )
            for row in rows:
                found[(bytes(row[7]), row[8], row[9])] = _Current(
                    row[0], bytes(row[1]), row[2], row[3], row[4], row[5], bytes(row[6]), row[10]
                )
        return found

    async def _apply(self, deletes: list[_Current], inserts: list[tuple[Record, int, int | None]]) -> None:
        db = self._writer_db
        if deletes:
            await self._delete_rows([(row.seq, row.raw) for row in deletes if row.seq is not None])
        if not inserts:
            return
        rows = []
        fts_rows = []
        for record, purge_at, opened_at in inserts:
            seq = self._next_seq
            self._next_seq += 1
            rows.append(
                (
                    seq,
                    record.id,
                    id_key(record.id),
                    record.author,
                    record.kind,
                    record.slot,
                    record.created_at,
                    record.expires_at,
                    purge_at,
                    record.status,
                    record.get("category"),
                    record.get("area"),
                    URGENCY_RANK.get(record.get("urgency", "normal"), 1),
                    record.raw,
                    languages_column(record.fields),
                    opened_at,
                    record.get("about"),
                    record.get("to"),
                    None if record.get("area") is None else str(record.get("area"))[:REPORT_AREA_CHARS],
                    report_week(record.created_at if opened_at is None else opened_at),
                )
            )
            fts_rows.append((seq, *fts_values(record.fields)))
        await db.executemany(
            "INSERT INTO records (seq, id, id_key, author, kind, slot, created_at, expires_at, purge_at, status, "
            "category, area, urgency, raw, languages, opened_at, about, recipient, report_area, report_week) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            rows,
        )
        await db.executemany("INSERT INTO records_fts(rowid, title, body, tags) VALUES (?,?,?,?)", fts_rows)

    async def _delete_rows(self, rows: list[tuple[int, bytes]]) -> None:
        db = self._writer_db
        # Unvalidated on purpose: a row stored under older rules must still be deletable.
        fts = [(seq, *fts_values(parse_record(raw, validate=False).fields)) for seq, raw in rows]
        await db.executemany(
            "INSERT INTO records_fts(records_fts, rowid, title, body, tags) VALUES ('delete', ?, ?, ?, ?)", fts
        )
        await db.executemany("DELETE FROM records WHERE seq = ?", [(seq,) for seq, _ in rows])

    async def _sweep_rows(self, now: int) -> int:
        db = self._writer_db
        await db.execute("BEGIN IMMEDIATE")
        rows = await db.execute_fetchall(
            "SELECT seq, raw FROM records WHERE purge_at <= ? ORDER BY purge_at LIMIT ?",
            (now, self.config.sweep_batch),
        )
        doomed = [(int(row[0]), bytes(row[1])) for row in rows]
        if doomed:
            await self._delete_rows(doomed)
            for table in ("manage_tokens", "own_versions"):
                await db.execute(
                    f"DELETE FROM {table} WHERE NOT EXISTS (SELECT 1 FROM records AS r WHERE r.author = "
                    f"{table}.author AND r.kind = {table}.kind AND r.slot = {table}.slot)"
                )
        # Flags go with their post (expired or gone), and after FLAG_DAYS in any case.
        await db.execute(
            "DELETE FROM flags WHERE flagged_at <= ? OR NOT EXISTS (SELECT 1 FROM records AS r WHERE "
            "r.author = flags.author AND r.kind = flags.kind AND r.slot = flags.slot AND r.expires_at > ?)",
            (now - FLAG_DAYS * 86_400, now),
        )
        await db.execute("COMMIT")
        return len(doomed)

    async def _remove_rows(self, job: _RemoveJob) -> bool:
        db = self._writer_db
        await db.execute("BEGIN IMMEDIATE")
        rows = await db.execute_fetchall(
            "SELECT seq, raw FROM records WHERE author = ? AND kind = ? AND slot = ?", job.address
        )
        doomed = [(int(row[0]), bytes(row[1])) for row in rows]
        if doomed:
            await self._delete_rows(doomed)
        await db.execute("DELETE FROM flags WHERE author = ? AND kind = ? AND slot = ?", job.address)
        await db.execute(
            "INSERT OR REPLACE INTO removals VALUES (?, ?, ?, ?, ?, ?)",
            (*job.address, job.record_id, job.reason, job.now),
        )
        await db.execute("COMMIT")
        self._removed.add(job.address)
        return bool(doomed)

    # -- reads ----------------------------------------------------------------

    async def _fetch(self, sql: str, params: Sequence[object] = ()) -> list[sqlite3.Row]:
        if self._closed:
            raise StoreClosed("the record store is closed")
        with _translate(self.path):
            return list(await self._reader_db.execute_fetchall(sql, params))

    async def get(self, record_id: bytes, now: int) -> Record | None:
        """The live record with this id (unexpired; tombstones included)."""
        rows = await self._fetch(
            "SELECT raw FROM records WHERE id_key = ? AND id = ? AND expires_at > ?",
            (id_key(record_id), record_id, now),
        )
        return parse_record(bytes(rows[0][0]), validate=False) if rows else None

    async def get_by_address(self, author: bytes, kind: str, slot: str, now: int) -> Record | None:
        rows = await self._fetch(
            "SELECT raw FROM records WHERE author = ? AND kind = ? AND slot = ? AND expires_at > ?",
            (author, kind, slot, now),
        )
        return parse_record(bytes(rows[0][0]), validate=False) if rows else None

    async def _rows_by_id(
        self, ids: Sequence[bytes], columns: str, where: str = "", params: Sequence[object] = ()
    ) -> list[sqlite3.Row]:
        """Rows for ``ids`` (first column must be ``id``), looked up by id_key in chunks;
        rows whose full id is not asked for (an id_key collision) are dropped."""
        out: list[sqlite3.Row] = []
        for start in range(0, len(ids), _CHUNK):
            chunk = set(ids[start : start + _CHUNK])
            rows = await self._fetch(
                f"SELECT {columns} FROM records WHERE id_key IN ({','.join('?' * len(chunk))}) {where}",
                [*(id_key(i) for i in chunk), *params],
            )
            out.extend(row for row in rows if bytes(row[0]) in chunk)
        return out

    async def held_ids(self, ids: Sequence[bytes]) -> set[bytes]:
        """Which of ``ids`` this store holds (current versions, expired or not):
        the cheap duplicate check before any signature work."""
        return {bytes(row[0]) for row in await self._rows_by_id(ids, "id")}

    async def get_raw_many(self, ids: Sequence[bytes], now: int) -> list[bytes]:
        """Raw bytes of the live records among ``ids`` (for sending to a peer)."""
        return [bytes(row[1]) for row in await self._rows_by_id(ids, "id, raw", "AND expires_at > ?", [now])]

    async def query(self, query: Query, now: int) -> Page:
        sql, params = build_sql(query, now)
        rows = await self._fetch(sql, params)
        more = len(rows) > query.limit
        rows = rows[: query.limit]
        records = [parse_record(bytes(row[3]), validate=False) for row in rows]
        cursor = next_cursor(query, (rows[-1][0], rows[-1][1], rows[-1][2])) if more else None
        return Page(records, cursor)

    async def sync_index(self, sync_filter: SyncFilter, now: int) -> list[tuple[int, bytes]]:
        """The live set under ``sync_filter`` as sorted (created_at, id) pairs.

        Only two columns cross into Python; no record is parsed."""
        if not sync_filter.kinds:
            return []
        where = ["expires_at > ?", f"kind IN ({','.join('?' * len(sync_filter.kinds))})"]
        params: list[object] = [now, *sorted(sync_filter.kinds)]
        if sync_filter.areas is not None:
            ranges = ["(area >= ? AND area < ?)" for _ in sync_filter.areas]
            where.append(f"(area IS NULL OR {' OR '.join(ranges) or '0'})")
            for area in sync_filter.areas:
                params.extend([area, area + "~"])
        rows = await self._fetch(
            f"SELECT created_at, id FROM records WHERE {' AND '.join(where)} ORDER BY created_at, id", params
        )
        return [(int(row[0]), bytes(row[1])) for row in rows]

    async def counts(self, now: int) -> dict[tuple[str, str], int]:
        """Live records by (kind, status)."""
        rows = await self._fetch(
            "SELECT kind, status, count(*) FROM records WHERE expires_at > ? GROUP BY kind, status", (now,)
        )
        return {(row[0], row[1]): int(row[2]) for row in rows}

    async def release_memory(self) -> None:
        """Give SQLite's unused cache pages back (called when the node is idle)."""
        if self._closed:
            return
        with _translate(self.path):
            await self._reader_db.execute("PRAGMA shrink_memory")
            await self._writer_db.execute("PRAGMA shrink_memory")

    async def integrity_check(self) -> str:
        rows = await self._fetch("PRAGMA integrity_check")
        return "; ".join(str(row[0]) for row in rows)

    async def iter_raw(self, now: int, batch: int = 1000) -> AsyncIterator[bytes]:
        """Every live record's raw bytes, oldest first, a batch at a time."""
        last = -1
        while True:
            rows = await self._fetch(
                "SELECT seq, raw FROM records WHERE seq > ? AND expires_at > ? ORDER BY seq LIMIT ?",
                (last, now, batch),
            )
            if not rows:
                return
            for row in rows:
                yield bytes(row[1])
            last = int(rows[-1][0])
