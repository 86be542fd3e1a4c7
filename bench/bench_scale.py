"""The scale table (issue 13): how each cost of one node grows with the records it holds.

``python -m bench scale`` measures every cost at 10k and 100k records, and
at a million with ``MUTUALAID_BENCH_FULL=1`` (the first run makes that store,
several minutes; later runs reuse it: bench/store_cache.py). Each cost is
printed for every size beside its growth factor from one size to the next,
ten times the records each step: a cost that stays flat reads about 1.0, one
that grows with n about 10, so a change in how a cost grows shows at once.

The costs come from row providers (``PROVIDERS``), each handed the cached
store of one size and a scratch directory; another benchmark adds its own
costs by appending a provider.

- Disk: bytes of the store file per record.
- Member search at the store API (the hop to aiosqlite's thread included),
  p50 and p99 over ``QUERIES`` searches after ``WARMUP`` unmeasured ones: the
  filtered mix of bench/bench_store.py (kind, category, area of 3 or 4
  characters), the same with a word, a word alone, and a rare word alone.
- A node process (``mutualaid run``) on a copy of the store: its RSS once
  started, its peak (VmHWM) while it serves member searches over HTTP and
  in-sync reconciliation rounds from a real ``PeerClient`` (the opening
  message built by ``protocol.reconcile.Reconciler`` from the node's own live
  set, read from its file), and its RSS once idle past the moment it hands
  memory back. The reconciliation time is the client's wall time of one
  round on loopback (the node's work, plus signing and HTTP): the first
  after start (it waits for the node's sync set to be built, retried past the
  client's 30 s) and the median of the rounds after it. The searches come
  after that first round, so they do not queue behind the build.

Targets are the issue's, for a million records; they are checked at every
size (a cost meant to be flat must be under them at any size), the disk's
from 100k records on.
"""

from __future__ import annotations

import asyncio
import dataclasses
import http.client
import itertools
import os
import random
import sqlite3
import statistics
import tempfile
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from bench import bench_node
from bench.bench_store import figure
from bench.corpus import CATEGORIES, COMMON, TOWNS, WORDS
from bench.store_cache import CachedStore, cached_store
from crypto import NodeIdentity
from node.app import IDLE_TRIM_AFTER_S
from node.core.datadir import DATABASE_FILE
from node.peering.peer_client import PeerClient, PeerUnreachable
from protocol.filters import SyncFilter
from protocol.reconcile import ItemSet, Reconciler
from storage import Query, RecordStore
from storage.sqlite import StoreConfig

Row = dict[str, Any]
FULL = os.environ.get("MUTUALAID_BENCH_FULL") == "1"
SIZES = (10_000, 100_000, 1_000_000) if FULL else (10_000, 100_000)
QUERIES = 500
WARMUP = 50
HTTP_QUERIES = 300
RECONCILE_ROUNDS = 20
IDLE_WAIT_S = IDLE_TRIM_AFTER_S + 3.0
FIRST_ROUND_TIMEOUT_S = 900.0
"""The first round after start waits while the node builds its sync set (a
peer client gives up on one request after 30 s; the build goes on)."""
RARE = WORDS[-300:]
"""The corpus's rarest words (Zipf ranks past 1,250): a few hundred posts each at a million."""


@dataclass(frozen=True)
class Cost:
    name: str
    unit: str
    target: str = ""
    limit: float | None = None
    """The cost must stay below this at every size (None: information)..."""
    checked_from: int = 0
    """...from this many records on."""


Measured = list[tuple[Cost, float]]
Provider = Callable[[CachedStore, Path], Measured]

DISK = Cost("disk per record", "B", "< 1200 B", 1200, checked_from=100_000)
"""A small file's fixed costs, and the sparser full-text keys of fewer
records, put 10k records above the target; it is about big stores."""
SEARCH_MIXES: dict[str, tuple[Cost, Cost, Cost]] = {
    name: (
        Cost(f"search p50, {name}", "ms"),
        Cost(f"search p99, {name}", "ms", f"< {limit} ms", limit),
        Cost(f"search p99 CPU, {name}", "ms"),
    )
    for name, limit in (
        ("kind+category+area", 5),
        ("text alone", 10),
        ("rare word alone", 10),
        ("filter+text", 10),
        ("any filters, either order", 5),
        ("a language and any filters", 5),
    )
}
"""Each mix's wall-clock p50 and p99, and its p99 in CPU time (of every thread of
this process): on a shared machine a wall-clock tail is partly time spent
waiting for a core, which CPU time leaves out."""
RSS_START = Cost("node RSS after start", "MB")
RSS_PEAK = Cost("node RSS peak (VmHWM), serving", "MB", "< 150 MB", 150)
RSS_IDLE = Cost("node RSS idle (after the trim)", "MB", "< 100 MB", 100)
HTTP_P99 = Cost("HTTP search p99, filter+text (node)", "ms")
RECONCILE_FIRST = Cost("in-sync reconcile, first after start", "ms")
RECONCILE_WARM = Cost("in-sync reconcile round, median", "ms", "< 50 ms", 50)
START_S = Cost("node start until it listens", "s")


