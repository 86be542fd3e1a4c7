# RecordStore against a real SQLite file: what put_many decides for each
# record, what the reads return (raw bytes untouched, never anything expired),
# tombstones and their purge, member queries and their keyset pagination, the
# sync index, concurrent writers, reopening, and refusing a damaged or too-new
# file. Time is always passed in; nothing here waits on the wall clock.

from __future__ import annotations

import asyncio
import contextlib
import random
import sqlite3
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import pytest

from protocol.filters import SyncFilter
from protocol.records import MAX_FUTURE_SKEW, Record, new_version, newer
from storage import (
    InvalidQuery,
    Query,
    RecordStore,
    SchemaTooNew,
    StorageError,
    StoreClosed,
    StoreConfig,
    StoreCorrupt,
    schema,
)
from storage.query import URGENCY_RANK, Order, encode_cursor
from tests.storage._support import (
    ALICE,
    BOB,
    NOW,
    close_or_fail,
    damage_pages,
    identity,
    node_profile,
    post,
    write_garbage,
)

CAROL = identity("carol")


# --- helpers -----------------------------------------------------------------


def sql_rows(db_path: str, statement: str, params: Sequence[object] = ()) -> list[tuple[object, ...]]:
    """Read the file with plain sqlite3, beside the store (WAL lets both run)."""
    with contextlib.closing(sqlite3.connect(db_path)) as db:
        return [tuple(row) for row in db.execute(statement, params)]


def fts_rowids(db_path: str, word: str) -> set[object]:
    """Rows the full-text index still holds for ``word``, stale ones included."""
    rows = sql_rows(db_path, "SELECT rowid FROM records_fts WHERE records_fts MATCH ?", (f'"{word}"',))
    return {row[0] for row in rows}


def ids(records: Sequence[Record]) -> list[bytes]:
    return [r.id for r in records]


async def statuses(store: RecordStore, records: Sequence[Record], now: int = NOW) -> list[str]:
    return [o.status for o in await store.writer.put_many(records, now)]


async def search(
    store: RecordStore, text: str, now: int = NOW, statuses: tuple[str, ...] = ("open", "claimed")
) -> set[bytes]:
    page = await store.reads.query(Query(text=text, statuses=statuses, limit=500), now)
    return set(ids(page.records))


async def walk(store: RecordStore, query: Query, now: int = NOW) -> list[Record]:
    """Every record a query returns, following cursors page by page."""
    out: list[Record] = []
    cursor = query.cursor
    for _ in range(1000):
        page = await store.reads.query(replace(query, cursor=cursor), now)
        assert len(page.records) <= query.limit
        out.extend(page.records)
        if page.next is None:
            return out
        assert len(page.records) == query.limit, "a page with a next cursor must be full"
        cursor = page.next
    raise AssertionError("pagination never ended")


# --- put_many outcomes ---------------------------------------------------------


async def test_new_record_is_accepted_and_stored(store: RecordStore) -> None:
    record = post()
    [outcome] = await store.writer.put_many([record], NOW)
    assert (outcome.status, outcome.id, outcome.reason, outcome.replaced) == ("accepted", record.id, None, None)
    got = await store.reads.get(record.id, NOW)
    assert got is not None and got.id == record.id


async def test_same_record_twice_in_one_batch_is_a_duplicate(store: RecordStore) -> None:
    record = post()
    outcomes = await store.writer.put_many([record, record], NOW)
    assert [(o.status, o.id) for o in outcomes] == [("accepted", record.id), ("duplicate", record.id)]
    assert await store.reads.sync_index(SyncFilter(), NOW) == [(record.created_at, record.id)]


async def test_same_record_in_a_later_batch_is_a_duplicate(store: RecordStore) -> None:
    record = post()
    assert await statuses(store, [record]) == ["accepted"]
    assert await statuses(store, [record]) == ["duplicate"]
    assert await statuses(store, [post(slot="other"), record]) == ["accepted", "duplicate"]


async def test_newer_version_is_accepted_and_names_what_it_replaced(store: RecordStore) -> None:
    v1 = post()
    v2 = new_version(ALICE, v1, NOW, {"status": "claimed"})
    await store.writer.put(v1, NOW)
    outcome = await store.writer.put(v2, NOW)
    assert (outcome.status, outcome.replaced) == ("accepted", v1.id)


@pytest.mark.parametrize("same_batch", [False, True])
async def test_older_version_arriving_after_newer_is_superseded(store: RecordStore, same_batch: bool) -> None:
    v1 = post()
    v2 = new_version(ALICE, v1, NOW, {"status": "claimed"})
    if same_batch:
        assert await statuses(store, [v2, v1]) == ["accepted", "superseded"]
    else:
        assert await statuses(store, [v2]) == ["accepted"]
        assert await statuses(store, [v1]) == ["superseded"]
    current = await store.reads.get_by_address(ALICE.public_key, "need", "s1", NOW)
    assert current is not None and current.id == v2.id
    assert await store.reads.get(v1.id, NOW) is None


def _tied_versions() -> tuple[Record, Record]:
    """Two versions of one address with the same created_at; (lower id, higher id)."""
    a = post(title="Version with the first title", created_at=NOW - 50)
    b = post(title="Version with the second title", created_at=NOW - 50)
    low, high = sorted([a, b], key=lambda r: r.id)
    assert low.id < high.id and low.created_at == high.created_at
    assert newer(low, high) and not newer(high, low)
    return low, high


@pytest.mark.parametrize("order", ["low_first", "high_first"])
@pytest.mark.parametrize("same_batch", [False, True])
async def test_equal_created_at_keeps_the_lowest_id(store: RecordStore, order: str, same_batch: bool) -> None:
    low, high = _tied_versions()
    arrivals = [low, high] if order == "low_first" else [high, low]
    if same_batch:
        outcomes = await store.writer.put_many(arrivals, NOW)
    else:
        outcomes = [await store.writer.put(r, NOW) for r in arrivals]
    if order == "low_first":
        assert [o.status for o in outcomes] == ["accepted", "superseded"]
    else:
        assert [(o.status, o.replaced) for o in outcomes] == [("accepted", None), ("accepted", high.id)]
    current = await store.reads.get_by_address(ALICE.public_key, "need", "s1", NOW)
    assert current is not None and current.id == low.id
    assert await store.reads.get(high.id, NOW) is None


