# SIGKILL during ingest on a real node (tests/peering/_ingest_kills.py says
# how): 20 kills on one data directory, nothing acknowledged lost, the file
# intact after each. The bench kills it 100 times (bench/bench_crash.py).

from __future__ import annotations

import pytest

from tests.peering._ingest_kills import kill_cycles
from tests.peering.conftest import NodeFactory

pytestmark = pytest.mark.slow

KILLS = 20


def test_acknowledged_records_survive_sigkill_during_ingest(nodes: NodeFactory) -> None:
    cycles = kill_cycles(nodes, KILLS, seed=20261206)
    assert len(cycles) == KILLS
    assert [c for c in cycles if c.lost or not c.intact] == []
    assert sum(c.acknowledged for c in cycles) > 0
    assert any(c.in_flight for c in cycles), "no kill landed while a push was in flight"
