"""Cgroups that stand in for a small board (issue 12, "A Pi-class run"): a third
of one core (a CPU quota of 33 333 us in every 100 000 us) and 512 MB of memory,
swap included (none beyond the memory).

A node is confined from its first instruction: ``Boxes.prefix(name)`` is a shell
that writes its own PID into the box's ``cgroup.procs`` files and then execs the
node, so the node keeps that PID (and its /proc figures) and nothing of it runs
outside the limit. Each box is a cgroup of its own (one board per node), under
one group for the run, all removed at the end.

Both cgroup layouts are handled. v2: one hierarchy, ``cpu.max``, ``memory.max``,
``memory.swap.max``, ``memory.peak``, ``memory.events``. v1 (what these
machines mount for cpu and memory): a hierarchy per controller,
``cpu.cfs_quota_us``, ``memory.limit_in_bytes``, ``memory.memsw.limit_in_bytes``,
``memory.max_usage_in_bytes``, ``memory.oom_control``. Boxes are made under the
cgroup this process is in, in each hierarchy, so whatever limits that one has
still hold. Inside ``ip netns exec`` (``../shared/tools/isolated``) /sys is
mounted afresh without the cgroup file systems: the hierarchies are then mounted
in a temporary directory, in that command's private mount namespace, and
unmounted at the end. Needs root.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

CPU_QUOTA_US = 33_333
CPU_PERIOD_US = 100_000
CPU_SHARE = CPU_QUOTA_US / CPU_PERIOD_US
MEMORY_BYTES = 512 * 1024 * 1024
CONTROLLERS = ("cpu", "memory")
# Moves itself into the boxes whose cgroup.procs files it is given, then becomes the node.
_ENTER = 'n=$1; shift; while [ "$n" -gt 0 ]; do echo $$ > "$1" || exit 125; shift; n=$((n - 1)); done; exec "$@"'


class BoxError(RuntimeError):
    """No cgroup with a CPU quota and a memory limit can be made here."""


@dataclass(frozen=True)
class Usage:
    peak_bytes: int | None
    """The most memory the box held at once (page cache included), if the kernel says."""
    oom_kills: int
    """Processes the kernel killed in the box for want of memory."""


@dataclass(frozen=True)
class _Hierarchy:
    version: int  # 1 or 2
    controllers: str  # as /proc/self/cgroup names them: "cpu", "cpu,cpuacct", "memory", or "" for v2
    ours: Path  # the cgroup this process is in, where boxes are made


def _own_cgroups() -> dict[str, str]:
    """Controller list -> this process's path in that hierarchy ('' is v2)."""
    out: dict[str, str] = {}
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        out[controllers] = path
    return out


def _mounts() -> list[tuple[str, str, str, set[str]]]:
    """(root in the hierarchy, mount point, file system type, super options) of each cgroup mount."""
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        before, after = line.split(" - ", 1)
        fields, tail = before.split(), after.split()
        if tail[0] in ("cgroup", "cgroup2"):
            found.append((fields[3], fields[4], tail[0], set(tail[2].split(","))))
    return found