async def test_expired_record_is_rejected(store: RecordStore) -> None:
    expired = post(slot="a", expires_at=NOW)
    barely_live = post(slot="b", expires_at=NOW + 1)
    outcomes = await store.writer.put_many([expired, barely_live], NOW)
    assert [(o.status, o.reason) for o in outcomes] == [("rejected", "expired"), ("accepted", None)]
    # Not stored at all: even a reader whose clock is earlier does not see it.
    assert await store.reads.get(expired.id, NOW - 10) is None


async def test_record_from_the_future_is_rejected(store: RecordStore) -> None:
    too_far = post(slot="a", created_at=NOW + MAX_FUTURE_SKEW + 1)
    at_limit = post(slot="b", created_at=NOW + MAX_FUTURE_SKEW)
    outcomes = await store.writer.put_many([too_far, at_limit], NOW)
    assert [(o.status, o.reason) for o in outcomes] == [("rejected", "from_future"), ("accepted", None)]
    assert await store.reads.get(too_far.id, NOW + MAX_FUTURE_SKEW + 1) is None


# Version order (PROTOCOL.md 3.6): a tombstone outranks every live version,
# then the newer created_at wins, then the lowest id. A version that does not
# outrank the one held is "superseded"; the store checks no status transitions.


@pytest.mark.parametrize("tombstone", ["withdrawn", "fulfilled"])
@pytest.mark.parametrize("later_status", ["open", "claimed"])
async def test_newer_live_version_after_a_tombstone_is_superseded(
    store: RecordStore, tombstone: str, later_status: str
) -> None:
    v1 = post()
    tomb = new_version(ALICE, v1, NOW - 10, {"status": tombstone})
    later = post(created_at=tomb.created_at + 5, status=later_status, title="Trying to come back")
    assert await statuses(store, [v1, tomb]) == ["accepted", "accepted"]
    assert await statuses(store, [later]) == ["superseded"]
    current = await store.reads.get_by_address(ALICE.public_key, "need", "s1", NOW)
    assert current is not None and current.id == tomb.id
    assert await store.reads.get(later.id, NOW) is None


@pytest.mark.parametrize("tombstone", ["withdrawn", "fulfilled"])
async def test_tombstone_outranks_a_newer_live_version(store: RecordStore, tombstone: str) -> None:
    # A withdrawal made on one device before an edit made on another still wins.
    v1 = post(created_at=NOW - 300)
    edit = post(created_at=NOW - 100, status="claimed", title="Edited elsewhere")
    tomb = post(created_at=NOW - 200, status=tombstone)
    assert await statuses(store, [v1, edit]) == ["accepted", "accepted"]
    [outcome] = await store.writer.put_many([tomb], NOW)
    assert (outcome.status, outcome.replaced) == ("accepted", edit.id)
    current = await store.reads.get_by_address(ALICE.public_key, "need", "s1", NOW)
    assert current is not None and current.id == tomb.id


async def test_between_tombstones_the_newer_wins(store: RecordStore) -> None:
    withdrawn = post(created_at=NOW - 200, status="withdrawn")
    fulfilled = post(created_at=NOW - 100, status="fulfilled")
    assert await statuses(store, [withdrawn, fulfilled]) == ["accepted", "accepted"]
    assert await statuses(store, [withdrawn]) == ["superseded"]
    current = await store.reads.get_by_address(ALICE.public_key, "need", "s1", NOW)
    assert current is not None and current.id == fulfilled.id


def _versions_of(slot: str, *, tombstones: bool) -> list[Record]:
    """Versions of one address covering every rule of the order, ties included."""
    versions = [
        post(slot=slot, created_at=NOW - 400, title="First post"),
        post(slot=slot, created_at=NOW - 100, status="claimed", title="Latest live edit"),
        post(slot=slot, created_at=NOW - 100, status="open", title="Tied live edit"),
    ]
    if tombstones:
        versions += [
            post(slot=slot, created_at=NOW - 300, status="withdrawn", title="Withdrawn early"),
            post(slot=slot, created_at=NOW - 300, status="fulfilled", title="Fulfilled early"),
        ]
    return versions


@pytest.mark.parametrize("one_batch", [False, True])
async def test_every_arrival_order_keeps_the_same_version(store: RecordStore, one_batch: bool) -> None:
    rng = random.Random(36)
    expected: dict[str, bytes] = {}
    for n in range(30):
        slot = f"order{n}"
        versions = _versions_of(slot, tombstones=n % 2 == 0)
        winner = versions[0]
        for v in versions[1:]:
            if newer(v, winner):
                winner = v
        expected[slot] = winner.id
        rng.shuffle(versions)
        if one_batch:
            outcomes = await store.writer.put_many(versions, NOW)
        else:
            outcomes = [await store.writer.put(v, NOW) for v in versions]
        assert {o.status for o in outcomes} <= {"accepted", "superseded"}
    for slot, winner_id in expected.items():
        current = await store.reads.get_by_address(ALICE.public_key, "need", slot, NOW)
        assert current is not None and current.id == winner_id, slot
    # Only the winners are indexed for search, whatever arrived in between.
    tombstoned = {expected[f"order{n}"] for n in range(0, 30, 2)}
    live = {expected[f"order{n}"] for n in range(1, 30, 2)}
    assert await search(store, "early", statuses=("withdrawn", "fulfilled")) == tombstoned
    assert await search(store, "edit") == live
    assert await search(store, "first") == set()


@pytest.mark.parametrize("old_status", ["open", "claimed"])
@pytest.mark.parametrize("new_status", ["open", "claimed", "fulfilled", "withdrawn"])
async def test_every_status_may_follow_a_live_one(store: RecordStore, old_status: str, new_status: str) -> None:
    old = post(status=old_status)
    successor = post(status=new_status, created_at=old.created_at + 1)
    outcomes = await store.writer.put_many([old, successor], NOW)
    assert [(o.status, o.replaced) for o in outcomes] == [("accepted", None), ("accepted", old.id)]


