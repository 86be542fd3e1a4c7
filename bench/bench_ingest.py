"""``python -m bench ingest``: what a record costs to take in as the store grows, and on both cores.

- Growth: one store is filled in time order (as an initial sync fills it) by
  the store benchmark's serial ingest (decode + validate + verify +
  ``put_many``, batches of 1000); the rate of every successive 10k step is
  timed. Before each of the five steps ending nearest 100k (and, with
  ``MUTUALAID_BENCH_FULL=1``, 1M), an empty store is filled with 10k records
  and timed too: each such step is reported as the median of its ratios to
  the empty fill run just before it, so the rates compared are measured side
  by side, not minutes apart (the machine's pace drifts). The put's share is
  timed apart, since it is what grows with the store: verification costs the
  same at any size.
- Verification on both cores: ``node.peering.ingest.verify_parallel`` with one
  worker and with one per core, and the store ingest with its verification
  in one thread or shared out, interleaved runs in the same process.
- Initial sync: a real node X (``mutualaid run``) empty, pulling N records
  from a node P over loopback, with X pinned to one core and then to both
  (P keeps a core of its own in the first run and shares in the second),
  three times each, alternating.

``python -m bench`` pins itself to one core; this part widens its own
affinity back to every core it was started with for the parallel figures.
The signed corpus is built once and kept in ``.cache/bench/`` (ignored by git).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import statistics
import struct
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import bench_node
from bench.bench_store import figure, info
from bench.corpus import NOW, records
from node.peering.checkers import verify_workers
from node.peering.ingest import verify_parallel
from protocol.records import Record, accept_record, parse_record
from storage import PutOutcome, RecordStore

Row = dict[str, Any]
FULL = os.environ.get("MUTUALAID_BENCH_FULL") == "1"
SCALE = float(os.environ.get("MUTUALAID_BENCH_SCALE", "1"))
STEP = 10_000
"""Records per timed step of the growth fill."""
SIZES = [10_000, 100_000, 1_000_000] if FULL else [10_000, 100_000]
BATCH = 1000
PAIRS = 5
"""Growth steps near each size reported, each timed beside an empty store's fill."""
RUNS = 5
"""Interleaved runs of each side-by-side comparison; the median counts."""
SYNC_N = max(2000, int(100_000 * SCALE))
SYNC_RUNS = 3
"""Alternating syncs on one core and on two; the medians are compared."""
CACHE = Path(__file__).resolve().parent.parent / ".cache" / "bench"
_CPUS = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
"""Read at import, before ``python -m bench`` pins itself to one core."""


# -- the corpus, signed once ------------------------------------------------------------


def cached_raws(count: int, seed: int) -> list[bytes]:
    """``bench.corpus.records(count, seed=seed)`` as raw bytes, kept on disk
    (length-prefixed, under the corpus's own hash) so a 1M-record run does not
    sign a million records again."""
    corpus = hashlib.sha256(Path(__file__).with_name("corpus.py").read_bytes()).hexdigest()[:12]
    path = CACHE / f"raws-{count}-{seed}-{corpus}.bin"  # made again when the corpus changes
    if not path.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".tmp")
        with partial.open("wb") as out:
            for record in records(count, seed=seed):
                out.write(struct.pack(">I", len(record.raw)))
                out.write(record.raw)
        partial.replace(path)
    return list(_read(path))


def _read(path: Path) -> Iterator[bytes]:
    data = path.read_bytes()
    offset = 0
    while offset < len(data):
        (size,) = struct.unpack_from(">I", data, offset)
        yield data[offset + 4 : offset + 4 + size]
        offset += 4 + size


def all_cores() -> None:
    if len(_CPUS) > 1:
        os.sched_setaffinity(0, set(_CPUS))


# -- growth ----------------------------------------------------------------------------------


@dataclass
class Step:
    """One timed step of the growth fill."""

    size: int
    """The store's records after it."""
    rate: float
    """Records a second over the step."""
    put_s: float
    """``put_many``'s seconds a record."""
    empty: tuple[float, float] | None = None
    """(rate, put seconds a record) of a fill of an empty store run just
    before it, when the step is one compared with it."""


