# The fuzz targets in the suite: every committed corpus file and every saved
# crasher replayed through its target (plain Python, no atheris), the seeds
# shown to be real valid inputs, and a short bounded atheris run of each
# target (the long runs, a million executions each, are in docs/FUZZING.md).
#
# The per-input bound (100 ms of CPU) is the one timed check: the runner
# measures CPU time, not wall time, and counts an input as slow only if the
# fastest of three more runs is still over (tests/fuzz/_worker.py), so another
# process on the shared machine cannot fail it; a confirmed slow input is a
# crash like any other and fails the run.

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from protocol.bundle import decode_bundle
from protocol.records import accept_record
from tests.fuzz import seeds
from tests.fuzz.__main__ import NAMES
from tests.fuzz.targets import FUZZ_KEY, NOW, TARGETS

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
SHORT_RUNS = 3000
SHORT_GUARD_S = 300


def inputs(folder: str, target: str) -> list[Path]:
    directory = HERE / folder / target
    return sorted(directory.iterdir()) if directory.is_dir() else []


def test_every_target_has_a_runner_name_and_a_corpus() -> None:
    assert set(TARGETS) == set(NAMES) == set(seeds.SEEDS)
    for name in NAMES:
        assert inputs("corpus", name), f"no corpus for {name}"


@pytest.mark.parametrize("name", NAMES)
def test_the_committed_corpus_is_what_the_seeds_make(name: str) -> None:
    made = {seed for seed in seeds.SEEDS[name]()}
    assert {path.read_bytes() for path in inputs("corpus", name)} == made, "run python -m tests.fuzz.seeds"


@pytest.mark.parametrize("name", NAMES)
def test_corpus_and_crashers_replay_clean(name: str) -> None:
    for path in inputs("corpus", name) + inputs("crashers", name):
        TARGETS[name](path.read_bytes())


def test_the_seeds_are_valid_inputs() -> None:
    """The fuzzer starts from accepted inputs, not from noise."""
    for record in seeds.records():
        assert accept_record(record.raw, NOW).author == FUZZ_KEY.public_key
    for bundle in seeds.bundle_seeds():
        assert decode_bundle(bundle).exporter == FUZZ_KEY.public_key


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_a_short_fuzz_run_finds_nothing(name: str) -> None:
    command = [sys.executable, "-m", "tests.fuzz", name, f"-runs={SHORT_RUNS}", "-max_total_time=120"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=SHORT_GUARD_S, check=False)
    assert done.returncode == 0, done.stderr[-4000:]
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert figures["executions"] >= SHORT_RUNS - 1, figures
    assert figures["slowest_ms"] <= 100, figures  # confirmed on re-run, in CPU time (see the top)
