# The live sync sets (storage/syncindex.py) against the SQL they replace: after
# every kind of change the store makes (new records, new versions, tombstones,
# removals, expiry, the purge sweep, another process's writes, writes while a
# tree is being built), the tree holds exactly what ``Reads.sync_index`` reads.

from __future__ import annotations

import asyncio
import contextlib
import random
import sqlite3

import pytest

from protocol.filters import SyncFilter
from protocol.records import new_version
from storage import RecordStore, syncindex
from storage.syncindex import chunk_sql
from tests.storage._support import ALICE, BOB, NOW, close_or_fail, identity, node_profile, post
from tests.storage.test_rotation import PAPER, profile_with, rotation

EVERYTHING = SyncFilter()
NEAR = SyncFilter(areas=("u4",))


async def _agrees(store: RecordStore, sync_filter: SyncFilter, now: int) -> int:
    tree = await store.sync.items(sync_filter, now)
    expected = await store.reads.sync_index(sync_filter, now)
    assert list(tree) == expected
    return len(expected)


async def test_every_change_the_writer_makes_reaches_the_tree(store: RecordStore) -> None:
    assert await _agrees(store, EVERYTHING, NOW) == 0
    assert await _agrees(store, NEAR, NOW) == 0
    near = [post(ALICE, f"n{i}", area="u4pru", created_at=NOW - 50 + i) for i in range(5)]
    far = [post(BOB, f"f{i}", area="9q8yy", created_at=NOW - 50 + i) for i in range(5)]
    short = post(ALICE, "short", created_at=NOW - 10, expires_at=NOW + 100)
    await store.writer.put_many([*near, *far, short, node_profile(BOB)], NOW)
    assert await _agrees(store, EVERYTHING, NOW) == 12
    assert await _agrees(store, NEAR, NOW) == 7  # the near ones, the short one, the profile (no area)
    # A new version replaces the old; a tombstone replaces an open post.
    await store.writer.put(new_version(ALICE, near[0], NOW, {"title": "Coats found"}), NOW)
    await store.writer.put(new_version(BOB, far[1], NOW, {"status": "withdrawn"}), NOW)
    assert await _agrees(store, EVERYTHING, NOW) == 12
    assert await _agrees(store, NEAR, NOW) == 7
    # An organizer's removal.
    await store.writer.remove(near[2].address, near[2].id, "spam", NOW)
    assert await _agrees(store, NEAR, NOW) == 6
    # Time: the short one expires, then the sweep deletes it.
    later = NOW + 101
    assert await _agrees(store, EVERYTHING, later) == 10
    assert await _agrees(store, NEAR, later) == 5
    assert await store.writer.sweep(later) == 1
    assert await _agrees(store, EVERYTHING, later) == 10
    assert store.sync.rebuilds == 2  # one per filter: everything since came from the writer and the clock


@pytest.mark.parametrize("chunk_and_slice", [None, (700, 300)], ids=["as-configured", "many-chunks-and-slices"])
async def test_a_tree_built_while_records_arrive_misses_none(
    db_path: str, monkeypatch: pytest.MonkeyPatch, chunk_and_slice: tuple[int, int] | None
) -> None:
    if chunk_and_slice is not None:  # reads and slices ending mid-block, the writer going on between them
        monkeypatch.setattr(syncindex, "BUILD_CHUNK", chunk_and_slice[0])
        monkeypatch.setattr(syncindex, "BUILD_SLICE", chunk_and_slice[1])
    store = await RecordStore.open(db_path)
    try:
        rng = random.Random(5)
        authors = [identity(f"a{i}") for i in range(4)]
        first = [post(authors[i % 4], f"s{i}", created_at=NOW - rng.randrange(1000)) for i in range(3000)]
        await store.writer.put_many(first, NOW)
        await store.close()
        store = await RecordStore.open(db_path)
        more = [post(authors[i % 4], f"s{i}", created_at=NOW - rng.randrange(1000)) for i in range(2000, 4000)]
        store.sync.prepare(EVERYTHING, NOW)  # the build reads in chunks while the writer goes on
        for start in range(0, len(more), 100):
            await store.writer.put_many(more[start : start + 100], NOW)
        assert await _agrees(store, EVERYTHING, NOW) == 4000
        assert store.sync.rebuilds == 1
    finally:
        await close_or_fail(store)


