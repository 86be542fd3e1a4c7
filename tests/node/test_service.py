"""``mutualaid service install`` (issue 12, part): the systemd unit a Raspberry Pi runs
the node with, written through the real command and checked by ``systemd-analyze
verify`` (no warning either); its user, the data directory the only writable path,
no new privileges, restart on failure, a stop timeout past the node's own shutdown,
the journal. The unit's command starts this installation's ``mutualaid``."""

from __future__ import annotations

import configparser
import os
import pwd
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from node.core.config import SHUTDOWN_TIMEOUT_S
from node.operate import service
from tests.node._cli import cli, cli_env

USER = "daemon"
"""A user every Debian system has: the command makes none when the user exists."""


def _unit(text: str) -> configparser.ConfigParser:
    parsed = configparser.ConfigParser(strict=False, interpolation=None)
    parsed.optionxform = str  # type: ignore[assignment,method-assign]
    parsed.read_string(text)
    return parsed


def test_the_unit_installed_is_one_systemd_takes_without_a_warning(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.fail("systemd-analyze is missing: make test installs it (.ci/system-deps)")
    units, data = tmp_path / "units", tmp_path / "var" / "mutualaid"
    data.mkdir(parents=True)
    for name in ("identity.key", "records.db", "records.db-wal"):  # as init or restore made them, as root
        (data / name).write_bytes(b"")
    (data / "notes.txt").write_text("the operator's own")  # not the node's: left as it is
    env = cli_env(tmp_path)
    done = cli(env, "service", "install", "--unit-dir", str(units), "--data-dir", str(data), "--user", USER)
    assert done.returncode == 0, done.stderr
    assert "systemctl daemon-reload && systemctl enable --now mutualaid" in done.stdout
    unit_file = units / service.UNIT_NAME
    assert unit_file.stat().st_mode & 0o777 == 0o644
    uid = pwd.getpwnam(USER).pw_uid
    assert data.stat().st_uid == uid and (data / "records.db").stat().st_uid == uid
    assert (data / "records.db-wal").stat().st_uid == uid and (data / "notes.txt").stat().st_uid == 0
    assert data.stat().st_mode & 0o777 == 0o700
    checked = subprocess.run([analyze, "verify", str(unit_file)], capture_output=True, text=True, check=False)
    assert (checked.returncode, checked.stderr, checked.stdout) == (0, "", ""), checked
    parsed = _unit(unit_file.read_text())["Service"]
    assert parsed["User"] == USER and parsed["Group"] == service.group_of(USER)
    assert parsed["NoNewPrivileges"] == "yes" and parsed["ProtectSystem"] == "strict"
    assert parsed["ReadWritePaths"] == str(data)  # the only path it may write
    assert parsed["Restart"] == "on-failure" and int(parsed["TimeoutStopSec"]) > SHUTDOWN_TIMEOUT_S
    assert parsed["StandardError"] == "journal" and parsed["PrivateTmp"] == "yes"
    # Its command is this installation's mutualaid, running on that directory.
    command = shlex.split(parsed["ExecStart"])
    assert command[-3:] == ["run", "--data-dir", str(data)]
    version = subprocess.run([*command[:-3], "--version"], capture_output=True, text=True, check=False)
    assert version.returncode == 0 and version.stdout.startswith("mutualaid "), version
    # --print shows the same unit and writes nothing.
    os.remove(unit_file)
    printed = cli(env, "service", "install", "--print", "--data-dir", str(data), "--user", USER)
    assert printed.returncode == 0 and not unit_file.exists()
    assert _unit(printed.stdout)["Service"]["ExecStart"] == parsed["ExecStart"]


def test_without_root_a_missing_user_is_a_plain_refusal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(service.ServiceError, match="run this as root"):
        service.install(tmp_path / "data", "no-such-user-here", tmp_path / "units")
    assert not (tmp_path / "units").exists()


def test_a_directory_that_is_no_nodes_or_a_path_a_unit_misreads_is_refused(tmp_path: Path) -> None:
    other = tmp_path / "lib"
    (other / "dpkg").mkdir(parents=True)
    mode = other.stat().st_mode
    with pytest.raises(service.ServiceError, match="holds other files and no node"):
        service.install(other, USER, tmp_path / "units")
    assert other.stat().st_mode == mode and other.stat().st_uid == 0  # untouched
    env = cli_env(tmp_path)
    for path in (tmp_path / "my node", tmp_path / "100%"):
        result = cli(env, "service", "install", "--print", "--data-dir", str(path), "--user", USER)
        assert result.returncode == 1 and "no spaces, quotes, %" in result.stderr and result.stdout == ""
