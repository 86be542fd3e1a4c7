# A process for test_power_loss to cut the power under: the real writer
# (storage.writer.Writer) writes random batches of signed records through
# PowerCutVFS (tests/storage/_powercut.py) and acknowledges each batch on
# stdout only after put_many has returned (after COMMIT), until the VFS cuts
# the power at the moment drawn from SEED and the process ends with CUT_EXIT.
#
#     python -m tests.storage._powercut_writer DB SEED [SYNCHRONOUS]
#
# SYNCHRONOUS (NORMAL, OFF) replaces the store's synchronous=FULL: the control
# experiment showing the simulated cut does lose what a weaker setting risks.
# One line per accepted record, as tests/storage/_crash_writer.py writes them.
# The file must exist with the current schema (the test makes it with
# RecordStore.open, as `mutualaid init` does).

from __future__ import annotations

import asyncio
import random
import sys

import apsw

from crypto import NodeIdentity
from protocol.records import Record
from storage.sqlite import StoreConfig, writer_pragmas
from storage.writer import Writer
from tests.storage._crash_writer import NOW, acknowledge, next_batch
from tests.storage._powercut import VFS_NAME, ApswConnection, PowerCutVFS, cut_moment

CHECKPOINT_PAGES = (50, 500, 10_000)
"""wal_autocheckpoint settings drawn per run: the store's default rarely
checkpoints in a short run, so smaller ones put checkpoints (and WAL
restarts) under the cut too."""


async def write_until_cut(path: str, seed: int, synchronous: str | None = None) -> None:
    rng = random.Random(seed)
    vfs = PowerCutVFS(cut_moment(rng))
    config = StoreConfig(wal_autocheckpoint_pages=rng.choice(CHECKPOINT_PAGES))
    connection = apsw.Connection(path, vfs=VFS_NAME)
    connection.execute("PRAGMA locking_mode = EXCLUSIVE")  # no xShm in a Python VFS (see _powercut.py)
    connection.execute(f"PRAGMA cache_size = -{config.cache_size_kib}")
    for pragma in writer_pragmas(config):
        if synchronous is not None and pragma.startswith("PRAGMA synchronous"):
            pragma = f"PRAGMA synchronous = {synchronous}"
        connection.execute(pragma)
    assert vfs.operations == 0 or vfs.cut_after > vfs.operations
    writer = Writer(ApswConnection(connection), path, config, set())  # type: ignore[arg-type]
    authors = [NodeIdentity.from_seed(rng.randbytes(32)) for _ in range(4)]
    live: list[tuple[NodeIdentity, Record]] = []
    now = NOW
    while True:
        now += 1
        batch = next_batch(rng, seed, authors, live, now)
        acknowledge(batch, await writer.put_many(batch, now), "power-cut writer")


def main() -> None:
    path, seed, *synchronous = sys.argv[1:]
    asyncio.run(write_until_cut(path, int(seed), *synchronous))


if __name__ == "__main__":
    main()
