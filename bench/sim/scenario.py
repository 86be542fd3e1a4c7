"""One simulated run: a random graph, posts, churn, a partition, and the figures.

The timeline of a run of D seconds (D = 600 by default): links connect at 0;
posts arrive at random up nodes (a Poisson process) from 10 s to D - 30 s;
a ``churn`` share of the nodes each go down once, for 20 to 90 s (scaled
by D / 600 s), starting between 0.05 D and 0.3 D; at D / 3 a ``partition`` share of the nodes is cut off from
the rest for 0.2 D, then healed. The run goes on after D (up to ``drain_s``)
until every node holds every record.

Figures (all in virtual time, so the same seed gives the same numbers):
delivery time of each record to every node (median and max, over all records
and over the quiet ones posted after the heal); full-record copies received
per node per record (a node handed the same record by two peers counts 2);
messages and body bytes per record; and the time from the heal until every
node holds every record posted before it, against two reconciliation
intervals (``decisions.RESYNC_INTERVAL_S``). Wall time is information only.

What the default run of 1000 nodes shows (seed 13, 551 records; docs/NODE.md
has the table): every record reaches every node; 1.8 s median (31 s max) for
records posted in quiet times, 34 s median and 152 s max over all records,
since half of them were posted while a node was down or the partition held
(a record waits there for a lazy link's reconciliation, every 3 to 30 s); all
agree 31 s after the heal, far inside the 600 s of two intervals; 1.11 full
copies per node per record, 3.2 messages per delivery (14.1 when records
were announced on every link, before eager and lazy links).

An id asked of one peer is not asked of another until it arrives, the
request fails, or ``IN_FLIGHT_S`` passes (``decisions.InFlight``, which
the model calls where PeerLink._pull does): without it, ids announced by two
or three neighbours within one round trip each brought a copy (about 2.2
copies per node per record, when records were announced).
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from bench.corpus import NOW, records
from crypto import NodeIdentity
from node.peering.decisions import RESYNC_INTERVAL_S
from protocol.records import DEFAULT_TTL, NODE_PROFILE_SLOT, build_record

from .model import Sim, SimLink, SimNode


@dataclass(frozen=True)
class Scenario:
    nodes: int = 1000
    degree: int = 8
    """Mean links per node: each node dials degree / 2 others it is not linked to yet."""
    seed: int = 13
    minutes: float = 10.0
    posts_per_s: float = 1.0
    latency_ms: tuple[float, float] = (20.0, 200.0)
    """Each link's one-way latency is drawn uniformly from this range."""
    loss: float = 0.01
    """Chance a message loses a packet (and waits for a retransmission)."""
    mutual: float = 0.2
    """Share of links dialed from both ends (two chapters that each list the other)."""
    churn: float = 0.05
    partition: float = 0.3
    drain_s: float = 600.0

    @property
    def duration_s(self) -> float:
        return self.minutes * 60.0


@dataclass
class Result:
    scenario: Scenario
    records: int
    undelivered: int
    delivery_median_s: float
    delivery_max_s: float
    quiet_delivery_median_s: float
    quiet_delivery_max_s: float
    copies_per_node_record: float
    copies_max: int
    quiet_copies_per_node_record: float
    """The same over the records posted after the heal (no partition, no churn)."""
    pairs_with_duplicates: float
    messages_per_record: float
    bytes_per_record: float
    messages_per_delivery: float
    record_messages_per_delivery: float
    heal_agree_s: float | None
    heal_target_s: float
    virtual_s: float
    link_failures: int
    sessions: int
    events: int
    wall_s: float
    cpu_s: float
    """CPU seconds of this process: a fairer figure than wall time on a shared machine."""
    copies_by: dict[str, float] = field(default_factory=dict)
    """Copies per node per record, by how they came."""
    traffic: dict[str, dict[str, int]] = field(default_factory=dict)


