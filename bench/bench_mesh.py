"""Twenty-five real nodes, 100 ms apart (issue 13, part 3): ``python -m bench mesh``.

25 node processes, each in its own network namespace behind a relay that
holds every byte 100 ms each way (tests/lan/_mesh.py, tests/lan/_relay.py:
this kernel has no netem), peered as a sparse mesh (a ring plus random
chords, 4 links a node, each dialled by one end). Measured against the
Gossip Glomers bar for broadcast (challenge 3e: 25 nodes, 100 ms links):

- *warm-up*: ``WARMUP_POSTS`` posts, not measured: every link starts eager
  (PROTOCOL.md 8.3) and turns lazy once both its ends have their place in the
  spanning tree the nodes agree on (node/peering/spanning.py: the lowest
  key's breadth-first tree), so the eager links settle into that tree; the
  rounds measure that state.
- *post to everyone*: posts at random nodes (member API), ``RATE`` a second;
  for each, the time from the origin logging it posted to the last node
  logging it accepted (no polling: the nodes' own log timestamps, one clock).
  Median and maximum over the round's posts. Bar: median < 1 s, max < 2 s.
- *peer requests per post*: every HTTP request one node made of another
  (feed polls, pushes, fetches, reconciliations, all kinds),
  counted by the relays over the round, divided by its posts. Bar: < 20.
  Requests, not messages: each has a response, which Maelstrom would count
  as a second message. A post must reach 24 nodes, so fewer than 24
  requests a post means requests carry several posts: the bar assumes posts
  that overlap in time (Maelstrom's broadcast runs at 100 operations a
  second), and ``RATE`` is 10 a second (``QUIET_RATE``'s round beside it).
- *heal*: half the nodes (an arc of the ring, so each side stays connected)
  cut off from the other half for ``HOLD_S`` (their bridge split: a
  blackhole), posts on both sides, each side converging on its own; then
  the cut heals and the figure is the time until every node holds every
  record, with nothing posted after the heal. Bar: < 10 s. Once more with
  ``LONG_HOLD_S``, long enough for the links across to fail.

Each figure is the median over ``RUNS`` rounds on one mesh. The nodes and
relays use both cores (the bench's own pinning to one core is lifted for
them): node CPU per post is reported beside, since on a shared 2-core
machine the time a hop takes above what it costs on the wire (0.1 s: over
an eager link a record goes whole, a feed answer or a push) is mostly
waiting for a core.
Needs root and iproute2; without them the rows say so.
"""

from __future__ import annotations

import collections
import contextlib
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from bench.bench_node import Row, detail
from bench.bench_store import figure
from tests.lan._mesh import Mesh, Round

NODES = 25
RUNS = 3
POSTS = 50
RATE = 10.0
"""Posts a second, across the mesh, during a broadcast round."""
QUIET_RATE, QUIET_POSTS = 2.0, 30
"""A quieter round beside it: posts seldom overlap, so each crosses the tree's
links in requests of its own, and the lazy links' reconciliations are shared
by fewer posts."""
WARMUP_POSTS, WARMUP_RATE = 30, 5.0
SIDE_POSTS = 5
HOLD_S = 10.0
"""How long the partition lasts (less than the 30 s a peer request may take, so links
stall rather than fail: what heals them is TCP's retransmission, then gossip)."""
LONG_HOLD_S = 60.0
"""One longer partition, once: the links across fail and back off, and what heals
them is a new connection (retried within 5 s) and its reconciliation."""


@contextlib.contextmanager
def every_core() -> Iterator[None]:
    """Lift the bench's pinning to one core while the mesh runs (its processes inherit it)."""
    if not hasattr(os, "sched_setaffinity"):
        yield
        return
    pinned = os.sched_getaffinity(0)
    os.sched_setaffinity(0, range(os.cpu_count() or 1))
    try:
        yield
    finally:
        os.sched_setaffinity(0, pinned)


