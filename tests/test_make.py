"""The Makefile's promises, read with ``make -n`` (it prints what it would run,
and runs nothing) against a virtualenv path in tmp_path: ``make run`` installs
the package alone (a first start must not wait for Playwright, mypy and the
rest), the tests, linters and benchmarks add the dev extras, and ``make run``
keeps its data in ./data, as the README and docs/NODE.md say."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def dry_run(target: str, venv: Path) -> list[str]:
    # Run inside `make test` too: a make started from a make prints directory
    # lines and inherits its flags; this one must read as run by hand.
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES")}
    result = subprocess.run(
        ["make", "--no-print-directory", "-n", target, f"VENV={venv}"],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False, env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def installs(lines: list[str]) -> list[str]:
    return [line.split("install --quiet ", 1)[1] for line in lines if "pip install --quiet -e" in line]


def test_run_installs_the_package_alone(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    lines = dry_run("run", venv)
    assert installs(lines) == ["-e ."]
    assert lines[-1].split() == [f"{venv}/bin/mutualaid", "run", "--data-dir", "data"]


@pytest.mark.parametrize("target", ["test", "lint", "bench", "bench-pi"])
def test_the_tests_linters_and_benchmarks_add_the_dev_extras(tmp_path: Path, target: str) -> None:
    assert installs(dry_run(target, tmp_path / "venv")) == ["-e .", "-e '.[dev]'"]


def test_an_installed_run_stamp_is_reused_and_a_later_test_adds_only_the_extras(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    venv.mkdir()
    stamp = venv / ".installed-run"
    stamp.touch()
    newer = (ROOT / "pyproject.toml").stat().st_mtime + 60
    os.utime(stamp, (newer, newer))
    assert installs(dry_run("run", venv)) == []
    assert installs(dry_run("test", venv)) == ["-e '.[dev]'"]


def test_the_docs_say_where_make_run_keeps_its_data() -> None:
    readme = (ROOT / "README.md").read_text()
    node = " ".join((ROOT / "docs" / "NODE.md").read_text().split())
    assert "make run` starts a node with its data in `./data`" in " ".join(readme.split())
    assert "`make run` uses `./data`" in node
    assert "`mutualaid run` without `--data-dir` uses `$XDG_DATA_HOME/mutualaid`" in node
