"""Crash figures: power cuts under the writer, and SIGKILLs of a node mid-ingest.

Power loss (tests/storage/_powercut.py says what is real and what is
simulated): ``POWER_CYCLES`` cuts on one file, each at a moment drawn from a
seed, with the store's synchronous=FULL, and the same cuts with
synchronous=NORMAL beside them as the control that shows the cut has teeth.
SIGKILL (tests/peering/_ingest_kills.py): ``KILLS`` kills of a real node
while records are pushed to it over the peer API. Each counts acknowledged
records lost and files damaged; the targets are zero.

    python -m bench crash        # about 6 minutes; inside ../shared/tools/isolated on the shared machines
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from tests.peering import _ingest_kills
from tests.storage import test_power_loss

Row = dict[str, Any]
POWER_CYCLES = 40
CONTROL_CYCLES = 10
KILLS = 100
SEED = 20261206


def row(name: str, value: float, unit: str, target: str = "", ok: bool | None = None, note: str = "") -> Row:
    return {"figure": name, "value": value, "unit": unit, "ratio": None, "target": target, "ok": ok, "note": note}


def power_loss(synchronous: str | None, cycles: int) -> tuple[list[test_power_loss.Cycle], float]:
    with tempfile.TemporaryDirectory(prefix="mutualaid-bench-powercut-") as tmp:
        started = time.perf_counter()
        seeds = [SEED + n for n in range(cycles)]
        done = test_power_loss.run_cycles(Path(tmp) / "records.db", seeds, Path(tmp), synchronous)
        return done, time.perf_counter() - started


def run() -> list[Row]:
    out: list[Row] = []
    cuts, seconds = power_loss(None, POWER_CYCLES)
    lost = max((c.lost for c in cuts), default=0)
    damaged = sum(c.damaged for c in cuts)
    acknowledged = sum(c.acknowledged for c in cuts)
    note = f"{acknowledged:,} records acknowledged over the cuts; {seconds:.0f} s"
    out.append(row("power cuts, synchronous=FULL", len(cuts), "cycles", f">= {POWER_CYCLES}",
                   len(cuts) >= POWER_CYCLES, note))  # fmt: skip
    out.append(row("  acknowledged records lost", lost, "records", "0", lost == 0))
    out.append(row("  damaged files", damaged, "files", "0", damaged == 0))
    control, _ = power_loss("NORMAL", CONTROL_CYCLES)
    held = max((c.held + c.lost for c in control), default=0)
    out.append(row("  control: the same cuts at synchronous=NORMAL", max(c.lost for c in control), "records lost",
                   note=f"of {held:,} acknowledged: the simulation does lose what NORMAL risks"))  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="mutualaid-bench-kills-") as tmp:
        started = time.perf_counter()
        kills = _ingest_kills.run(Path(tmp), KILLS, SEED)
        seconds = time.perf_counter() - started
    lost = max((k.lost for k in kills), default=0)
    broken = sum(not k.intact for k in kills)
    in_flight = sum(k.in_flight for k in kills)
    note = (f"{sum(k.acknowledged for k in kills):,} records acknowledged; {in_flight} kills with a push in flight; "
            f"{seconds:.0f} s")  # fmt: skip
    out.append(row("SIGKILL of a node during ingest", len(kills), "kills", f">= {KILLS}", len(kills) >= KILLS, note))
    out.append(row("  acknowledged records lost", lost, "records", "0", lost == 0))
    out.append(row("  damaged files", broken, "files", "0", broken == 0))
    return out