def _cpu_s(pids: Sequence[int]) -> float:
    """CPU seconds (user + system) the processes used so far."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError), open(f"/proc/{pid}/stat") as file:
            fields = file.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def _by_distance(mesh: Mesh, result: Round) -> dict[int, list[float]]:
    """Seconds from a post to its arrival at each node, by hops from its origin."""
    neighbours = collections.defaultdict(set)
    for a, b in mesh.links:
        neighbours[a].add(b)
        neighbours[b].add(a)
    out: dict[int, list[float]] = collections.defaultdict(list)
    for record_id, (origin, when) in result.posted.items():
        distance, frontier = {origin: 0}, [origin]
        for host in frontier:  # breadth first: the list grows as it is walked
            for other in neighbours[host] - distance.keys():
                distance[other] = distance[host] + 1
                frontier.append(other)
        for host, hops in distance.items():
            if hops:
                out[hops].append(mesh.logs[host].held[record_id] - when)
    return out


def run() -> list[Row]:
    names = ("mesh: post to everyone, median", "mesh: post to everyone, max", "mesh: peer requests per post",
             "mesh: heal after a partition")  # fmt: skip
    if os.geteuid() != 0 or shutil.which("ip") is None:
        return [detail(name, 0.0, "", "not measured: needs root and iproute2") for name in names]
    with tempfile.TemporaryDirectory(prefix="mutualaid-mesh-") as tmp, every_core(), Mesh(NODES, Path(tmp)) as mesh:
        started = time.monotonic()
        mesh.start()
        print(f"  mesh: {NODES} nodes, {len(mesh.links)} links, up in {time.monotonic() - started:.0f} s", flush=True)
        pids = [node.pid for node in mesh.nodes]
        mesh.broadcast(WARMUP_POSTS, WARMUP_RATE)
        calls_before = mesh.requests_by_call()
        medians, maxima, requests, heals, cpu, quiet_medians, quiet_maxima, quiet_requests, copies = (
            [], [], [], [], [], [], [], [], [])  # fmt: skip
        eager: list[int] = []
        hops: dict[int, list[float]] = collections.defaultdict(list)
        for run in range(RUNS):
            cpu_before = _cpu_s(pids)
            result = mesh.broadcast(POSTS, RATE)
            cpu.append((_cpu_s(pids) - cpu_before) / POSTS)
            spread = result.spread(mesh.logs)
            medians.append(statistics.median(spread))
            maxima.append(max(spread))
            requests.append(result.requests / POSTS)
            copies.append(result.copies / (POSTS * (NODES - 1)))
            for distance, times in _by_distance(mesh, result).items():
                hops[distance].extend(times)
            if run == 0:
                calls = mesh.requests_by_call()
                calls.subtract(calls_before)
            quiet = mesh.broadcast(QUIET_POSTS, QUIET_RATE)
            quiet_spread = quiet.spread(mesh.logs)
            quiet_medians.append(statistics.median(quiet_spread))
            quiet_maxima.append(max(quiet_spread))
            quiet_requests.append(quiet.requests / QUIET_POSTS)
            eager.append(mesh.eager_links())
            cut, healed = mesh.partition(SIDE_POSTS, QUIET_RATE, HOLD_S)
            heals.append(max(cut.spread(mesh.logs, after=healed)))
            print(f"  mesh run {run + 1}: median {medians[-1]:.2f} s, max {maxima[-1]:.2f} s, "
                  f"{requests[-1]:.1f} requests a post, heal {heals[-1]:.2f} s; at {QUIET_RATE:g}/s median "
                  f"{quiet_medians[-1]:.2f} s, max {quiet_maxima[-1]:.2f} s, {quiet_requests[-1]:.1f} requests a post; "
                  f"{eager[-1]} of {len(mesh.links)} links eager", flush=True)  # fmt: skip
        cut, healed = mesh.partition(SIDE_POSTS, QUIET_RATE, LONG_HOLD_S)
        long_heal = max(cut.spread(mesh.logs, after=healed))
        print(f"  mesh: heal after {LONG_HOLD_S:g} s cut off: {long_heal:.2f} s", flush=True)
    median = statistics.median
    runs = f"median of {RUNS} rounds of {POSTS} posts at {RATE:g}/s, after {WARMUP_POSTS} not measured"
    quiet_runs = f"median of {RUNS} rounds of {QUIET_POSTS} posts"
    by_call = ", ".join(f"{name.split()[-1].rsplit('/', 1)[-1]} {count / POSTS:.1f}" for name, count in
                        calls.most_common() if count > 0)  # fmt: skip
    return [
        figure(names[0], median(medians), "s", "< 1 s", median(medians) < 1.0, note=runs),
        figure(names[1], median(maxima), "s", "< 2 s", median(maxima) < 2.0, note=runs),
        figure(names[2], median(requests), "", "< 20", median(requests) < 20,
               note=f"{runs}; every kind of request; the first round by call: {by_call}"),
        figure(names[3], median(heals), "s", "< 10 s", median(heals) < 10.0,
               note=f"median of {RUNS}: {NODES // 2} nodes cut off {HOLD_S:g} s, {SIDE_POSTS} posts a side"),
        figure(f"mesh: heal after a {LONG_HOLD_S:g} s partition", long_heal, "s", "< 10 s", long_heal < 10.0,
               note="one run: the links across failed and reconnect"),
        detail("mesh: post to a neighbour, median", median(hops[1]), "s",
               "the wire alone: 0.10 s a hop of the tree (records go whole over eager links)"),
        detail("mesh: post to a node 2 hops away, median", median(hops[2]), "s", "hops in the mesh, not the tree"),
        detail("mesh: post to a node 3 hops away, median", median(hops[3]), "s", "0.30 s if the tree took no detour"),
        detail("mesh: hops from a post's origin, max", float(max(hops)), "", f"{len(mesh.links)} links"),
        detail("mesh: eager links after a round", float(median(eager)), "",
               f"of {len(mesh.links)}; a spanning tree of {NODES} nodes has {NODES - 1}"),
        detail(f"mesh: at {QUIET_RATE:g} posts/s, post to everyone, median", median(quiet_medians), "s", quiet_runs),
        detail(f"mesh: at {QUIET_RATE:g} posts/s, post to everyone, max", median(quiet_maxima), "s", quiet_runs),
        detail(f"mesh: at {QUIET_RATE:g} posts/s, peer requests per post", median(quiet_requests), "",
               "posts seldom share a request"),
        detail("mesh: copies of a post's body per node", median(copies), "", f"{runs}; 1.00 is one each"),
        detail("mesh: node CPU per post, all nodes", median(cpu), "s", f"{NODES} nodes on {os.cpu_count()} cores"),
    ]  # fmt: skip