def make_query(mix: str, rng: random.Random) -> Query:
    """One member search of ``mix``, drawn as bench/bench_store.py draws them."""
    if mix == "text alone":
        return Query(text=rng.choice(COMMON), limit=20)
    if mix == "rare word alone":
        return Query(text=rng.choice(RARE), limit=20)
    if mix == "a language and any filters":  # the same, with a language: the corpus's posts list one
        any_filters = make_query("any filters, either order", rng)
        # Most posts list 'en', 23% 'es', 4% 'pt-br' (found by 'pt'), 1% 'so', none 'am'.
        return dataclasses.replace(any_filters, language=rng.choice(["en", "es", "pt", "so", "am"]))
    if mix == "any filters, either order":  # what the member page's filters can ask, without text
        return Query(
            kinds=rng.choice([("need", "offer"), ("need",), ("offer",)]),
            category=rng.choice([None, None, *CATEGORIES]),
            area=rng.choice([None, rng.choice(TOWNS)[: rng.randint(1, 5)]]),
            urgencies=rng.choice([(), (), ("urgent",), ("high", "urgent")]),
            statuses=rng.choice([("open", "claimed"), ("open",)]),
            order=rng.choice(["newest", "urgency"]),
            limit=20,
        )
    return Query(
        kinds=(rng.choice(["need", "offer"]),),
        category=rng.choice(CATEGORIES),
        area=rng.choice(TOWNS)[: rng.choice([3, 4])],
        text=rng.choice(COMMON) if mix == "filter+text" else None,
        limit=20,
    )


def percentile(samples: list[float], q: int) -> float:
    return statistics.quantiles(samples, n=100)[q - 1]


# -- providers ----------------------------------------------------------------------


def disk(store: CachedStore, workdir: Path) -> Measured:
    size = sum(p.stat().st_size for p in (store.path, Path(f"{store.path}-wal")) if p.exists())
    return [(DISK, size / store.count)]


async def _search_costs(store: CachedStore) -> Measured:
    # Read-only use of the cached file: nothing is written, no check at open.
    opened = await RecordStore.open(str(store.path), StoreConfig(quick_check_at_open=False))
    now = int(time.time())
    out: Measured = []
    try:
        for seed, (mix, (p50_cost, p99_cost, cpu_cost)) in enumerate(SEARCH_MIXES.items()):
            rng = random.Random(seed)
            samples, cpu = [], []
            for index in range(WARMUP + QUERIES):
                query = make_query(mix, rng)
                start, start_cpu = time.perf_counter(), time.process_time()
                await opened.reads.query(query, now)
                if index >= WARMUP:
                    samples.append(time.perf_counter() - start)
                    cpu.append(time.process_time() - start_cpu)
            out += [(p50_cost, statistics.median(samples) * 1000), (p99_cost, percentile(samples, 99) * 1000),
                    (cpu_cost, percentile(cpu, 99) * 1000)]  # fmt: skip
    finally:
        await opened.close()
    return out


def searches(store: CachedStore, workdir: Path) -> Measured:
    return asyncio.run(_search_costs(store))


def live_items(database: Path, now: int) -> ItemSet:
    """The node's live (created_at, id) set under the all-kinds filter, from its file."""
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as db:
        rows = db.execute(
            "SELECT created_at, id FROM records WHERE expires_at > ? ORDER BY created_at, id", (now,)
        ).fetchall()
    return ItemSet((int(ts), bytes(id_)) for ts, id_ in rows)


async def _reconcile_rounds(url: str, items: ItemSet) -> list[float]:
    """Wall time of each in-sync round; the first is the first after the node started."""
    times = []
    async with aiohttp.ClientSession() as session:
        client = PeerClient(session, NodeIdentity.generate(), url)
        for round_ in range(1 + RECONCILE_ROUNDS):
            reconciler = Reconciler(items)
            message = reconciler.initiate()
            start = time.perf_counter()
            while True:
                try:
                    reply = await client.reconcile(SyncFilter(), message)
                    break
                except PeerUnreachable:  # the first round waits for the sync set's build: let it finish
                    if round_ or time.perf_counter() - start > FIRST_ROUND_TIMEOUT_S:
                        raise
            times.append(time.perf_counter() - start)
            if reconciler.receive(reply) is not None or reconciler.need_ids or reconciler.have_ids:
                raise AssertionError("the node and the opening message were not in sync")
    return times


def _http_searches(url: str) -> list[float]:
    """Member searches (filter+text) over one keep-alive connection, as a browser sends them."""
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
    rng = random.Random(99)
    samples = []
    try:
        for index in range(WARMUP + HTTP_QUERIES):
            query = make_query("filter+text", rng)
            params = {"kind": query.kinds[0], "category": query.category, "area": query.area, "q": query.text}
            path = "/api/v1/records?" + urllib.parse.urlencode({**params, "limit": 20})
            start = time.perf_counter()
            conn.request("GET", path)
            response = conn.getresponse()
            body = response.read()
            if response.status != 200:
                raise RuntimeError(f"GET {path}: HTTP {response.status} {body[:200]!r}")
            if index >= WARMUP:
                samples.append(time.perf_counter() - start)
    finally:
        conn.close()
    return samples


