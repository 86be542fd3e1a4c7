"""A LAN made of network namespaces, and nodes run inside it through the CLI.

``Lan(n)`` makes one namespace holding a bridge and ``n`` host namespaces,
each joined to the bridge by a veth pair with the address 10.77.0.<i+1>/24.
Multicast (mDNS) flows between the hosts through the bridge and nowhere
else. Python 3.11 cannot enter a namespace itself, so everything that runs
in a host (a node, a CLI call, an attacker) is a subprocess started with
``ip netns exec``. Needs root and iproute2 (the project's .ci/run installs
it); traffic stays between namespaces this module created.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests._launch import NodeProcess, NodeStartError, run_args
from tests._nodes import wait_until as wait_until  # noqa: PLC0414 - re-exported to the tests beside it

PORT = 8440
_names = itertools.count()


def _ip(*args: str) -> None:
    result = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {result.stderr.strip()}")


class Lan:
    def __init__(self, hosts: int) -> None:
        self.prefix = f"ma{os.getpid()}x{next(_names)}"
        self.bridge = f"{self.prefix}br"
        self.hosts = [f"{self.prefix}h{i}" for i in range(hosts)]
        self._made: list[str] = []
        try:
            self._build()
        except BaseException:
            self.close()
            raise

    def _build(self) -> None:
        _ip("netns", "add", self.bridge)
        self._made.append(self.bridge)
        _ip("-n", self.bridge, "link", "set", "lo", "up")
        _ip("-n", self.bridge, "link", "add", "br0", "type", "bridge")
        _ip("-n", self.bridge, "link", "set", "br0", "up")
        for index, host in enumerate(self.hosts):
            _ip("netns", "add", host)
            self._made.append(host)
            _ip("-n", host, "link", "set", "lo", "up")
            _ip("-n", self.bridge, "link", "add", f"v{index}", "type", "veth", "peer", "name", "eth0", "netns", host)
            _ip("-n", self.bridge, "link", "set", f"v{index}", "master", "br0")
            _ip("-n", self.bridge, "link", "set", f"v{index}", "up")
            _ip("-n", host, "addr", "add", f"{self.address(index)}/24", "dev", "eth0")
            _ip("-n", host, "link", "set", "eth0", "up")

    def address(self, index: int) -> str:
        return f"10.77.0.{index + 1}"

    def argv(self, index: int, *command: str) -> list[str]:
        return ["ip", "netns", "exec", self.hosts[index], *command]

    def close(self) -> None:
        for name in reversed(self._made):
            with contextlib.suppress(RuntimeError):
                _ip("netns", "del", name)
        self._made.clear()


@dataclass
class LanNode:
    lan: Lan
    host: int
    data_dir: Path
    launched: NodeProcess
    log_path: Path
    url: str = ""

    @property
    def process(self) -> subprocess.Popen[bytes]:
        return self.launched.popen

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def cli(self, *args: str, check: bool = True) -> Any:
        """``mutualaid ARGS --node URL --json`` run inside this node's host."""
        argv = self.lan.argv(self.host, sys.executable, "-m", "node", *args, "--node", self.url, "--json")
        result = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
        if check and result.returncode != 0:
            raise AssertionError(f"{args}: exit {result.returncode}: {result.stderr}")
        return json.loads(result.stdout) if result.returncode == 0 else None

    def post(self, title: str, kind: str = "need", category: str = "food") -> str:
        answer = self.cli("post", kind, "--title", title, "--category", category, "--area", "u4pru")
        return str(answer["record"]["id"])

    def search(self, text: str) -> list[str]:
        answer = self.cli("search", "--text", text)
        records = answer["records"] if isinstance(answer, dict) else answer
        return [str(r["id"]) for r in records]

    def peers(self) -> list[dict[str, Any]]:
        answer = self.cli("peers", "list", "--data-dir", str(self.data_dir))
        peers = answer["peers"] if isinstance(answer, dict) else answer
        return list(peers)

    def get(self, path: str) -> str:
        """GET a path of this node (e.g. /metrics) from inside its host."""
        code = "import sys, urllib.request as u; sys.stdout.write(u.urlopen(sys.argv[1], timeout=30).read().decode())"
        argv = self.lan.argv(self.host, sys.executable, "-c", code, self.url + path)
        return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=True).stdout

    def metric(self, name: str) -> float:
        for line in self.get("/metrics").splitlines():
            if line.startswith(name + " ") or line.startswith(name + "{"):
                return float(line.rsplit(" ", 1)[1])
        raise AssertionError(f"no metric {name}")

    def stop(self) -> int:
        code = self.launched.stop(15)
        if code is None:
            raise AssertionError("a node did not stop on SIGTERM within 15 s")
        return code


class LanNodes:
    """Starts nodes in a Lan's hosts and makes sure none outlives the test."""

    def __init__(self, lan: Lan, root: Path) -> None:
        self.lan = lan
        self.root = root
        self.started: list[LanNode] = []
        self._others: list[subprocess.Popen[bytes]] = []

    def start(self, host: int, name: str, extra: Sequence[str] = (), *, mdns: bool = True) -> LanNode:
        data_dir = self.root / name
        runs = sum(1 for n in self.started if n.data_dir == data_dir)
        log_path = self.root / f"{name}.{runs}.log"
        address = self.lan.address(host)
        args = [*run_args(data_dir, f"{address}:{PORT}", mdns=mdns), "--log-level", "debug"]
        args += ["--mdns-interface", address] if mdns else []
        args += extra
        launched = NodeProcess(args, prefix=self.lan.argv(host), log=log_path)
        node = LanNode(self.lan, host, data_dir, launched, log_path)
        self.started.append(node)
        try:
            node.url = launched.wait_ready()
        except NodeStartError as exc:
            pytest.fail(f"node {name}: {exc}")
        return node

    def run(self, host: int, *argv: str) -> subprocess.Popen[bytes]:
        """Any other program in a host (an attacker); killed at the end of the test."""
        process = subprocess.Popen(self.lan.argv(host, *argv), stdin=subprocess.DEVNULL)
        self._others.append(process)
        return process

    def cleanup(self) -> None:
        for node in self.started:
            node.launched.kill()
        for process in self._others:
            if process.poll() is None:
                process.kill()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=10)