async def fill(store: RecordStore, raws: list[bytes]) -> tuple[float, float]:
    """Serial ingest of ``raws`` in batches: (records a second, put seconds a record)."""
    began = time.perf_counter()
    put_s = 0.0
    for offset in range(0, len(raws), BATCH):
        checked = [accept_record(raw, NOW) for raw in raws[offset : offset + BATCH]]
        before = time.perf_counter()
        await store.writer.put_many(checked, NOW)
        put_s += time.perf_counter() - before
    return len(raws) / (time.perf_counter() - began), put_s / len(raws)


async def empty_rate(path: str, raws: list[bytes]) -> tuple[float, float]:
    """``fill`` of a new store at ``path`` with one step's records."""
    store = await RecordStore.open(fresh_file(path))
    try:
        return await fill(store, raws[:STEP])
    finally:
        await store.close()


def paired_sizes(biggest: int) -> set[int]:
    """The step ends compared with an empty store: the ``PAIRS`` nearest each size reported."""
    ends = range(STEP, biggest + 1, STEP)
    return {end for size in SIZES[1:] for end in sorted(ends, key=lambda end: abs(end - size))[:PAIRS]}


async def growth(path: str, raws: list[bytes], empty_path: str) -> list[Step]:
    """Every ``STEP`` of one store filled with ``raws``, timed; before each
    step near a reported size, an empty store at ``empty_path`` is filled with
    the first step's records and timed too, so the two rates compared are
    measured side by side (the machine's pace drifts over a long fill)."""
    paired = paired_sizes(len(raws))
    store = await RecordStore.open(path)
    steps = []
    try:
        for start in range(0, len(raws), STEP):
            end = min(start + STEP, len(raws))
            empty = await empty_rate(empty_path, raws) if end in paired else None
            rate, put_s = await fill(store, raws[start:end])
            steps.append(Step(end, rate, put_s, empty))
    finally:
        await store.close()
    return steps


def near(steps: list[Step], size: int) -> list[Step]:
    """The steps compared with an empty store that end nearest ``size``."""
    return sorted((s for s in steps if s.empty is not None), key=lambda s: abs(s.size - size))[:PAIRS]


def fresh_file(path: str) -> str:
    for suffix in ("", "-wal", "-shm"):
        Path(path + suffix).unlink(missing_ok=True)
    return path


