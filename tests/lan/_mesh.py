"""A mesh of real node processes 100 ms apart, for the suite and the bench.

``Mesh(n)`` makes n host namespaces on a bridge (tests/lan/_netns.py's
``Lan``), and in each a delay relay (tests/lan/_relay.py) on the host's
address 10.77.0.<i+1>:8440 in front of a node started through the CLI on
127.0.0.1:8441. Nodes peer only with configured neighbours (no mDNS, no peer
exchange) chosen by ``topology``: a ring, so the mesh is connected, plus
random chords up to the degree asked, each link dialled by one of its two
ends (as two neighbours' operators would set it up). Every call between
nodes crosses the callee's relay, so each link has 100 ms one-way latency,
and the relays count the peer requests.

When a node holds a record is read from its own log, not by polling it: a
node logs ``posted record id=`` (member API) and, at debug level,
``accepted record id=`` (a record from a peer, once committed), each with a
millisecond timestamp from the one clock all processes share. Polling 25
nodes would add its own load to the figure it measures.

``split`` and ``heal`` cut the bridge in two: the hosts of one side move to a
second bridge, so packets between the sides go nowhere (a blackhole, like a
cable cut: no reset, open connections stall) until they move back.

Needs root and iproute2. Traffic stays inside the namespaces made here.
"""

from __future__ import annotations

import collections
import contextlib
import json
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from tests._launch import NodeProcess, run_args
from tests.lan._netns import PORT, Lan, _ip
from tests.lan._relay import DELAY_S

ROOT = Path(__file__).resolve().parents[2]
NODE_PORT = PORT + 1
"""The node listens on loopback, behind its relay on the host's PORT."""
DEGREE = 4
"""Links per node: a neighbourhood mesh, not a full one."""
SETTLE_S = 1.0
"""After the last arrival, how long requests still count for the round (the re-armed long polls)."""
POLL_LOG_S = 0.1
MARKS = ("posted record id=", "accepted record id=")


class MeshError(RuntimeError):
    """The mesh did not come up, or a round did not converge before its deadline."""


def topology(n: int, degree: int, rng: random.Random) -> list[tuple[int, int]]:
    """Links (dialler, callee): a ring plus random chords until no two nodes
    below ``degree`` remain unlinked."""
    linked: set[frozenset[int]] = {frozenset((i, (i + 1) % n)) for i in range(n)} if n > 2 else set()
    if n == 2:
        linked.add(frozenset((0, 1)))
    degrees = [sum(1 for e in linked if i in e) for i in range(n)]
    pairs = [(a, b) for a in range(n) for b in range(a + 1, n)]
    rng.shuffle(pairs)
    for a, b in pairs:
        if degrees[a] < degree and degrees[b] < degree and frozenset((a, b)) not in linked:
            linked.add(frozenset((a, b)))
            degrees[a] += 1
            degrees[b] += 1
    links = []
    for edge in sorted(sorted(e) for e in linked):
        a, b = edge
        links.append((a, b) if rng.random() < 0.5 else (b, a))
    return links


def _log_time(line: str) -> float:
    return datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f").timestamp()


@dataclass
class _Log:
    """What one node's log says it holds, read a piece at a time."""

    path: Path
    offset: int = 0
    held: dict[str, float] = field(default_factory=dict)  # record id (hex) -> when

    def scan(self) -> None:
        with contextlib.suppress(FileNotFoundError), self.path.open("rb") as file:
            file.seek(self.offset)
            data = file.read()
            end = data.rfind(b"\n") + 1
            self.offset += end
            for raw in data[:end].splitlines():
                line = raw.decode(errors="replace")
                for mark in MARKS:
                    at = line.find(mark)
                    if at >= 0:
                        record_id = line[at + len(mark) :].split()[0]
                        self.held.setdefault(record_id, _log_time(line))


@dataclass
class Round:
    """One round of posts: when each was posted, and when each node held it."""

    posted: dict[str, tuple[int, float]]  # id -> (origin host, when)
    requests: int  # peer requests the relays forwarded during the round
    bytes: int  # their bytes, both ways
    copies: int  # record bodies the nodes received from peers during the round

    def spread(self, logs: Sequence[_Log], after: float | None = None) -> list[float]:
        """Per post: seconds from ``after`` (default: its posting) until the last node held it."""
        return [max(log.held[i] for log in logs) - (when if after is None else after) for i, (_, when) in
                self.posted.items()]  # fmt: skip

    side: frozenset[int] = frozenset()  # a partition round: the hosts cut off from the rest

    def crossings(self, logs: Sequence[_Log]) -> list[float]:
        """When each post reached each node on the other side of the partition."""
        return [log.held[i] for i, (origin, _) in self.posted.items() for host, log in enumerate(logs)
                if (host in self.side) != (origin in self.side)]  # fmt: skip


