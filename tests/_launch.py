"""The one launcher of node processes, for the tests and the benchmarks.

A ``NodeProcess`` is ``mutualaid run ARGS`` in a child process, started the
way a user starts it (through the CLI), optionally inside a network namespace
(``prefix``, e.g. ``ip netns exec NS``). Its settings come only from its
arguments, its data directory and ``settings`` (as ``MUTUALAID_*``
variables): the caller's own ``MUTUALAID_*`` variables are left out. Its log
(stderr) goes to a file, appended, or to a descriptor the caller gives (a
terminal); its stdout is a pipe on which it prints one line once it listens,
``mutualaid node listening on URL``, the real port when 0 was asked for.
``stop`` is a clean SIGTERM, and a SIGKILL only for a node that hangs.
Deadlines only catch hangs: nothing here measures how fast a node is.
"""

from __future__ import annotations

import contextlib
import os
import re
import select
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO

MODULE = (sys.executable, "-m", "node")
"""``python -m node``: the CLI without relying on the installed script."""
CONSOLE_SCRIPT = (str(Path(sys.executable).with_name("mutualaid")),)
"""The installed ``mutualaid`` command, exactly as a user types it."""
READY = re.compile(r"mutualaid node listening on (http://\S+)")
START_DEADLINE_S = 30.0
STOP_GRACE_S = 30.0


class NodeStartError(RuntimeError):
    """The node exited, printed something else, or printed nothing before the deadline."""


def child_env(env: Mapping[str, str] | None = None, settings: Mapping[str, str] | None = None) -> dict[str, str]:
    """``env`` (default: ours without MUTUALAID_* variables) with ``settings`` as MUTUALAID_<KEY>."""
    base = dict(env) if env is not None else {k: v for k, v in os.environ.items() if not k.startswith("MUTUALAID_")}
    return base | {f"MUTUALAID_{key.upper()}": value for key, value in (settings or {}).items()}


def run_args(
    data_dir: Path, listen: str = "127.0.0.1:0", peers: Sequence[str] = (), *, mdns: bool = False
) -> list[str]:
    """The usual ``run`` arguments: a data directory, an address, peers, mDNS off unless asked."""
    args = ["--data-dir", str(data_dir), "--listen", listen]
    if not mdns:
        args.append("--no-mdns")
    for url in peers:
        args += ["--peer", url]
    return args


class NodeProcess:
    def __init__(
        self,
        args: Sequence[str],
        *,
        program: Sequence[str] = MODULE,
        prefix: Sequence[str] = (),
        log: Path | int | None = None,
        env: Mapping[str, str] | None = None,
        settings: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        """Start ``[*prefix, *program, "run", *args]``. ``log``: a file the node's
        stderr is appended to, or a file descriptor to hand it, or None (dropped)."""
        self.argv = [*prefix, *program, "run", *args]
        self.log_path = log if isinstance(log, Path) else None
        self.url = ""
        self.ready_line = ""
        with contextlib.ExitStack() as stack:
            stderr: int | IO[bytes] = subprocess.DEVNULL
            if isinstance(log, Path):
                stderr = stack.enter_context(log.open("ab"))
            elif log is not None:
                stderr = log
            self.launched = time.perf_counter()
            self.popen: subprocess.Popen[bytes] = subprocess.Popen(
                self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=stderr,
                env=child_env(env, settings), cwd=cwd,
            )  # fmt: skip

    @property
    def pid(self) -> int:
        return self.popen.pid

    def running(self) -> bool:
        return self.popen.poll() is None

    def log_text(self, chars: int = 3000) -> str:
        """The end of the node's log (empty when it is not in a file)."""
        if self.log_path is None:
            return ""
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def wait_ready(self, deadline_s: float = START_DEADLINE_S) -> str:
        """Block until the node prints its listening line; its URL. On a
        NodeStartError the process may still run: the caller kills it."""
        assert self.popen.stdout is not None
        fd = self.popen.stdout.fileno()
        end = time.monotonic() + deadline_s
        buffer = b""
        while b"\n" not in buffer:
            left = end - time.monotonic()
            if left <= 0:
                raise NodeStartError(f"the node printed nothing in {deadline_s:.0f} s; log:\n{self.log_text()}")
            readable, _, _ = select.select([fd], [], [], min(left, 0.1))
            if not readable:
                continue
            chunk = os.read(fd, 4096)
            if not chunk:  # stdout closed: it exited
                code = self.wait(STOP_GRACE_S)
                self.close()
                raise NodeStartError(f"the node exited with {code} before listening; log:\n{self.log_text()}")
            buffer += chunk
        self.ready_line = buffer.split(b"\n", 1)[0].decode(errors="replace")
        match = READY.fullmatch(self.ready_line)
        if match is None:
            raise NodeStartError(f"expected the listening line, got {self.ready_line!r}; log:\n{self.log_text()}")
        self.url = match.group(1)
        return self.url

    def terminate(self) -> None:
        """SIGTERM (the node shuts down cleanly); returns at once."""
        if self.running():
            with contextlib.suppress(ProcessLookupError):
                self.popen.send_signal(signal.SIGTERM)

    def wait(self, timeout: float) -> int | None:
        """The exit code, or None if the node still runs after ``timeout`` seconds."""
        try:
            return self.popen.wait(timeout=max(0.0, timeout))
        except subprocess.TimeoutExpired:
            return None

    def stop(self, grace_s: float = STOP_GRACE_S) -> int | None:
        """SIGTERM and wait; a node still running after ``grace_s`` is killed
        (never left running) and None returned: the caller reports the hang."""
        self.terminate()
        code = self.wait(grace_s)
        if code is None:
            self.kill()
        self.close()
        return code

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs."""
        if self.running():
            with contextlib.suppress(ProcessLookupError):
                self.popen.kill()
        self.popen.wait()
        self.close()

    def close(self) -> None:
        if self.popen.stdout is not None:
            self.popen.stdout.close()

    def __enter__(self) -> NodeProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill()
