"""How this package talks to SQLite: connections, the one error translation, opening the file.

Every SQLite call in ``storage/`` runs inside ``translate``, the one place
where sqlite3's (and so aiosqlite's) exceptions become ours: a damaged file,
or one that is not a database, is ``StoreCorrupt`` with the recovery advice,
whichever connection met it (the writer, the reader, the admin tables, the
community tables); anything else is ``StorageError``. Damage is recognised by
SQLite's own result codes, not by the wording of its messages.

``open_writer`` prepares the node's file in an order that never changes a file
it should not: the schema version is read first (a too-new file is refused
untouched), then ``quick_check`` runs, and only then are the journal mode and
the migrations written.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import aiosqlite

from storage import schema
from storage.errors import SchemaTooNew, StorageError, StoreClosed, StoreCorrupt

_DAMAGED = frozenset({sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB})


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
    recent_ids_max: int = 30_000
    """Ids held in the small table of the id index before the writer moves
    them into the big one (schema migration 9). Each batch dirties every page
    of the small table, each move every page of the big one: about 30k
    balances the two at 1M records."""
    quick_check_at_open: bool = True
    """Run ``PRAGMA quick_check`` when opening and refuse a damaged file."""
    sweep_batch: int = 1000
    """Most rows one expiry sweep transaction deletes."""


@contextlib.contextmanager
def translate(path: str) -> Iterator[None]:
    """The one place SQLite's exceptions become ours."""
    try:
        yield
    except sqlite3.Error as exc:
        code = getattr(exc, "sqlite_errorcode", None)  # absent on errors Python raises itself
        if code is not None and code & 0xFF in _DAMAGED:  # the primary code, whatever the extended one
            raise StoreCorrupt(path, str(exc)) from exc
        raise StorageError(f"SQLite failed on {path}: {exc}") from exc


class Connection:
    """One aiosqlite connection and the file it names in errors; refuses work once closed."""

    def __init__(self, db: aiosqlite.Connection, path: str) -> None:
        self.db = db
        self.path = path
        self.closed = False

    async def run(self, sql: str, params: Sequence[object] = ()) -> list[sqlite3.Row]:
        """One statement and its rows (none for a write, which outside an
        explicit transaction commits at once)."""
        if self.closed:
            raise StoreClosed(f"the database connection to {self.path} is closed")
        with translate(self.path):
            return list(await self.db.execute_fetchall(sql, params))

    async def close(self) -> None:
        self.closed = True
        await self.db.close()


async def connect(path: str, busy_timeout_ms: int, cache_size_kib: int | None = None) -> aiosqlite.Connection:
    """A connection in autocommit mode (transactions are always explicit here)."""
    db = await aiosqlite.connect(path, isolation_level=None)
    try:
        await db.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        if cache_size_kib is not None:
            await db.execute(f"PRAGMA cache_size = -{int(cache_size_kib)}")
    except BaseException:
        await db.close()
        raise
    return db


async def open_side(path: str, config: StoreConfig | None = None) -> Connection:
    """A connection of its own for small tables beside the records (admin,
    community); the writer must have created the schema. Its rare writes are
    as durable as the writer's."""
    config = config or StoreConfig()
    with translate(path):
        db = await connect(path, config.busy_timeout_ms)
        try:
            await db.execute("PRAGMA synchronous = FULL")
        except BaseException:
            await db.close()
            raise
    return Connection(db, path)


def writer_pragmas(config: StoreConfig) -> tuple[str, ...]:
    """How the write connection uses the file, in order: the durability
    settings that tests/storage/test_power_loss.py holds to a power cut."""
    return (
        "PRAGMA journal_mode = WAL",
        "PRAGMA synchronous = FULL",
        f"PRAGMA wal_autocheckpoint = {int(config.wal_autocheckpoint_pages)}",
        # Give the disk back after a checkpoint instead of keeping a big WAL file.
        "PRAGMA journal_size_limit = 67108864",
    )


async def open_writer(path: str, config: StoreConfig) -> aiosqlite.Connection:
    """The write connection, on a file checked and migrated to this schema."""
    with translate(path):
        db = await connect(path, config.busy_timeout_ms, config.cache_size_kib)
        try:
            # Nothing is written before we know the file is ours to change:
            # a too-new or damaged file is left exactly as it was.
            await check_version(db, path)
            if config.quick_check_at_open:
                await quick_check(path)
            for pragma in writer_pragmas(config):
                await db.execute(pragma)
            await migrate(db)
        except BaseException:
            await db.close()
            raise
    return db


async def open_reader(path: str, config: StoreConfig) -> Connection:
    """A read-only connection; WAL lets it read beside the writer."""
    with translate(path):
        db = await connect(path, config.busy_timeout_ms, config.reader_cache_size_kib)
        try:
            await db.execute("PRAGMA query_only = ON")
        except BaseException:
            await db.close()
            raise
    return Connection(db, path)


async def quick_check(path: str) -> None:
    # On a connection of its own: the check reads every page, and those
    # pages would otherwise sit in the writer's cache for good.
    db = await aiosqlite.connect(path, isolation_level=None)
    try:
        rows = list(await db.execute_fetchall("PRAGMA quick_check"))
    finally:
        await db.close()
    if [tuple(r) for r in rows] != [("ok",)]:
        raise StoreCorrupt(path, "; ".join(str(r[0]) for r in rows[:3]))


async def check_version(db: aiosqlite.Connection, path: str) -> None:
    rows = list(await db.execute_fetchall("PRAGMA user_version"))
    version = int(rows[0][0])
    if version > schema.SCHEMA_VERSION:
        raise SchemaTooNew(
            f"{path} has schema version {version}, newer than this mutualaid understands "
            f"({schema.SCHEMA_VERSION}); upgrade mutualaid"
        )


async def migrate(db: aiosqlite.Connection) -> None:
    """Each migration newer than the file, in its own transaction with its version bump."""
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
