# The one translation of SQLite's errors (storage/sqlite.py), whichever
# connection meets them: a file that is not a database is StoreCorrupt with
# the recovery advice for the admin and community tables too, not only for
# the record store; a plain SQL failure is StorageError and never taken for
# damage, even when SQLite's message says "malformed"; a closed connection
# refuses work with StoreClosed.

from __future__ import annotations

import sqlite3

import pytest

from storage import RecordStore, StorageError, StoreClosed, StoreCorrupt
from storage.admin import AdminStore
from storage.community import CommunityStore
from storage.sqlite import translate
from tests.storage._support import NOW, close_or_fail, damage_pages, write_garbage


async def test_opening_the_side_tables_of_a_damaged_file_is_store_corrupt(db_path: str) -> None:
    write_garbage(db_path)
    for side in (AdminStore, CommunityStore):
        with pytest.raises(StoreCorrupt) as info:
            await side.open(db_path)
        assert "move the file aside" in str(info.value) and info.value.path == db_path


async def test_damaged_pages_under_the_admin_tables_are_store_corrupt(db_path: str) -> None:
    await close_or_fail(await RecordStore.open(db_path))  # creates the schema
    admin = await AdminStore.open(db_path)
    for n in range(1500):
        await admin.add_peer(f"http://peer-{n:04d}.example:8440/{'x' * 200}", NOW, "admin")
    await admin.close()
    damage_pages(db_path, "peers")  # pages of the peers table, wherever the schema put them
    admin = await AdminStore.open(db_path)
    try:
        with pytest.raises(StoreCorrupt) as info:
            await admin.peers()
        assert "move the file aside" in str(info.value)
    finally:
        await admin.close()


async def test_a_missing_table_is_a_storage_error_not_damage(db_path: str) -> None:
    admin = await AdminStore.open(db_path)  # no RecordStore created the schema
    try:
        with pytest.raises(StorageError) as info:
            await admin.peers()
        assert not isinstance(info.value, StoreCorrupt)
        assert "no such table" in str(info.value) and db_path in str(info.value)
    finally:
        await admin.close()


def test_a_malformed_value_is_not_a_damaged_file() -> None:
    # SQLite says "malformed JSON" for bad input; the file is fine.
    with pytest.raises(StorageError) as info, translate("records.db"), sqlite3.connect(":memory:") as db:
        db.execute("SELECT json('{')")
    assert not isinstance(info.value, StoreCorrupt)
    assert "malformed" in str(info.value)


async def test_closed_side_stores_refuse_work(db_path: str) -> None:
    store = await RecordStore.open(db_path)
    await close_or_fail(store)
    admin = await AdminStore.open(db_path)
    community = await CommunityStore.open(db_path)
    assert await admin.peers() == []
    await admin.close()
    await community.close()
    with pytest.raises(StoreClosed):
        await admin.peers()
    with pytest.raises(StoreClosed):
        await community.flags(NOW, 10)
