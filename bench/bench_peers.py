"""Benchmarks for finding peers and holding up against a flooding one (issue 4).

*LAN discovery*: two network namespaces on a bridge (the tests' LAN harness,
tests/lan/_netns.py). B runs and holds a need; A is started with no peers
configured, and the figure is the time from launching A's process to A
logging its first record received from B, found by mDNS. Each run starts a
fresh A (a new key, an empty store). Needs root and iproute2; without them
the row says so instead of a figure.

*Flood*: V allows one peer 100 records/s pushed unasked (burst 200). H, an
honest node, is V's peer and posts a record every 0.1 s; the figure is how
long each takes to be readable on V (polled every 5 ms), first with nobody
else talking to V, then while a flooder pushes valid, signed records at ten
times the quota. Reported: the flooder's accepted rate (records V took from
it per second of flood), honest propagation p95 with and without the flood
and their ratio, and the share of a core V spent verifying signatures
during the flood (from its own counter, records and peer requests both).
"""

from __future__ import annotations

import asyncio
import http.client
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp

from bench.bench_node import _CPUS, HOST, Cluster, Node, Row, detail, get_json
from bench.bench_store import figure
from crypto import NodeIdentity
from node.peering.peer_client import PeerClient, PeerUnavailable
from protocol.codec import Value
from protocol.records import DAY, build_record
from tests._launch import NodeProcess, run_args
from tests.lan._netns import PORT, Lan

DISCOVERY_RUNS = 5
RATE, BURST = 100, 200
FLOOD_FACTOR = 10
FLOOD_S = 8.0
HONEST_EVERY_S = 0.1
POLL_S = 0.005


# -- LAN discovery ---------------------------------------------------------------------


def _log_time(line: str) -> float:
    return datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f").timestamp()


def _first(path: Path, needle: str, deadline_s: float = 30.0) -> str:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        for line in path.read_text(errors="replace").splitlines():
            if needle in line and (needle != " new)" or "(0 new)" not in line):
                return line
        time.sleep(0.005)
    raise RuntimeError(f"no {needle!r} in {path.name} after {deadline_s} s")


def discovery_rows(workdir: Path) -> list[Row]:
    if os.geteuid() != 0 or shutil.which("ip") is None:
        name = "LAN: start to first record from an mDNS neighbour"
        return [detail(name, 0.0, "s", "not measured: needs root and iproute2")]
    lan = Lan(2)
    processes: list[NodeProcess] = []
    try:

        def run_node(host: int, name: str) -> tuple[NodeProcess, Path, float]:
            address = lan.address(host)
            log = workdir / f"{name}.log"
            args = [*run_args(workdir / name, f"{address}:{PORT}", mdns=True), "--mdns-interface", address]
            launched = time.time()  # wall time: compared with the log's timestamps
            process = NodeProcess(args, prefix=lan.argv(host), log=log)
            processes.append(process)
            return process, log, launched

        _, b_log, _ = run_node(1, "lan-b")
        _first(b_log, "listening on")
        url = f"http://{lan.address(1)}:{PORT}"
        post = [sys.executable, "-m", "node", "post", "need", "--title", "Help moving boxes", "--category",
                "household", "--area", "u4pru", "--node", url]  # fmt: skip
        subprocess.run(lan.argv(1, *post), check=True, capture_output=True)
        _first(b_log, "mDNS: advertising")
        totals, listening = [], []
        for run in range(DISCOVERY_RUNS):
            proc, a_log, launched = run_node(0, f"lan-a{run}")
            got = _log_time(_first(a_log, " new)"))
            totals.append(got - launched)
            listening.append(_log_time(_first(a_log, "listening on")) - launched)
            proc.stop(15)
    finally:
        for process in processes:
            process.kill()
        lan.close()
    median = statistics.median(totals)
    print(f"  LAN: first record after {median:.2f} s (runs: {', '.join(f'{t:.2f}' for t in totals)})", flush=True)
    note = (f"median of {DISCOVERY_RUNS} fresh starts (max {max(totals):.2f} s); of which process start to "
            f"listening {statistics.median(listening):.2f} s")  # fmt: skip
    return [figure("LAN: start to first record from an mDNS neighbour", median, "s", "< 3 s", median < 3.0,
                   note=note)]  # fmt: skip


