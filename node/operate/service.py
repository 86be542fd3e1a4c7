"""A systemd service for a node on a Raspberry Pi or any Linux machine with systemd.

``unit`` writes the unit's text (pure); ``install`` puts it in place, with the
node's own system user and its data directory, 0700 and owned by that user.
The unit runs the node as that user, with the data directory the only path it
may write, no new privileges, its own /tmp and no devices, restarts it when it
fails, logs to the journal (the node logs to stderr), and waits longer than
the node's own shutdown (``SHUTDOWN_TIMEOUT_S``) before it kills it on stop.
"""

from __future__ import annotations

import grp
import os
import pwd
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from node.core.config import CONFIG_FILE, SHUTDOWN_TIMEOUT_S
from node.core.datadir import ADMIN_TOKEN_FILE, CHAPTER_FILE, DATABASE_FILE, IDENTITY_FILE, LOCK_FILE

UNIT_NAME = "mutualaid.service"
UNIT_DIR = Path("/etc/systemd/system")
DATA_DIR = Path("/var/lib/mutualaid")
USER = "mutualaid"
STOP_MARGIN_S = 25
UNSAFE = frozenset(" \t\n\"'%\\;")
"""Characters a unit file's values would read as quoting, specifiers or separators."""
NODE_FILES = (IDENTITY_FILE, ADMIN_TOKEN_FILE, CONFIG_FILE, DATABASE_FILE, CHAPTER_FILE, LOCK_FILE)
"""The node's files (and their -wal, -shm and -journal): the only ones install gives its user."""
"""Beyond the node's shutdown: the store's last commit and the process's exit."""


class ServiceError(Exception):
    """The service cannot be installed as asked; the message says what to do."""


def unit(data_dir: Path, user: str, group: str, python: str = sys.executable) -> str:
    """The unit file's text for a node on ``data_dir`` run as ``user`` (``python``:
    the interpreter of the environment mutualaid is installed in)."""
    start = shlex.join([python, "-m", "node", "run", "--data-dir", str(data_dir)])
    return f"""\
[Unit]
Description=mutualaid node ({data_dir})
After=network-online.target
Wants=network-online.target

[Service]
Type=exec
User={user}
Group={group}
ExecStart={start}
Restart=on-failure
RestartSec=5
TimeoutStopSec={int(SHUTDOWN_TIMEOUT_S) + STOP_MARGIN_S}
KillSignal=SIGTERM
UMask=0077
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=read-only
ReadWritePaths={data_dir}
PrivateTmp=yes
PrivateDevices=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX AF_NETLINK
RestrictNamespaces=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
LockPersonality=yes
SystemCallArchitectures=native
StandardOutput=journal
StandardError=journal
SyslogIdentifier=mutualaid

[Install]
WantedBy=multi-user.target
"""


def _account(user: str) -> pwd.struct_passwd | None:
    try:
        return pwd.getpwnam(user)
    except KeyError:
        return None


def group_of(user: str) -> str:
    """The user's primary group; a user still to be made gets a group of its own name."""
    account = _account(user)
    return user if account is None else grp.getgrgid(account.pw_gid).gr_name


def check_path(data_dir: Path) -> None:
    """Refuses a path a unit file would read otherwise than meant."""
    if set(str(data_dir)) & UNSAFE:
        raise ServiceError(f"{data_dir}: choose a data directory whose path has no spaces, quotes, % or \\ "
                           "(a unit file would read them otherwise)")  # fmt: skip


@dataclass(frozen=True)
class Installed:
    unit_file: Path
    data_dir: Path
    user: str
    user_created: bool


def install(data_dir: Path, user: str, unit_dir: Path) -> Installed:
    """Writes the unit into ``unit_dir``; makes the system user when it is missing
    (root only) and the data directory, and gives the user the directory and
    the node's files in it (root only: what ``init`` or ``restore`` made as
    root). Refuses a directory holding other files and no node."""
    data_dir = data_dir.absolute()
    check_path(data_dir)
    if data_dir.is_dir() and any(data_dir.iterdir()) and not (data_dir / IDENTITY_FILE).exists():
        raise ServiceError(f"{data_dir} holds other files and no node: give the node's data directory, or a "
                           "new or empty one")  # fmt: skip
    account, created = _account(user), False
    if account is None:
        if os.geteuid() != 0:
            raise ServiceError(f"there is no user {user!r}: run this as root (sudo) to make it, or name one")
        useradd = shutil.which("useradd")
        if useradd is None:
            raise ServiceError(f"there is no user {user!r} and no useradd to make one: make it, then run this again")
        made = subprocess.run([useradd, "--system", "--user-group", "--home-dir", str(data_dir),
                               "--no-create-home", "--shell", "/usr/sbin/nologin", user],
                              capture_output=True, text=True, check=False)  # fmt: skip
        if made.returncode != 0:
            raise ServiceError(f"useradd could not make {user!r}: {made.stderr.strip() or made.returncode}")
        account, created = pwd.getpwnam(user), True
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    data_dir.chmod(0o700)
    if os.geteuid() == 0:  # the directory and the node's files init or restore made in it, as root
        for path in (data_dir, *(p for p in data_dir.iterdir() if p.name.startswith(NODE_FILES))):
            os.chown(path, account.pw_uid, account.pw_gid, follow_symlinks=False)
    elif data_dir.stat().st_uid != account.pw_uid:
        raise ServiceError(f"{data_dir} is not {user}'s and only root can give it: run this as root (sudo)")
    target = unit_dir / UNIT_NAME
    try:
        unit_dir.mkdir(parents=True, exist_ok=True)
        temporary = target.with_name(f".{UNIT_NAME}.tmp")
        temporary.write_text(unit(data_dir, user, group_of(user)))
        temporary.chmod(0o644)
        os.replace(temporary, target)
    except PermissionError:
        raise ServiceError(f"{unit_dir} is not writable: run this as root (sudo)") from None
    return Installed(target, data_dir, user, created)
