"""RecordStore: the node's records in one SQLite file, safe on an SD card.

A small owner: it opens the file (checked and migrated, ``storage.sqlite``)
with two connections, and hands them to the parts that each own one job:

    store.writer      every write, through one task (``storage.writer``)
    store.reads       records by id or address, searches, the sync index
    store.own         this node's own posts: manage tokens, their versions
    store.moderation  the organizers' removals
    store.keys        chapters' recovery keys, key rotations and redirects
    store.sync        the live sync set of each filter in use, kept in memory

``close`` stops the writer after the work queued ahead of it, then closes
both connections. Which version of an address wins is a pure rule of its
own (``storage.versions``), asked by the writer.
"""

from __future__ import annotations

from storage.keys import Keys
from storage.own import Moderation, OwnPosts
from storage.reads import Reads
from storage.sqlite import Connection, StoreConfig, open_reader, open_writer, translate
from storage.syncindex import CHANGES_SQL, SyncIndexes
from storage.writer import Writer


class RecordStore:
    """Open with ``await RecordStore.open(path)``; close with ``await store.close()``."""

    def __init__(
        self, path: str, config: StoreConfig, reader: Connection, writer: Writer, moderation: Moderation, keys: Keys
    ) -> None:
        self.path = path
        self.config = config
        self._closed = False
        self._reader = reader
        self.writer = writer
        self.reads = Reads(reader)
        self.own = OwnPosts(reader)
        self.moderation = moderation
        self.keys = keys
        self.sync = SyncIndexes(reader, writer.changes)
        writer.on_change = self.sync.changed
        writer.on_foreign = self.sync.stale

    @classmethod
    async def open(cls, path: str, config: StoreConfig | None = None) -> RecordStore:
        config = config or StoreConfig()
        db = await open_writer(path, config)
        try:
            reader = await open_reader(path, config)
            try:
                moderation = await Moderation.load(reader)
                keys = await Keys.load(reader)
                changes = int((await reader.run(CHANGES_SQL))[0][0])
            except BaseException:
                await reader.close()
                raise
        except BaseException:
            await db.close()
            raise
        writer = Writer(db, path, config, moderation.removed, keys.rotated, changes)
        return cls(path, config, reader, writer, moderation, keys)

    async def close(self) -> None:
        """Finish queued writes, then close both connections."""
        if self._closed:
            return
        self._closed = True
        self._reader.closed = True  # reads are refused from now on, as new writes are
        await self.sync.close()
        await self.writer.close()
        await self._reader.close()

    async def release_memory(self) -> None:
        """Give SQLite's unused cache pages back (called when the node is idle)."""
        if self._closed:
            return
        with translate(self.path):
            await self._reader.db.execute("PRAGMA shrink_memory")
        await self.writer.release_memory()

    async def __aenter__(self) -> RecordStore:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