async def test_one_bad_record_never_spoils_its_batch(store: RecordStore) -> None:
    held = post(BOB, "held")
    newest = post(BOB, "versions", created_at=NOW - 10)
    tomb = post(BOB, "gone", status="withdrawn")
    assert await statuses(store, [held, newest, tomb]) == ["accepted"] * 3

    good = [post(ALICE, f"good{i}", title=f"Good record {i}") for i in range(4)]
    bad = [
        post(ALICE, "exp", expires_at=NOW),
        post(ALICE, "fut", created_at=NOW + MAX_FUTURE_SKEW + 60),
        post(BOB, "versions", created_at=NOW - 20),
        post(BOB, "gone", created_at=NOW - 5),  # a live version after a tombstone
    ]
    batch = [good[0], bad[0], good[1], held, bad[1], bad[2], good[2], bad[3], good[0], good[3]]
    outcomes = await store.writer.put_many(batch, NOW)
    assert [o.id for o in outcomes] == ids(batch)
    assert [(o.status, o.reason) for o in outcomes] == [
        ("accepted", None),
        ("rejected", "expired"),
        ("accepted", None),
        ("duplicate", None),
        ("rejected", "from_future"),
        ("superseded", None),
        ("accepted", None),
        ("superseded", None),
        ("duplicate", None),
        ("accepted", None),
    ]
    stored = await store.reads.get_raw_many(ids(good), NOW)
    assert sorted(stored) == sorted(r.raw for r in good)
    assert await store.reads.get_raw_many(ids(bad), NOW - 1000) == []


async def test_outcomes_come_back_in_input_order(store: RecordStore) -> None:
    rng = random.Random(3)
    records = [post(rng.choice([ALICE, BOB, CAROL]), f"slot{i}") for i in range(40)]
    held = set(ids(records[::3]))
    await store.writer.put_many(records[::3], NOW)  # a third are already held
    rng.shuffle(records)
    outcomes = await store.writer.put_many(records, NOW)
    assert [o.id for o in outcomes] == ids(records)
    assert [o.status for o in outcomes] == ["duplicate" if r.id in held else "accepted" for r in records]


# --- raw bytes -------------------------------------------------------------------


async def test_reads_return_the_raw_bytes_exactly(store: RecordStore) -> None:
    record = post(details="Two coats, sizes 6 and 8.\nAny colour.", tags=["winter", "children"], urgency="high")
    await store.writer.put(record, NOW)
    by_id = await store.reads.get(record.id, NOW)
    by_address = await store.reads.get_by_address(ALICE.public_key, "need", "s1", NOW)
    page = await store.reads.query(Query(), NOW)
    assert by_id is not None and by_id.raw == record.raw
    assert by_address is not None and by_address.raw == record.raw
    assert await store.reads.get_raw_many([record.id], NOW) == [record.raw]
    assert [r.raw for r in page.records] == [record.raw]
    assert [raw async for raw in store.reads.iter_raw(NOW)] == [record.raw]


async def test_get_raw_many_returns_only_held_live_records_across_chunks(store: RecordStore) -> None:
    records = [post(CAROL, f"bulk{i}", title=f"Bulk item {i}") for i in range(350)]
    await store.writer.put_many(records, NOW)
    unknown = [bytes([i]) * 32 for i in range(5)]
    wanted = [r.id for r in records] + unknown
    raws = await store.reads.get_raw_many(wanted, NOW)
    assert len(raws) == 350
    assert set(raws) == {r.raw for r in records}
    assert await store.reads.get_raw_many(unknown, NOW) == []
    assert await store.reads.get_raw_many([], NOW) == []


# --- replacement -------------------------------------------------------------------


@pytest.mark.parametrize("same_batch", [False, True])
async def test_replacement_moves_every_read_to_the_new_version(
    store: RecordStore, db_path: str, same_batch: bool
) -> None:
    v1 = post(title="Winter coats for children")
    v2 = new_version(ALICE, v1, NOW, {"title": "Bicycle repair lessons"})
    if same_batch:
        outcomes = await store.writer.put_many([v1, v2], NOW)
        assert [(o.status, o.replaced) for o in outcomes] == [("accepted", None), ("accepted", v1.id)]
    else:
        await store.writer.put(v1, NOW)
        assert await search(store, "coats") == {v1.id}
        assert (await store.writer.put(v2, NOW)).replaced == v1.id
    assert await store.reads.get(v1.id, NOW) is None
    got = await store.reads.get(v2.id, NOW)
    assert got is not None and got.raw == v2.raw
    current = await store.reads.get_by_address(ALICE.public_key, "need", "s1", NOW)
    assert current is not None and current.id == v2.id
    assert await search(store, "coats") == set()
    assert await search(store, "bicycle") == {v2.id}
    assert await search(store, "lesso") == {v2.id}
    assert await store.reads.sync_index(SyncFilter(), NOW) == [(v2.created_at, v2.id)]
    # The old words are gone from the index itself, not just hidden by the join.
    assert fts_rowids(db_path, "coats") == set()
    assert len(fts_rowids(db_path, "bicycle")) == 1


# --- tombstones --------------------------------------------------------------------


@pytest.mark.parametrize("tombstone", ["withdrawn", "fulfilled"])
async def test_tombstone_is_kept_but_left_out_of_default_queries(store: RecordStore, tombstone: str) -> None:
    v1 = post()
    tomb = new_version(ALICE, v1, NOW, {"status": tombstone})
    await store.writer.put_many([v1], NOW)
    await store.writer.put_many([tomb], NOW)
    got = await store.reads.get(tomb.id, NOW)
    assert got is not None and got.raw == tomb.raw and got.is_tombstone
    assert (await store.reads.query(Query(), NOW)).records == []
    assert ids((await store.reads.query(Query(statuses=(tombstone,)), NOW)).records) == [tomb.id]
    assert await store.reads.sync_index(SyncFilter(), NOW) == [(tomb.created_at, tomb.id)]


async def test_older_versions_arriving_after_a_tombstone_are_superseded(store: RecordStore) -> None:
    v1 = post(created_at=NOW - 300)
    v2 = new_version(ALICE, v1, NOW - 200, {"status": "claimed"})
    tomb = new_version(ALICE, v2, NOW - 100, {"status": "withdrawn"})
    assert await statuses(store, [tomb]) == ["accepted"]
    assert await statuses(store, [v2, v1]) == ["superseded", "superseded"]
    assert await statuses(store, [v1]) == ["superseded"]
    current = await store.reads.get_by_address(ALICE.public_key, "need", "s1", NOW)
    assert current is not None and current.id == tomb.id