class Mesh:
    def __init__(self, n: int, root: Path, *, degree: int = DEGREE, seed: int = 1, delay: float = DELAY_S) -> None:
        self.n, self.root, self.delay = n, root, delay
        self.rng = random.Random(seed)
        self.links = topology(n, degree, self.rng)
        self.lan = Lan(n)
        self.relays: list[subprocess.Popen[str]] = []
        self.nodes: list[NodeProcess] = []
        self.logs = [_Log(root / f"node{i}.log") for i in range(n)]
        self._split = False
        self._second_bridge = False
        self._counter = 0

    # -- set-up and tear-down -------------------------------------------------------------

    def url(self, i: int) -> str:
        return f"http://{self.lan.address(i)}:{PORT}"

    def start(self, deadline_s: float = 120.0) -> None:
        """Relays, then every node at once, then wait until every link is connected."""
        for i in range(self.n):
            argv = [sys.executable, "-m", "tests.lan._relay", "--listen", f"{self.lan.address(i)}:{PORT}",
                    "--node", f"127.0.0.1:{NODE_PORT}", "--delay", str(self.delay)]  # fmt: skip
            relay = subprocess.Popen(self.lan.argv(i, *argv), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True, cwd=ROOT)  # fmt: skip
            self.relays.append(relay)
        for i in range(self.n):
            if self._answer(i) != {"ready": True}:
                raise MeshError(f"relay {i} did not start")
        for i in range(self.n):
            peers = [self.url(b) for a, b in self.links if a == i]
            args = [*run_args(self.root / f"node{i}", f"127.0.0.1:{NODE_PORT}", peers), "--no-peer-exchange",
                    "--log-level", "debug"]  # fmt: skip
            self.nodes.append(NodeProcess(args, prefix=self.lan.argv(i), log=self.logs[i].path,
                                          settings={"public_urls": self.url(i)}, cwd=ROOT))  # fmt: skip
        for node in self.nodes:
            node.wait_ready(deadline_s)
        _wait(self.all_connected, "every link is connected", deadline_s)

    def close(self) -> None:
        for node in self.nodes:
            node.kill()
        for relay in self.relays:
            if relay.poll() is None:
                relay.kill()
            relay.wait()
            for pipe in (relay.stdin, relay.stdout):
                if pipe is not None:
                    pipe.close()
        self.lan.close()

    def __enter__(self) -> Mesh:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- asking a host ---------------------------------------------------------------------

    def ask(self, i: int, command: dict[str, Any]) -> dict[str, Any]:
        """One command to host i's relay (its hand inside the namespace)."""
        relay = self.relays[i]
        assert relay.stdin is not None
        relay.stdin.write(json.dumps(command) + "\n")
        relay.stdin.flush()
        return self._answer(i)

    def _answer(self, i: int) -> dict[str, Any]:
        stdout = self.relays[i].stdout
        assert stdout is not None
        line = stdout.readline()
        if not line:
            raise MeshError(f"relay {i} exited")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def metric(self, i: int, series: str) -> float:
        """One series of host i's /metrics (e.g. ``mutualaid_peers{state="connected"}``), 0 if absent."""
        text = self.ask(i, {"op": "get", "path": "/metrics"})["text"]
        for line in text.splitlines():
            if line.startswith(series + " "):
                return float(line.rsplit(" ", 1)[1])
        return 0.0

    def connected(self, i: int) -> int:
        return int(self.metric(i, 'mutualaid_peers{state="connected"}'))

    def copies(self) -> int:
        """Record bodies the nodes received from peers so far (new ones and duplicates)."""
        outcomes = ("accepted", "duplicate")
        return int(sum(self.metric(i, f'mutualaid_records_received_total{{outcome="{o}"}}') for i in range(self.n)
                       for o in outcomes))  # fmt: skip

    def eager_links(self) -> int:
        """Links their dialling end holds eager (the gossip tree's, PROTOCOL.md 8.3)."""
        total = 0
        for i in range(self.n):
            token = (self.root / f"node{i}" / "admin.token").read_text().strip()
            answer = self.ask(i, {"op": "get", "path": "/api/v1/peers", "token": token})
            total += sum(1 for peer in json.loads(answer["text"])["peers"] if peer["eager"])
        return total

    def requests_by_call(self) -> collections.Counter[str]:
        """Peer requests the relays forwarded so far, by method and path."""
        out: collections.Counter[str] = collections.Counter()
        for i in range(self.n):
            out.update(self.ask(i, {"op": "counts"})["paths"])
        return out

    def all_connected(self) -> bool:
        return all(self.connected(i) == sum(1 for a, _ in self.links if a == i) for i in range(self.n))

    def post(self, i: int) -> str:
        self._counter += 1
        body = {"kind": "offer", "title": f"Mesh offer {self._counter}", "category": "food", "area": "u4pru"}
        answer = self.ask(i, {"op": "post", "body": body})
        if answer.get("status") != 201:
            raise MeshError(f"post on node {i}: {answer}")
        return str(answer["id"])

    def traffic(self) -> tuple[int, int]:
        """(peer requests, their bytes both ways) the relays forwarded so far."""
        counts = [self.ask(i, {"op": "counts"}) for i in range(self.n)]
        return sum(c["requests"] for c in counts), sum(c["bytes_in"] + c["bytes_out"] for c in counts)

    # -- what the logs say ------------------------------------------------------------------

    def holders(self, record_id: str, hosts: Iterable[int] | None = None) -> int:
        return sum(1 for i in (range(self.n) if hosts is None else hosts) if record_id in self.logs[i].held)

    def wait_held(self, ids: Iterable[str], hosts: Sequence[int] | None, deadline_s: float) -> None:
        """Until every host of ``hosts`` (default: all) has logged every id."""
        wanted = list(ids)
        count = self.n if hosts is None else len(hosts)

        def done() -> bool:
            for log in self.logs:
                log.scan()
            return all(self.holders(i, hosts) == count for i in wanted)

        _wait(done, f"{len(wanted)} records reach {count} nodes", deadline_s, POLL_LOG_S)

    # -- the rounds -------------------------------------------------------------------------

    def posts(self, count: int, rate: float, hosts: Sequence[int]) -> dict[str, int]:
        """``count`` posts at random hosts of ``hosts``, ``rate`` a second: id -> host."""
        posted: dict[str, int] = {}
        start = time.monotonic()
        for k in range(count):
            time.sleep(max(0.0, start + k / rate - time.monotonic()))
            host = self.rng.choice(hosts)
            posted[self.post(host)] = host
        return posted

    def _before(self) -> tuple[int, int, int]:
        return (*self.traffic(), self.copies())

    def _round(self, posted: dict[str, int], before: tuple[int, int, int]) -> Round:
        time.sleep(SETTLE_S)
        requests, size = self.traffic()
        when = {i: (h, self.logs[h].held[i]) for i, h in posted.items()}
        return Round(when, requests - before[0], size - before[1], self.copies() - before[2])

    def broadcast(self, count: int, rate: float, deadline_s: float = 60.0) -> Round:
        """Posts at random nodes; returns once every node holds every one."""
        before = self._before()
        posted = self.posts(count, rate, range(self.n))
        self.wait_held(posted, None, deadline_s)
        return self._round(posted, before)

    def partition(self, count: int, rate: float, hold_s: float, deadline_s: float = 120.0) -> tuple[Round, float]:
        """Cut the mesh in two halves, post on both sides, heal after ``hold_s``:
        the round, and the heal's time (the records crossed only after it)."""
        start = self.rng.randrange(self.n)  # an arc of the ring: each side stays connected
        side = sorted((start + k) % self.n for k in range(self.n // 2))
        other = [i for i in range(self.n) if i not in side]
        before = self._before()
        self.split(side)
        cut = time.monotonic()
        try:
            posted = self.posts(count, rate, side) | self.posts(count, rate, other)
            for hosts in (side, other):
                self.wait_held([i for i, h in posted.items() if h in hosts], hosts, deadline_s)
            time.sleep(max(0.0, cut + hold_s - time.monotonic()))
            for log in self.logs:
                log.scan()
            leaked = [i for i, h in posted.items() if self.holders(i, other if h in side else side)]
            if leaked:
                raise MeshError(f"{len(leaked)} records crossed the partition")
        finally:
            healed = time.time()
            self.heal()
        self.wait_held(posted, None, deadline_s)
        result = self._round(posted, before)
        result.side = frozenset(side)
        return result, healed

    def split(self, side: Sequence[int]) -> None:
        """Move ``side``'s hosts to a bridge of their own."""
        bridge = self.lan.bridge
        if not self._second_bridge:
            _ip("-n", bridge, "link", "add", "br1", "type", "bridge")
            _ip("-n", bridge, "link", "set", "br1", "up")
            self._second_bridge = True
        for i in side:
            _ip("-n", bridge, "link", "set", f"v{i}", "master", "br1")
        self._split = True

    def heal(self) -> None:
        if not self._split:
            return
        for i in range(self.n):
            _ip("-n", self.lan.bridge, "link", "set", f"v{i}", "master", "br0")
        self._split = False


def _wait(probe: Any, what: str, deadline_s: float, every_s: float = 0.2) -> None:
    end = time.monotonic() + deadline_s
    while not probe():
        if time.monotonic() > end:
            raise MeshError(f"gave up after {deadline_s:.0f} s waiting until {what}")
        time.sleep(every_s)


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")
