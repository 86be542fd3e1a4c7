"""The live sync set of each filter peers reconcile over, kept up to date in memory.

A reconciliation reads the sorted ``(created_at, id)`` items of the live
records under the filter two peers share. Reading them from SQLite for every
session costs O(n) (8 s at a million records); here each filter in use gets an
``ItemTree`` (protocol/itemtree.py, about 38 bytes per item), built once from
the ``records_sync`` index a chunk at a time, then changed by the writer's own
commits (``changed``: what each transaction added and deleted) and by time
(``_expire``: records whose ``expires_at`` passed, found through the
``records_expiry`` index). An in-sync reconciliation then costs microseconds
whatever the size of the store.

Consistency: a tree is built in chunks, each its own read; every change the
writer commits meanwhile is logged and replayed on the finished tree, so the
last change to an item wins whichever chunk read it. Another process writing
the same file (a CLI beside the node) is noticed by the file's change counter
(``store_meta.changes``, which every writer's transaction adds one to): when
it is ahead of what this node's writer counted, every tree is read again.

Trees are read and changed on the event loop only (never from a thread). At
most ``MAX_TREES`` filters are kept, the least recently used dropped first,
never the node's own (``prepare``).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from protocol.filters import SyncFilter
from protocol.itemtree import KEY_SIZE, ItemTree, item_key
from storage.reads import filtered_where
from storage.sqlite import Connection

CHANGES_SQL = "SELECT value FROM store_meta WHERE key = 'changes'"
"""The file's change counter (migration 11), which every writer's transaction adds one to."""
BUILD_CHUNK = 5_000
"""Rows per read while building a tree: each read holds the reader for a
millisecond or two, so members' searches wait little meanwhile. The rows of
one read are the build's biggest crowd of small objects, and the allocator's
arenas they spread over stay pinned by whatever else lives there: at a
million records 20,000 rows a read left 26 arenas and 5.7 MB of them unused,
5,000 left 23 and 2.6 MB (the build about as fast)."""
BUILD_SLICE = 2_000
"""Items a build adds to its tree between two turns of the event loop (a few ms)."""
MAX_TREES = 3
"""Filters kept at once (38 MB each at a million records); a node's peers
mostly share its own filter."""
REBUILD_S = 3600
"""A tree older than this is rebuilt in the background and swapped in: a
safety net only (every change reaches the trees through ``changed``,
``_expire`` or ``stale``), about 2 s of CPU an hour at a million records."""

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

    def __init__(self, reader: Connection, writer_changes: Callable[[], int]) -> None:
        self._reader = reader
        self._changes = writer_changes
        """The file's change counter as this node's writer left it: a higher one is another process's."""
        self._trees: dict[SyncFilter, _Entry] = {}
        self._pinned: set[SyncFilter] = set()
        """Filters ``prepare`` was asked for (the node's own): never dropped."""
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

    def _keep(self, sync_filter: SyncFilter, entry: _Entry) -> None:
        """Keep a tree as the most recently used; drop the least recently used unpinned ones."""
        self._trees.pop(sync_filter, None)
        self._trees[sync_filter] = entry
        for other in list(self._trees):
            if len(self._trees) <= MAX_TREES:
                break
            if other not in self._pinned and other != sync_filter:
                del self._trees[other]

    def stale(self) -> None:
        """Another process changed the records: every tree is built again on
        next use, and builds in flight start their reading over."""
        self._trees.clear()
        self._generation += 1

    # -- readers --------------------------------------------------------------------

    async def items(self, sync_filter: SyncFilter, now: int) -> ItemTree:
        """The live items under ``sync_filter`` at ``now`` (to within the last sweep)."""
        if not sync_filter.kinds:  # (areas=() still admits what has no area)
            return ItemTree()
        await self._check_foreign()
        await self._expire(now)
        # A build's tree is kept by the build itself; if the trees were dropped
        # meanwhile (another process wrote), the next build is awaited instead.
        while (entry := self._trees.get(sync_filter)) is None:
            await self._built(sync_filter, now)
        if time.monotonic() - entry.built_at > REBUILD_S:
            self._start_build(sync_filter, now)  # swapped in when done; this one serves meanwhile
        self._keep(sync_filter, entry)
        return entry.tree

    def prepare(self, sync_filter: SyncFilter, now: int) -> None:
        """Start building a filter's tree in the background (the node's own, at start)."""
        self._pinned.add(sync_filter)
        if sync_filter not in self._trees and sync_filter.kinds:
            self._start_build(sync_filter, now)

    async def close(self) -> None:
        tasks = [build.task for build in self._builds.values() if build.task is not None]
        self._builds.clear()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task

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
            self._keep(sync_filter, _Entry(tree, time.monotonic()))
            self.rebuilds += 1
            return tree
        finally:
            if self._builds.get(sync_filter) is build:
                del self._builds[sync_filter]

    async def _read(self, sync_filter: SyncFilter, swept_at: int) -> ItemTree:
        """The items under ``sync_filter`` unexpired at ``swept_at``, a chunk per read.

        Every chunk is read into its items' keys (one bytes object), and the tree
        is made from them once the reads are done: blocks made while rows were
        alive would pin the allocator's small-object pools the rows filled (about
        5 MiB at a million items; ``ItemTree.extend_keys``). The tree is made on
        the event loop, a slice at a time, not in a worker thread: glibc gives a
        worker thread its own heap, where the blocks could not reuse what each
        chunk freed (a node at a million records peaked at 167 MB during the
        build that way, 127 MB this way)."""
        sql, params = chunk_sql(sync_filter, swept_at)
        after: tuple[int, bytes] = (-1, b"")
        chunks: list[bytes] = []
        while True:
            rows = await self._reader.run(sql, [*params, *after, BUILD_CHUNK])
            if rows:
                chunks.append(b"".join(item_key(int(ts), bytes(id_)) for ts, id_ in rows))
                after = (int(rows[-1][0]), bytes(rows[-1][1]))
            if len(rows) < BUILD_CHUNK:
                break
        del rows
        tree = ItemTree()  # nobody else's until it is returned
        chunks.reverse()
        while chunks:
            chunk = chunks.pop()
            for at in range(0, len(chunk), BUILD_SLICE * KEY_SIZE):
                tree.extend_keys(chunk[at : at + BUILD_SLICE * KEY_SIZE])
                await asyncio.sleep(0)  # a few milliseconds a slice: requests go on meanwhile
            del chunk
        return tree

    async def _check_foreign(self) -> None:
        rows = await self._reader.run(CHANGES_SQL)
        if int(rows[0][0]) > self._changes():
            self.stale()

    async def _expire(self, now: int) -> None:
        """Drop from every tree what expired since the last sweep."""
        async with self._sweep_lock:
            swept = self._swept_at
            if swept is None or now <= swept:
                return
            # Moved first: a record committed while the query runs is then judged
            # against ``now`` (``_apply``), and one committed before is in its answer.
            self._swept_at = now
            rows = await self._reader.run(
                "SELECT created_at, id FROM records WHERE expires_at > ? AND expires_at <= ?", (swept, now)
            )
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
    # Named: left to itself the planner took the report's old index and sorted the
    # whole table for every chunk (75 s at a million; 0.6 s along records_sync).
    sql = (
        f"SELECT created_at, id FROM records INDEXED BY records_sync WHERE {where} "
        "AND (created_at, id) > (?, ?) ORDER BY created_at, id LIMIT ?"
    )
    return sql, params


def _apply(
    tree: ItemTree, sync_filter: SyncFilter, added: Sequence[Added], gone: Sequence[Gone], swept_at: int | None
) -> None:
    # Additions first: a transaction may delete what it inserted (a key rotation
    # takes the old key's records, those of its own batch too), never the reverse.
    for ts, id_, kind, area, expires_at in added:
        if (swept_at is None or expires_at > swept_at) and sync_filter.admits(kind, area):
            tree.add(ts, id_)
    for ts, id_ in gone:
        tree.discard(ts, id_)