async def test_tombstone_from_new_version_is_purged_at_the_replaced_expiry(store: RecordStore) -> None:
    v1 = post(created_at=NOW - 100)
    expiry = v1.expires_at
    tomb = new_version(ALICE, v1, NOW, {"status": "withdrawn"})
    await store.writer.put_many([v1], NOW)
    await store.writer.put_many([tomb], NOW)
    assert await store.writer.sweep(expiry - 1) == 0
    assert await store.reads.get(tomb.id, expiry - 1) is not None
    assert await statuses(store, [v1], now=expiry - 1) == ["superseded"]
    assert await store.writer.sweep(expiry) == 1
    assert await store.reads.get(tomb.id, NOW) is None
    assert await store.reads.integrity_check() == "ok"


async def test_short_lived_tombstone_outlives_the_record_it_withdrew(store: RecordStore) -> None:
    # A tombstone signed with a shorter expiry than the version it replaces
    # (valid on the wire) stops being served at its own expiry, but its row
    # stays until the replaced record's expiry so a late copy cannot return.
    v1 = post(created_at=NOW - 100)
    v1_expiry = v1.expires_at
    tomb = post(created_at=NOW, expires_at=NOW + 1000, status="withdrawn")
    assert await statuses(store, [v1, tomb]) == ["accepted", "accepted"]
    assert await store.writer.sweep(NOW + 1000) == 0
    assert await store.reads.get(tomb.id, NOW + 1000) is None
    assert await store.reads.get(tomb.id, NOW + 999) is not None
    assert await statuses(store, [v1], now=NOW + 5000) == ["superseded"]
    assert await store.writer.sweep(v1_expiry - 1) == 0
    assert await statuses(store, [v1], now=v1_expiry - 1) == ["superseded"]
    assert await store.writer.sweep(v1_expiry) == 1
    # Gone for good: at an earlier clock nothing comes back either.
    assert await store.reads.get(tomb.id, NOW + 1) is None
    outcome = await store.writer.put(v1, v1_expiry)
    assert (outcome.status, outcome.reason) == ("rejected", "expired")
    assert await store.reads.integrity_check() == "ok"


async def test_replaced_row_outlives_every_expiry_it_replaced(store: RecordStore) -> None:
    # An edit signed with a shorter expiry than the version it replaces: once
    # the edit expires it is not served, but its row stays until the old
    # version's expiry so a late copy of the old version is still superseded.
    v1 = post(created_at=NOW - 100, expires_at=NOW + 10_000)
    edit = post(created_at=NOW, expires_at=NOW + 1000, title="Shorter edit")
    assert await statuses(store, [v1, edit]) == ["accepted", "accepted"]
    assert await store.writer.sweep(NOW + 1000) == 0
    assert await store.reads.get_by_address(ALICE.public_key, "need", "s1", NOW + 1000) is None
    assert await statuses(store, [v1], now=NOW + 5000) == ["superseded"]
    assert await store.reads.get(v1.id, NOW + 5000) is None
    assert await store.writer.sweep(NOW + 9999) == 0
    assert await store.writer.sweep(NOW + 10_000) == 1
    assert await store.reads.integrity_check() == "ok"


# --- expiry -------------------------------------------------------------------------


async def test_reads_never_return_an_expired_record(store: RecordStore) -> None:
    record = post(created_at=NOW - 100, expires_at=NOW + 500)
    await store.writer.put(record, NOW)
    alive_at, dead_at = NOW + 499, NOW + 500
    assert await store.reads.get(record.id, alive_at) is not None
    assert await store.reads.get_by_address(ALICE.public_key, "need", "s1", alive_at) is not None
    assert ids((await store.reads.query(Query(), alive_at)).records) == [record.id]
    assert await search(store, "coats", alive_at) == {record.id}
    assert await store.reads.sync_index(SyncFilter(), alive_at) == [(record.created_at, record.id)]
    assert await store.reads.get_raw_many([record.id], alive_at) == [record.raw]
    assert await store.reads.counts(alive_at) == {("need", "open"): 1}

    assert await store.reads.get(record.id, dead_at) is None
    assert await store.reads.get_by_address(ALICE.public_key, "need", "s1", dead_at) is None
    assert (await store.reads.query(Query(), dead_at)).records == []
    assert await search(store, "coats", dead_at) == set()
    assert await store.reads.sync_index(SyncFilter(), dead_at) == []
    assert await store.reads.get_raw_many([record.id], dead_at) == []
    assert await store.reads.counts(dead_at) == {}
    assert [raw async for raw in store.reads.iter_raw(dead_at)] == []


async def test_sweep_deletes_purgeable_rows_and_counts_them(store: RecordStore, db_path: str) -> None:
    soon = [post(slot=f"soon{i}", title="Soup kitchen", expires_at=NOW + 100) for i in range(3)]
    later = [post(slot=f"later{i}", expires_at=NOW + 200) for i in range(2)]
    keep = post(slot="keep", title="Lasting offer", kind="offer")
    await store.writer.put_many([*soon, *later, keep], NOW)

    assert await store.writer.sweep(NOW + 99) == 0
    assert await store.writer.sweep(NOW + 100) == 3
    assert await store.writer.sweep(NOW + 100) == 0
    # Deleted, not merely hidden: a reader with an earlier clock sees nothing.
    assert await store.reads.get_raw_many(ids(soon), NOW) == []
    assert await search(store, "soup") == set()
    assert fts_rowids(db_path, "soup") == set()
    assert len(await store.reads.get_raw_many(ids(later), NOW)) == 2

    assert await store.writer.sweep(NOW + 10_000) == 2
    assert await store.reads.sync_index(SyncFilter(), NOW) == [(keep.created_at, keep.id)]
    assert await store.reads.integrity_check() == "ok"


