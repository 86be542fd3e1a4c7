"""The Pi-class boxes of ``python -m bench pi`` (bench/pi_box.py), on this machine's
real cgroups: a program started through a box's prefix is in the box from its
first instruction, under its CPU quota and memory limit; the box reports the
memory it peaked at and the processes killed for want of it; nothing is left
behind. Inside the test namespace /sys has no cgroup file systems, so this also
runs the path that mounts them. Needs root, as the bench does."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.pi_box import CPU_PERIOD_US, Boxes

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="cgroups need root")
SMALL = 64 * 1024 * 1024


def _run(prefix: list[str], code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*prefix, sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          check=False)  # fmt: skip


def test_a_program_runs_inside_its_box_under_its_limits() -> None:
    with Boxes(cpu_quota_us=CPU_PERIOD_US // 4, memory_bytes=SMALL) as boxes:
        prefix = boxes.prefix("probe")
        report = "import os; print(os.getpid()); print(open('/proc/self/cgroup').read())"
        done = _run(prefix, report)
        assert done.returncode == 0, done.stderr
        lines = done.stdout.splitlines()
        boxed = [line for line in lines[1:] if line.endswith(f"/mutualaid-bench-{os.getpid()}/probe")]
        assert boxed, lines  # in the box in every hierarchy that limits it (one for v2, cpu and memory for v1)
        # Within the limit: runs, and the peak is reported; past it: killed, and counted.
        assert _run(prefix, "x = bytearray(16 * 2**20)").returncode == 0
        assert (boxes.usage("probe").peak_bytes or 0) > 16 * 2**20
        assert boxes.usage("probe").oom_kills == 0
        killed = _run(prefix, "x = bytearray(4 * 64 * 2**20)")
        assert killed.returncode == -9, killed
        assert boxes.usage("probe").oom_kills == 1
        dirs = [Path(p).parent for p in prefix if p.endswith("cgroup.procs")]
        files = [d / f for d in dirs for f in ("cpu.max", "cpu.cfs_quota_us") if (d / f).exists()]
        assert [f.read_text().split()[0] for f in files] == [str(CPU_PERIOD_US // 4)]
        groups = [d.parent for d in dirs]
    assert not any(group.exists() for group in groups)  # the boxes and the run's group are gone
