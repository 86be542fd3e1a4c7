"""Starting real node processes through the CLI, for the top-level tests."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TypeVar

import pytest

ROOT = Path(__file__).resolve().parent.parent
MUTUALAID = [sys.executable, "-m", "node"]
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


def start(data: Path, *peers: str, extra: tuple[str, ...] = ()) -> tuple[subprocess.Popen[bytes], str]:
    """Run a node on a free loopback port; its log goes to DATA.log beside DATA."""
    args = [*MUTUALAID, "run", "--data-dir", str(data), "--listen", "127.0.0.1:0", "--no-mdns", *extra]
    for peer in peers:
        args += ["--peer", peer]
    with (data.parent / f"{data.name}.log").open("wb") as log:
        process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=log, cwd=ROOT)
    assert process.stdout is not None
    line = process.stdout.readline().decode()  # blocks until ready; the process exits on failure
    assert "listening on" in line, line
    return process, line.split()[-1]


def call(url: str, method: str = "GET", body: Mapping[str, object] | None = None, token: str = "") -> object:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 - loopback
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        return json.loads(response.read())


def stop(process: subprocess.Popen[bytes]) -> int:
    """SIGTERM and wait; a node that does not stop is killed (never left
    running past the test) and the hang is reported as a failure."""
    process.send_signal(signal.SIGTERM)
    try:
        code = process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise AssertionError("the node did not stop on SIGTERM within 30 s") from None
    finally:
        if process.stdout is not None:
            process.stdout.close()
    return code
