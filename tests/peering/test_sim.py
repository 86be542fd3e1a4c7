"""The simulation of bench/sim in the suite: 100 nodes, ten virtual minutes,
with loss, churn and a 30% partition, on the real pure core.

Every assertion is on virtual quantities (what the seeded run delivered, how
many copies, how long after the heal in simulated seconds); wall time is never
asserted. A seed gives the same run every time.
"""

from __future__ import annotations

from dataclasses import asdict, replace

import pytest

from bench.sim.model import wire_int, wire_list, wire_map, wire_strs
from bench.sim.scenario import Result, Scenario, run
from protocol.codec import Value, encode

SUITE = Scenario(nodes=100, minutes=10.0, posts_per_s=0.2, seed=13)
COPIES_TARGET = 2.0
"""Full copies a node receives of a record, on average (issue 13): about 1.0
since a node asks one peer at a time for an id (``decisions.InFlight``)."""


@pytest.fixture(scope="module")
def result() -> Result:
    return run(SUITE)


def test_every_node_gets_every_record(result: Result) -> None:
    assert result.records > 50
    assert result.undelivered == 0


def test_all_agree_within_two_reconciliation_intervals_of_the_heal(result: Result) -> None:
    assert result.heal_agree_s is not None
    assert result.heal_agree_s <= result.heal_target_s


def test_copies_per_node_per_record_meet_the_target(result: Result) -> None:
    assert result.copies_per_node_record <= COPIES_TARGET


def test_a_seed_gives_the_same_run() -> None:
    small = replace(SUITE, nodes=30, minutes=4.0)
    first, second, other = asdict(run(small)), asdict(run(small)), asdict(run(replace(small, seed=14)))
    for figures in (first, second, other):
        figures.pop("wall_s")
        figures.pop("cpu_s")
    assert first == second
    assert {**other, "scenario": None} != {**first, "scenario": None}


@pytest.mark.parametrize("count", [0, 1, 15, 16, 300, 70_000])
def test_wire_sizes_are_the_encoders(count: int) -> None:
    ids: list[Value] = [bytes([k % 256]) * 32 for k in range(count)]
    raws: list[Value] = [b"r" * (k % 400) for k in range(min(count, 300))]
    assert wire_list([32] * count) == len(encode(ids))
    assert wire_list([(k % 400) for k in range(len(raws))]) == len(encode(raws))
    assert wire_map(wanted=wire_list([32] * count)) == len(encode({"wanted": ids}))
    assert wire_map(ids=wire_list([32] * count), cursor=wire_int(count), behind=1) == len(
        encode({"ids": ids, "cursor": count, "behind": False})
    )
    outcomes = ["accepted", "duplicate"] * min(count, 50)
    assert wire_map(outcomes=wire_strs(outcomes)) == len(encode({"outcomes": list[Value](outcomes)}))
    assert wire_int(count * 70_000) == len(encode(count * 70_000))
