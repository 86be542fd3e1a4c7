# Crash safety with real processes: a writer (tests/storage/_crash_writer.py)
# acknowledges records on stdout only after put_many returned; we SIGKILL it at
# a random moment (after a random number of acknowledgements, or after a random
# delay that may land during start-up, the migration or a commit), then check
# that every acknowledged record (or a newer version of it) is in the file, that
# SQLite finds the file intact, and that the store opens it (quick_check). Each
# file is crashed several times, so a store that already survived a kill and
# recovered its WAL is killed again. Every choice comes from a seeded Random;
# the seed is in every failure message.

from __future__ import annotations

import asyncio
import contextlib
import os
import queue
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import pytest

from protocol.records import replaces, version_key
from storage import RecordStore
from tests.storage._support import HANG_GUARD_SECONDS, NOW, close_or_fail

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
FILES = 10
KILLS_PER_FILE = 4  # 40 kills in all
# Long enough that only a stuck writer reaches it; the writer acknowledges
# its first batch within a fraction of a second.
STARTUP_GUARD_SECONDS = 60


@dataclass(frozen=True)
class Ack:
    id: bytes
    author: bytes
    kind: str
    slot: str
    created_at: int
    status: str


def parse_ack(line: bytes) -> Ack:
    record_id, author, kind, slot, created, status = line.decode().split()
    return Ack(bytes.fromhex(record_id), bytes.fromhex(author), kind, slot, int(created), status)


def read_lines(stream: IO[bytes], lines: queue.Queue[bytes | None]) -> None:
    for line in iter(stream.readline, b""):
        lines.put(line)
    lines.put(None)


def run_and_kill(db: Path, seed: int, log: Path) -> list[Ack]:
    """Start the writer, SIGKILL it at a moment drawn from ``seed``, return its acks."""
    rng = random.Random(seed)
    want_acks = rng.randint(1, 400) if rng.random() < 0.7 else None
    delay = None if want_acks is not None else rng.uniform(0.0, 0.8)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "tests.storage._crash_writer", str(db), str(seed)]
    complete: list[bytes] = []
    with (
        log.open("wb") as stderr,
        subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=stderr) as proc,
    ):
        assert proc.stdout is not None
        lines: queue.Queue[bytes | None] = queue.Queue()
        reader = threading.Thread(target=read_lines, args=(proc.stdout, lines), daemon=True)
        reader.start()
        try:
            if want_acks is not None:
                while len(complete) < want_acks:
                    line = lines.get(timeout=STARTUP_GUARD_SECONDS)
                    if line is None:
                        raise AssertionError(f"seed {seed}: writer exited early: {log.read_text()}")
                    complete.append(line)
            else:
                assert delay is not None
                deadline = time.monotonic() + delay
                while (remaining := deadline - time.monotonic()) > 0:
                    try:
                        line = lines.get(timeout=remaining)
                    except queue.Empty:
                        break
                    if line is None:
                        raise AssertionError(f"seed {seed}: writer exited early: {log.read_text()}")
                    complete.append(line)
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            reader.join(HANG_GUARD_SECONDS)
    assert proc.returncode == -signal.SIGKILL, f"seed {seed}: {log.read_text()}"
    # Lines the writer flushed before it died are acknowledgements too.
    while (line := lines.get_nowait()) is not None:
        complete.append(line)
    return [parse_ack(line) for line in complete if line.endswith(b"\n")]


async def check_store(db: Path, acks: dict[bytes, Ack], seed: int) -> int:
    """Open the crashed file as a node would; return how many acks are there verbatim."""
    store = await RecordStore.open(str(db))  # runs PRAGMA quick_check
    try:
        exact = 0
        now = NOW + 10_000
        for ack in acks.values():
            current = await store.reads.get_by_address(ack.author, ack.kind, ack.slot, now)
            assert current is not None, f"seed {seed}: acknowledged record {ack.id.hex()} is lost"
            if current.id == ack.id:
                exact += 1
                continue
            # Replaced by a version the writer made later: fine, if it really outranks it.
            assert replaces(current.version_key, version_key(ack.status, ack.created_at, ack.id)), (
                f"seed {seed}: {ack.id.hex()} was replaced by {current.id.hex()}, which it outranks"
            )
        assert await store.reads.integrity_check() == "ok", f"seed {seed}"
        return exact
    finally:
        await close_or_fail(store)


def integrity(db: Path) -> list[tuple[object, ...]]:
    with contextlib.closing(sqlite3.connect(db)) as conn:
        return [tuple(row) for row in conn.execute("PRAGMA integrity_check")]


@pytest.mark.parametrize("file_seed", range(FILES))
def test_acknowledged_records_survive_sigkill(tmp_path: Path, file_seed: int) -> None:
    db = tmp_path / "records.db"
    acks: dict[bytes, Ack] = {}
    for kill in range(KILLS_PER_FILE):
        seed = 1000 * file_seed + kill
        for ack in run_and_kill(db, seed, tmp_path / f"writer-{seed}.log"):
            acks[ack.id] = ack
        if not db.exists():
            continue  # killed before the store created its file
        assert integrity(db) == [("ok",)], f"seed {seed}"
        exact = asyncio.run(check_store(db, acks, seed))
        # Most acknowledged records are never edited afterwards.
        assert exact >= len(acks) // 2, f"seed {seed}: only {exact} of {len(acks)} found verbatim"