class Boxes:
    """Makes boxes for one run; ``with Boxes() as boxes`` removes them all (and
    unmounts what it mounted) however the run ends."""

    def __init__(self, cpu_quota_us: int = CPU_QUOTA_US, memory_bytes: int = MEMORY_BYTES) -> None:
        self.cpu_quota_us = cpu_quota_us
        self.memory_bytes = memory_bytes
        self._mounted: list[Path] = []
        self._groups: list[Path] = []
        self._boxes: dict[str, list[Path]] = {}
        self._hierarchies: list[_Hierarchy] = []

    @property
    def cpu_share(self) -> float:
        return self.cpu_quota_us / CPU_PERIOD_US

    def describe(self) -> str:
        version = {h.version for h in self._hierarchies}
        return (f"cgroup v{'/'.join(map(str, sorted(version)))}: CPU {self.cpu_quota_us} us per {CPU_PERIOD_US} us "
                f"({self.cpu_share:.2f} core), memory {self.memory_bytes // 2**20} MiB, no swap")  # fmt: skip

    def __enter__(self) -> Boxes:
        if os.geteuid() != 0:
            raise BoxError("a Pi-class run makes cgroups: it needs root")
        try:
            self._hierarchies = self._find()
            for hierarchy in self._hierarchies:
                group = hierarchy.ours / f"mutualaid-bench-{os.getpid()}"
                group.mkdir()
                self._groups.append(group)
                if hierarchy.version == 2:
                    _enable(hierarchy.ours)
                    _enable(group)
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _find(self) -> list[_Hierarchy]:
        own = _own_cgroups()
        v1 = {c: ctl for ctl in own if ctl for c in ctl.split(",") if c in CONTROLLERS}
        if set(v1) == set(CONTROLLERS):
            return [self._hierarchy(1, ctl, own[ctl]) for ctl in dict.fromkeys(v1.values())]
        if "" in own:
            return [self._hierarchy(2, "", own[""])]
        raise BoxError(f"no cgroup hierarchy with {' and '.join(CONTROLLERS)} here ({sorted(own)})")

    def _hierarchy(self, version: int, controllers: str, path: str) -> _Hierarchy:
        for root, point, kind, options in _mounts():
            this = (version == 2 and kind == "cgroup2") or (version == 1 and set(controllers.split(",")) <= options)
            if this and (path == root or path.startswith(root.rstrip("/") + "/")):
                return _Hierarchy(version, controllers, Path(point) / path[len(root) :].lstrip("/"))
        # Not mounted where this process can see it (inside `ip netns exec`): mount it here.
        mount_dir = Path(tempfile.mkdtemp(prefix="mutualaid-cgroup-"))
        command = ["mount", "-t", "cgroup2", "none", str(mount_dir)]
        if version == 1:
            command = ["mount", "-t", "cgroup", "-o", controllers, "none", str(mount_dir)]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            mount_dir.rmdir()
            raise BoxError(f"could not mount the {controllers or 'v2'} cgroup hierarchy: {done.stderr.strip()}")
        self._mounted.append(mount_dir)
        return _Hierarchy(version, controllers, mount_dir / path.lstrip("/"))

    def prefix(self, name: str) -> list[str]:
        """A new box called ``name``, and the command prefix that runs a program in it."""
        dirs = []
        for hierarchy, group in zip(self._hierarchies, self._groups, strict=True):
            box = group / name
            box.mkdir()
            dirs.append(box)
            self._limit(hierarchy, box)
        self._boxes[name] = dirs
        procs = [str(d / "cgroup.procs") for d in dirs]
        return ["/bin/sh", "-c", _ENTER, "pi-box", str(len(procs)), *procs]

    def _limit(self, hierarchy: _Hierarchy, box: Path) -> None:
        controllers = set(hierarchy.controllers.split(",")) if hierarchy.version == 1 else set(CONTROLLERS)
        if hierarchy.version == 2:
            (box / "cpu.max").write_text(f"{self.cpu_quota_us} {CPU_PERIOD_US}")
            (box / "memory.max").write_text(str(self.memory_bytes))
            if (box / "memory.swap.max").exists():
                (box / "memory.swap.max").write_text("0")
            return
        if "cpu" in controllers:
            (box / "cpu.cfs_period_us").write_text(str(CPU_PERIOD_US))
            (box / "cpu.cfs_quota_us").write_text(str(self.cpu_quota_us))
        if "memory" in controllers:
            (box / "memory.limit_in_bytes").write_text(str(self.memory_bytes))
            if (box / "memory.memsw.limit_in_bytes").exists():  # memory + swap: so no swap at all
                (box / "memory.memsw.limit_in_bytes").write_text(str(self.memory_bytes))

    def usage(self, name: str) -> Usage:
        """What the box ``name`` used: still there after its processes end, until ``close``."""
        for box in self._boxes[name]:
            if (box / "memory.events").exists():  # v2
                peak = box / "memory.peak"
                return Usage(int(peak.read_text()) if peak.exists() else None, _count(box / "memory.events"))
            if (box / "memory.oom_control").exists():  # v1
                return Usage(int((box / "memory.max_usage_in_bytes").read_text()), _count(box / "memory.oom_control"))
        raise BoxError(f"box {name} has no memory controller")

    def close(self) -> None:
        """Remove every box and the run's group (their processes have ended), and unmount."""
        for dirs in self._boxes.values():
            for box in dirs:
                _rmdir(box)
        self._boxes.clear()
        for group in self._groups:
            _rmdir(group)
        self._groups.clear()
        for point in self._mounted:
            subprocess.run(["umount", str(point)], check=False, capture_output=True)
            with contextlib.suppress(OSError):
                point.rmdir()
        self._mounted.clear()


def _enable(cgroup: Path) -> None:
    """v2: let the children of ``cgroup`` have their own CPU and memory limits."""
    wanted = [c for c in CONTROLLERS if c not in (cgroup / "cgroup.subtree_control").read_text().split()]
    if not wanted:
        return
    try:
        (cgroup / "cgroup.subtree_control").write_text(" ".join(f"+{c}" for c in wanted))
    except OSError as exc:
        raise BoxError(
            f"cannot enable {', '.join(wanted)} for the children of {cgroup} ({exc.strerror}): run the bench "
            "from a cgroup that holds no other process, or from the root one"
        ) from None


def _count(path: Path) -> int:
    for line in path.read_text().splitlines():
        key, _, value = line.partition(" ")
        if key == "oom_kill":
            return int(value)
    return 0


def _rmdir(path: Path) -> None:
    """A cgroup is removed once its last process has fully gone: retry a little."""
    for _ in range(50):
        try:
            path.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.1)
    path.rmdir()
