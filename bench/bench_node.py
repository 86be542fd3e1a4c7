"""Whole-node benchmarks: real ``mutualaid run`` processes talking over loopback.

Every node is a separate process (the installed command, or ``python -m
node``) listening on 127.0.0.1 only, with its own temporary data directory;
every process is stopped at the end (SIGTERM, then SIGKILL), even on failure.

- Initial sync: a peer P is filled with N records straight through its
  ``RecordStore`` before it starts; an empty node X is started with ``--peer P``
  and timed from its launch until its ``GET /api/v1/node`` counts everything.
  The yardstick is measured in the same run: the store benchmark's serial
  ingest (``bench_store.ingest``) of a corpus of the same size into a fresh
  store, on one core, once before and once after the sync (the better one
  counts). X is pinned to a core of its own (a node on its own machine); P
  and this process share the other. The CPU each used is reported.
- Member search through HTTP against P: typical queries over one keep-alive
  connection, so the figure is the node's (aiohttp + store + JSON), not
  connection set-up.
- Idle memory: P's VmRSS after it has served the sync and the searches and
  then sat idle past the moment it hands memory back (``IDLE_TRIM_AFTER_S``
  after its last request); the figure just before is shown beside it.
- Propagation: ten nodes in a random connected graph of degree ~3, each
  started with ``--peer`` for each of its neighbours; a record posted on a
  random node is polled for on every node until all have it. Copies are read
  from each node's ``mutualaid_records_received_total`` counters. The same
  is run again with each edge configured at one end only (one link per pair),
  for comparison.
- Last, how many nodes had to be killed because SIGTERM did not stop them.

``MUTUALAID_BENCH_SCALE`` (default 1) scales the record count, for quick runs
while developing.
"""

from __future__ import annotations

import asyncio
import http.client
import itertools
import json
import os
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from bench import bench_store
from bench.bench_store import figure, info
from bench.corpus import CATEGORIES, COMMON, TOWNS
from bench.corpus import records as corpus_records
from node.app import IDLE_TRIM_AFTER_S
from node.chapter.categories import DEFAULT_SLUGS
from protocol.records import Record
from storage import RecordStore
from tests._launch import NodeProcess, NodeStartError, child_env, run_args

Row = dict[str, Any]
SCALE = float(os.environ.get("MUTUALAID_BENCH_SCALE", "1"))
N = max(1000, int(100_000 * SCALE))
QUERIES = 1000
WARMUP_QUERIES = 100
MESH_NODES = 10
MESH_DEGREE = 3
POSTS = 20
POLL_S = 0.005
SYNC_TIMEOUT_S = max(120.0, N / 500)
"""Pause between two rounds of propagation polls (each round asks every node
that has not yet got the record, concurrently)."""
IDLE_S = 5.0
START_TIMEOUT_S = 30.0
STOP_GRACE_S = 5.0
HOST = "127.0.0.1"
_CPUS = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
"""The CPUs this process may use, read at import: ``python -m bench`` pins
itself to one core in main(), after importing the benchmarks."""
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


# -- records valid against the real clock ----------------------------------------


def live_records(count: int, *, seed: int, now: int) -> Iterator[Record]:
    """``bench.corpus.records`` dated over the 20 days before ``now`` (the
    corpus's NOW is in the future, which a running node refuses)."""
    return corpus_records(count, seed=seed, end=now - 60)


async def fill_store(path: Path, count: int, seed: int) -> None:
    now = int(time.time())
    store = await RecordStore.open(str(path))
    try:
        await bench_store.fill(store, live_records(count, seed=seed, now=now), now)
    finally:
        await store.close()


async def store_ingest_rate(path: Path, raws: list[bytes]) -> float:
    """The store benchmark's single-core figure: serial ingest, batches of 1000, into a fresh store."""
    store = await RecordStore.open(str(path))
    try:
        return await bench_store.ingest(store, raws, pipelined=False)
    finally:
        await store.close()


# -- node processes -----------------------------------------------------------------


