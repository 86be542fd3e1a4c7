"""``python -m bench pi`` (``make bench-pi``): the node's main figures on the full
machine and on a Pi-class one, side by side in one run (issue 12).

Each figure is measured by the code ``make bench`` measures it with:

- first page load: ``bench_page.measure``, a fresh node seeded with 20 posts,
  the first visit's requests one after another over one connection (time; the
  bytes are the same either way);
- post to peer: ``bench_node.propagation``, ten nodes in a mesh, a record
  posted on one until every other has it (median and worst of 20 posts);
- member search p99: ``bench_node.searches`` against P holding N records;
- initial sync of N records: ``bench_node.sync_from``, an empty X with
  ``--peer P``, from X's launch until it holds all of P's records.

Pi-class: every node process (the page's node, P, X, each node of the mesh)
runs in a box of its own (``bench.pi_box``: a third of one core, 512 MB, no
swap), one board per node; this process, which plays the members and polls,
stays outside. The same CPU pinning holds in both modes (X on a core of its
own, P beside this process). Each run measures both modes, the full machine
first in the first run, the Pi-class one first in the next, and so on; each
figure is the median of its RUNS runs. P's store is filled once, copied for
each run and dropped from the page cache, so each P reads it in itself (into
its box).

A CPU quota is not a slower CPU: the node runs at full speed until it has
used its third of each 100 ms, then waits for the next period. Short bursts
(a page load, one post) fit in the quota and barely change; throughput-bound
work (a sync) takes about three times as long; the tail of a run of requests
(search p99) takes the waits.

``MUTUALAID_BENCH_SCALE`` scales N as in ``make bench``; ``MUTUALAID_BENCH_PI_RUNS``
(default 3) sets how many runs of each mode.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench import bench_page
from bench.bench_node import (
    _CPUS,
    MESH_NODES,
    POSTS,
    SYNC_TIMEOUT_S,
    Cluster,
    Confine,
    N,
    fill_store,
    init_data_dir,
    p99,
    placement,
    propagation,
    searches,
    start_p,
    sync_from,
)
from bench.pi_box import CPU_SHARE, Boxes, Usage

RUNS = max(1, int(os.environ.get("MUTUALAID_BENCH_PI_RUNS", "3")))
MODES = ("full", "pi")


@dataclass
class Figure:
    name: str
    unit: str
    runs: dict[str, list[float]] = field(default_factory=lambda: {mode: [] for mode in MODES})

    def median(self, mode: str) -> float | None:
        return statistics.median(self.runs[mode]) if self.runs[mode] else None


@dataclass
class Results:
    figures: dict[str, Figure] = field(default_factory=dict)
    usage: dict[str, list[Usage]] = field(default_factory=lambda: defaultdict(list))
    """Per role (page, P, X, mesh node): what each Pi-class box used."""
    failures: list[str] = field(default_factory=list)

    def add(self, mode: str, name: str, unit: str, value: float) -> None:
        self.figures.setdefault(name, Figure(name, unit)).runs[mode].append(value)


def _uncache(directory: Path) -> None:
    """Write ``directory``'s files out and drop them from the page cache (these
    files only), so the node that opens them next reads them into its own box."""
    for path in directory.rglob("*"):
        if path.is_file():
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)


def one_run(workdir: Path, template: Path, mode: str, confine: Confine | None, results: Results) -> None:
    """Every figure once, in ``mode``, each node under ``confine``."""
    workdir.mkdir()
    page = bench_page.measure(confine("page") if confine else ())
    results.add(mode, f"first page load ({len(page.loads)} requests, one connection)", "ms", page.seconds * 1000)

    mesh = propagation(workdir, both_ends=True, confine=confine)
    results.add(mode, f"post to peer: all {MESH_NODES} nodes have it, median", "s", statistics.median(mesh.times))
    results.add(mode, f"post to peer: worst of {POSTS} posts", "s", max(mesh.times))

    shutil.copytree(template, workdir / "P")
    _uncache(workdir / "P")
    share = 1.0 if confine is None else CPU_SHARE
    with Cluster(workdir, confine) as cluster:
        p, p_count = start_p(cluster)
        try:
            x, sync = sync_from(cluster, p, p_count, timeout=SYNC_TIMEOUT_S / share)
        except RuntimeError as exc:  # X exited (killed for memory?): the other figures still count
            results.failures.append(f"{mode}: {exc}".splitlines()[0])
        else:
            if sync.complete:
                results.add(mode, f"initial sync of {N} records", "s", sync.seconds)
                results.add(mode, "  X's CPU during the sync", "cores", sync.x_cores)
            else:
                results.failures.append(f"{mode}: X held {sync.records} of {p_count + 1} after {sync.seconds:.0f} s")
            cluster.stop(x)
        for name, latencies, _ in searches(p.url):
            results.add(mode, f"member search p99, {name}", "ms", p99(latencies) * 1000)
            results.add(mode, f"  p50, {name}", "ms", statistics.median(latencies) * 1000)


def measure() -> Results:
    results = Results()
    workdir = Path(tempfile.mkdtemp(prefix="mutualaid-bench-pi-"))
    try:
        template = workdir / "P-template"
        init_data_dir(template)
        start = time.perf_counter()
        asyncio.run(fill_store(template / "records.db", N, seed=41))
        print(f"  P's store filled with {N} records in {time.perf_counter() - start:.0f} s", flush=True)
        with Boxes() as boxes:
            print(f"  Pi-class box: {boxes.describe()}", flush=True)
            for run in range(RUNS):
                for mode in MODES if run % 2 == 0 else MODES[::-1]:  # neither always goes first
                    names: list[str] = []
                    confine = _confine(boxes, f"r{run}-", names) if mode == "pi" else None
                    started = time.perf_counter()
                    one_run(workdir / f"{mode}-{run}", template, mode, confine, results)
                    print(f"  run {run + 1}/{RUNS}, {mode}: {time.perf_counter() - started:.0f} s", flush=True)
                    for name in names:
                        results.usage[_role(name)].append(boxes.usage(name))
                    shutil.rmtree(workdir / f"{mode}-{run}", ignore_errors=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return results


def _confine(boxes: Boxes, tag: str, names: list[str]) -> Callable[[str], Sequence[str]]:
    def confine(name: str) -> Sequence[str]:
        names.append(tag + name)
        return boxes.prefix(tag + name)

    return confine


def _role(name: str) -> str:
    role = name.split("-", 1)[1]
    return "mesh node" if role.startswith("mesh") else role


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,.0f}" if value >= 100 else f"{value:.3g}" if value < 1 else f"{value:.1f}"


def report(results: Results) -> str:
    header = ["figure", "unit", "full machine", "Pi-class", "ratio", "each run: full machine; Pi-class"]
    lines = []
    for figure in results.figures.values():
        full, pi = figure.median("full"), figure.median("pi")
        ratio = f"{pi / full:.1f}x" if full and pi is not None else "-"
        runs = "; ".join(", ".join(_fmt(v) for v in figure.runs[mode]) for mode in MODES)
        lines.append([figure.name, figure.unit, _fmt(full), _fmt(pi), ratio, runs])
    widths = [max(len(row[i]) for row in [header, *lines]) for i in range(len(header))]
    out = [" | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    out.append("-+-".join("-" * w for w in widths))
    out.extend(" | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in lines)
    out.append(f"(medians of {RUNS} runs of each mode, run alternately)")
    out.append("")
    out.append("Pi-class boxes, memory (limit 512 MiB; page cache included):")
    for role, used in results.usage.items():
        peaks = [u.peak_bytes / 2**20 for u in used if u.peak_bytes is not None]
        peak = f"peak {max(peaks):.0f} MiB (median {statistics.median(peaks):.0f})" if peaks else "peak not reported"
        kills = sum(u.oom_kills for u in used)
        out.append(f"  {role:10} {len(used):3} boxes, {peak}, OOM kills: {kills}")
    for failure in results.failures:
        out.append(f"  FAILED {failure}")
    return "\n".join(out)


def run() -> str:
    load = os.getloadavg()
    print(f"  N = {N}, {RUNS} runs of each mode, CPUs {_CPUS} ({placement()[2]}), "
          f"load average {load[0]:.2f} at the start", flush=True)  # fmt: skip
    results = measure()
    text = report(results)
    return text + f"\n  load average {os.getloadavg()[0]:.2f} at the end; python {sys.version.split()[0]}"
