"""``make bench``: every benchmark in one run, on one core, as one table.
``python -m bench pi`` (``make bench-pi``, not part of ``make bench``: it takes
about ten minutes) prints the main figures on the full machine beside a
Pi-class one instead (bench/bench_pi.py). ``python -m bench sim`` runs the
simulation of 1000 nodes alone (a few minutes; ``--help`` for its flags);
``make bench`` includes a 300-node run of it (bench/bench_sim.py).
``python -m bench mesh`` runs 25 real nodes 100 ms apart alone (about two
minutes, root and iproute2; bench/bench_mesh.py).
``python -m bench scale`` prints how each cost of one node grows from 10k to
100k records (and to a million with ``MUTUALAID_BENCH_FULL=1``; the stores are
made once and cached under .cache/bench/: bench/store_cache.py).
``python -m bench ingest`` (part of ``make bench``) times ingest as the store
grows to 100k (1M with ``MUTUALAID_BENCH_FULL=1``) and on one core beside two.

The machines are noisy, so figures that are compared are measured side by
side in the same process and reported as ratios; no absolute time is a pass
or a fail on its own.
"""

from __future__ import annotations

import os
import sys
from types import ModuleType
from typing import Any

from bench import (
    bench_bundle,
    bench_chapter,
    bench_crash,
    bench_ingest,
    bench_mesh,
    bench_node,
    bench_page,
    bench_peers,
    bench_pi,
    bench_reconcile,
    bench_scale,
    bench_sim,
    bench_store,
    bench_web,
    bench_year,
)
from bench.sim import scenario as sim_scenario


def pin_to_one_core() -> str:
    if hasattr(os, "sched_setaffinity"):
        cpu = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpu})
        return f"pinned to CPU {cpu}"
    return "not pinned (no sched_setaffinity here)"


def fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.0f}" if value >= 100 else f"{value:.2f}"
    return str(value)


def table(rows: list[dict[str, Any]]) -> str:
    header = ["figure", "value", "unit", "ratio", "target", "ok", "note"]
    lines = [[r["figure"], fmt(r["value"]), r["unit"], "" if r.get("ratio") is None else f"{r['ratio']:.2f}",
              r.get("target", ""), {True: "yes", False: "NO", None: ""}[r.get("ok")], r.get("note", "")]
             for r in rows]  # fmt: skip
    widths = [max(len(str(x)) for x in column) for column in zip(header, *lines, strict=False)]
    out = [" | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    out.append("-+-".join("-" * w for w in widths))
    out.extend(" | ".join(str(c).ljust(w) for c, w in zip(line, widths, strict=True)) for line in lines)
    return "\n".join(out)


def main() -> int:
    if sys.argv[1:2] == ["sim"]:  # its own flags: python -m bench sim --nodes 1000 --json
        return sim_scenario.main(sys.argv[2:], table)
    print(f"mutualaid benchmarks, {pin_to_one_core()}, python {sys.version.split()[0]}", flush=True)
    rows = []
    only = set(sys.argv[1:])
    if "pi" in only:
        if only != {"pi"}:
            print("pi runs alone: python -m bench pi", file=sys.stderr)
            return 2
        print("running pi: the main figures, full machine and Pi-class...", flush=True)
        print(bench_pi.run())
        return 0
    parts: list[tuple[str, ModuleType]] = [
        ("reconcile", bench_reconcile),
        ("store", bench_store),
        ("ingest", bench_ingest),
        ("node", bench_node),
        ("peers", bench_peers),
        ("web", bench_web),
        ("page", bench_page),
        ("chapter", bench_chapter),
        ("year", bench_year),
        ("bundle", bench_bundle),
        ("crash", bench_crash),
        ("sim", bench_sim),
        ("mesh", bench_mesh),
        ("scale", bench_scale),
    ]
    for name, module in parts:
        if not only or name in only:
            print(f"running {name}...", flush=True)
            rows.extend(module.run())
    print(table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