def _command() -> list[str]:
    script = Path(sys.executable).with_name("mutualaid")
    return [str(script)] if script.exists() else [sys.executable, "-m", "node"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


@dataclass
class Node:
    name: str
    data_dir: Path
    process: NodeProcess
    log_path: Path
    url: str = ""
    peers: list[str] = field(default_factory=list)

    @property
    def proc(self) -> subprocess.Popen[bytes]:
        return self.process.popen

    @property
    def launched(self) -> float:
        """``time.perf_counter()`` just before the process was started."""
        return self.process.launched

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def cpu_seconds(self) -> float:
        """User + system CPU of the whole process (every thread), from /proc."""
        stat = Path(f"/proc/{self.proc.pid}/stat").read_text()
        fields = stat[stat.rindex(")") + 2 :].split()
        return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS

    def children_cpu_seconds(self) -> float:
        """User + system CPU of the node's child processes still running (its
        record checkers), from /proc: a node's ``cpu_seconds`` counts only its own."""
        total = 0.0
        for task in Path(f"/proc/{self.proc.pid}/task").iterdir():
            for child in (task / "children").read_text().split():
                try:
                    stat = Path(f"/proc/{child}/stat").read_text()
                except FileNotFoundError:
                    continue  # ended meanwhile
                fields = stat[stat.rindex(")") + 2 :].split()
                total += (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS
        return total

    def cpu_wait_seconds(self) -> float:
        """Seconds the node's threads and its child processes' spent ready to run
        but waiting for a CPU (``/proc/.../schedstat``): how much others' load,
        or its own threads outnumbering its cores, held it back."""
        pids = [str(self.proc.pid)]
        for task in Path(f"/proc/{self.proc.pid}/task").iterdir():
            pids += (task / "children").read_text().split()
        waited = 0
        for pid in pids:
            for task in Path(f"/proc/{pid}/task").glob("*"):
                try:
                    waited += int((task / "schedstat").read_text().split()[1])
                except (FileNotFoundError, IndexError, ValueError):
                    continue  # ended meanwhile
        return waited / 1e9

    def rss_mb(self) -> float:
        """Resident set size in MB (10^6 bytes), from /proc/PID/status VmRSS."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024 / 1e6
        raise RuntimeError(f"no VmRSS for {self.name}")

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


_CLUSTERS: list[Cluster] = []


Confine = Callable[[str], Sequence[str]]
"""A node's name -> the command prefix that runs it confined (``bench.pi_box.Boxes.prefix``)."""


class Cluster:
    """Starts node processes and stops every one of them on exit. With ``confine``,
    each node runs under the prefix it gives for the node's name."""

    def __init__(self, workdir: Path, confine: Confine | None = None) -> None:
        self.workdir = workdir
        self.confine = confine
        self.nodes: list[Node] = []
        self.stopped = 0
        self.killed: list[str] = []
        _CLUSTERS.append(self)

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_all()

    def launch(
        self,
        name: str,
        *,
        listen: str = f"{HOST}:0",
        peers: Sequence[str] = (),
        cpus: set[int] | None = None,
        settings: dict[str, str] | None = None,
    ) -> Node:
        """A node process; ``settings`` become MUTUALAID_* variables."""
        data_dir = self.workdir / name
        log_path = self.workdir / f"{name}.log"
        log_path.unlink(missing_ok=True)  # one log per launch (the launcher appends)
        args = run_args(data_dir, listen, peers)
        prefix = self.confine(name) if self.confine else ()
        process = NodeProcess(
            args, program=_command(), prefix=prefix, log=log_path, settings=settings or {}, cwd=self.workdir
        )
        node = Node(name, data_dir, process, log_path, peers=list(peers))
        self.nodes.append(node)
        if cpus and hasattr(os, "sched_setaffinity"):
            os.sched_setaffinity(process.pid, cpus)
        return node

    def wait_ready(self, node: Node) -> str:
        """The URL the node prints once it listens."""
        try:
            node.url = node.process.wait_ready(START_TIMEOUT_S)
        except NodeStartError as exc:
            raise RuntimeError(f"node {node.name} did not start: {exc}") from None
        return node.url

    def start(self, name: str, **kwargs: Any) -> Node:
        node = self.launch(name, **kwargs)
        self.wait_ready(node)
        return node

    def stop(self, node: Node) -> None:
        self.stop_all([node])

    def stop_all(self, nodes: Sequence[Node] | None = None) -> None:
        """SIGTERM to every node at once, then SIGKILL to any still running after STOP_GRACE_S."""
        nodes = list(self.nodes if nodes is None else nodes)
        for node in nodes:
            if node.process.running():
                node.process.terminate()
                self.stopped += 1
        deadline = time.monotonic() + STOP_GRACE_S
        for node in nodes:
            if node.process.wait(deadline - time.monotonic()) is None:
                self.killed.append(node.name)
            node.process.kill()  # a no-op for a node that stopped; closes its output


def init_data_dir(data_dir: Path) -> None:
    subprocess.run(
        [*_command(), "init", "--data-dir", str(data_dir), "--json"],
        check=True,
        env=child_env(),  # the node refuses unknown MUTUALAID_* settings (our SCALE)
        stdout=subprocess.DEVNULL,
    )


def get_json(url: str, path: str, timeout: float = 30) -> Any:
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or HOST, parts.port, timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        body = response.read()
        if response.status != 200:
            raise RuntimeError(f"GET {url}{path}: HTTP {response.status} {body[:200]!r}")
        return json.loads(body)
    finally:
        conn.close()


def _fetched(log_line: str) -> int:
    match = re.search(r"(\d+) fetched", log_line)
    return int(match[1]) if match else 0


def p99(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=100)[98]


# -- 1, 3, 4: initial sync, member search, idle memory ------------------------------------


@dataclass
class SyncResult:
    seconds: float
    records: int
    complete: bool
    polls: int
    first_at: float | None
    """Seconds from launch to the first poll that saw a fetched record: start-up,
    hello and reconciliation happen before it, fetch + ingest after."""
    first_count: int
    x_cores: float = 0.0
    p_cores: float = 0.0

    @property
    def fetch_rate(self) -> float:
        if self.first_at is None or self.seconds <= self.first_at:
            return 0.0
        return (self.records - self.first_count) / (self.seconds - self.first_at)


def wait_for_sync(x: Node, target: int, timeout: float) -> SyncResult:
    """Poll X's record count: every 0.1 s until records arrive, then less often until
    close to ``target`` (each poll costs X a COUNT over its store, so polling every
    few ms would slow down what it measures)."""
    polls, count = 0, 0
    first_at: float | None = None
    first_count = 0
    elapsed = 0.0
    while elapsed < timeout:
        try:
            count = int(get_json(x.url, "/api/v1/node")["records"])
            polls += 1
        except (OSError, http.client.HTTPException):
            count = 0  # not listening yet
        elapsed = time.perf_counter() - x.launched
        if first_at is None and count > 1:  # more than X's own profile
            first_at, first_count = elapsed, count
        if count >= target:
            return SyncResult(elapsed, count, True, polls, first_at, first_count)
        if x.proc.poll() is not None:
            raise RuntimeError(f"node X exited during the sync:\n{x.log_tail()}")
        if first_at is None:
            time.sleep(0.1)
            continue
        rate = (count - first_count) / (elapsed - first_at) if elapsed > first_at else 0.0
        eta = (target - count) / rate if rate else 1.0
        time.sleep(min(1.0, max(0.05, eta / 3)))
    return SyncResult(elapsed, count, False, polls, first_at, first_count)


def search_latencies(url: str, with_text: bool, seed: int) -> tuple[list[float], float]:
    """Latency of each query over one keep-alive connection; and the mean hit count."""
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or HOST, parts.port, timeout=30)
    rng = random.Random(seed)
    samples: list[float] = []
    hits = 0
    try:
        for index in range(WARMUP_QUERIES + QUERIES):
            params = {
                "kind": rng.choice(["need", "offer"]),
                "category": rng.choice(CATEGORIES),
                "area": rng.choice(TOWNS)[: rng.choice([3, 4])],
                "limit": "20",
            }
            if with_text:
                params["q"] = rng.choice(COMMON)
            path = "/api/v1/records?" + urllib.parse.urlencode(params)
            start = time.perf_counter()
            conn.request("GET", path)
            response = conn.getresponse()
            body = response.read()
            elapsed = time.perf_counter() - start
            if response.status != 200:
                raise RuntimeError(f"GET {path}: HTTP {response.status} {body[:200]!r}")
            if index >= WARMUP_QUERIES:
                samples.append(elapsed)
                hits += len(json.loads(body)["records"])
    finally:
        conn.close()
    return samples, hits / QUERIES


def detail(name: str, value: float, unit: str, note: str, *, ratio: float | None = None) -> Row:
    """A row that explains a figure: no target of its own."""
    return figure(name, value, unit, "", None, ratio=ratio, note=note)


SEARCHES = ((False, "kind+category+area", 8), (True, "kind+category+area+q", 7))
"""Member searches: (with a text query, name, seed)."""


def placement() -> tuple[set[int] | None, set[int] | None, str]:
    """X gets a core to itself (a node on its own machine); P and this process,
    which only polls during the sync, share the other."""
    if len(_CPUS) < 2:
        return None, None, "not pinned"
    return {_CPUS[-1]}, {_CPUS[0]}, f"X pinned to CPU {_CPUS[-1]}, P to CPU {_CPUS[0]}"


def start_p(cluster: Cluster) -> tuple[Node, int]:
    """P, on the data directory ``cluster.workdir / "P"`` filled beforehand; its record count."""
    p = cluster.start("P", cpus=placement()[1])
    return p, int(get_json(p.url, "/api/v1/node")["records"])


def sync_from(cluster: Cluster, p: Node, p_count: int, timeout: float) -> tuple[Node, SyncResult]:
    """An empty X started with ``--peer P``, timed from its launch until it holds P's records."""
    p_cpu0 = p.cpu_seconds()
    x = cluster.launch("X", peers=[p.url], cpus=placement()[0])
    cluster.wait_ready(x)
    result = wait_for_sync(x, p_count + 1, timeout)  # + X's own profile
    result.x_cores = x.cpu_seconds() / result.seconds
    result.p_cores = (p.cpu_seconds() - p_cpu0) / result.seconds
    return x, result


def searches(url: str) -> list[tuple[str, list[float], float]]:
    """(name, latencies, mean hits) of each kind of member search against ``url``."""
    return [(name, *search_latencies(url, with_text, seed)) for with_text, name, seed in SEARCHES]


def sync_search_idle(workdir: Path) -> list[Row]:
    rows: list[Row] = []
    pinned = hasattr(os, "sched_getaffinity") and len(os.sched_getaffinity(0)) == 1

    # The yardstick is measured before and after the sync (the machine is shared
    # and noisy) and the better figure is used: the harder one to reach.
    raws = [r.raw for r in corpus_records(N, seed=31)]
    ingests = [asyncio.run(store_ingest_rate(workdir / "ingest1.db", raws))]
    print(f"  store ingest: {ingests[0]:,.0f} rec/s", flush=True)
    p_dir = workdir / "P"
    init_data_dir(p_dir)
    start = time.perf_counter()
    asyncio.run(fill_store(p_dir / "records.db", N, seed=41))
    fill_s = time.perf_counter() - start
    print(f"  P filled with {N} records in {fill_s:.1f} s", flush=True)

    with Cluster(workdir) as cluster:
        p, p_count = start_p(cluster)
        time.sleep(IDLE_S)
        rss_fresh = p.rss_mb()
        x, result = sync_from(cluster, p, p_count, timeout=SYNC_TIMEOUT_S)
        rate = (result.records - 1) / result.seconds
        print(f"  X synced {result.records - 1} records in {result.seconds:.1f} s", flush=True)
        ingests.append(asyncio.run(store_ingest_rate(workdir / "ingest2.db", raws)))
        print(f"  store ingest again: {ingests[1]:,.0f} rec/s", flush=True)
        del raws
        ingest = max(ingests)
        sessions = [
            line.split("mutualaid.sync ", 1)[-1]
            for line in x.log_path.read_text().splitlines()
            if "reconciled with" in line
        ]

        rows.append(info(f"P: {N} records stored directly, build included", N / fill_s, "rec/s"))
        how = (f"bench_store.ingest, {'1 core' if pinned else 'not pinned'}; best of {ingests[0]:,.0f} before "
               f"and {ingests[1]:,.0f} after the sync")  # fmt: skip
        rows.append(detail(f"store ingest, serial, {N} into a fresh store", ingest, "rec/s", how))
        if result.complete:
            note = f"from X's launch until it counts {result.records}; {placement()[2]}, of {len(_CPUS)}"
        else:
            note = f"INCOMPLETE after {result.seconds:.0f} s: X held {result.records}"
        ok = result.complete and rate >= 0.7 * ingest
        rows.append(figure(f"initial sync of {N} records, X empty", rate, "rec/s", ">= 70% of store ingest", ok,
                           ratio=rate / ingest, note=note))  # fmt: skip
        note = f"P used {result.p_cores:.2f} cores; {result.polls} polls of X"
        rows.append(detail("  CPU used by X during the sync", result.x_cores, "cores", note))
        if result.first_at is not None:
            note = "X start-up, hello and reconciliation come before it"
            rows.append(detail("  first fetched record seen on X after", result.first_at, "s", note))
            note = "the rest of the sync: fetch + ingest"
            rows.append(detail("  X's rate from then on", result.fetch_rate, "rec/s", note,
                               ratio=result.fetch_rate / ingest))  # fmt: skip
        if sessions:
            rows.append(detail("  X's reconciliations", len(sessions), "", max(sessions, key=_fetched)[:100]))

        for name, lat, hits in searches(p.url):
            note = (f"p50 {statistics.median(lat) * 1000:.2f} ms, max {max(lat) * 1000:.1f} ms, {hits:.1f} hits; "
                    f"{QUERIES} queries after {WARMUP_QUERIES}, keep-alive")  # fmt: skip
            rows.append(figure(f"HTTP search p99, {name}", p99(lat) * 1000, "ms", "< 10 ms", p99(lat) < 0.010,
                               note=note))  # fmt: skip

        cluster.stop(x)
        time.sleep(IDLE_S)
        rss_busy = p.rss_mb()
        time.sleep(IDLE_TRIM_AFTER_S)
        rss = p.rss_mb()
        note = (f"VmRSS {IDLE_S + IDLE_TRIM_AFTER_S:.0f} s after the sync and searches (the node trims "
                f"{IDLE_TRIM_AFTER_S:.0f} s after its last request); {rss_busy:.1f} MB {IDLE_S:.0f} s after, "
                f"{rss_fresh:.1f} MB idle just after start")  # fmt: skip
        rows.append(figure(f"idle RSS of P holding {N} records", rss, "MB", "< 80 MB", rss < 80, note=note))
    return rows


# -- 2: propagation ------------------------------------------------------------------------


def mesh(count: int, degree: int, rng: random.Random) -> set[tuple[int, int]]:
    """A random connected graph: a random Hamiltonian path (connected, degree <= 2),
    then random edges between nodes of degree < ``degree`` up to count*degree/2 edges."""
    order = list(range(count))
    rng.shuffle(order)
    edges = {(min(a, b), max(a, b)) for a, b in itertools.pairwise(order)}
    degrees = Counter(n for edge in edges for n in edge)
    want = count * degree // 2
    for _ in range(10_000):
        if len(edges) >= want:
            break
        a, b = sorted(rng.sample(range(count), 2))
        if (a, b) not in edges and degrees[a] < degree and degrees[b] < degree:
            edges.add((a, b))
            degrees[a] += 1
            degrees[b] += 1
    return edges


def received_counts(text: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for line in text.splitlines():
        if line.startswith("mutualaid_records_received_total{"):
            labels, value = line.rsplit(" ", 1)
            outcome = labels.split('outcome="', 1)[1].split('"', 1)[0]
            out[outcome] = int(value)
    return out


async def _metrics(session: aiohttp.ClientSession, nodes: list[Node]) -> list[dict[str, int]]:
    async def one(node: Node) -> dict[str, int]:
        async with session.get(node.url + "/metrics") as response:
            return received_counts(await response.text())

    return list(await asyncio.gather(*(one(n) for n in nodes)))


async def _wait_connected(session: aiohttp.ClientSession, nodes: list[Node], limit_s: float) -> float:
    start = time.perf_counter()
    while time.perf_counter() - start < limit_s:
        infos = await asyncio.gather(*(_node_info(session, n) for n in nodes))
        if all(i is not None and i["peers"] == len(n.peers) for i, n in zip(infos, nodes, strict=True)):
            return time.perf_counter() - start
        await asyncio.sleep(0.1)
    raise RuntimeError("the mesh did not connect: " + "; ".join(f"{n.name}: {n.log_tail(3)}" for n in nodes))


async def _node_info(session: aiohttp.ClientSession, node: Node) -> dict[str, Any] | None:
    try:
        async with session.get(node.url + "/api/v1/node") as response:
            return dict(await response.json())
    except aiohttp.ClientError:
        return None


async def _found(session: aiohttp.ClientSession, node: Node, record_id: str) -> bool:
    async with session.get(f"{node.url}/api/v1/records/{record_id}") as response:
        await response.read()
        return response.status == 200


async def propagate(nodes: list[Node], rng: random.Random) -> tuple[list[float], list[float], float]:
    """(seconds until every node had each post, copies per post received by each node, connect seconds)."""
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=30)) as session:
        connect_s = await _wait_connected(session, nodes, limit_s=60)
        await asyncio.sleep(1.0)  # profiles and first reconciliations settle
        before = await _metrics(session, nodes)
        times: list[float] = []
        for index in range(POSTS):
            origin = rng.choice(nodes)
            body = {
                "kind": rng.choice(["need", "offer"]),
                "title": f"Bench post {index} {rng.choice(COMMON)}",
                "category": rng.choice(DEFAULT_SLUGS),  # members post in the chapter's categories
                "area": rng.choice(TOWNS) + "b",
            }
            start = time.perf_counter()
            async with session.post(origin.url + "/api/v1/records", json=body) as response:
                if response.status != 201:
                    raise RuntimeError(f"post on {origin.name}: HTTP {response.status} {await response.text()}")
                record_id = (await response.json())["record"]["id"]
            pending = [n for n in nodes if n is not origin]
            while pending:
                found = await asyncio.gather(*(_found(session, n, record_id) for n in pending))
                pending = [n for n, ok in zip(pending, found, strict=True) if not ok]
                if time.perf_counter() - start > 30:
                    raise RuntimeError(f"post {index} did not reach {[n.name for n in pending]} in 30 s")
                if pending:
                    await asyncio.sleep(POLL_S)
            times.append(time.perf_counter() - start)
            await asyncio.sleep(0.3)  # late copies land before the next post
        await asyncio.sleep(2.0)
        after = await _metrics(session, nodes)
    copies = [
        sum(a.get(o, 0) - b.get(o, 0) for o in ("accepted", "duplicate")) / POSTS
        for a, b in zip(after, before, strict=True)
    ]
    return times, copies, connect_s


