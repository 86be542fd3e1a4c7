# The process atheris runs in (started by tests/fuzz/__main__.py, which reads
# its figures when it ends: libFuzzer exits the process itself, so no Python
# exit handler runs; the figures are kept current in a small shared file).
#
#     python -m tests.fuzz._worker TARGET STATS_FILE [libFuzzer flags and corpus dirs]
#
# Per input it measures CPU time (process_time: what the input cost this
# process, whatever else the shared machine runs). An input over the bound is
# run three times more and only counts as slow if even its fastest run is
# over: a single spike (a garbage collection, a page fault) is counted and
# reported, not a failure. A confirmed slow input raises, so libFuzzer saves
# it as a crash artifact like any other.

from __future__ import annotations

import mmap
import os
import struct
import sys
import time
from collections.abc import Callable

import atheris

STATS = struct.Struct("<QddQQQQd")
"""executions, CPU seconds in the targets, slowest input's CPU seconds, spikes
over the bound not confirmed on re-run, RSS at the first execution, RSS after
warm-up, RSS now (bytes), wall seconds since the first execution."""
WARM_UP = 10_000
"""Executions before the RSS baseline: imports, caches and libFuzzer's first
corpus growth are not a leak."""
RSS_EVERY = 1000
SLOW_RETRIES = 3
_PAGE = os.sysconf("SC_PAGE_SIZE")


class SlowInput(AssertionError):
    """An input whose fastest of several runs still took over the per-input bound."""


def rss() -> int:
    with open("/proc/self/statm", "rb") as statm:
        return int(statm.read().split()[1]) * _PAGE


def cpu_seconds(target: Callable[[bytes], None], data: bytes) -> float:
    start = time.process_time()
    target(data)
    return time.process_time() - start


class Meter:
    def __init__(self, target: Callable[[bytes], None], stats_path: str, slow_s: float) -> None:
        self.target = target
        self.slow_s = slow_s
        with open(stats_path, "r+b") as file:
            self.stats = mmap.mmap(file.fileno(), STATS.size)
        self.executions = 0
        self.cpu = 0.0
        self.slowest = 0.0
        self.spikes = 0
        self.rss_first = self.rss_base = self.rss_now = 0
        self.started = 0.0

    def __call__(self, data: bytes) -> None:
        if self.executions == 0:
            self.started = time.monotonic()
            self.rss_first = self.rss_base = rss()
        spent = cpu_seconds(self.target, data)
        if spent > self.slow_s:
            fastest = min(cpu_seconds(self.target, data) for _ in range(SLOW_RETRIES))
            if fastest > self.slow_s:
                raise SlowInput(f"{fastest * 1000:.1f} ms of CPU at best of {SLOW_RETRIES} runs, for {len(data)} bytes")
            self.spikes += 1
            spent = fastest
        self.executions += 1
        self.cpu += spent
        self.slowest = max(self.slowest, spent)
        if self.executions % RSS_EVERY == 0:
            self.rss_now = rss()
            if self.executions == WARM_UP:
                self.rss_base = self.rss_now
        STATS.pack_into(self.stats, 0, self.executions, self.cpu, self.slowest, self.spikes, self.rss_first,
                        self.rss_base, self.rss_now or rss(), time.monotonic() - self.started)  # fmt: skip


def main() -> None:
    name, stats_path, *flags = sys.argv[1:]
    slow_s = float(os.environ.get("MUTUALAID_FUZZ_SLOW_MS", "100")) / 1000
    # Coverage is collected from our own code only: the decoders and what they call.
    with atheris.instrument_imports(include=["protocol", "crypto", "tests.fuzz.targets"]):
        from tests.fuzz import targets  # noqa: PLC0415 - imported under instrumentation
    meter = Meter(targets.TARGETS[name], stats_path, slow_s)
    atheris.Setup([sys.argv[0], *flags], meter)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