async def test_the_sweep_finds_rows_purged_at_expiry_and_rows_kept_past_it(db_path: str) -> None:
    """Schema 15: rows purged at their own expiry are found through
    ``records_expiry``, rows kept past it (an edit expiring before the version
    it replaced) through the partial ``records_purge``, which holds only those;
    one sweep takes at most ``sweep_batch`` of both together."""
    store = await RecordStore.open(db_path, StoreConfig(sweep_batch=2))
    try:
        firsts = [post(slot=f"e{i}", created_at=NOW - 100, expires_at=NOW + 20) for i in range(2)]
        edits = [post(slot=f"e{i}", created_at=NOW, expires_at=NOW + 5, title="Shorter") for i in range(2)]
        plain = [post(slot=f"p{i}", expires_at=NOW + 10) for i in range(3)]
        await store.writer.put_many([*firsts, *edits, *plain], NOW)
        with contextlib.closing(sqlite3.connect(db_path)) as db:
            kept = db.execute("SELECT count(*) FROM records INDEXED BY records_purge WHERE purge_at > expires_at")
            assert kept.fetchone() == (2,)
            assert db.execute("SELECT count(*) FROM records").fetchone() == (5,)
        assert [await store.writer.sweep(NOW + 10) for _ in range(3)] == [2, 1, 0]  # the plain ones alone
        assert len(await store.reads.get_raw_many(ids(edits), NOW)) == 2
        assert [await store.writer.sweep(NOW + 20) for _ in range(2)] == [2, 0]
        assert await store.reads.get_raw_many(ids(edits), NOW) == []
        await store.writer.put_many([*firsts, *plain, *edits], NOW)
        assert [await store.writer.sweep(NOW + 20) for _ in range(4)] == [2, 2, 1, 0]  # both kinds in one batch
        assert await store.reads.integrity_check() == "ok"
    finally:
        await close_or_fail(store)


async def test_one_sweep_deletes_at_most_sweep_batch_rows(db_path: str) -> None:
    store = await RecordStore.open(db_path, StoreConfig(sweep_batch=2))
    try:
        await store.writer.put_many([post(slot=f"s{i}", expires_at=NOW + 10) for i in range(5)], NOW)
        assert [await store.writer.sweep(NOW + 10) for _ in range(4)] == [2, 2, 1, 0]
        assert await store.reads.integrity_check() == "ok"
    finally:
        await close_or_fail(store)


# --- queries -----------------------------------------------------------------------


@pytest.fixture
async def corpus(store: RecordStore) -> dict[str, Record]:
    records = {
        "coats": post(
            ALICE,
            "coats",
            title="Winter coats",
            category="clothing",
            area="u4pru",
            urgency="high",
            created_at=NOW - 500,
            tags=["children"],
        ),
        "bike": post(
            BOB,
            "bike",
            kind="offer",
            title="Bicycle repair workshop",
            category="tools",
            area="u4prv",
            urgency="low",
            created_at=NOW - 400,
        ),
        "cafe": post(
            BOB,
            "cafe",
            title="Café vouchers for the weekend",
            category="food",
            area="u4pz",
            urgency="urgent",
            created_at=NOW - 300,
            details="Any café near the station",
        ),
        "bread": post(
            ALICE, "bread", kind="offer", title="Fresh bread daily", category="food", area="u5bcd", created_at=NOW - 200
        ),
        "lift": post(
            CAROL,
            "lift",
            title="Lift to the clinic",
            category="transport",
            area="u4",
            status="claimed",
            created_at=NOW - 150,
        ),
        "gone": post(
            CAROL,
            "gone",
            title="Old winter boots",
            category="clothing",
            area="u4pru",
            status="withdrawn",
            created_at=NOW - 100,
        ),
        "profile": node_profile(ALICE),
    }
    outcomes = await store.writer.put_many(list(records.values()), NOW)
    assert {o.status for o in outcomes} == {"accepted"}
    return records


async def names(store: RecordStore, corpus: dict[str, Record], query: Query) -> list[str]:
    by_id = {r.id: name for name, r in corpus.items()}
    page = await store.reads.query(query, NOW)
    return [by_id[r.id] for r in page.records]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (Query(), ["lift", "bread", "cafe", "bike", "coats"]),
        (Query(kinds=("offer",)), ["bread", "bike"]),
        (Query(kinds=("need",)), ["lift", "cafe", "coats"]),
        (Query(kinds=("node",)), ["profile"]),
        (Query(category="food"), ["bread", "cafe"]),
        (Query(category="nothing-here"), []),
        (Query(area="u4"), ["lift", "cafe", "bike", "coats"]),
        (Query(area="u4pr"), ["bike", "coats"]),
        (Query(area="u4pru"), ["coats"]),
        (Query(area="u5"), ["bread"]),
        (Query(area="u"), ["lift", "bread", "cafe", "bike", "coats"]),
        (Query(area="u4p"), ["cafe", "bike", "coats"]),
        (Query(statuses=("claimed",)), ["lift"]),
        (Query(statuses=("open",)), ["bread", "cafe", "bike", "coats"]),
        (Query(statuses=("withdrawn",)), ["gone"]),
        (Query(statuses=("open", "withdrawn"), category="clothing"), ["gone", "coats"]),
        (Query(author=BOB.public_key), ["cafe", "bike"]),
        (Query(author=CAROL.public_key, statuses=("open", "claimed", "withdrawn")), ["gone", "lift"]),
        (Query(order="urgency"), ["cafe", "coats", "lift", "bread", "bike"]),
        (Query(order="urgency", category="food"), ["cafe", "bread"]),
        (Query(limit=2), ["lift", "bread"]),
    ],
    ids=lambda value: repr(value)[:60] if isinstance(value, Query) else None,
)
async def test_query_filters_and_orders(
    store: RecordStore, corpus: dict[str, Record], query: Query, expected: list[str]
) -> None:
    assert await names(store, corpus, query) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("coats", {"coats"}),
        ("Coats", {"coats"}),
        ("winter", {"coats"}),
        ("coa", {"coats"}),  # the last word is a prefix
        ("winter coa", {"coats"}),
        ("coats winter", {"coats"}),
        ("win coats", set()),  # only the last word is a prefix
        ("bicycle", {"bike"}),
        ("cafe", {"cafe"}),  # accents do not matter
        ("CAFÉ", {"cafe"}),
        ("café vouchers", {"cafe"}),
        ("station", {"cafe"}),  # details are indexed
        ("children", {"coats"}),  # tags are indexed
        ("food", {"cafe", "bread"}),  # so is the category
        ("clinic", {"lift"}),
        ("boots", set()),  # withdrawn: not in the default statuses
        ("zebra", set()),
        ("bread zebra", set()),
        ('"*)( OR NEAR', set()),  # FTS syntax is never passed through
        ('coats" OR "bread', set()),
        ("NEAR(coats bread)", set()),
        ("coats AND", set()),
        ("-coats", {"coats"}),
        ("title:coats", set()),
        ("*", {"lift", "bread", "cafe", "bike", "coats"}),  # no words: no text filter
    ],
)
async def test_text_search(store: RecordStore, corpus: dict[str, Record], text: str, expected: set[str]) -> None:
    found = await search(store, text)
    assert found == {corpus[name].id for name in expected}