@dataclass
class MeshResult:
    times: list[float]
    copies: list[float]
    """Per node: records received (accepted + duplicate) per post."""
    connect_s: float
    cores: float
    degree: float
    rss_mb: list[float]

    @property
    def mean_copies(self) -> float:
        return sum(self.copies) / (len(self.copies) - 1)  # the origin needs none; its echoes count


def propagation(workdir: Path, *, both_ends: bool, confine: Confine | None = None) -> MeshResult:
    rng = random.Random(5)
    edges = mesh(MESH_NODES, MESH_DEGREE, rng)
    ports = [free_port() for _ in range(MESH_NODES)]
    urls = [f"http://{HOST}:{port}" for port in ports]
    peers: list[list[str]] = [[] for _ in range(MESH_NODES)]
    for a, b in sorted(edges):
        peers[b].append(urls[a])  # the higher-numbered node dials
        if both_ends:
            peers[a].append(urls[b])
    with Cluster(workdir, confine) as cluster:
        nodes = [
            cluster.launch(
                f"mesh{'2' if both_ends else '1'}-{i}",
                listen=f"{HOST}:{ports[i]}",
                peers=peers[i],
                cpus=set(_CPUS) or None,
            )
            for i in range(MESH_NODES)
        ]
        for node in nodes:
            cluster.wait_ready(node)
        cpu0 = sum(n.cpu_seconds() for n in nodes)
        start = time.perf_counter()
        times, copies, connect_s = asyncio.run(propagate(nodes, rng))
        cores = (sum(n.cpu_seconds() for n in nodes) - cpu0) / (time.perf_counter() - start)
        rss = [n.rss_mb() for n in nodes]
    return MeshResult(times, copies, connect_s, cores, len(edges) * 2 / MESH_NODES, rss)


