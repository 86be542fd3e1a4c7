"""``mutualaid doctor``: what a volunteer should look at on a node, each with what to do.

Each check is a function of what it reads and returns ``Finding``s: ``ok``,
``warn`` (the node runs, but something will bite) or ``fail`` (fix it now).
The data directory's checks read its files (permissions, the databases'
integrity by a read-only ``quick_check``, free disk, the newest backup); the
node's checks ask the running node (its health, its peers by the admin API)
and each peer's clock (the ``Date`` of its ``/healthz``). Blocking: the CLI
calls it.
"""

from __future__ import annotations

import email.utils
import json
import os
import re
import shutil
import sqlite3
import stat
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from crypto import public_key_to_text
from node.core.clock import CORRECT_FROM_S, ClockSkew
from node.core.datadir import (
    ADMIN_TOKEN_FILE,
    CHAPTER_FILE,
    DATABASE_FILE,
    IDENTITY_FILE,
    LOCK_FILE,
    DataDirError,
    read_recovery_key,
)
from node.core.hosts import private_channel
from node.operate.backup import read_only
from protocol.records import MAX_FUTURE_SKEW

Level = Literal["ok", "warn", "fail"]
MIN_FREE_BYTES = 1 << 30
"""Below this much free disk, a growing store and its WAL may run out."""
SKEW_WARN_S = 60
"""A peer's clock this far from ours: records will look early or late to it."""
BACKUP_WARN_S = 2 * 86_400
PROBE_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class Finding:
    check: str
    level: Level
    says: str
    todo: str = ""

    def as_json(self) -> dict[str, str]:
        return {"check": self.check, "level": self.level, "says": self.says, "todo": self.todo}


def data_dir_checks(data_dir: Path, backups: Path | None, daily: Path | None = None) -> list[Finding]:
    """``backups``: where the operator keeps backups (``--backups``); else ``daily``, where
    the node writes its own daily ones (``backup_daily_keep``), if it does."""
    if not (data_dir / IDENTITY_FILE).exists():
        return [Finding("data directory", "fail", f"{data_dir} holds no node (no {IDENTITY_FILE})",
                        "give the node's --data-dir")]  # fmt: skip
    return [
        *_permissions(data_dir),
        *_databases(data_dir),
        _disk(data_dir),
        _backup_age(backups, daily),
        _recovery(data_dir),
    ]


def _recovery(data_dir: Path) -> Finding:
    try:
        published = read_recovery_key(data_dir)
    except DataDirError as exc:
        return Finding("recovery key", "fail", str(exc), "restore recovery.pub from a backup")
    if published is None:
        return Finding("recovery key", "warn", "the chapter has no recovery key: a lost or stolen node key ends "
                       "its identity", "mutualaid key recovery, and keep the words on paper")  # fmt: skip
    return Finding("recovery key", "ok", f"the node names its recovery key {public_key_to_text(published)}")


def _permissions(data_dir: Path) -> list[Finding]:
    found = list(_permission_faults(data_dir))
    return found or [Finding("permissions", "ok", f"{data_dir} and its secrets are the node's alone")]


def _permission_faults(data_dir: Path) -> Iterable[Finding]:
    mode = stat.S_IMODE(data_dir.stat().st_mode)
    if mode & 0o077:
        yield Finding("permissions", "fail", f"{data_dir} is mode {mode:o}: others can look inside",
                      f"chmod 700 {data_dir}")  # fmt: skip
    for name in (IDENTITY_FILE, ADMIN_TOKEN_FILE):
        path = data_dir / name
        if path.exists() and (file_mode := stat.S_IMODE(path.stat().st_mode)) & 0o077:
            yield Finding("permissions", "fail", f"{name} is mode {file_mode:o}: others can read the node's secret",
                          f"chmod 600 {path}")  # fmt: skip
    owner = data_dir.stat().st_uid
    for path in data_dir.iterdir():
        if path.stat().st_uid != owner:
            yield Finding("permissions", "warn", f"{path.name} belongs to another user than {data_dir}",
                          "the node's user must own every file: chown -R it to that user")  # fmt: skip
            break