def _urgency_key(record: Record) -> tuple[int, int]:
    return URGENCY_RANK[record.get("urgency", "normal")], record.created_at


@pytest.mark.parametrize("order", ["newest", "urgency"])
async def test_cursor_walks_every_matching_record_exactly_once(store: RecordStore, order: Order) -> None:
    rng = random.Random(57)
    urgencies = [None, "low", "normal", "high", "urgent"]
    matching = [
        post(
            rng.choice([ALICE, BOB, CAROL]),
            f"m{i}",
            category="food",
            title=f"Meal number {i}",
            created_at=NOW - 1000 + i // 3,
            urgency=rng.choice(urgencies),
        )
        for i in range(57)
    ]
    others = [
        *[post(ALICE, f"tool{i}", category="tools", created_at=NOW - 900 + i) for i in range(8)],
        *[post(BOB, f"gone{i}", category="food", status="withdrawn") for i in range(3)],
        *[post(CAROL, f"old{i}", category="food", expires_at=NOW + 10) for i in range(3)],
    ]
    everything = matching + others
    rng.shuffle(everything)  # seq order differs from created_at order
    for start in range(0, len(everything), 9):
        await store.writer.put_many(everything[start : start + 9], NOW)

    query = Query(category="food", order=order, limit=10)
    walked = await walk(store, query, NOW + 10)
    assert len(walked) == 57
    assert len({r.id for r in walked}) == 57
    assert {r.id for r in walked} == {r.id for r in matching}
    keys = [r.created_at for r in walked] if order == "newest" else [_urgency_key(r) for r in walked]
    assert keys == sorted(keys, reverse=True)


async def test_cursor_is_stable_while_new_records_arrive(store: RecordStore) -> None:
    first = [post(ALICE, f"a{i}", created_at=NOW - 100 + i) for i in range(25)]
    await store.writer.put_many(first, NOW)
    page = await store.reads.query(Query(limit=10), NOW)
    assert page.next is not None
    seen = ids(page.records)
    await store.writer.put_many([post(BOB, f"b{i}", created_at=NOW + i) for i in range(5)], NOW)
    rest = await walk(store, Query(limit=10, cursor=page.next), NOW)
    assert seen + ids(rest) == ids(sorted(first, key=lambda r: r.created_at, reverse=True))


async def test_exact_limit_has_no_next_page(store: RecordStore) -> None:
    await store.writer.put_many([post(slot=f"s{i}") for i in range(4)], NOW)
    page = await store.reads.query(Query(limit=4), NOW)
    assert len(page.records) == 4 and page.next is None
    page = await store.reads.query(Query(limit=3), NOW)
    assert len(page.records) == 3 and page.next is not None


@pytest.mark.parametrize(
    "cursor",
    ["", "!!!!", "not a cursor", "é", "1.2", "1.2.3.4", "4.1.1", "-1.1.1", "1.1.1 ", "1.1.1\n", "1." + "9" * 16 + ".1"],
)
async def test_a_cursor_that_is_no_position_is_invalid_query(store: RecordStore, cursor: str) -> None:
    await store.writer.put(post(), NOW)
    with pytest.raises(InvalidQuery):
        await store.reads.query(Query(cursor=cursor), NOW)


@pytest.mark.parametrize("order", ["newest", "urgency"])
async def test_any_position_is_a_page_in_either_order(store: RecordStore, order: str) -> None:
    # A cursor is a position, so one made by hand (or for the other order) reads a page, never an error.
    await store.writer.put_many([post(slot=f"s{i}", created_at=NOW - i) for i in range(3)], NOW)
    page = await store.reads.query(Query(order=order, cursor=encode_cursor(3, NOW + 1, 10**15 - 1)), NOW)  # type: ignore[arg-type]
    assert len(page.records) == 3
    assert (await store.reads.query(Query(order=order, cursor=encode_cursor(0, 0, 0)), NOW)).records == []  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "make",
    [
        lambda: Query(limit=0),
        lambda: Query(limit=-1),
        lambda: Query(limit=501),
        lambda: Query(limit=True),
        lambda: Query(area="u4pruv"),  # 6 characters: finer than ~5 km
        lambda: Query(area="U4"),
        lambda: Query(area="a1"),  # 'a' is not a geohash character
        lambda: Query(area=""),
        lambda: Query(kinds=()),
        lambda: Query(kinds=("party",)),
        lambda: Query(statuses=()),
        lambda: Query(statuses=("deleted",)),
        lambda: Query(category="Food!"),
        lambda: Query(order="oldest"),  # type: ignore[arg-type]
        lambda: Query(text="x" * 201),
    ],
)
async def test_bad_query_is_invalid_query(store: RecordStore, make: object) -> None:
    assert callable(make)
    with pytest.raises(InvalidQuery) as info:
        await store.reads.query(make(), NOW)
    assert info.value.code == "bad_query"


# --- sync index ------------------------------------------------------------------------


