# Shared by the command-line tests: the installed `mutualaid` command run as
# a user runs it (a child process, an environment without the caller's
# MUTUALAID_* settings, HOME and XDG_DATA_HOME inside tmp_path), nodes started
# through it on 127.0.0.1 port 0 with mDNS off, and plain HTTP to check what
# the command did. The only time limits are guards against a hang.

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests._launch import CONSOLE_SCRIPT, NodeProcess

MUTUALAID = CONSOLE_SCRIPT[0]
HANG_GUARD_S = 30
LISTENING = re.compile(r"mutualaid node listening on (http://127\.0\.0\.1:(\d+))")
# mDNS would reach past loopback; every node here is told not to use it.
RUN_FLAGS = ("--listen", "127.0.0.1:0", "--no-mdns")
MA1 = re.compile(r"ma1[a-z2-7]{50,}")
POSTED = re.compile(r"posted need ([0-9a-f]{64})\nmanage token \(keep it private, shown once\): (\S+)\n")


def cli_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The caller's environment without MUTUALAID_* settings, with HOME and XDG_DATA_HOME inside tmp_path."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MUTUALAID_")}
    env["HOME"] = str(tmp_path / "home")
    env["XDG_DATA_HOME"] = str(tmp_path / "xdg")
    return env | extra


def cli(
    env: dict[str, str], *args: str, stdin: str | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [MUTUALAID, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=HANG_GUARD_S,
        check=False,
        input=stdin,
        cwd=cwd,
    )


def http(method: str, url: str, body: dict[str, Any] | None = None, token: str | None = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, method=method, data=data)  # noqa: S310 - a loopback URL
    if body is not None:
        request.add_header("Content-Type", "application/json")
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=HANG_GUARD_S) as response:  # noqa: S310 - a loopback URL
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def run_node(env: dict[str, str], log: Path, *args: str, cwd: Path | None = None) -> NodeProcess:
    """``mutualaid run ARGS`` in a child process (tests/_launch.py), once it said it is listening."""
    node = NodeProcess(args, program=CONSOLE_SCRIPT, log=log, env=env, cwd=cwd)
    try:
        node.wait_ready(HANG_GUARD_S)
        match = LISTENING.fullmatch(node.ready_line)  # the first line is that line, and nothing else
        assert match is not None and int(match.group(2)) > 0, node.ready_line
    except BaseException:
        node.kill()
        raise
    return node


def init(env: dict[str, str], data_dir: Path, *extra: str) -> dict[str, Any]:
    result = cli(
        env, "init", "--data-dir", str(data_dir), "--name", "Riverside pantry", "--area", "u4pr", "--json", *extra
    )
    assert result.returncode == 0, result.stderr
    out: dict[str, Any] = json.loads(result.stdout)
    return out


def status_json(env: dict[str, str], url: str) -> dict[str, Any]:
    result = cli(env, "status", "--node", url, "--json")
    assert result.returncode == 0, result.stderr
    out: dict[str, Any] = json.loads(result.stdout)
    return out


def post_need(env: dict[str, str], url: str, title: str, *extra: str) -> tuple[str, str]:
    """``mutualaid post need``; the id and the manage token it prints."""
    result = cli(env, "post", "need", "--title", title, "--category", "food", "--area", "u4pru", "--node", url, *extra)
    assert result.returncode == 0, result.stderr
    match = POSTED.fullmatch(result.stdout)
    assert match is not None, result.stdout
    return match.group(1), match.group(2)


def search_ids(env: dict[str, str], url: str, *args: str) -> list[str]:
    result = cli(env, "search", "--node", url, "--json", *args)
    assert result.returncode == 0, result.stderr
    return [r["id"] for r in json.loads(result.stdout)["records"]]


def record(url: str, record_id: str) -> dict[str, Any]:
    status, body = http("GET", f"{url}/api/v1/records/{record_id}")
    assert status == 200, body
    out: dict[str, Any] = body
    return out


@dataclass
class Running:
    """A node started through ``mutualaid run`` on a data directory ``mutualaid init`` made."""

    node: NodeProcess
    env: dict[str, str]
    public_key: str
    key: str
    data_dir: Path

    @property
    def url(self) -> str:
        return self.node.url


def start_running(tmp_path: Path) -> Iterator[Running]:
    """Init a data directory in tmp_path, run a node on it, stop it (exit 0) afterwards."""
    env = cli_env(tmp_path)
    data_dir = tmp_path / "node"
    made = init(env, data_dir)
    with run_node(env, tmp_path / "node.log", "--data-dir", str(data_dir), *RUN_FLAGS) as node:
        yield Running(node, env, made["public_key"], made["key"], data_dir)
        assert node.stop(HANG_GUARD_S) == 0, node.log_text()


def modules_loaded(tmp_path: Path, commands: list[list[str]], roots: tuple[str, ...]) -> list[str]:
    """The modules under ``roots`` that running each command loads, in a fresh
    interpreter (each run to its usage error or an unreachable node; an empty
    command is ``--help``)."""
    script = (
        "import sys, contextlib, io\n"
        "from node.cli import main\n"
        f"for argv in {commands!r}:\n"
        "    with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):\n"
        "        try:\n"
        "            main([*argv, '--node', 'http://127.0.0.1:1'] if argv else ['--help'])\n"
        "        except SystemExit:\n"
        "            pass\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {roots!r}))\n"
    )
    env = cli_env(tmp_path, MUTUALAID_MEMBER_CARD="card-00000-00000-00000-00000-00000")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False,
                            env=env)  # fmt: skip
    assert result.returncode == 0, result.stderr
    loaded: list[str] = json.loads(result.stdout.strip().replace("'", '"'))
    return loaded
