"""A Docker engine of the test's own, and the docker and compose commands
pointed at it.

dockerd (Debian's docker.io) runs from a temporary directory that holds its
data root, exec root, socket and pid file, so it never meets the machine's
engine or another run's, and it is gone, directory and all, when the test
ends. It runs in the test's network namespace (the suite's: loopback alone,
plus the bridges compose makes), with no default bridge, no iptables rules
and no forwarding: a container uses the loopback of the host network or a
compose network, and nothing can be routed out.

``ip netns exec``, which runs the suite in its namespace, mounts a fresh
/sys without the cgroup hierarchies an engine needs; dockerd is started in a
mount namespace of its own where they are mounted again, so the mounts the
rest of the suite sees stay as they were.

What the engine needs from outside is made before the tests by
``.ci/system-deps`` (Debian's docker.io, containerd, runc, docker-compose,
debootstrap) and ``docker/prepare.py cache`` (the base image, the wheels,
Compose v2); a test fails, saying which, when one is missing.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKERD = "/usr/sbin/dockerd"
DOCKER = "/usr/bin/docker"  # Debian's client: another `docker` may come first on PATH
COMPOSE_V1 = "/usr/bin/docker-compose"
CACHE = Path(os.environ.get("MUTUALAID_CONTAINER_CACHE") or ROOT / ".cache" / "container")
SETUP = "run `bash .ci/system-deps` and `.venv/bin/python docker/prepare.py cache` as root, outside the namespace"
START_DEADLINE_S = 60.0
STOP_DEADLINE_S = 30.0


def require(condition: bool, what: str) -> None:
    """Fail (never skip) when something the container tests need is missing."""
    if not condition:
        pytest.fail(f"{what}: {SETUP}", pytrace=False)


def cached_base() -> tuple[Path, str]:
    """The base image archive docker/prepare.py made, and the ID it must load as."""
    try:
        state = json.loads((CACHE / "base.json").read_text())
    except (OSError, ValueError):
        state = {}
    archive = CACHE / "base.tar"
    require(archive.is_file() and "id" in state, f"no base image archive in {CACHE}")
    return archive, str(state["id"])


def _cgroup_mounts() -> list[str]:
    """Shell lines mounting the cgroup hierarchies as the kernel has them
    (v1: one mount per hierarchy in /proc/cgroups; v2: the unified one), or
    none when /sys/fs/cgroup already shows them (outside ``ip netns exec``)."""
    cgroup = Path("/sys/fs/cgroup")
    if cgroup.is_dir() and any(cgroup.iterdir()):
        return []
    hierarchies: dict[str, list[str]] = {}
    for line in Path("/proc/cgroups").read_text().splitlines()[1:]:
        name, hierarchy, _count, enabled = line.split()
        if enabled == "1" and hierarchy != "0":
            hierarchies.setdefault(hierarchy, []).append(name)
    if not hierarchies:
        return ["mount -t cgroup2 cgroup2 /sys/fs/cgroup"]
    lines = ["mount -t tmpfs -o mode=0755 cgroup /sys/fs/cgroup"]
    for names in hierarchies.values():
        joined = ",".join(names)
        lines.append(f"mkdir /sys/fs/cgroup/{joined} && mount -t cgroup -o {joined} cgroup /sys/fs/cgroup/{joined}")
        lines += [f"ln -s {joined} /sys/fs/cgroup/{name}" for name in names if name != joined]
    return lines


class Engine:
    """dockerd in a temporary directory; ``docker`` and ``compose`` run
    commands against it. ``stop`` removes every container, stops the daemon
    and the processes it started, and deletes the directory."""

    def __init__(self) -> None:
        self.home = Path(tempfile.mkdtemp(prefix="mutualaid-engine-"))
        self.socket = self.home / "docker.sock"
        self.log = self.home / "dockerd.log"
        self.process: subprocess.Popen[bytes] | None = None
        (self.home / "config" / "cli-plugins").mkdir(parents=True)

    @property
    def env(self) -> dict[str, str]:
        own = {k: v for k, v in os.environ.items() if not k.startswith(("DOCKER_", "COMPOSE_", "MUTUALAID_"))}
        return own | {
            "DOCKER_HOST": f"unix://{self.socket}",
            "DOCKER_CONFIG": str(self.home / "config"),
            "DOCKER_BUILDKIT": "1",
        }

    def start(self) -> None:
        for path, package in ((DOCKERD, "docker.io"), (DOCKER, "docker.io"), ("/usr/sbin/runc", "runc")):
            require(Path(path).is_file(), f"{path} is missing (Debian's {package})")
        for tool in ("unshare", "setpriv"):
            require(shutil.which(tool) is not None, f"{tool} is missing (util-linux)")
        daemon = [
            DOCKERD, "--bridge=none", "--iptables=false", "--ip6tables=false", "--ip-forward=false",
            "--ip-masq=false", f"--data-root={self.home / 'data'}", f"--exec-root={self.home / 'exec'}",
            f"--pidfile={self.home / 'docker.pid'}", f"--host=unix://{self.socket}",
        ]  # fmt: skip
        script = "\n".join(["set -e", *_cgroup_mounts(), "exec " + " ".join(daemon)])
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                # setpriv --pdeathsig: SIGTERM when the test's process dies, so
                # an engine never outlives a killed run (it survives the execs).
                ["setpriv", "--pdeathsig", "TERM", "unshare", "--mount", "--propagation", "private",
                 "sh", "-c", script],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        end = time.monotonic() + START_DEADLINE_S
        while self.docker("version", check=False, timeout=10).returncode != 0:
            if self.process.poll() is not None or time.monotonic() > end:
                self.stop()
                pytest.fail(f"dockerd did not start:\n{self.log_tail()}", pytrace=False)
            time.sleep(0.2)

    def log_tail(self, lines: int = 25) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        return "(no log)"

    def docker(self, *args: str | Path, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run([DOCKER, *map(str, args)], timeout=timeout, check=check)

    def run(
        self, argv: list[str], timeout: float = 120, check: bool = True, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            argv, env=self.env | (env or {}), capture_output=True, text=True, timeout=timeout, check=False,
            stdin=subprocess.DEVNULL,
        )  # fmt: skip
        if check and result.returncode != 0:
            raise AssertionError(f"{' '.join(argv)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
        return result

    def inspect(self, *names: str) -> list[dict[str, Any]]:
        found = json.loads(self.docker("inspect", *names).stdout)
        assert isinstance(found, list)
        return found

    def stop(self) -> None:
        try:
            if self.process is not None and self.process.poll() is None:
                with contextlib.suppress(subprocess.TimeoutExpired, OSError, AssertionError):
                    running = self.docker("ps", "--all", "--quiet", timeout=20).stdout.split()
                    if running:
                        self.docker("rm", "--force", "--volumes", *running, timeout=60, check=False)
                self.process.terminate()
                try:
                    self.process.wait(STOP_DEADLINE_S)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait(10)
            for pid in self._left_behind():  # a containerd or shim a killed dockerd left
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        finally:
            shutil.rmtree(self.home, ignore_errors=True)

    def _left_behind(self) -> Iterator[int]:
        """Processes whose command line names this engine's directory: only
        ours can (containerd and its shims are given its paths)."""
        mark = str(self.home).encode()
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                with contextlib.suppress(OSError):
                    if mark in (entry / "cmdline").read_bytes():
                        yield int(entry.name)