SYNC_FILTERS = {
    "everything": SyncFilter(),
    "needs": SyncFilter(kinds=frozenset({"need"})),
    "nodes": SyncFilter(kinds=frozenset({"node"})),
    "offers-and-nodes-in-u4": SyncFilter(kinds=frozenset({"offer", "node"}), areas=("u4",)),
    "u4pr-and-u5": SyncFilter(areas=("u4pr", "u5")),
    "u4pru": SyncFilter(areas=("u4pru",)),
    "posts-in-v": SyncFilter(kinds=frozenset({"need", "offer"}), areas=("v",)),
    "no-area": SyncFilter(areas=()),  # only node profiles pass
    "posts-in-no-area": SyncFilter(kinds=frozenset({"need", "offer"}), areas=()),  # nothing
    "no-kind": SyncFilter(kinds=frozenset()),  # nothing
}


@pytest.mark.parametrize("name", list(SYNC_FILTERS))
async def test_sync_index_is_the_filtered_live_set_in_order(store: RecordStore, name: str) -> None:
    sync_filter = SYNC_FILTERS[name]
    rng = random.Random(11)
    live: list[Record] = []
    areas = ["u4pru", "u4prv", "u4", "u5bcd", "v0", "u4pzz"]
    for i in range(60):
        author = rng.choice([ALICE, BOB, CAROL])
        created = NOW - 500 + rng.randrange(20)  # many ties on created_at
        kind = rng.choice(["need", "offer"])
        live.append(
            post(
                author,
                f"p{i}",
                kind=kind,
                area=rng.choice(areas),
                created_at=created,
                status=rng.choice(["open", "claimed", "withdrawn"]),
            )
        )
    live += [node_profile(who, created_at=NOW - 490) for who in (ALICE, BOB, CAROL)]
    expiring = [post(ALICE, f"x{i}", expires_at=NOW + 5, created_at=NOW - 490) for i in range(4)]
    outcomes = await store.writer.put_many([*live, *expiring], NOW)
    assert {o.status for o in outcomes} == {"accepted"}

    index = await store.reads.sync_index(sync_filter, NOW + 5)
    expected = sorted((r.created_at, r.id) for r in live if sync_filter.matches(r))
    assert index == expected
    assert len({r.created_at for r in live}) < len(live)  # ties on created_at really happen
    if name == "everything":
        assert len(index) == len(live)


async def test_sync_index_lets_node_profiles_through_any_area_filter(store: RecordStore) -> None:
    profile = node_profile(BOB, areas=("zz",))
    far = post(ALICE, "far", area="zz")
    await store.writer.put_many([profile, far], NOW)
    index = await store.reads.sync_index(SyncFilter(kinds=frozenset({"node", "need"}), areas=("u4",)), NOW)
    assert index == [(profile.created_at, profile.id)]


# --- concurrency -----------------------------------------------------------------------


@pytest.mark.parametrize("max_batch_records", [2000, 7])
async def test_concurrent_puts_are_all_accepted_and_stored(db_path: str, max_batch_records: int) -> None:
    store = await RecordStore.open(db_path, StoreConfig(max_batch_records=max_batch_records))
    try:
        batches = [[post(identity(f"writer{w}"), f"r{i}") for i in range(5)] for w in range(20)]
        results = await asyncio.gather(*(store.writer.put_many(batch, NOW) for batch in batches))
        for batch, outcomes in zip(batches, results, strict=True):
            assert [(o.status, o.id) for o in outcomes] == [("accepted", r.id) for r in batch]
        everything = [r for batch in batches for r in batch]
        index = await store.reads.sync_index(SyncFilter(), NOW)
        assert sorted(rid for _, rid in index) == sorted(r.id for r in everything)
        assert len(await store.reads.get_raw_many(ids(everything), NOW)) == 100
    finally:
        await close_or_fail(store)


async def test_concurrent_puts_of_one_record_accept_it_once(store: RecordStore) -> None:
    record = post()
    results = await asyncio.gather(*(store.writer.put(record, NOW) for _ in range(20)))
    assert sorted(o.status for o in results) == ["accepted"] + ["duplicate"] * 19


async def test_concurrent_versions_settle_on_the_newest(store: RecordStore) -> None:
    versions = [post(created_at=NOW - 100 + i, title=f"Version {i}") for i in range(10)]
    shuffled = versions[:]
    random.Random(5).shuffle(shuffled)
    results = await asyncio.gather(*(store.writer.put(v, NOW) for v in shuffled))
    assert {o.status for o in results} <= {"accepted", "superseded"}
    assert [o.status for o, v in zip(results, shuffled, strict=True) if v is versions[-1]] == ["accepted"]
    current = await store.reads.get_by_address(ALICE.public_key, "need", "s1", NOW)
    assert current is not None and current.id == versions[-1].id
    assert await search(store, "version") == {versions[-1].id}


async def test_cancelled_sweep_does_not_stop_the_writer(store: RecordStore) -> None:
    # A caller that gives up on a sweep (a timeout, a shutdown) must not take
    # the writer down with it: the writer must still stop cleanly on close().
    await store.writer.put(post(slot="a", expires_at=NOW + 10), NOW)
    task = asyncio.create_task(store.writer.sweep(NOW + 10))
    await asyncio.sleep(0)  # the sweep job is queued
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await close_or_fail(store)


# --- persistence ---------------------------------------------------------------------


async def test_reopened_store_holds_everything(db_path: str) -> None:
    records = [post(author, f"s{i}", title=f"Durable item {i}") for i, author in enumerate([ALICE, BOB, CAROL] * 10)]
    tomb = post(ALICE, "tomb", status="withdrawn")
    store = await RecordStore.open(db_path)
    await store.writer.put_many([*records, tomb, node_profile(BOB)], NOW)
    before_index = await store.reads.sync_index(SyncFilter(), NOW)
    before_walk = ids(await walk(store, Query(limit=7)))
    await close_or_fail(store)

    store = await RecordStore.open(db_path)
    try:
        assert await store.reads.sync_index(SyncFilter(), NOW) == before_index
        assert ids(await walk(store, Query(limit=7))) == before_walk
        assert len(before_walk) == 30
        assert sorted(await store.reads.get_raw_many([r.id for r in records], NOW)) == sorted(r.raw for r in records)
        assert await search(store, "durable") == {r.id for r in records}
        got = await store.reads.get(tomb.id, NOW)
        assert got is not None and got.raw == tomb.raw
        # The store keeps working on what the previous session wrote.
        assert await statuses(store, [records[0]]) == ["duplicate"]
        v2 = new_version(ALICE, records[0], NOW, {"title": "Renamed after reopening"})
        assert (await store.writer.put(v2, NOW)).replaced == records[0].id
        assert await search(store, "renamed") == {v2.id}
        assert await statuses(store, [post(CAROL, "fresh")]) == ["accepted"]
        assert await store.reads.integrity_check() == "ok"
    finally:
        await close_or_fail(store)
    assert sql_rows(db_path, "PRAGMA user_version") == [(schema.SCHEMA_VERSION,)]


