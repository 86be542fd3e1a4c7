# The id index in two tables (schema migration 9): new ids go to a small
# table, and the writer moves them into the big one in key order once it holds
# StoreConfig.recent_ids_max. Every lookup by id reads both, so a record is
# found whichever table holds its id, before and after a move; a replaced
# or swept record leaves whichever table held it; and a file of schema 8
# is migrated with every id in the big table.

from __future__ import annotations

import sqlite3

from protocol.records import new_version
from storage import RecordStore, schema
from storage.sqlite import StoreConfig
from tests.storage._support import ALICE, BOB, NOW, post

SMALL = StoreConfig(recent_ids_max=10)
REPORT_INDEX = next(s for v in range(1, 9) for s in schema.MIGRATIONS[v] if "INDEX records_report" in s)
"""The report's index, as migrations 6 to 11 left it (migration 12 drops it)."""


def tables(path: str) -> tuple[int, int]:
    """How many ids (big table, recent table) the file holds."""
    with sqlite3.connect(path) as db:
        big = db.execute("SELECT count(*) FROM record_ids").fetchone()[0]
        recent = db.execute("SELECT count(*) FROM record_ids_recent").fetchone()[0]
    return int(big), int(recent)


async def test_ids_move_to_the_big_table_in_bulk_and_are_found_in_either(db_path: str) -> None:
    store = await RecordStore.open(db_path, SMALL)
    try:
        first = [post(ALICE, f"a{i}", title=f"Item {i}") for i in range(6)]
        await store.writer.put_many(first, NOW)
        assert tables(db_path) == (0, 6)  # under the threshold: all recent
        second = [post(BOB, f"b{i}", title=f"Thing {i}") for i in range(6)]
        await store.writer.put_many(second, NOW)
        assert tables(db_path) == (12, 0)  # 12 reached the threshold: moved in one go
        third = [post(BOB, f"c{i}", title=f"Other {i}") for i in range(3)]
        await store.writer.put_many(third, NOW)
        assert tables(db_path) == (12, 3)
        held = first + second + third
        for record in held:
            found = await store.reads.get(record.id, NOW)
            assert found is not None and found.id == record.id
            assert [r.id for r in await store.reads.by_id_prefix(record.id.hex()[:20], NOW)] == [record.id]
        ids = [r.id for r in held]
        assert await store.reads.held_ids([*ids, bytes(32)]) == set(ids)
        assert sorted(await store.reads.get_raw_many(ids, NOW)) == sorted(r.raw for r in held)

        # A new version replaces an old one in either table: the old id goes from both.
        newer = [new_version(ALICE, first[0], NOW + 10, {"title": "Lent"}),
                 new_version(BOB, third[0], NOW + 10, {"title": "Gone"})]  # fmt: skip
        assert [o.status for o in await store.writer.put_many(newer, NOW + 10)] == ["accepted", "accepted"]
        assert await store.reads.held_ids([first[0].id, third[0].id]) == set()
        assert await store.reads.held_ids([r.id for r in newer]) == {r.id for r in newer}
        big, recent = tables(db_path)
        assert big + recent == len(held)  # one id per row, in one table

        # The sweep takes every row and its id with it.
        assert await store.writer.sweep(NOW + 365 * 86_400) == len(held)
        assert tables(db_path) == (0, 0)
    finally:
        await store.close()


async def test_a_schema_8_file_is_migrated_with_every_id_in_the_big_table(db_path: str) -> None:
    store = await RecordStore.open(db_path)
    held = [post(ALICE, f"m{i}", title=f"Jar {i}") for i in range(20)]
    await store.writer.put_many(held, NOW)
    await store.close()
    with sqlite3.connect(db_path) as db:  # back to schema 8, as the code before migration 9 left it
        db.executescript(
            "DROP TABLE record_ids; DROP TABLE record_ids_recent; DROP TABLE text_terms; DROP TABLE store_meta; "
            "DROP TABLE report_counts; DROP TABLE fulfilment_counts; "
            "DROP INDEX records_kind; DROP INDEX records_urgency; "
            "CREATE INDEX records_area ON records(area, created_at); "
            f"CREATE INDEX records_id ON records(id_key); {REPORT_INDEX}; PRAGMA user_version = 8;"
        )
    store = await RecordStore.open(db_path)
    try:
        assert tables(db_path) == (20, 0)
        assert await store.reads.held_ids([r.id for r in held]) == {r.id for r in held}
        with sqlite3.connect(db_path) as db:
            assert db.execute("SELECT count(*) FROM sqlite_schema WHERE name = 'records_id'").fetchone()[0] == 0
    finally:
        await store.close()
