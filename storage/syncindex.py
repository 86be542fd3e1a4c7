"""The live sync set of each filter peers reconcile over, kept up to date in memory.

A reconciliation reads the sorted ``(created_at, id)`` items of the live
records under the filter two peers share. Reading them from SQLite for every
session costs O(n) (8 s at a million records); here each filter in use gets an
``ItemTree`` (protocol/itemtree.py, about 40 bytes per item), built once from
the ``records_sync`` index a chunk at a time, then changed by the writer's own
commits (``changed``: what each transaction added and deleted) and by time
(``_expire``: records whose ``expires_at`` passed, found through the
``records_expiry`` index). An in-sync reconciliation then costs microseconds
whatever the size of the store.

Consistency: a tree is built in chunks, each its own read; every change the
writer commits meanwhile is logged and replayed on the finished tree, so the
last change to an item wins whichever chunk read it. Another process writing
the same file (a CLI beside the node) is noticed when its rows' ``seq`` passes
the writer's own (``Writer.foreign``), and every tree is rebuilt; what such a
process deletes alone is caught by the rebuild every ``REBUILD_S``.

Trees are read and changed on the event loop only (never from a thread). At
most ``MAX_TREES`` filters are kept, the least recently used dropped first.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from protocol.filters import SyncFilter
from protocol.itemtree import ItemTree
from storage.reads import filtered_where
from storage.sqlite import Connection

BUILD_CHUNK = 20_000
"""Rows per read while building a tree: each read holds the reader for a few
milliseconds, so members' searches wait little meanwhile."""
MAX_TREES = 3
"""Filters kept at once (40 MB each at a million records); a node's peers
mostly share its own filter."""
REBUILD_S = 3600
"""A tree older than this is rebuilt in the background and swapped in."""

Added = tuple[int, bytes, str, str | None, int]
"""What the writer committed: (created_at, id, kind, area, expires_at)."""
Gone = tuple[int, bytes]
"""What the writer deleted: (created_at, id)."""


@dataclass
class _Entry:
    tree: ItemTree
    built_at: float
    """Monotonic time of the build, for the periodic rebuild."""


@dataclass
class _Build:
    log: list[tuple[Sequence[Added], Sequence[Gone]]] = field(default_factory=list)
    """Every change committed since the build began, replayed on the finished tree."""
    task: asyncio.Task[ItemTree] | None = None


