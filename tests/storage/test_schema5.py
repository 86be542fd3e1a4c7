# Schema 5 on real SQLite files: a file written at schema 4 (rows as that code
# stored them) migrates with its languages, first-seen times and report groups
# filled in; the store keeps "first seen open" across versions; a removal
# deletes the row and refuses every later version of the address, across a
# reopen; and own versions are remembered for replies.

from __future__ import annotations

import contextlib
import sqlite3
from typing import Any

import pytest

from protocol.records import Record, new_version
from storage import Query, RecordStore, schema
from storage.community import CommunityStore
from storage.rows import fts_values, id_key
from storage.weeks import week_of
from tests.storage._support import ALICE, BOB, NOW, close_or_fail, post

V4_INSERT = (
    "INSERT INTO records (seq, id, id_key, author, kind, slot, created_at, expires_at, purge_at, status, category, "
    "area, urgency, raw) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
)
FTS_INSERT = "INSERT INTO records_fts(rowid, title, body, tags) VALUES (?,?,?,?)"


def sql_rows(path: str, statement: str) -> list[tuple[Any, ...]]:
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        return [tuple(row) for row in db.execute(statement)]


def write_schema_4_file(path: str, records: list[Record]) -> None:
    """A database exactly as the schema-4 code left it, holding ``records``."""
    with contextlib.closing(sqlite3.connect(path)) as db:
        for version in range(1, 5):
            for statement in schema.MIGRATIONS[version]:
                db.execute(statement)
        for seq, r in enumerate(records, 1):
            db.execute(
                V4_INSERT,
                (seq, r.id, id_key(r.id), r.author, r.kind, r.slot, r.created_at, r.expires_at,
                 r.expires_at, r.status, r.get("category"), r.get("area"), 1, r.raw),
            )  # fmt: skip
            db.execute(FTS_INSERT, (seq, *fts_values(r.fields)[:3]))  # before migration 10: no facets, rowid = seq
        db.execute("PRAGMA user_version = 4")
        db.commit()


async def test_a_schema_4_file_migrates_with_its_columns_filled(db_path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    spoken = post(slot="es", title="Clases de guitarra")
    spoken = new_version(ALICE, spoken, NOW - 50, {"languages": ["es", "pt-br"]})
    plain = post(BOB, "plain", created_at=NOW - 8 * 86_400)
    gone = new_version(BOB, post(BOB, "gone"), NOW - 10, {"status": "fulfilled"})
    later = new_version(BOB, post(BOB, "later"), NOW - 5, {"languages": ["en"]})
    write_schema_4_file(db_path, [spoken, plain, gone, later])
    monkeypatch.setattr(schema, "FILL_BATCH", 2)  # so the fill runs over more than one batch

    store = await RecordStore.open(db_path)
    try:
        assert sql_rows(db_path, "PRAGMA user_version") == [(schema.SCHEMA_VERSION,)]  # through 5 and on
        found = await store.reads.query(Query(language="pt"), NOW)
        assert [r.id for r in found.records] == [spoken.id]
        assert [r.id for r in (await store.reads.query(Query(language="en"), NOW)).records] == [later.id]
        rows = dict(
            (bytes(r[0]), r[1:])
            for r in sql_rows(db_path, "SELECT id, opened_at, report_area, report_week, languages FROM records")
        )
        assert rows[spoken.id] == (spoken.created_at, "u4p", week_of(spoken.created_at), " es pt-br ")
        assert rows[plain.id] == (plain.created_at, "u4p", week_of(plain.created_at), None)
        # A tombstone stored before schema 5: when it was opened is unknown, never guessed.
        assert rows[gone.id] == (None, "u4p", week_of(gone.created_at), None)
        assert await store.reads.integrity_check() == "ok"
    finally:
        await close_or_fail(store)


async def test_first_seen_open_is_kept_across_versions(db_path: str) -> None:
    store = await RecordStore.open(db_path)
    try:
        first = post(slot="a", created_at=NOW - 5 * 86_400)
        edited = new_version(ALICE, first, NOW - 2 * 86_400, {"title": "Edited"})
        done = new_version(ALICE, edited, NOW - 60, {"status": "fulfilled"})
        late = new_version(BOB, post(BOB, "b", created_at=NOW - 3 * 86_400), NOW - 60, {"status": "fulfilled"})
        for record in (first, edited, done, late):
            assert (await store.writer.put(record, NOW)).status == "accepted"
        opened = {bytes(r[0]): r[1] for r in sql_rows(db_path, "SELECT id, opened_at FROM records")}
        assert opened[done.id] == first.created_at
        assert opened[late.id] is None  # first seen already fulfilled
    finally:
        await close_or_fail(store)
    community = await CommunityStore.open(db_path)
    try:
        hours = await community.fulfilment_hours(NOW - 30 * 86_400, NOW)
        assert hours == [((done.created_at - first.created_at) // 3600, 1)]
    finally:
        await community.close()


async def test_a_removed_address_stays_removed_across_a_reopen(db_path: str) -> None:
    store = await RecordStore.open(db_path)
    record = post(slot="spam", title="Cheap phones")
    kept = post(slot="kept", title="Phones for the shelter")
    try:
        await store.writer.put_many([record, kept], NOW)
        assert await store.writer.remove(record.address, record.id, "spam", NOW) is True
        assert await store.reads.get(record.id, NOW) is None
        assert await store.reads.held_ids([record.id]) == set()
        assert await store.reads.get_raw_many([record.id], NOW) == []
        assert [r.id for r in (await store.reads.query(Query(text="phones"), NOW)).records] == [kept.id]
        assert await store.writer.remove(record.address, record.id, "again", NOW) is False
    finally:
        await close_or_fail(store)
    store = await RecordStore.open(db_path)
    try:
        later = new_version(ALICE, record, NOW + 1, {"title": "Cheap phones, now cheaper"})
        outcome = await store.writer.put(later, NOW + 1)
        assert (outcome.status, outcome.reason) == ("rejected", "removed")
        assert (await store.writer.put(record, NOW)).reason == "removed"
        assert [r.id for r in (await store.reads.query(Query(text="phones"), NOW + 1)).records] == [kept.id]
        assert sql_rows(db_path, "SELECT reason FROM removals") == [("again",)]
    finally:
        await close_or_fail(store)


async def test_own_versions_are_remembered_until_the_post_is_swept(db_path: str) -> None:
    store = await RecordStore.open(db_path)
    try:
        first = post(slot="mine", expires_at=NOW + 100)
        await store.writer.put_own(first, b"h" * 32, NOW)
        second = new_version(ALICE, first, NOW, {"title": "Second"})
        await store.writer.put_own(second, None, NOW)
        await store.writer.put(post(BOB, "theirs"), NOW)
        assert {bytes(r[0]) for r in sql_rows(db_path, "SELECT id FROM own_versions")} == {first.id, second.id}
        assert sql_rows(db_path, "SELECT count(*) FROM manage_tokens") == [(1,)]
        assert await store.writer.sweep(NOW + 101) == 1
        assert sql_rows(db_path, "SELECT count(*) FROM own_versions") == [(0,)]
    finally:
        await close_or_fail(store)
