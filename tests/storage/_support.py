# Shared by the storage tests: signed records from fixed seeds (real Ed25519
# signatures, so every id in a failing test is reproducible), and a last-resort
# release of a store whose writer task died or hung; files damaged on purpose.

from __future__ import annotations

import asyncio
import contextlib
import random
import sqlite3
from pathlib import Path

from crypto import NodeIdentity
from protocol.codec import Value
from protocol.records import DEFAULT_TTL, NODE_PROFILE_SLOT, Record, build_record
from storage import RecordStore

NOW = 1_800_000_000

UNDO_16 = (
    "DROP VIEW addresses; DROP TABLE record_addresses; DROP TABLE record_addresses_recent; "
    "CREATE UNIQUE INDEX records_address ON records(author, kind, slot);"
)
"""SQL that takes a file back to before migration 16 (the address index),
for the tests that take a file back further."""


def identity(name: str) -> NodeIdentity:
    """A deterministic identity per name."""
    return NodeIdentity.from_seed(name.encode().ljust(32, b"."))


ALICE = identity("alice")
BOB = identity("bob")


def post(
    author: NodeIdentity = ALICE,
    slot: str = "s1",
    *,
    kind: str = "need",
    created_at: int = NOW - 100,
    expires_at: int | None = None,
    status: str = "open",
    title: str = "Winter coats for two children",
    category: str = "clothing",
    area: str = "u4pru",
    urgency: str | None = None,
    details: str | None = None,
    tags: list[str] | None = None,
    languages: list[str] | None = None,
) -> Record:
    """A need or an offer; only the arguments given differ from a plain open need."""
    body: dict[str, Value] = {
        "kind": kind,
        "slot": slot,
        "created_at": created_at,
        "expires_at": created_at + DEFAULT_TTL if expires_at is None else expires_at,
        "status": status,
        "title": title,
        "category": category,
        "area": area,
    }
    if urgency is not None:
        body["urgency"] = urgency
    if details is not None:
        body["details"] = details
    if tags is not None:
        body["tags"] = list[Value](tags)
    if languages is not None:
        body["languages"] = list[Value](languages)
    return build_record(author, body)


def node_profile(
    author: NodeIdentity = ALICE, *, created_at: int = NOW - 100, areas: tuple[str, ...] = ("u4",)
) -> Record:
    return build_record(
        author,
        {
            "kind": "node",
            "slot": NODE_PROFILE_SLOT,
            "created_at": created_at,
            "expires_at": created_at + DEFAULT_TTL,
            "name": "Neighbourhood pantry",
            "areas": list[Value](areas),
            "urls": ["http://127.0.0.1:8080"],
            "seal_key": author.seal_public_key,
        },
    )


def write_garbage(db_path: str, seed: int = 1) -> None:
    """A file of seeded junk where the database should be."""
    Path(db_path).write_bytes(random.Random(seed).randbytes(8192))


def damage_pages(db_path: str, table: str | None = None) -> None:
    """Overwrite three whole pages in the middle of the file with seeded junk
    (with ``table``: three of that table's pages, wherever the schema put them)."""
    assert not Path(db_path + "-wal").exists() or Path(db_path + "-wal").stat().st_size == 0
    data = bytearray(Path(db_path).read_bytes())
    page = 4096
    pages = len(data) // page
    assert pages > 100
    numbers = [pages * 3 // 10, pages // 2, pages * 7 // 10]
    if table is not None:
        with sqlite3.connect(db_path) as db:
            owned = [
                int(n) - 1 for (n,) in db.execute("SELECT pageno FROM dbstat WHERE name = ? ORDER BY pageno", (table,))
            ]
        assert len(owned) > 10
        numbers = [owned[len(owned) * 3 // 10], owned[len(owned) // 2], owned[len(owned) * 7 // 10]]
    junk = random.Random(7)
    for number in numbers:
        data[number * page : (number + 1) * page] = junk.randbytes(page)
    Path(db_path).write_bytes(bytes(data))


# Long enough that only a deadlock reaches it; a healthy close takes milliseconds.
HANG_GUARD_SECONDS = 10


async def release(store: RecordStore) -> None:
    """Stop the writer task and close both connections, whatever state they are in.

    ``close()`` is the real API and every test calls it first; this runs after
    it so that a test which caught a broken close does not leave aiosqlite's
    non-daemon threads behind to hang the test process at exit."""
    task = store.writer._task
    if not task.done():
        task.cancel()
        with contextlib.suppress(BaseException):
            await task
    await store._reader.db.close()
    await store.writer._db.close()


async def close_or_fail(store: RecordStore) -> None:
    """``await store.close()``, failing the test instead of hanging it forever."""
    try:
        # asyncio.timeout, not wait_for: close() must run in the caller's task,
        # exactly as a caller would run it (wait_for would start a new task and
        # so change the order in which the writer sees the queue).
        async with asyncio.timeout(HANG_GUARD_SECONDS):
            await store.close()
    except TimeoutError:
        raise AssertionError(f"RecordStore.close() did not return within {HANG_GUARD_SECONDS} s") from None
    finally:
        await release(store)
