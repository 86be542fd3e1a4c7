"""Big record stores for the scale benchmarks, made once and kept under ``.cache/bench/``.

A store of a million signed records takes minutes to make, so each size is
made once and reused: the file is named by its record count and keyed (in a
sidecar JSON file) by the corpus version, a hash of ``bench/corpus.py``, of
this module, of how a record becomes rows (storage/rows.py, storage/text.py)
and of the schema version, so a change to how records are drawn or stored
makes it again.

Records are dated over the 20 days before the day the store was made (a
running node refuses records from the future, and the corpus's ``NOW`` is
in 2027); they live 30 days, so a store is made again once it is
``MAX_AGE_S`` old, before its oldest records expire.

Making one is as fast as honest: the records are drawn and signed in a
process pool, a chunk of ``CHUNK`` records per task (each chunk has its own
seed and its own slice of the 20 days, so the store is still oldest first),
and inserted through the real store writer (``put_many``, batches of 2000)
while the pool signs the next chunks. The benchmarks never change a cached
file: a node that must run on one gets a copy (``copy_to``).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from bench import corpus
from protocol.records import DEFAULT_TTL, Record
from storage import RecordStore, rows, schema, text
from storage.schema import SCHEMA_VERSION
from storage.sqlite import StoreConfig

CACHE_DIR = Path(__file__).resolve().parent.parent / ".cache" / "bench"
CHUNK = 10_000
"""Records drawn and signed per pool task (and per corpus seed)."""
SPAN_S = 20 * 86_400
"""The records' creation times spread over the SPAN_S before the store's ``end``."""
MAX_AGE_S = (DEFAULT_TTL - SPAN_S) // 2
"""A cached store this old is made again (its oldest records expire at DEFAULT_TTL - SPAN_S)."""
SEED = 1300
_CPUS = set(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else set()
PUT_BATCH = 2000


def corpus_version() -> str:
    """What a store depends on: how its records are drawn and chunked, and the
    schema they were stored under, its text included (a store made before a
    migration, or one changed before it shipped, is made again, so its size is
    a freshly filled file's)."""
    digest = hashlib.sha256(str(SCHEMA_VERSION).encode())
    for module in (corpus.__file__, __file__, rows.__file__, text.__file__, schema.__file__):
        digest.update(Path(module).read_bytes())
    return digest.hexdigest()[:16]


@dataclass(frozen=True)
class CachedStore:
    count: int
    path: Path
    end: int
    """The newest record's creation time is just before ``end``; queries run at ``time.time()``."""

    def copy_to(self, target: Path) -> None:
        """A private copy of the file for a node to run on (and change)."""
        shutil.copyfile(self.path, target)


def _unpin() -> None:
    """Pool workers may use every core this process could at import (``python -m
    bench`` pins itself to one afterwards, and children inherit that)."""
    if _CPUS:
        os.sched_setaffinity(0, _CPUS)


def _chunk(task: tuple[int, int, int, int]) -> list[Record]:
    index, count, start, end = task
    return list(corpus.records(count, seed=SEED + index, start=start, end=end))


def _tasks(count: int, end: int) -> Iterator[tuple[int, int, int, int]]:
    chunks = (count + CHUNK - 1) // CHUNK
    step = SPAN_S // chunks
    first = end - SPAN_S
    for index in range(chunks):
        size = min(CHUNK, count - index * CHUNK)
        yield index, size, first + index * step, first + (index + 1) * step


async def _build(path: Path, count: int, end: int, workers: int) -> None:
    config = StoreConfig(quick_check_at_open=False)
    store = await RecordStore.open(str(path), config)
    loop = asyncio.get_running_loop()
    try:
        with ProcessPoolExecutor(max_workers=workers, initializer=_unpin) as pool:
            tasks = _tasks(count, end)
            pending: deque[asyncio.Future[list[Record]]] = deque()
            while True:
                while len(pending) < 2 * workers and (task := next(tasks, None)) is not None:
                    pending.append(loop.run_in_executor(pool, _chunk, task))  # a bounded window in flight
                if not pending:
                    break
                batch = await pending.popleft()  # in order: the store is filled oldest first
                for offset in range(0, len(batch), PUT_BATCH):
                    outcomes = await store.writer.put_many(batch[offset : offset + PUT_BATCH], end)
                    if any(o.status != "accepted" for o in outcomes):
                        raise RuntimeError("a corpus record was not accepted by the store")
    finally:
        await store.close()


def cached_store(count: int, *, workers: int | None = None, log: bool = True) -> CachedStore:
    """The cached store of ``count`` records, made first if missing, stale or of another corpus."""
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    path = CACHE_DIR / f"records-{count}.db"
    meta_path = path.with_suffix(".json")
    version = corpus_version()
    now = int(time.time())
    if path.exists() and meta_path.exists():
        meta = json.loads(meta_path.read_text())
        if meta.get("version") == version and meta.get("count") == count and now - int(meta["end"]) < MAX_AGE_S:
            return CachedStore(count, path, int(meta["end"]))
    meta_path.unlink(missing_ok=True)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    end = now - 3600
    started = time.perf_counter()
    if log:
        print(f"making a store of {count:,} records in {path} (once; cached)...", flush=True)
    asyncio.run(_build(path, count, end, workers or max(1, len(_CPUS))))
    meta_path.write_text(json.dumps({"version": version, "count": count, "end": end}))
    if log:
        print(f"  made in {time.perf_counter() - started:.0f} s", flush=True)
    return CachedStore(count, path, end)


if __name__ == "__main__":  # python -m bench.store_cache 10000 100000 ...: make them ahead of a run
    import sys

    for arg in sys.argv[1:]:
        print(cached_store(int(arg)))
