# The id index in two tables (schema migration 9), and the address index
# likewise (16): new ids and addresses go to small tables, and the writer
# moves them into the big ones in key order once there are
# StoreConfig.recent_ids_max ids. Every lookup by id, address or author reads
# both, so a record is found whichever table holds its id or address, before
# and after a move; a replaced or swept record leaves whichever table held
# it; and files of schema 8 and 15 are migrated with every id and every
# address in the big tables.

from __future__ import annotations

import sqlite3

from protocol.records import Record, new_version
from storage import RecordStore, schema
from storage.sqlite import StoreConfig
from tests.storage._support import ALICE, BOB, NOW, UNDO_16, post

SMALL = StoreConfig(recent_ids_max=10)
REPORT_INDEX = next(s for v in range(1, 9) for s in schema.MIGRATIONS[v] if "INDEX records_report" in s)
"""The report's index, as migrations 6 to 11 left it (migration 12 drops it)."""


def tables(path: str) -> tuple[int, int]:
    """How many ids (big table, recent table) the file holds."""
    with sqlite3.connect(path) as db:
        big = db.execute("SELECT count(*) FROM record_ids").fetchone()[0]
        recent = db.execute("SELECT count(*) FROM record_ids_recent").fetchone()[0]
    return int(big), int(recent)


def address_tables(path: str) -> tuple[int, int]:
    """How many addresses (big table, recent table) the file holds."""
    with sqlite3.connect(path) as db:
        big = db.execute("SELECT count(*) FROM record_addresses").fetchone()[0]
        recent = db.execute("SELECT count(*) FROM record_addresses_recent").fetchone()[0]
    return int(big), int(recent)


async def found_at_addresses(store: RecordStore, held: list[Record]) -> None:
    """Each record is the one at its address, and among its author's."""
    for record in held:
        found = await store.reads.get_by_address(*record.address, NOW)
        assert found is not None and found.id == record.id
    for author in {r.author for r in held}:
        mine = [r for r in held if r.author == author]
        assert {r.id for r in await store.reads.signed_by(author, NOW)} == {r.id for r in mine}
        needs = [r for r in mine if r.kind == "need"]
        assert (await store.reads.marker(author, "need", NOW))[0] == len(needs)


async def test_ids_move_to_the_big_table_in_bulk_and_are_found_in_either(db_path: str) -> None:
    store = await RecordStore.open(db_path, SMALL)
    try:
        first = [post(ALICE, f"a{i}", title=f"Item {i}") for i in range(6)]
        await store.writer.put_many(first, NOW)
        assert tables(db_path) == address_tables(db_path) == (0, 6)  # under the threshold: all recent
        second = [post(BOB, f"b{i}", title=f"Thing {i}") for i in range(6)]
        await store.writer.put_many(second, NOW)
        assert tables(db_path) == address_tables(db_path) == (12, 0)  # 12 reached the threshold: moved in one go
        third = [post(BOB, f"c{i}", title=f"Other {i}") for i in range(3)]
        await store.writer.put_many(third, NOW)
        assert tables(db_path) == address_tables(db_path) == (12, 3)
        held = first + second + third
        await found_at_addresses(store, held)
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
        big, recent = address_tables(db_path)
        assert big + recent == len(held)  # one address per row, in one table
        await found_at_addresses(store, [*newer, *first[1:], *second, *third[1:]])

        # The sweep takes every row and its id with it.
        assert await store.writer.sweep(NOW + 365 * 86_400) == len(held)
        assert tables(db_path) == address_tables(db_path) == (0, 0)
    finally:
        await store.close()


async def test_a_schema_8_file_is_migrated_with_every_id_in_the_big_table(db_path: str) -> None:
    store = await RecordStore.open(db_path)
    held = [post(ALICE, f"m{i}", title=f"Jar {i}") for i in range(20)]
    await store.writer.put_many(held, NOW)
    await store.close()
    with sqlite3.connect(db_path) as db:  # back to schema 8, as the code before migration 9 left it
        db.executescript(
            f"{UNDO_16} DROP TABLE record_ids; DROP TABLE record_ids_recent; DROP TABLE text_terms; "
            "DROP TABLE store_meta; "
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


async def test_a_schema_15_file_is_migrated_with_every_address_in_the_big_table(db_path: str) -> None:
    store = await RecordStore.open(db_path, SMALL)
    held = [post(ALICE if i % 3 else BOB, f"m{i}", title=f"Jar {i}") for i in range(14)]
    await store.writer.put_many(held[:12], NOW)  # moved: its ids in the big table
    await store.writer.put_many(held[12:], NOW)
    await store.close()
    with sqlite3.connect(db_path) as db:  # back to schema 15, as the code before migration 16 left it
        db.executescript(f"{UNDO_16} PRAGMA user_version = 15;")
    store = await RecordStore.open(db_path, SMALL)
    try:
        assert address_tables(db_path) == (14, 0)
        await found_at_addresses(store, held)
        with sqlite3.connect(db_path) as db:
            assert db.execute("SELECT count(*) FROM sqlite_schema WHERE name = 'records_address'").fetchone()[0] == 0
        newer = new_version(ALICE, held[1], NOW + 10, {"title": "Lent"})  # its address leaves the big table
        assert (await store.writer.put(newer, NOW + 10)).status == "accepted"
        assert address_tables(db_path) == (13, 1)
        await found_at_addresses(store, [newer, held[0], *held[2:]])
    finally:
        await store.close()


async def test_an_address_in_both_tables_does_not_stop_the_writer(db_path: str) -> None:
    """The writer keeps each address in one table; should one ever be in both
    (a process of older code writing to a migrated file), the move keeps the
    newer entry and every later put still succeeds."""
    store = await RecordStore.open(db_path, SMALL)
    try:
        first = post(ALICE, "dup", title="First")
        bobs = [post(BOB, f"a{i}") for i in range(11)]
        await store.writer.put_many([first, *bobs], NOW)
        assert address_tables(db_path) == (12, 0)
        with sqlite3.connect(db_path) as db:  # a second entry for the address, as a stray row would leave
            db.execute("INSERT INTO record_addresses_recent VALUES (?, ?, ?, ?)", (*first.address, 999_999))
        more = [post(BOB, f"b{i}", title=f"More {i}") for i in range(12)]
        outcomes = await store.writer.put_many(more, NOW)  # reaches the threshold: the move runs
        assert [o.status for o in outcomes] == ["accepted"] * 12
        assert address_tables(db_path) == (24, 0)
        later = post(BOB, "later")
        assert (await store.writer.put(later, NOW)).status == "accepted"
        await found_at_addresses(store, [*bobs, *more, later])
    finally:
        await store.close()