# -- flood -----------------------------------------------------------------------------------


def _flood_records(count: int) -> list[bytes]:
    authors = [NodeIdentity.generate() for _ in range(50)]
    now = int(time.time())
    return [
        build_record(authors[i % 50], {
            "kind": "offer", "slot": f"flood{i:08d}", "created_at": now, "expires_at": now + 7 * DAY,
            "status": "open", "title": f"flood record {i}", "category": "food", "area": "u4pru",
        }).raw
        for i in range(count)
    ]  # fmt: skip


async def _honest(session: aiohttp.ClientSession, h: Node, v: Node, count: int) -> list[tuple[float, float]]:
    """Post ``count`` records on H, one every HONEST_EVERY_S: (when posted,
    seconds until it is on V) for each."""

    async def one(i: int) -> tuple[float, float]:
        body = {"kind": "offer", "title": f"Honest offer {i}", "category": "food", "area": "u4pru"}
        async with session.post(h.url + "/api/v1/records", json=body) as response:
            posted = time.perf_counter()
            record_id = (await response.json())["record"]["id"]
        while True:
            async with session.get(f"{v.url}/api/v1/records/{record_id}") as response:
                if response.status == 200:
                    return posted, time.perf_counter() - posted
            await asyncio.sleep(POLL_S)

    tasks = []
    for i in range(count):
        tasks.append(asyncio.create_task(one(i)))
        await asyncio.sleep(HONEST_EVERY_S)
    return list(await asyncio.gather(*tasks))