async def test_another_process_writing_the_file_is_noticed(db_path: str, store: RecordStore) -> None:
    await store.writer.put(post(ALICE, "mine"), NOW)
    assert await _agrees(store, EVERYTHING, NOW) == 1
    other = await RecordStore.open(db_path)  # a CLI beside the node: its own connections and writer
    try:
        await other.writer.put(post(BOB, "theirs"), NOW)
    finally:
        await close_or_fail(other)
    assert await _agrees(store, EVERYTHING, NOW) == 2
    # Our next write notices it too, and what we write after is kept.
    other = await RecordStore.open(db_path)
    try:
        await other.writer.put(post(BOB, "again"), NOW)
    finally:
        await close_or_fail(other)
    await store.writer.put(post(ALICE, "after"), NOW)
    assert await _agrees(store, EVERYTHING, NOW) == 4


async def test_concurrent_askers_share_one_build(store: RecordStore) -> None:
    await store.writer.put_many([post(ALICE, f"s{i}") for i in range(50)], NOW)
    trees = await asyncio.gather(*(store.sync.items(EVERYTHING, NOW) for _ in range(5)))
    assert all(tree is trees[0] for tree in trees) and len(trees[0]) == 50
    assert store.sync.rebuilds == 1


async def test_a_filter_matching_nothing_is_empty(store: RecordStore) -> None:
    await store.writer.put(post(ALICE, "x"), NOW)
    assert len(await store.sync.items(SyncFilter(kinds=frozenset()), NOW)) == 0
    assert store.sync.rebuilds == 0


@pytest.mark.parametrize("sync_filter", [EVERYTHING, NEAR, SyncFilter(kinds=frozenset({"need"}))])
def test_a_build_chunk_reads_one_range_of_the_sync_index(
    db_path: str, store: RecordStore, sync_filter: SyncFilter
) -> None:
    sql, params = chunk_sql(sync_filter, NOW)
    with contextlib.closing(sqlite3.connect(db_path)) as db:
        plan = " ".join(str(row[3]) for row in db.execute(f"EXPLAIN QUERY PLAN {sql}", [*params, -1, b"", 10]))
    assert "COVERING INDEX records_sync" in plan and "TEMP B-TREE" not in plan, plan


async def test_a_rotation_in_the_batch_of_the_old_keys_post_leaves_neither(store: RecordStore) -> None:
    await store.writer.put(profile_with(PAPER.public_key), NOW)
    assert await _agrees(store, EVERYTHING, NOW) == 1
    # One transaction inserts the old key's post, then the rotation deletes it (and the profile).
    await store.writer.put_many([post(ALICE, "late"), rotation()], NOW)
    assert await _agrees(store, EVERYTHING, NOW) == 1  # the rotation alone
    # A filter with no area at all still holds what has no area (the rotation).
    assert await _agrees(store, SyncFilter(kinds=frozenset({"need", "key_rotation"}), areas=()), NOW) == 1


async def test_another_process_reusing_row_numbers_is_noticed(db_path: str, store: RecordStore) -> None:
    await store.writer.put(post(ALICE, "keep"), NOW)
    await store.writer.put_many([post(ALICE, f"brief{i}", expires_at=NOW + 10) for i in range(2)], NOW)
    assert await _agrees(store, EVERYTHING, NOW) == 3
    assert await store.writer.sweep(NOW + 11) == 2  # the highest rows go: their numbers are free again
    assert await _agrees(store, EVERYTHING, NOW + 11) == 1
    other = await RecordStore.open(db_path)
    try:
        await other.writer.put_many([post(BOB, "a"), post(BOB, "b")], NOW)
        gone = await other.reads.get_by_address(ALICE.public_key, "need", "keep", NOW)
        assert gone is not None
        await other.writer.remove(gone.address, gone.id, "spam", NOW)  # and a deletion alone
    finally:
        await close_or_fail(other)
    assert await _agrees(store, EVERYTHING, NOW + 11) == 2
