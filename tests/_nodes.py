"""Starting real node processes through the CLI, for the top-level tests
(tests/_launch.py starts them), and waiting for what they do."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TypeVar

import pytest

from tests._launch import MODULE, NodeProcess, run_args

ROOT = Path(__file__).resolve().parent.parent
MUTUALAID = list(MODULE)
T = TypeVar("T")


def wait_until(probe: Callable[[], T | None], what: str, deadline_s: float = 30.0, every_s: float = 0.05) -> T:
    """Call ``probe`` until it returns something truthy; fail if that never
    happens. Deadlines only catch hangs: no assertion depends on speed."""
    end = time.monotonic() + deadline_s
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > end:
            pytest.fail(f"gave up after {deadline_s:.0f} s waiting until {what}")
        time.sleep(every_s)


def start(data: Path, *peers: str, extra: tuple[str, ...] = ()) -> tuple[NodeProcess, str]:
    """Run a node on a free loopback port; its log goes to DATA.log beside DATA."""
    process = NodeProcess([*run_args(data, peers=peers), *extra], log=data.parent / f"{data.name}.log", cwd=ROOT)
    try:
        return process, process.wait_ready()
    except BaseException:
        process.kill()
        raise


def call(url: str, method: str = "GET", body: Mapping[str, object] | None = None, token: str = "") -> object:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 - loopback
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        return json.loads(response.read())


def stop(process: NodeProcess) -> int:
    """SIGTERM and wait; a node that does not stop is killed (never left
    running past the test) and the hang is reported as a failure."""
    code = process.stop(30)
    if code is None:
        raise AssertionError("the node did not stop on SIGTERM within 30 s")
    return code