def _databases(data_dir: Path) -> Iterable[Finding]:
    for name in (DATABASE_FILE, CHAPTER_FILE):
        path = data_dir / name
        if not path.exists():
            continue
        try:
            with read_only(path) as db:
                (result,) = db.execute("PRAGMA quick_check").fetchone()
        except sqlite3.Error as exc:
            result = str(exc)
        if result == "ok":
            yield Finding("integrity", "ok", f"{name} passes SQLite's check")
        else:
            yield Finding("integrity", "fail", f"{name} is damaged: {result}",
                          "stop the node and restore the newest backup (docs/STORAGE.md says how to save "
                          "what can be saved)")  # fmt: skip


def _disk(data_dir: Path) -> Finding:
    usage = shutil.disk_usage(data_dir)
    free = f"{usage.free / (1 << 30):.1f} GiB free of {usage.total / (1 << 30):.1f} GiB"
    if usage.free < MIN_FREE_BYTES:
        return Finding("disk", "warn", f"{free} where the data is", "free some space, or move the data directory")
    return Finding("disk", "ok", free)


def _backup_age(backups: Path | None, daily: Path | None = None, now: float | None = None) -> Finding:
    if backups is None and daily is None:
        return Finding("backup", "warn", "no --backups DIR given and no daily backups set: the backups' age is not "
                       "known", "set backup_daily_keep = 7 in config.toml (the node keeps a week of daily backups "
                       "in DIR/backups), or back up every day yourself and give doctor --backups DIR")  # fmt: skip
    where = backups or daily
    assert where is not None
    found = [p for p in where.glob("*.backup") if p.is_file()] if where.is_dir() else []
    if not found:
        todo = "mutualaid backup FILE --data-dir DIR" if backups else "is the node running? its log says why not"
        return Finding("backup", "fail", f"no backup (*.backup) in {where}", todo)
    newest = max(found, key=lambda p: p.stat().st_mtime)
    age = (time.time() if now is None else now) - newest.stat().st_mtime
    says = f"the newest {'' if backups else 'daily '}backup, {newest.name}, is {age / 3600:.0f} hours old"
    if age < -SKEW_WARN_S:
        return Finding("backup", "warn", f"the newest backup, {newest.name}, is dated {-age / 3600:.0f} hours ahead: "
                       "it was made while the clock was wrong, so its age says nothing",
                       "check the clock (timedatectl), then back up now")  # fmt: skip
    if age > BACKUP_WARN_S:
        return Finding("backup", "warn", says, "back up at least daily")
    return Finding("backup", "ok", says)


Fetch = Callable[[str, str | None], tuple[int, dict[str, str], bytes]]


def fetch(url: str, token: str | None) -> tuple[int, dict[str, str], bytes]:
    """GET ``url``: its status, headers and body (an unreachable host raises ``OSError``)."""
    request = urllib.request.Request(url)  # noqa: S310 - the node's and its peers' http(s) URLs
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=PROBE_TIMEOUT_S) as response:  # noqa: S310
            return response.status, dict(response.headers), response.read(1 << 20)
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read(1 << 20)


def node_checks(node: str, token: str, get: Fetch = fetch, now: Callable[[], float] = time.time) -> list[Finding]:
    try:
        status, _, _ = get(f"{node}/healthz", None)
    except OSError as exc:
        return [Finding("node", "fail", f"no node answers at {node} ({exc})",
                        "start it (systemctl start mutualaid), or give its --node")]  # fmt: skip
    if status != 200:
        return [Finding("node", "fail", f"{node}/healthz answered {status}", "read its log (journalctl -u mutualaid)")]
    found = [Finding("node", "ok", f"the node at {node} answers"), *_daily_failures(node, get)]
    if not private_channel(node):
        return [*found, Finding("peers", "warn", f"the peers were not checked: the admin token goes only over "
                                f"https or to this machine, not in the clear to {node}",
                                "run doctor on the node's machine (--node http://127.0.0.1:PORT)")]  # fmt: skip
    try:
        status, _, body = get(f"{node}/api/v1/peers", token)
    except OSError as exc:
        return [*found, Finding("peers", "warn", f"the node stopped answering ({exc})", "run doctor again")]
    if status != 200:
        return [*found, Finding("peers", "warn", f"the node refused its peer list ({status})",
                                "give the --data-dir of the node at --node: its admin token")]  # fmt: skip
    peers: list[dict[str, Any]] = json.loads(body)["peers"]
    if not peers:
        found.append(Finding("peers", "warn", "the node has no peers: its records reach nobody",
                             "mutualaid peers add URL, or a peering proposal"))  # fmt: skip
    clock = _node_clock(node, get) if peers else None
    for peer in peers:
        found += _peer(peer, get, now, correcting=clock is not None and clock.correcting)
    if clock is not None:
        found.append(_clock_finding(clock))
    return found


