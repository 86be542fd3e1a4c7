# A power cut for SQLite, and the real writer driven through it.
#
# What is real: the writer (storage.writer.Writer: its batching, its
# BEGIN IMMEDIATE ... COMMIT transactions, its SQL), the schema, the writer's
# pragmas (storage.sqlite.writer_pragmas: WAL, synchronous=FULL, the
# autocheckpoint, the journal size limit), SQLite's own WAL, commit and
# checkpoint code, and the files on disk.
#
# What is simulated, and how:
# - The power cut. PowerCutVFS inherits the default unix VFS and passes every
#   call through, but first keeps the pre-image of each region a write (or a
#   truncate) is about to change, per file, since that file's last xSync. At
#   the chosen moment (the Nth write or sync, drawn from a seed) it puts every
#   pre-image back, newest first, cuts each file to its size at its last sync,
#   and ends the process with os._exit: whatever SQLite wrote and did not sync
#   is gone, what it synced stays, exactly what a disk that honours fsync
#   keeps. A sync interrupted by the cut counts as not done. Directory entries
#   (a file created or deleted) are taken as durable.
# - The SQLite library. Python's sqlite3 (and so aiosqlite) links the system's
#   libsqlite3; APSW brings its own copy, and a VFS registered with APSW
#   exists only in that copy (test_power_loss checks that sqlite3 cannot open
#   a file through it). So the writer talks to SQLite through APSW here:
#   ApswConnection gives it the three calls it makes on an aiosqlite
#   connection (execute, execute_fetchall, executemany), run at once on the
#   one thread. The file is then reopened by the node's own store (stdlib
#   sqlite3), so recovery is the real code too.
# - Shared memory. A VFS written in Python has no xShm methods, so the WAL
#   index cannot live in a -shm file: the connection uses
#   locking_mode=EXCLUSIVE, where SQLite keeps the index in heap memory (as a
#   power cut would lose it anyway). The WAL file and its frames, commits,
#   fsyncs and checkpoints are the same code as with -shm.

from __future__ import annotations

import os
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import apsw

VFS_NAME = "mutualaid-powercut"
CUT_EXIT = 87
"""The status the process ends with when the power is cut (anything else is a failure)."""


@dataclass
class _Unsynced:
    """One file's changes since its last sync: pre-images, oldest first."""

    synced_size: int
    undo: list[tuple[int, bytes]] = field(default_factory=list)


class PowerCutVFS(apsw.VFS):
    """The default VFS, until the ``cut_after``-th write or sync: then the power goes."""

    def __init__(self, cut_after: int) -> None:
        self.cut_after = cut_after
        self.operations = 0
        self.files: dict[str, _Unsynced] = {}
        super().__init__(VFS_NAME, "")

    def xOpen(self, name: Any, flags: list[int]) -> PowerCutFile:
        path = name.filename() if isinstance(name, apsw.URIFilename) else name
        return PowerCutFile(self, path, name, flags)

    def tick(self) -> None:
        self.operations += 1
        if self.operations >= self.cut_after:
            self.cut()

    def note(self, path: str | None, offset: int, length: int) -> None:
        """Keep the bytes at ``[offset, offset + length)`` before they change."""
        if path is None:  # a temporary file: nothing of it survives a restart anyway
            return
        unsynced = self.files.setdefault(path, _Unsynced(os.path.getsize(path)))
        fd = os.open(path, os.O_RDONLY)
        try:
            unsynced.undo.append((offset, os.pread(fd, length, offset)))
        finally:
            os.close(fd)

    def synced(self, path: str | None) -> None:
        if path is not None:
            self.files[path] = _Unsynced(os.path.getsize(path))

    def cut(self) -> None:
        """Lose every unsynced change, then stop dead (no cleanup, no close)."""
        for path, unsynced in self.files.items():
            fd = os.open(path, os.O_RDWR)
            try:
                for offset, before in reversed(unsynced.undo):
                    os.pwrite(fd, before, offset)
                os.ftruncate(fd, unsynced.synced_size)
            finally:
                os.close(fd)
        os._exit(CUT_EXIT)


class PowerCutFile(apsw.VFSFile):
    def __init__(self, vfs: PowerCutVFS, path: str | None, name: Any, flags: list[int]) -> None:
        self.vfs = vfs
        self.path = path
        super().__init__("", name, flags)
        if path is not None:
            vfs.files.setdefault(path, _Unsynced(os.path.getsize(path)))

    def xWrite(self, data: bytes, offset: int) -> None:
        self.vfs.tick()
        self.vfs.note(self.path, offset, len(data))
        super().xWrite(data, offset)

    def xTruncate(self, newsize: int) -> None:
        self.vfs.tick()
        if self.path is not None:
            size = os.path.getsize(self.path)
            if size > newsize:
                self.vfs.note(self.path, newsize, size - newsize)
        super().xTruncate(newsize)

    def xSync(self, flags: int) -> None:
        self.vfs.tick()  # a cut here: this sync never happened
        super().xSync(flags)
        self.vfs.synced(self.path)


class ApswConnection:
    """The calls storage.writer.Writer makes on an aiosqlite connection, on an
    APSW one: the same SQL, run at once (the writer awaits each in turn)."""

    def __init__(self, connection: apsw.Connection) -> None:
        self.connection = connection

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        for _ in self.connection.execute(sql, tuple(params)):
            pass

    async def execute_fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return list(self.connection.execute(sql, tuple(params)))

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        for _ in self.connection.executemany(sql, [tuple(row) for row in rows]):
            pass

    async def close(self) -> None:
        self.connection.close()


def cut_moment(rng: random.Random) -> int:
    """When the power goes, counted in writes and syncs: from the first batch's
    commit to a few dozen batches in."""
    return rng.randint(1, 3000)