def _topology(sim: Sim, scenario: Scenario, rng: random.Random) -> None:
    nodes = sim.nodes
    low, high = scenario.latency_ms
    neighbours: list[set[int]] = [set() for _ in nodes]
    for node in nodes:
        want = min(scenario.degree // 2, len(nodes) - 1 - len(neighbours[node.index]))
        candidates = [i for i in rng.sample(range(len(nodes)), min(len(nodes), 4 * scenario.degree + 2))]
        for other in candidates:
            if want <= 0:
                break
            if other == node.index or other in neighbours[node.index]:
                continue
            neighbours[node.index].add(other)
            neighbours[other].add(node.index)
            a, b = min(node.index, other), max(node.index, other)
            sim.net.latency[(a, b)] = rng.uniform(low, high) / 1000.0
            node.links.append(SimLink(node, nodes[other]))
            if rng.random() < scenario.mutual:
                nodes[other].links.append(SimLink(nodes[other], node))
            want -= 1


def _profile_bytes() -> int:
    """A node's signed profile, as its hello carries it."""
    identity = NodeIdentity.from_seed(bytes(32))
    body = {"kind": "node", "slot": NODE_PROFILE_SLOT, "created_at": NOW, "expires_at": NOW + DEFAULT_TTL,
            "name": "Riverside chapter", "areas": ["u4pr", "u4px"], "urls": ["https://riverside.example/aid"],
            "seal_key": identity.seal_public_key}  # fmt: skip
    return len(build_record(identity, body).raw)


def build(scenario: Scenario) -> Sim:
    """The nodes, links, posts and faults of a run, scheduled on a fresh clock."""
    rng = random.Random(scenario.seed)
    sim = Sim(scenario.seed, scenario.loss, _profile_bytes())
    sim.nodes = [SimNode(sim, i, rng.randbytes(32), random.Random(rng.randrange(2**32))) for i in range(scenario.nodes)]
    for node in sim.nodes:
        node.expire_adverts()
    _topology(sim, scenario, rng)
    for node in sim.nodes:
        for link in node.links:
            link.start()
    duration = scenario.duration_s
    times, t = [], 10.0
    while True:
        t += rng.expovariate(scenario.posts_per_s)
        if t > duration - 30.0:
            break
        times.append(t)
    made = records(len(times), seed=scenario.seed, start=NOW + 10, end=NOW + int(duration) - 30)
    for when, record in zip(times, made, strict=True):
        sim.loop.at(when, _post, sim, rng, record)
    for index in rng.sample(range(scenario.nodes), round(scenario.churn * scenario.nodes)):
        down = rng.uniform(0.05 * duration, 0.3 * duration)
        sim.loop.at(down, sim.nodes[index].go_down)
        sim.loop.at(down + rng.uniform(20.0, 90.0) * duration / 600.0, sim.nodes[index].come_up)
    cut = frozenset(rng.sample(range(scenario.nodes), round(scenario.partition * scenario.nodes)))
    sim.loop.at(duration / 3, _partition, sim, cut)
    sim.loop.at(duration / 3 + 0.2 * duration, _partition, sim, frozenset())
    return sim


def _post(sim: Sim, rng: random.Random, record: Any) -> None:
    up = [node for node in sim.nodes if node.up]
    rng.choice(up).post(record)


def _partition(sim: Sim, cut: frozenset[int]) -> None:
    sim.net.cut = cut


def run(scenario: Scenario) -> Result:
    started, cpu = time.perf_counter(), time.process_time()
    sim = build(scenario)
    # The cyclic collector's full passes walk every live object, and a run
    # holds millions (stores, feeds, pending callbacks): at the default
    # thresholds they took half the CPU of 1000 nodes. Collect rarely instead.
    thresholds = gc.get_threshold()
    gc.set_threshold(200_000, 50, 1000)
    try:
        loop = sim.loop
        loop.run_until(scenario.duration_s)
        end = scenario.duration_s + scenario.drain_s
        while len(sim.full_at) < len(sim.posted_at) and loop.now < end:
            loop.run_until(min(end, loop.now + 10.0))
    finally:
        gc.set_threshold(*thresholds)
    return _measure(sim, scenario, time.perf_counter() - started, time.process_time() - cpu)


def _measure(sim: Sim, scenario: Scenario, wall: float, cpu: float) -> Result:
    posted, full = sim.posted_at, sim.full_at
    n = len(posted)
    heal = scenario.duration_s / 3 + 0.2 * scenario.duration_s
    times = [full[i] - posted[i] for i in posted if i in full]
    quiet = [full[i] - posted[i] for i in posted if i in full and posted[i] > heal]
    before_heal = [i for i in posted if posted[i] <= heal]
    agree = max(full[i] for i in before_heal) - heal if all(i in full for i in before_heal) else None
    deliveries = max(1, n * (scenario.nodes - 1))
    copies = [c for node in sim.nodes for c in node.copies.values()]
    quiet_ids = [i for i in posted if posted[i] > heal]
    quiet_copies = sum(node.copies.get(i, 0) for node in sim.nodes for i in quiet_ids)
    messages = sum(sim.traffic.messages.values())
    body_bytes = sum(sim.traffic.bytes.values())
    carrying = sum(sim.traffic.messages.get(k, 0) for k in ("records", "fetch reply"))
    return Result(
        scenario=scenario,
        records=n,
        undelivered=n - len(times),
        delivery_median_s=statistics.median(times) if times else float("nan"),
        delivery_max_s=max(times) if times else float("nan"),
        quiet_delivery_median_s=statistics.median(quiet) if quiet else float("nan"),
        quiet_delivery_max_s=max(quiet) if quiet else float("nan"),
        copies_per_node_record=sim.copies / deliveries,
        copies_max=max(copies, default=0),
        quiet_copies_per_node_record=quiet_copies / max(1, len(quiet_ids) * (scenario.nodes - 1)),
        pairs_with_duplicates=sum(1 for c in copies if c > 1) / deliveries,
        messages_per_record=messages / max(1, n),
        bytes_per_record=body_bytes / max(1, n),
        messages_per_delivery=messages / deliveries,
        record_messages_per_delivery=carrying / deliveries,
        heal_agree_s=agree,
        heal_target_s=2 * RESYNC_INTERVAL_S,
        virtual_s=sim.loop.now,
        link_failures=sim.link_failures,
        sessions=sim.sessions,
        events=sim.loop.events,
        wall_s=wall,
        cpu_s=cpu,
        copies_by={k: v / deliveries for k, v in sorted(sim.copies_by.items())},
        traffic={
            "messages": dict(sorted(sim.traffic.messages.items())),
            "bytes": dict(sorted(sim.traffic.bytes.items())),
        },
    )


def rows(result: Result) -> list[dict[str, Any]]:
    """The figures as bench table rows."""
    s = result.scenario
    label = f"sim {s.nodes} nodes"
    agree = result.heal_agree_s
    return [
        {"figure": f"{label}: records delivered to all", "value": result.records - result.undelivered,
         "unit": "records", "target": f"= {result.records}", "ok": result.undelivered == 0,
         "note": f"{s.minutes:g} virtual min, degree {s.degree}, loss {s.loss:.0%}, churn {s.churn:.0%}, "
                 f"partition {s.partition:.0%}, seed {s.seed}"},
        {"figure": f"{label}: time to every node, median", "value": result.delivery_median_s, "unit": "s",
         "note": f"max {result.delivery_max_s:.1f} s (partition and churn included)"},
        {"figure": f"{label}: same, records posted after the heal", "value": result.quiet_delivery_median_s,
         "unit": "s", "note": f"max {result.quiet_delivery_max_s:.2f} s"},
        {"figure": f"{label}: copies per node per record", "value": result.copies_per_node_record,
         "unit": "copies", "ratio": 6.3 / result.copies_per_node_record, "target": "<= 2",
         "ok": result.copies_per_node_record <= 2,
         "note": f"max {result.copies_max}; {result.quiet_copies_per_node_record:.2f} for records posted after "
                 f"the heal; {result.pairs_with_duplicates:.1%} of (node, record) got more than one; "
                 "ratio = gossipsub's 6.3 messages per delivery / this; "
                 + ", ".join(f"{k} {v:.2f}" for k, v in result.copies_by.items())},
        {"figure": f"{label}: messages per record", "value": result.messages_per_record, "unit": "msgs",
         "note": f"{result.messages_per_delivery:.1f} per delivery, of which "
                 f"{result.record_messages_per_delivery:.2f} carry records; idle polls and resyncs included"},
        {"figure": f"{label}: body bytes per record", "value": result.bytes_per_record, "unit": "B",
         "note": "msgpack bodies; HTTP and signed headers (~300 B a message) not counted"},
        {"figure": f"{label}: agreement after the partition heals", "value": -1.0 if agree is None else agree,
         "unit": "s", "target": f"<= {result.heal_target_s:.0f} s (2 resync intervals)",
         "ok": agree is not None and agree <= result.heal_target_s,
         "note": f"{result.link_failures} link failures, {result.sessions} reconciliations"},
        {"figure": f"{label}: wall time", "value": result.wall_s, "unit": "s",
         "note": f"{result.cpu_s:.1f} s CPU; {result.events:,} events, {result.virtual_s:.0f} virtual s; "
                 "information, not pass or fail"},
    ]  # fmt: skip


def main(argv: list[str], table: Callable[[list[dict[str, Any]]], str]) -> int:
    """``python -m bench sim ...``; ``table`` is bench/__main__.py's."""
    parser = argparse.ArgumentParser(prog="python -m bench sim", description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, default=Scenario.nodes)
    parser.add_argument("--seed", type=int, default=Scenario.seed)
    parser.add_argument("--minutes", type=float, default=Scenario.minutes)
    parser.add_argument("--posts-per-s", type=float, default=Scenario.posts_per_s)
    parser.add_argument("--loss", type=float, default=Scenario.loss)
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    args = parser.parse_args(argv)
    scenario = Scenario(
        nodes=args.nodes, seed=args.seed, minutes=args.minutes, posts_per_s=args.posts_per_s, loss=args.loss
    )
    result = run(scenario)
    if args.json:
        print(json.dumps(asdict(result), indent=2))
    else:
        print(table([{"ratio": None, "target": "", "ok": None, "note": ""} | row for row in rows(result)]))
    return 0 if result.undelivered == 0 else 1