def _node_clock(node: str, get: Fetch) -> ClockSkew | None:
    """The node's clock against its pinned peers' (PROTOCOL.md 8.1), if it says."""
    try:
        status, _, body = get(f"{node}/api/v1/node", None)
        return ClockSkew.from_json(json.loads(body)["clock"]) if status == 200 else None
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _clock_finding(skew: ClockSkew) -> Finding:
    """What the node does about its clock."""
    if skew.correcting:
        return Finding("clock", "warn", f"the node's clock: {skew.describe()}",
                        "set this machine's clock right (timedatectl set-ntp true; a Pi wants a real-time clock "
                        "or a time server on the LAN); if it was ahead, what it signed before it learnt the "
                        "offset is refused as from the future until that time comes")  # fmt: skip
    level: Level = "ok" if abs(skew.offset_s) < CORRECT_FROM_S else "warn"
    return Finding("clock", level, f"the node's clock: {skew.describe()}")


_FAILURES = re.compile(rb"^mutualaid_backup_failures_in_a_row (\d+)$", re.MULTILINE)


def _daily_failures(node: str, get: Fetch) -> list[Finding]:
    """The node's daily backups failing now (its /metrics), which their age tells only days later."""
    try:
        status, _, body = get(f"{node}/metrics", None)
    except OSError:
        return []
    match = _FAILURES.search(body) if status == 200 else None
    if match is None or int(match.group(1)) == 0:
        return []
    return [Finding("backup", "fail", f"the node's daily backup failed, {int(match.group(1))} times in a row",
                    "its log says why (journalctl -u mutualaid | grep backup): a full disk, a backup_dir it may "
                    "not write?")]  # fmt: skip


def _peer(peer: dict[str, Any], get: Fetch, now: Callable[[], float], *, correcting: bool = False) -> list[Finding]:
    url = str(peer["url"])
    try:
        sent = now()
        status, headers, _ = get(f"{url}/healthz", None)
        back = now()
    except OSError as exc:
        return [Finding("peers", "fail", f"{url} cannot be reached ({exc}); link {peer['state']}",
                        "is it running? is the URL right? (mutualaid peers list)")]  # fmt: skip
    link = f"{url}: link {peer['state']}, last sync {peer['last_sync'] or 'never'}"
    failing = f"{peer['failures']} failures in a row: {peer['last_error']}" if peer["failures"] else ""
    out = [Finding("peers", "ok" if status == 200 and not failing else "warn", link, failing)]
    try:
        skew = email.utils.parsedate_to_datetime(headers["Date"]).timestamp() - (sent + back) / 2
    except (KeyError, TypeError, ValueError):
        return [*out, Finding("clock", "warn", f"{url} gives no readable Date: its clock is not known")]
    says = f"{url}'s clock is {skew:+.0f} s from ours"
    if correcting and abs(skew) > SKEW_WARN_S:
        out.append(Finding("clock", "warn", says, "the node keeps the network's time meanwhile (its clock finding); "
                           "set the clock right (timedatectl set-ntp true)"))  # fmt: skip
    elif abs(skew) > MAX_FUTURE_SKEW:
        out.append(Finding("clock", "fail", says, "set the clock right (timedatectl set-ntp true) here or there: "
                           "records will be refused as from the future"))  # fmt: skip
    elif abs(skew) > SKEW_WARN_S:
        out.append(Finding("clock", "warn", says, "turn on time sync (timedatectl set-ntp true)"))
    else:
        out.append(Finding("clock", "ok", says))
    return out


def worst(findings: Iterable[Finding]) -> Level:
    levels = {f.level for f in findings}
    return "fail" if "fail" in levels else "warn" if "warn" in levels else "ok"


def running_on(data_dir: Path) -> bool:
    """Whether a node runs on the data directory: the process whose id its lock file
    holds (node.core.datadir) is alive. Read, never locked: taking the lock, even
    shared for an instant, could make a node starting then think the directory in use."""
    try:
        pid = int((data_dir / LOCK_FILE).read_text().strip() or "0")
    except (OSError, ValueError):
        return False
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True