def growth_rows(workdir: Path) -> list[Row]:
    biggest = max(SIZES)
    raws = cached_raws(biggest, seed=11)
    steps = asyncio.run(growth(str(workdir / "grow.db"), raws, str(workdir / "empty.db")))
    size = sum(f.stat().st_size for f in workdir.glob("grow.db*"))
    empties = [s.empty for s in steps if s.empty is not None]
    base_rate = statistics.median(e[0] for e in empties)
    base_put = statistics.median(e[1] for e in empties)
    print(f"  {STEP} into an empty store: {base_rate:,.0f} rec/s", flush=True)
    rows = [
        figure(f"ingest, {STEP // 1000}k into an empty store", base_rate, "rec/s", "", None, ratio=1.0,
               note=f"serial, verifying, batches of {BATCH}; put {base_put * 1e6:.0f} us/rec; median of the "
                    f"{len(empties)} fills run beside the steps below"),
    ]  # fmt: skip
    for target in SIZES[1:]:
        chosen = [s for s in near(steps, target) if s.empty is not None]
        rate = statistics.median(s.rate for s in chosen)
        put = statistics.median(s.put_s for s in chosen)
        ratio = statistics.median(s.rate / s.empty[0] for s in chosen if s.empty is not None)
        put_ratio = statistics.median(s.put_s / s.empty[1] for s in chosen if s.empty is not None)
        ok = ratio >= 0.85 if target == 1_000_000 else None
        span = sorted(s.size // 1000 for s in chosen)
        rows.append(figure(f"ingest, the {STEP // 1000}k steps ending near {target // 1000}k", rate, "rec/s",
                           ">= 85% of empty" if ok is not None else "", ok, ratio=ratio,
                           note=f"put {put * 1e6:.0f} us/rec ({put_ratio:.2f}x); ratio = median over {len(chosen)} "
                                f"steps ({span[0]}k-{span[-1]}k), each over the empty fill before it"))  # fmt: skip
    rows.append(figure(f"database bytes per record at {biggest // 1000}k", size / biggest, "B", "< 1200 B",
                       size / biggest < 1200))  # fmt: skip
    return rows


# -- verification on both cores ----------------------------------------------------------


async def verify_rate(batch: list[Record], workers: int) -> tuple[float, float]:
    """Signatures verified per second, and the cores the process used meanwhile."""
    began, cpu = time.perf_counter(), time.process_time()
    for offset in range(0, len(batch), BATCH):
        ok, _ = await verify_parallel(batch[offset : offset + BATCH], workers)
        assert all(ok)
    wall = time.perf_counter() - began
    return len(batch) / wall, (time.process_time() - cpu) / wall


async def store_ingest(path: str, raws: list[bytes], workers: int) -> float:
    """Decode + validate (here), verify (``workers`` threads), ``put_many``; the
    next batch is checked while this one commits, as a node's sync does."""
    store = await RecordStore.open(path)
    try:
        began = time.perf_counter()
        pending: asyncio.Future[list[PutOutcome]] | None = None
        for offset in range(0, len(raws), BATCH):
            parsed = [parse_record(raw) for raw in raws[offset : offset + BATCH]]
            ok, _ = await verify_parallel(parsed, workers)
            assert all(ok)
            if pending is not None:
                await pending
            pending = asyncio.ensure_future(store.writer.put_many(parsed, NOW))
        if pending is not None:
            await pending
        return len(raws) / (time.perf_counter() - began)
    finally:
        await store.close()


def parallel_rows(workdir: Path) -> list[Row]:
    all_cores()
    workers = verify_workers()
    raws = cached_raws(20_000, seed=12)
    parsed = [parse_record(raw) for raw in raws[:10_000]]
    runs = []
    for _ in range(RUNS):
        runs.append((asyncio.run(verify_rate(parsed, 1)), asyncio.run(verify_rate(parsed, workers))))
    one, many = statistics.median(r[0][0] for r in runs), statistics.median(r[1][0] for r in runs)
    ratio = statistics.median(r[1][0] / r[0][0] for r in runs)
    used = statistics.median(r[0][1] for r in runs), statistics.median(r[1][1] for r in runs)
    rows = [
        figure("verify, 1 thread", one, "rec/s", "", None, note=f"the process used {used[0]:.2f} cores"),
        figure(f"verify, {workers} threads", many, "rec/s", "", None, ratio=ratio,
               note=f"used {used[1]:.2f} cores; median of {RUNS} interleaved pairs; ratio = median of pair ratios"),
    ]  # fmt: skip
    pairs = []
    for _ in range(RUNS):
        path = str(workdir / "par.db")
        pairs.append((asyncio.run(store_ingest(fresh_file(path), raws, 1)),
                      asyncio.run(store_ingest(fresh_file(path), raws, workers))))  # fmt: skip
    one, many = statistics.median(p[0] for p in pairs), statistics.median(p[1] for p in pairs)
    ratio = statistics.median(p[1] / p[0] for p in pairs)
    rows.append(info(f"store ingest, {len(raws) // 1000}k into an empty store, verify in 1 thread", one, "rec/s"))
    rows.append(figure(f"store ingest, verify in {workers} threads", many, "rec/s", "", None, ratio=ratio,
                       note=f"median of {RUNS} interleaved pairs; the inline path (pushed batches): decode and "
                            "put hold the GIL; a sync checks in processes, the 1.5x bar is its row"))  # fmt: skip
    return rows


# -- initial sync, one core and two ----------------------------------------------------


def sync_rows(workdir: Path) -> list[Row]:
    if len(_CPUS) < 2:
        return [info("initial sync, 1 vs 2 cores: needs 2 cores", 0.0, "")]
    all_cores()
    p_dir = workdir / "P"
    bench_node.init_data_dir(p_dir)
    asyncio.run(bench_node.fill_store(p_dir / "records.db", SYNC_N, seed=41))
    rates: dict[str, list[float]] = {"1 core": [], "2 cores": []}
    cores: dict[str, list[float]] = {"1 core": [], "2 cores": []}
    """CPU X used over the sync, in cores (its worker processes included): on a
    machine others load, X on two cores may get no more CPU than on one, and this says so."""
    waits: dict[str, list[float]] = {"1 core": [], "2 cores": []}
    """X's threads waiting for a CPU, in threads on average over the sync."""
    per_record: dict[str, list[float]] = {"1 core": [], "2 cores": []}
    """X's CPU seconds a record: what the second core has to share out."""
    serving: list[float] = []
    """P's CPU seconds per record served: what P takes of the core it shares with X."""
    placements = {"1 core": {_CPUS[-1]}, "2 cores": set(_CPUS)}
    with bench_node.Cluster(workdir) as cluster:
        p, p_count = bench_node.start_p(cluster)
        for run in range(SYNC_RUNS):
            for name, cpus in placements.items():
                p_cpu = p.cpu_seconds()
                x = cluster.launch(f"X{run}{name[0]}", peers=[p.url], cpus=cpus)
                cluster.wait_ready(x)
                result = bench_node.wait_for_sync(x, p_count + 1, bench_node.SYNC_TIMEOUT_S)
                cpu_s = x.cpu_seconds() + x.children_cpu_seconds()
                cores[name].append(cpu_s / result.seconds)
                per_record[name].append(cpu_s / p_count)
                waits[name].append(x.cpu_wait_seconds() / result.seconds)
                serving.append((p.cpu_seconds() - p_cpu) / p_count)
                cluster.stop(x)
                if not result.complete:
                    raise RuntimeError(f"X ({name}) held {result.records} of {p_count + 1} after {result.seconds} s")
                rates[name].append((result.records - 1) / result.seconds)
                print(f"  initial sync, X on {name}: {rates[name][-1]:,.0f} rec/s, {cores[name][-1]:.2f} cores, "
                      f"{per_record[name][-1] * 1e6:.0f} us of CPU a record, load {os.getloadavg()[0]:.1f}",
                      flush=True)  # fmt: skip
    one, two = statistics.median(rates["1 core"]), statistics.median(rates["2 cores"])
    used = {name: statistics.median(values) for name, values in cores.items()}
    waited = {name: statistics.median(values) for name, values in waits.items()}
    cpu_us = {name: statistics.median(values) * 1e6 for name, values in per_record.items()}
    load = os.getloadavg()[0]
    pairs = ", ".join(f"{b / a:.2f}" for a, b in zip(rates["1 core"], rates["2 cores"], strict=True))
    return [
        figure(f"initial sync of {p_count} records, X on 1 core", one, "rec/s", "", None,
               note=f"X used {used['1 core']:.2f} cores, {cpu_us['1 core']:.0f} us of CPU a record; "
                    f"{waited['1 core']:.2f} of its threads waited for a CPU"),
        figure("initial sync, X on 2 cores", two, "rec/s", ">= 1.5x one core", two >= 1.5 * one, ratio=two / one,
               note=f"X used {used['2 cores']:.2f} cores, {cpu_us['2 cores']:.0f} us of CPU a record (its checker "
                    f"processes included); {waited['2 cores']:.2f} "
                    f"of its threads waited for a CPU; load average {load:.1f}; P on CPU {_CPUS[0]} "
                    f"used {statistics.median(serving) * 1e6:.0f} us of CPU a record served; X launch to last record; "
                    f"median of {SYNC_RUNS} alternating runs each (pairs {pairs})"),
    ]  # fmt: skip


def run() -> list[Row]:
    with tempfile.TemporaryDirectory(prefix="mutualaid-bench-ingest-") as tmp:
        workdir = Path(tmp)
        rows = growth_rows(workdir)
        rows += parallel_rows(workdir)
        rows += sync_rows(workdir)
    return rows
