"""Ingest and query benchmarks of the record store, on one core.

Ingest is the whole path a peer's records take: decode + validate + verify
(``accept_record``) + ``put_many`` in batches, into a store that already holds
100k records. It is compared, in the same run, with the raw single-core
Ed25519 verify rate of ``cryptography`` (the yardstick the issue names) and of
libsodium (what we verify with). Query latency is measured at the store API,
including the hop to aiosqlite's thread.
"""

from __future__ import annotations

import asyncio
import random
import resource
import statistics
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from bench.corpus import CATEGORIES, COMMON, NOW, TOWNS, records
from crypto.signing import verify_message, verify_message_reference
from protocol.records import Record, accept_record
from storage import PutOutcome, Query, RecordStore

Row = dict[str, Any]
BASE = 100_000
INGEST = 20_000
BATCH = 1000
QUERIES = 1000


def verify_rate(verifier: Any, sample: list[tuple[bytes, bytes, bytes]]) -> float:
    best = 0.0
    for _ in range(3):
        start = time.perf_counter()
        for key, message, signature in sample:
            verifier(key, message, signature)
        best = max(best, len(sample) / (time.perf_counter() - start))
    return best


async def fill(store: RecordStore, source: Iterable[Record], now: int = NOW) -> None:
    """Store ``source`` in batches of 2000."""
    batch: list[Record] = []
    for record in source:
        batch.append(record)
        if len(batch) == 2000:
            await store.writer.put_many(batch, now)
            batch = []
    if batch:
        await store.writer.put_many(batch, now)


def accept_batch(raws: list[bytes]) -> list[Record]:
    return [accept_record(raw, NOW) for raw in raws]


async def ingest(store: RecordStore, raws: list[bytes], *, pipelined: bool) -> float:
    """Records per second through decode + validate + verify + store.

    Pipelined is how a node ingests: batch N+1 is checked in a worker thread
    (off the event loop) while the writer commits batch N, so the commit's
    fsync wait overlaps with verification. On one core that overlap is all
    there is to gain; the CPU work is the same.
    """
    batches = [raws[offset : offset + BATCH] for offset in range(0, len(raws), BATCH)]
    start = time.perf_counter()
    pending: asyncio.Future[list[PutOutcome]] | None = None
    outcomes: list[PutOutcome] = []
    for batch in batches:
        accepted = await asyncio.to_thread(accept_batch, batch) if pipelined else accept_batch(batch)
        if pending is not None:
            outcomes.extend(await pending)
        pending = asyncio.ensure_future(store.writer.put_many(accepted, NOW))
        if not pipelined:
            outcomes.extend(await pending)
            pending = None
    if pending is not None:
        outcomes.extend(await pending)
    elapsed = time.perf_counter() - start
    assert len(outcomes) == len(raws) and all(o.status == "accepted" for o in outcomes)
    return len(raws) / elapsed


async def query_latencies(store: RecordStore, with_text: bool) -> list[float]:
    rng = random.Random(7)
    samples = []
    for _ in range(QUERIES):
        query = Query(
            kinds=(rng.choice(["need", "offer"]),),
            category=rng.choice(CATEGORIES),
            area=rng.choice(TOWNS)[: rng.choice([3, 4])],
            text=rng.choice(COMMON) if with_text else None,
            limit=20,
        )
        start = time.perf_counter()
        await store.reads.query(query, NOW)
        samples.append(time.perf_counter() - start)
    return samples


def p99(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=100)[98]


async def run_async(workdir: Path) -> list[Row]:
    rows: list[Row] = []
    path = str(workdir / "bench.db")
    store = await RecordStore.open(path)
    try:
        t = time.perf_counter()
        await fill(store, records(BASE, seed=11))
        rows.append(info("base fill (build + sign + store)", BASE / (time.perf_counter() - t), "rec/s"))
        fresh = list(records(2 * INGEST, seed=12, start=NOW - 86_400))
        sample = [(r.author, r.message, r.signature) for r in fresh[:5000]]
        ref = verify_rate(verify_message_reference, sample)
        sodium = verify_rate(verify_message, sample)
        serial = await ingest(store, [r.raw for r in fresh[:INGEST]], pipelined=False)
        piped = await ingest(store, [r.raw for r in fresh[INGEST:]], pipelined=True)
        rows.append(info("raw Ed25519 verify, cryptography", ref, "/s"))
        rows.append(info("raw Ed25519 verify, libsodium (ours)", sodium, "/s"))
        rows.append(figure("ingest into 100k store, batch 1000", serial, "rec/s", ">= 60% of cryptography verify",
                           serial / ref >= 0.6, ratio=serial / ref,
                           note="check a batch, store it, then the next"))  # fmt: skip
        rows.append(figure("ingest, pipelined (for comparison)", piped, "rec/s", "", None, ratio=piped / ref,
                           note="next batch checked in a thread while this one commits"))  # fmt: skip
        for with_text, name in ((False, "kind+category+area"), (True, "kind+category+area+text")):
            lat = await query_latencies(store, with_text)
            rows.append(figure(f"query p99, {name}", p99(lat) * 1000, "ms", "< 5 ms", p99(lat) < 0.005,
                               ratio=None, note=f"p50 {statistics.median(lat) * 1000:.2f} ms"))  # fmt: skip
        rng = random.Random(3)
        lat = []
        for _ in range(200):
            start = time.perf_counter()
            await store.reads.query(Query(text=rng.choice(COMMON), limit=20), NOW)
            lat.append(time.perf_counter() - start)
        rows.append(info("query p99, text only (all kinds, areas)", p99(lat) * 1000, "ms"))
        count = sum((await store.reads.counts(NOW)).values())
    finally:
        await store.close()
    size = sum(f.stat().st_size for f in (workdir / "bench.db", workdir / "bench.db-wal") if f.exists())
    rows.append(figure("database bytes per record", size / count, "B", "< 1200 B", size / count < 1200,
                       note=f"{count} records, {size / 1e6:.1f} MB"))  # fmt: skip
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rows.append(info("peak RSS of the benchmark process", peak, "MiB"))
    return rows


def figure(name: str, value: float, unit: str, target: str, ok: bool | None, *, ratio: float | None = None,
           note: str = "") -> Row:  # fmt: skip
    return {"figure": name, "value": value, "unit": unit, "target": target, "ok": ok, "ratio": ratio, "note": note}


def info(name: str, value: float, unit: str) -> Row:
    return {"figure": name, "value": value, "unit": unit, "target": "", "ok": None, "ratio": None, "note": ""}


def run() -> list[Row]:
    with tempfile.TemporaryDirectory(prefix="mutualaid-bench-") as tmp:
        return asyncio.run(run_async(Path(tmp)))