def _vm(pid: int, field: str) -> float:
    """A /proc/PID/status memory line (VmRSS, VmHWM) in MB (10^6 bytes)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) * 1024 / 1e6
    raise RuntimeError(f"no {field} for process {pid}")


def node(store: CachedStore, workdir: Path) -> Measured:
    data_dir = workdir / "N"
    bench_node.init_data_dir(data_dir)
    database = data_dir / DATABASE_FILE
    for suffix in ("", "-wal", "-shm"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)
    store.copy_to(database)
    with bench_node.Cluster(workdir) as cluster:
        started = time.perf_counter()
        n = cluster.start("N")
        start_s = time.perf_counter() - started
        pid = n.proc.pid
        time.sleep(1.0)
        rss_start = _vm(pid, "VmRSS")
        items = live_items(database, int(time.time()))
        rounds = asyncio.run(_reconcile_rounds(n.url, items))
        http = _http_searches(n.url)
        rounds += asyncio.run(_reconcile_rounds(n.url, items))[1:]  # warm ones, after the searches
        peak = _vm(pid, "VmHWM")
        time.sleep(IDLE_WAIT_S)
        idle = _vm(pid, "VmRSS")
    return [
        (START_S, start_s),
        (RSS_START, rss_start),
        (RSS_PEAK, peak),
        (RSS_IDLE, idle),
        (HTTP_P99, percentile(http, 99) * 1000),
        (RECONCILE_FIRST, rounds[0] * 1000),
        (RECONCILE_WARM, statistics.median(rounds[1:]) * 1000),
    ]


PROVIDERS: list[Provider] = [disk, searches, node]
"""Each measures some costs on the cached store of one size; append to add costs."""


# -- the table --------------------------------------------------------------------


def measure(sizes: tuple[int, ...] = SIZES) -> dict[int, Measured]:
    results: dict[int, Measured] = {}
    for count in sizes:
        store = cached_store(count)
        results[count] = []
        for provider in PROVIDERS:
            with tempfile.TemporaryDirectory(prefix="mutualaid-scale-") as tmp:
                results[count] += provider(store, Path(tmp))
        print(f"  {count:,} records measured", flush=True)
    return results


def label(count: int) -> str:
    return f"{count // 1_000_000}M" if count >= 1_000_000 else f"{count // 1000}k"


def growth_factor(before: dict[Cost, float], after: dict[Cost, float], cost: Cost) -> float | None:
    if not before.get(cost) or cost not in after:
        return None
    return after[cost] / before[cost]


def wide_table(results: dict[int, Measured]) -> str:
    """Every cost at every size, then its growth factor per tenfold step."""
    sizes = sorted(results)
    costs = list(dict.fromkeys(cost for measured in results.values() for cost, _ in measured))
    values = {count: dict(measured) for count, measured in results.items()}
    steps = list(itertools.pairwise(sizes))
    header = ["cost", "unit", *(label(c) for c in sizes), *(f"x {label(a)}->{label(b)}" for a, b in steps), "target"]
    lines = []
    for cost in costs:
        cells = [f"{values[c][cost]:.2f}" if cost in values[c] else "" for c in sizes]
        factors = [growth_factor(values[a], values[b], cost) for a, b in steps]
        growth = ["" if factor is None else f"{factor:.2f}" for factor in factors]
        lines.append([cost.name, cost.unit, *cells, *growth, cost.target])
    widths = [max(len(str(x)) for x in column) for column in zip(header, *lines, strict=True)]
    out = [" | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    out.append("-+-".join("-" * w for w in widths))
    out += [" | ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) for line in lines]
    return "\n".join(out)


def rows(results: dict[int, Measured]) -> list[Row]:
    """The main table's rows: each cost at each size, its ratio the growth from the size before."""
    out: list[Row] = []
    sizes = sorted(results)
    values = {count: dict(measured) for count, measured in results.items()}
    for cost in dict.fromkeys(cost for measured in results.values() for cost, _ in measured):
        previous = None
        for count in sizes:
            value = values[count].get(cost)
            if value is None:
                continue
            ok = None if cost.limit is None or count < cost.checked_from else value < cost.limit
            ratio: float | None = value / previous if previous else None
            note = f"x{ratio:.2f} for 10x the records" if ratio is not None else ""
            out.append(
                figure(f"{cost.name} @{label(count)}", value, cost.unit, cost.target, ok, ratio=ratio, note=note)
            )
            previous = value
    return out


def run() -> list[Row]:
    if not FULL:
        print("  (10k and 100k; MUTUALAID_BENCH_FULL=1 adds 1M)", flush=True)
    results = measure()
    print(wide_table(results), flush=True)
    return rows(results)