async def test_search_stays_right_when_a_deleted_rows_seq_is_reused(db_path: str) -> None:
    # After the newest row is swept and the store reopened, the next record may
    # get the same seq (the FTS rowid): the old words must not point at it.
    store = await RecordStore.open(db_path)
    await store.writer.put_many([post(slot="keep", title="Lasting offer")], NOW)
    await store.writer.put_many([post(slot="brief", title="Ephemeral soup", expires_at=NOW + 10)], NOW)
    assert await store.writer.sweep(NOW + 10) == 1
    await close_or_fail(store)

    store = await RecordStore.open(db_path)
    try:
        fresh = post(BOB, "fresh", title="Warm blankets")
        await store.writer.put(fresh, NOW)
        assert await search(store, "ephemeral") == set()
        assert await search(store, "soup") == set()
        assert await search(store, "blankets") == {fresh.id}
    finally:
        await close_or_fail(store)


# --- open and close errors -------------------------------------------------------------


async def test_garbage_file_is_store_corrupt_with_recovery_advice(db_path: str) -> None:
    write_garbage(db_path)
    with pytest.raises(StoreCorrupt) as info:
        await RecordStore.open(db_path)
    message = str(info.value)
    assert db_path in message
    assert "move the file aside" in message
    assert "resync" in message
    assert info.value.path == db_path
    assert isinstance(info.value, StorageError) and info.value.code == "store_corrupt"


def make_future_schema_file(db_path: str, journal_mode: str) -> bytes:
    """A database written by a newer mutualaid; returns its bytes."""
    with contextlib.closing(sqlite3.connect(db_path)) as db:
        db.execute(f"PRAGMA journal_mode = {journal_mode}")
        db.execute("CREATE TABLE future_records (x)")
        db.execute("INSERT INTO future_records VALUES (1)")
        db.execute(f"PRAGMA user_version = {schema.SCHEMA_VERSION + 1}")
        db.commit()
    return Path(db_path).read_bytes()


def files_and_changed_offsets(db_path: str, before: bytes) -> tuple[list[str], list[int]]:
    """The folder's file names, and the byte offsets where the file now differs from ``before``."""
    after = Path(db_path).read_bytes()
    changed = [i for i, (a, b) in enumerate(zip(before, after, strict=False)) if a != b]
    if len(after) != len(before):
        changed.append(min(len(after), len(before)))
    return sorted(p.name for p in Path(db_path).parent.iterdir()), changed


@pytest.mark.parametrize("journal_mode", ["wal", "delete"])
async def test_newer_schema_is_refused_and_left_untouched(db_path: str, journal_mode: str) -> None:
    before = make_future_schema_file(db_path, journal_mode)
    with pytest.raises(SchemaTooNew) as info:
        await RecordStore.open(db_path)
    assert str(schema.SCHEMA_VERSION + 1) in str(info.value)
    assert isinstance(info.value, StorageError) and info.value.code == "schema_too_new"
    # docs/STORAGE.md: "refused (SchemaTooNew) and left untouched".
    assert files_and_changed_offsets(db_path, before) == (["records.db"], [])


async def test_damaged_pages_are_store_corrupt(db_path: str) -> None:
    store = await RecordStore.open(db_path)
    author = identity("bulk")
    records = [
        post(author, f"s{i}", title=f"Record number {i}", details="lorem ipsum " * (1 + i % 20)) for i in range(3000)
    ]
    await store.writer.put_many(records, NOW)
    await close_or_fail(store)
    damage_pages(db_path)
    with pytest.raises(StoreCorrupt) as info:
        await RecordStore.open(db_path)
    assert "move the file aside" in str(info.value)


async def test_closed_store_refuses_work(db_path: str) -> None:
    store = await RecordStore.open(db_path)
    await store.writer.put(post(), NOW)
    await store.close()
    await store.close()  # closing twice is harmless
    with pytest.raises(StoreClosed):
        await store.writer.put(post(slot="late"), NOW)
    with pytest.raises(StoreClosed):
        await store.writer.put_many([post(slot="late")], NOW)
    with pytest.raises(StoreClosed):
        await store.writer.sweep(NOW)
    with pytest.raises(StoreClosed):
        await store.reads.get(post().id, NOW)
    with pytest.raises(StoreClosed):
        await store.reads.query(Query(), NOW)
    with pytest.raises(StoreClosed):
        await store.reads.sync_index(SyncFilter(), NOW)
    with pytest.raises(StoreClosed):
        await store.writer.put_many([], NOW)
    with pytest.raises(StoreClosed):
        await store.writer.put_own(post(slot="late"), b"h" * 32, NOW)
    with pytest.raises(StoreClosed):
        await store.writer.remove(post().address, post().id, "spam", NOW)
    with pytest.raises(StoreClosed):
        await store.own.managed_by(b"h" * 32, NOW)
    with pytest.raises(StoreClosed):
        await store.moderation.removal_reason(post().id)
    await store.release_memory()  # a no-op once closed, not an error


@pytest.mark.parametrize("queued", [1, 30])
async def test_close_finishes_queued_writes(db_path: str, queued: int) -> None:
    # close() called while puts still wait in the queue: the writer folds them
    # into one transaction, must finish them all, and must then stop.
    store = await RecordStore.open(db_path)
    records = [post(slot=f"q{i}") for i in range(queued)]
    pending = [asyncio.create_task(store.writer.put(r, NOW)) for r in records]
    await asyncio.sleep(0)  # every put is queued, none written yet
    await close_or_fail(store)
    assert [t.result().status for t in pending] == ["accepted"] * queued
    store = await RecordStore.open(db_path)
    try:
        assert len(await store.reads.get_raw_many(ids(records), NOW)) == queued
    finally:
        await close_or_fail(store)
