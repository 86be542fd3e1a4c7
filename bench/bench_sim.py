"""``make bench``'s part of the simulation (bench/sim): 300 nodes for ten
virtual minutes, with loss, churn and a 30% partition, as table rows.

The 1000-node run takes a few minutes on its own: ``python -m bench sim
--nodes 1000`` (add ``--json`` for every figure, the traffic by message kind
included).
"""

from __future__ import annotations

from typing import Any

from bench.sim.scenario import Scenario, rows
from bench.sim.scenario import run as run_scenario

NODES = 300


def run() -> list[dict[str, Any]]:
    out = rows(run_scenario(Scenario(nodes=NODES)))
    for row in out:
        for name, default in (("ratio", None), ("target", ""), ("ok", None), ("note", "")):
            row.setdefault(name, default)
    return out