class SyncIndexes:
    """``await items(filter, now)``: the live tree of that filter, ready to reconcile."""

    def __init__(self, reader: Connection, writer_high_seq: Callable[[], int]) -> None:
        self._reader = reader
        self._high_seq = writer_high_seq
        """The highest ``seq`` this node's writer has given: a higher one is another process's."""
        self._trees: dict[SyncFilter, _Entry] = {}
        self._builds: dict[SyncFilter, _Build] = {}
        self._generation = 0
        """Bumped by ``stale``: a build that began before reads again."""
        self._swept_at: int | None = None
        """Items whose expires_at is at or below this are in no tree (set by the first build)."""
        self._sweep_lock = asyncio.Lock()
        self.rebuilds = 0
        """Full builds so far (for tests and /metrics)."""

    # -- the writer's side ------------------------------------------------------------

    def changed(self, added: Sequence[Added], gone: Sequence[Gone]) -> None:
        """Apply one committed transaction to every tree (and log it for builds in flight)."""
        for build in self._builds.values():
            build.log.append((added, gone))
        for sync_filter, entry in self._trees.items():
            _apply(entry.tree, sync_filter, added, gone, self._swept_at)

    def stale(self) -> None:
        """Another process changed the records: every tree is built again on
        next use, and builds in flight start their reading over."""
        self._trees.clear()
        self._generation += 1

    # -- readers --------------------------------------------------------------------

    async def items(self, sync_filter: SyncFilter, now: int) -> ItemTree:
        """The live items under ``sync_filter`` at ``now`` (to within the last sweep)."""
        if sync_filter.matches_nothing:
            return ItemTree()
        await self._check_foreign()
        entry = self._trees.pop(sync_filter, None)
        if entry is not None and time.monotonic() - entry.built_at > REBUILD_S:
            self._start_build(sync_filter, now)  # swapped in when done; this one serves meanwhile
        if entry is None:
            entry = _Entry(await self._built(sync_filter, now), time.monotonic())
        self._trees[sync_filter] = entry  # most recently used last
        while len(self._trees) > MAX_TREES:
            del self._trees[next(iter(self._trees))]
        await self._expire(now)
        return entry.tree

    def prepare(self, sync_filter: SyncFilter, now: int) -> None:
        """Start building a filter's tree in the background (the node's own, at start)."""
        if sync_filter not in self._trees and not sync_filter.matches_nothing:
            self._start_build(sync_filter, now)

    async def close(self) -> None:
        tasks = [build.task for build in self._builds.values() if build.task is not None]
        self._builds.clear()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task

    def sizes(self) -> dict[str, int]:
        """Items per kept tree (for status and benches)."""
        return {repr(f): len(e.tree) for f, e in self._trees.items()}

    # -- building ---------------------------------------------------------------------

    async def _built(self, sync_filter: SyncFilter, now: int) -> ItemTree:
        task = self._start_build(sync_filter, now).task
        assert task is not None
        return await asyncio.shield(task)  # a cancelled request leaves the build running

    def _start_build(self, sync_filter: SyncFilter, now: int) -> _Build:
        build = self._builds.get(sync_filter)
        if build is None:
            build = self._builds[sync_filter] = _Build()
            build.task = asyncio.create_task(self._build(sync_filter, now, build), name="sync index build")
        return build

    async def _build(self, sync_filter: SyncFilter, now: int, build: _Build) -> ItemTree:
        try:
            if self._swept_at is None:
                self._swept_at = now
            while True:
                generation = self._generation
                build.log.clear()
                tree = await self._read(sync_filter, self._swept_at)
                if generation == self._generation:
                    break
            for added, gone in build.log:  # what the writer committed while we read
                _apply(tree, sync_filter, added, gone, self._swept_at)
            self._trees[sync_filter] = _Entry(tree, time.monotonic())
            self.rebuilds += 1
            return tree
        finally:
            if self._builds.get(sync_filter) is build:
                del self._builds[sync_filter]

    async def _read(self, sync_filter: SyncFilter, swept_at: int) -> ItemTree:
        """The items under ``sync_filter`` unexpired at ``swept_at``, a chunk per read."""
        tree = ItemTree()
        sql, params = chunk_sql(sync_filter, swept_at)
        after: tuple[int, bytes] = (-1, b"")
        while True:
            rows = await self._reader.run(sql, [*params, *after, BUILD_CHUNK])
            items = [(int(row[0]), bytes(row[1])) for row in rows]
            if items:
                await asyncio.to_thread(tree.extend, items)  # the tree is nobody else's yet
                after = items[-1]
            if len(items) < BUILD_CHUNK:
                return tree

    async def _check_foreign(self) -> None:
        rows = await self._reader.run("SELECT coalesce(max(seq), 0) FROM records")
        if int(rows[0][0]) > self._high_seq():
            self.stale()

    async def _expire(self, now: int) -> None:
        """Drop from every tree what expired since the last sweep."""
        async with self._sweep_lock:
            swept = self._swept_at
            if swept is None or now <= swept:
                return
            rows = await self._reader.run(
                "SELECT created_at, id FROM records WHERE expires_at > ? AND expires_at <= ?", (swept, now)
            )
            self._swept_at = now
            gone = [(int(row[0]), bytes(row[1])) for row in rows]
            for entry in self._trees.values():
                for ts, id_ in gone:
                    entry.tree.discard(ts, id_)
            for build in self._builds.values():
                build.log.append(((), gone))


def chunk_sql(sync_filter: SyncFilter, swept_at: int) -> tuple[str, list[object]]:
    """One chunk of a build: the statement and its parameters but the last
    three (the item to start after, and ``BUILD_CHUNK``)."""
    where, params = filtered_where(sync_filter, swept_at)
    # Named: left to itself the planner took records_report and sorted the
    # whole table for every chunk (75 s at a million; 0.6 s along records_sync).
    sql = (
        f"SELECT created_at, id FROM records INDEXED BY records_sync WHERE {where} "
        "AND (created_at, id) > (?, ?) ORDER BY created_at, id LIMIT ?"
    )
    return sql, params


def _apply(
    tree: ItemTree, sync_filter: SyncFilter, added: Sequence[Added], gone: Sequence[Gone], swept_at: int | None
) -> None:
    for ts, id_ in gone:
        tree.discard(ts, id_)
    for ts, id_, kind, area, expires_at in added:
        if (swept_at is None or expires_at > swept_at) and sync_filter.admits(kind, area):
            tree.add(ts, id_)
