"""Bundles (issue 12, offline carry): export and import of 1k, 10k (and 100k) records,
against the store's own ingest of the same records, side by side, on one core.

Each run, on files in a fresh temporary directory:

1. **Export**: a store holding n corpus records (``bench.corpus``, many authors,
   filled untimed) is read and signed into a bundle by ``make_bundle``, the
   code ``mutualaid bundle export`` runs, and the file written: records/s.
2. **Import**: that file is read, checked whole (``decode_bundle``: framing and
   the exporter's signature) and every record taken through a real
   ``Ingestor`` into an empty store (``import_bundle``, the code ``mutualaid
   bundle import`` and ``POST /api/v1/bundle`` run: field rules, the clock,
   policy, duplicates, signatures in a worker thread, one ``put_many`` a
   batch of 1,000): records/s.
3. **Store ingest**, right after, the same raw records into another empty
   store by ``bench_store.ingest`` (decode, validate, verify, ``put_many`` in
   batches of 1,000, one after the other: the store benchmark's figure).

The figure that matters is import / ingest in the same run (target at least
0.70 at 10k): what the bundle adds over taking the records from a peer.
Medians of ``RUNS`` runs; the ratio is each run's, then its median. Time is
the corpus's (``NOW``), handed to the ingestor as a ``ManualClock``. 100k
records run only with ``MUTUALAID_BENCH_FULL=1`` (some minutes: signing the
corpus alone takes a while).
"""

from __future__ import annotations

import asyncio
import itertools
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import bench_store
from bench.corpus import NOW, authors, records
from node.core.clock import ManualClock
from node.core.metrics import Metrics
from node.operate.bundle import import_bundle, make_bundle
from node.peering.feed import RecordFeed
from node.peering.ingest import Ingestor
from node.peering.policy import Policy
from protocol.bundle import decode_bundle
from protocol.filters import SyncFilter
from protocol.records import Record
from storage import RecordStore

Row = dict[str, Any]
FULL = os.environ.get("MUTUALAID_BENCH_FULL", "") not in ("", "0")
SIZES = (1_000, 10_000, 100_000) if FULL else (1_000, 10_000)
RUNS = int(os.environ.get("MUTUALAID_BENCH_RUNS", "3"))
TARGET = 0.70
EXPORTER = authors(1, seed=99)[0]


async def one_run(workdir: Path, held: list[Record]) -> dict[str, float]:
    raws = [r.raw for r in held]
    source = await RecordStore.open(str(workdir / "source.db"))
    try:
        await bench_store.fill(source, held, NOW)
        bundle_file = workdir / "out.bundle"
        started = time.perf_counter()
        data = await make_bundle(source, EXPORTER, NOW, None, None)
        await asyncio.to_thread(bundle_file.write_bytes, data)
        export_s = time.perf_counter() - started
    finally:
        await source.close()
    taker = await RecordStore.open(str(workdir / "import.db"))
    try:
        policy = Policy()
        ingestor = Ingestor(taker, RecordFeed(), Metrics(), policy, SyncFilter(), ManualClock(wall=NOW))
        started = time.perf_counter()
        read = await asyncio.to_thread(bundle_file.read_bytes)
        bundle = await asyncio.to_thread(decode_bundle, read)
        done = await import_bundle(ingestor, policy, bundle)
        import_s = time.perf_counter() - started
        assert done.accepted == len(raws), done.as_json()
    finally:
        await taker.close()
    plain = await RecordStore.open(str(workdir / "ingest.db"))
    try:
        ingest_rate = await bench_store.ingest(plain, raws, pipelined=False)
    finally:
        await plain.close()
    n = len(raws)
    return {"export": n / export_s, "import": n / import_s, "ingest": ingest_rate,
            "ratio": (n / import_s) / ingest_rate, "bytes": len(data) / n, "import_s": import_s}  # fmt: skip


def rows_for(size: int, runs: list[dict[str, float]]) -> list[Row]:
    def median(name: str) -> float:
        return statistics.median(run[name] for run in runs)

    each = ", ".join(f"{run['ratio']:.2f}" for run in runs)
    ratio = median("ratio")
    ok = ratio >= TARGET if size == 10_000 else None
    return [
        row(f"bundle export, {size:,} records", median("export"), "rec/s", note="read, sign, write the file"),
        row(f"bundle import, {size:,} records", median("import"), "rec/s", ratio=ratio,
            target=f">= {TARGET:.2f} of store ingest" if size == 10_000 else "", ok=ok,
            note=f"ratio import/ingest per run: {each}"),
        row(f"store ingest, same {size:,} records", median("ingest"), "rec/s", note="bench_store.ingest, serial"),
        row(f"bundle bytes per record, {size:,}", median("bytes"), "B"),
    ]  # fmt: skip


def row(name: str, value: float, unit: str, *, ratio: float | None = None, target: str = "", ok: bool | None = None,
        note: str = "") -> Row:  # fmt: skip
    return {"figure": name, "value": value, "unit": unit, "ratio": ratio, "target": target, "ok": ok, "note": note}


def run() -> list[Row]:
    out: list[Row] = []
    import_s: dict[int, float] = {}
    for size in SIZES:
        corpus = list(records(size, seed=21))
        runs = []
        for _ in range(RUNS):
            with tempfile.TemporaryDirectory(prefix="mutualaid-bench-bundle-") as tmp:
                runs.append(asyncio.run(one_run(Path(tmp), corpus)))
        out += rows_for(size, runs)
        import_s[size] = statistics.median(r["import_s"] for r in runs)
    growth = [f"x{import_s[b] / import_s[a]:.1f} from {a:,} to {b:,}" for a, b in itertools.pairwise(SIZES)]
    out.append(row("bundle import time growth, x10 records", import_s[SIZES[-1]] / import_s[SIZES[-2]], "x",
                   note="; ".join(growth)))  # fmt: skip
    return out
