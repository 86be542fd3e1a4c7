# Run one fuzz target under atheris and print its figures.
#
#     python -m tests.fuzz TARGET [-runs=N] [-max_total_time=S] [other libFuzzer flags]
#     python -m tests.fuzz all -runs=1000000          # each target in turn
#
# TARGET is one of tests/fuzz/targets.py's TARGETS. The committed corpus
# (tests/fuzz/corpus/TARGET) is read, never written: new inputs go to a
# scratch directory, and crash artifacts to .fuzz/TARGET/ (ignored by git);
# a crasher is then copied to tests/fuzz/crashers/TARGET/ with its fix, where
# tests/fuzz/test_fuzz.py replays it. The last line is the figures as JSON:
# executions, exec/s, slowest input (CPU ms), spikes not confirmed slow, RSS
# growth after warm-up (MB); the exit status is libFuzzer's (0: nothing found).

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.fuzz._worker import STATS, WARM_UP

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
NAMES = ("record", "peer_body", "reconcile", "bundle")
MAX_RSS_GROWTH_MB = 50
SLOW_MS = 100


def run(name: str, flags: list[str]) -> tuple[int, dict[str, Any]]:
    artifacts = ROOT / ".fuzz" / name
    artifacts.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f"fuzz-{name}-") as scratch:
        stats = Path(scratch) / "stats"
        stats.write_bytes(bytes(STATS.size))
        work = Path(scratch) / "corpus"
        work.mkdir()
        command = [sys.executable, "-m", "tests.fuzz._worker", name, str(stats), f"-artifact_prefix={artifacts}/",
                   "-timeout=10", *flags, str(work), str(HERE / "corpus" / name)]  # fmt: skip
        started = time.monotonic()
        code = subprocess.run(command, cwd=ROOT, check=False).returncode
        wall = time.monotonic() - started
        executions, cpu, slowest, spikes, rss_first, rss_base, rss_now, fuzzing = STATS.unpack(stats.read_bytes())
    growth = (rss_now - rss_base) / 2**20
    figures = {
        "target": name,
        "exit": code,
        "executions": executions,
        "exec_per_s": round(executions / fuzzing, 1) if fuzzing else 0.0,
        "wall_s": round(wall, 1),
        "cpu_ms_per_input": round(1000 * cpu / executions, 3) if executions else 0.0,
        "slowest_ms": round(1000 * slowest, 2),
        "spikes": spikes,
        "rss_start_mb": round(rss_first / 2**20, 1),
        "rss_growth_mb": round(growth, 1),
        "rss_baseline": f"after {WARM_UP} executions" if executions >= WARM_UP else "at the first execution",
        "ok": code == 0 and slowest * 1000 <= SLOW_MS and growth < MAX_RSS_GROWTH_MB,
    }
    return code, figures


def main(argv: list[str]) -> int:
    if not argv or (argv[0] not in NAMES and argv[0] != "all"):
        print(f"usage: python -m tests.fuzz {{{','.join(NAMES)},all}} [libFuzzer flags]", file=sys.stderr)
        return 2
    names = NAMES if argv[0] == "all" else (argv[0],)
    worst = 0
    for name in names:
        code, figures = run(name, argv[1:])
        print(json.dumps(figures), flush=True)
        worst = worst or code
    return worst


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