async def _flood(session: aiohttp.ClientSession, v: Node, raws: list[bytes], seconds: float) -> dict[str, Any]:
    client = PeerClient(session, NodeIdentity.generate(), v.url)
    per_tick, tick = RATE * FLOOD_FACTOR // 10, 0.1
    sent = accepted = refused = 0
    started = time.perf_counter()
    refused_at: float | None = None
    index = 0
    while time.perf_counter() - started < seconds and index < len(raws):
        batch = raws[index : index + per_tick]
        index += per_tick
        sent += len(batch)
        try:
            # call(), not push(): a flooder does not wait when told it is over the rate
            reply = await client.call("POST", "/peer/v1/records", list[Value](batch))
            outcomes = reply.get("outcomes") if isinstance(reply, dict) else None
            accepted += outcomes.count("accepted") if isinstance(outcomes, list) else 0
        except PeerUnavailable:  # refused (403) once its score is spent
            refused += len(batch)
            refused_at = refused_at or time.perf_counter()
        next_tick = started + tick * (index // per_tick)
        await asyncio.sleep(max(0.0, next_tick - time.perf_counter()))
    ended = time.perf_counter()
    return {"sent": sent, "accepted": accepted, "refused": refused, "started": started, "seconds": ended - started,
            "pressure_s": (refused_at or ended) - started}  # fmt: skip


def _verify_us(v: Node) -> int:
    parts = urllib.parse.urlsplit(v.url)
    conn = http.client.HTTPConnection(parts.hostname or HOST, parts.port, timeout=30)
    try:
        conn.request("GET", "/metrics")
        text = conn.getresponse().read().decode()
    finally:
        conn.close()
    for line in text.splitlines():
        if line.startswith("mutualaid_signature_verify_microseconds_total "):
            return int(line.split()[1])
    return 0


async def _flood_run(h: Node, v: Node, raws: list[bytes]) -> tuple[list[float], list[float], dict[str, Any]]:
    """Honest latencies without a flood, then under it (only posts made
    before V refused the flooder: after that the flood costs V nothing)."""
    count = int(FLOOD_S / HONEST_EVERY_S)
    async with aiohttp.ClientSession() as session:
        await _honest(session, h, v, 5)  # warm-up
        quiet = [latency for _, latency in await _honest(session, h, v, count)]
        verify_before, cpu_before = _verify_us(v), v.cpu_seconds()
        flood_task = asyncio.create_task(_flood(session, v, raws, FLOOD_S))
        timed = await _honest(session, h, v, count)
        stats = await flood_task
        stats["verify_s"] = (_verify_us(v) - verify_before) / 1e6
        stats["cpu_s"] = v.cpu_seconds() - cpu_before
    pressure_end = stats["started"] + stats["pressure_s"]
    flooded = [latency for posted, latency in timed if posted < pressure_end]
    return quiet, flooded, stats


def _p95(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]


def flood_rows(workdir: Path) -> list[Row]:
    raws = _flood_records(int(RATE * FLOOD_FACTOR * FLOOD_S) + 1000)
    cpu_v = {max(_CPUS)} if _CPUS else None
    cpu_h = {min(_CPUS)} if _CPUS else None
    quota = {"peer_push_rate": str(RATE), "peer_push_burst": str(BURST)}
    with Cluster(workdir) as cluster:
        v = cluster.start("flood-v", cpus=cpu_v, settings=quota)
        h = cluster.start("flood-h", peers=[v.url], cpus=cpu_h)
        deadline = time.monotonic() + 30
        while get_json(h.url, "/api/v1/node")["peers"] < 1:
            if time.monotonic() > deadline:
                raise RuntimeError("H did not connect to V")
            time.sleep(0.05)
        quiet, flooded, stats = asyncio.run(_flood_run(h, v, raws))
    rate = max(0, stats["accepted"] - BURST) / stats["pressure_s"]
    sent_rate = stats["sent"] / stats["seconds"]
    p_quiet, p_flood = _p95(quiet), _p95(flooded)
    ratio = p_flood / p_quiet
    share = stats["verify_s"] / stats["pressure_s"]
    print(f"  flood: accepted {rate:.0f}/s of {sent_rate:.0f}/s sent; honest p95 {p_quiet * 1000:.1f} -> "
          f"{p_flood * 1000:.1f} ms; verifying {share:.3f} core", flush=True)  # fmt: skip
    note = (
        f"quota {RATE}/s burst {BURST}; flooder sent {sent_rate:.0f}/s; {stats['accepted']} accepted (burst "
        f"included) in the {stats['pressure_s']:.1f} s before V refused it (then {stats['refused']} refused)"
    )
    return [
        figure("flood: flooder's accepted rate beyond its burst", rate, "rec/s", f"<= {RATE}", rate <= RATE, note=note),
        detail(
            "honest propagation p95, no flood",
            p_quiet * 1000,
            "ms",
            f"{len(quiet)} posts, median {statistics.median(quiet) * 1000:.1f} ms; polled every {POLL_S * 1000:.0f} ms",
        ),
        figure(
            "honest propagation p95, flood / no flood",
            p_flood * 1000,
            "ms",
            "<= 1.20x",
            ratio <= 1.2,
            ratio=ratio,
            note=f"{len(flooded)} posts made before the flooder was refused; "
            f"median {statistics.median(flooded) * 1000:.1f} ms",
        ),
        figure(
            "flood: share of a core verifying signatures",
            share,
            "cores",
            "<= 0.5",
            share <= 0.5,
            note=f"V used {stats['cpu_s'] / stats['seconds']:.2f} cores in all during the flood",
        ),
    ]


def run() -> list[Row]:
    workdir = Path(tempfile.mkdtemp(prefix="mutualaid-bench-peers-"))
    try:
        rows = discovery_rows(workdir)
        rows.extend(flood_rows(workdir))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return rows