def propagation_rows(workdir: Path) -> list[Row]:
    rows: list[Row] = []
    for both_ends in (True, False):
        m = propagation(workdir, both_ends=both_ends)
        median, worst = statistics.median(m.times), max(m.times)
        how = "both ends of each edge --peer each other" if both_ends else "one end of each edge --peer the other"
        print(f"  propagation, {how}: median {median:.3f} s, max {worst:.3f} s, {m.mean_copies:.2f} copies", flush=True)
        if both_ends:
            note = (f"{POSTS} posts, mean degree {m.degree:.1f}, {how}; polled every {POLL_S * 1000:.0f} ms; "
                    f"nodes used {m.cores:.2f} of {len(_CPUS)} cores")  # fmt: skip
            rows.append(figure(f"propagation to all {MESH_NODES} nodes, median", median, "s", "< 1 s", median < 1.0,
                               note=note))  # fmt: skip
            note = f"mesh connected {m.connect_s:.1f} s after start"
            rows.append(figure("propagation, max", worst, "s", "< 2 s", worst < 2.0, note=note))
            note = f"(accepted + duplicate) / posts / {MESH_NODES - 1}; busiest node {max(m.copies):.2f}"
            ok = m.mean_copies <= 2
            rows.append(figure("copies of a record received per node", m.mean_copies, "", "<= 2", ok, note=note))
            rows.append(info("idle RSS of an empty node (median of the mesh)", statistics.median(m.rss_mb), "MB"))
        else:
            rows.append(detail("propagation, one link per edge: median", median, "s", f"max {worst:.3f} s; {how}"))
            note = f"busiest node {max(m.copies):.2f}"
            rows.append(detail("copies per node, one link per edge", m.mean_copies, "", note))
    return rows


# -- entry point ------------------------------------------------------------------------------


def run() -> list[Row]:
    workdir = Path(tempfile.mkdtemp(prefix="mutualaid-bench-node-"))
    _CLUSTERS.clear()
    try:
        rows = sync_search_idle(workdir)
        rows.extend(propagation_rows(workdir))
    finally:
        for cluster in _CLUSTERS:
            cluster.stop_all()  # already done unless something failed
        shutil.rmtree(workdir, ignore_errors=True)
    stopped = sum(c.stopped for c in _CLUSTERS)
    killed = [name for c in _CLUSTERS for name in c.killed]
    groups = Counter(name.split("-", 1)[0] for name in killed)
    note = "killed: " + ", ".join(f"{g} x{n}" if n > 1 else g for g, n in groups.items()) if killed else ""
    rows.append(detail(f"nodes still running {STOP_GRACE_S:.0f} s after SIGTERM", len(killed), f"of {stopped}",
                       note[:100]))  # fmt: skip
    return rows
