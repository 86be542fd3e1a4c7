"""The data directory: everything a node keeps between runs.

    identity.key   the node's Ed25519 seed (0600); lose it and peers see a new node,
                   unless the chapter rotates to a new key with its recovery key
    recovery.pub   the public half of the chapter's recovery key (its words are on paper, never here)
    admin.token    bearer token for peer administration (0600), read by the CLI
    config.toml    settings (see node.core.config)
    records.db     the record store (plus its -wal and -shm files)
    chapter.db     the chapter: roll, invites, proposals and ballots, mandates, decided settings
    node.lock      locked while a node runs; holds the running node's process id

``ensure_data_dir`` is idempotent: it creates what is missing and never
replaces an identity or a token that exists. Blocking file work; callers on
the event loop run it in a thread.

One node per directory: two on the same files would sign with one key from two
databases. ``lock_data_dir`` takes an exclusive ``flock`` on ``node.lock``
before anything else in the directory is written or opened, and the process
holds it until it exits; the kernel drops it when the process dies however it
dies, so a SIGKILLed node never blocks the next start (a stale file is fine:
the lock, not the file, is what counts).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from crypto import InvalidKey, KeyFileError, NodeIdentity, public_key_from_text, public_key_to_text
from node.core.config import NodeConfig, to_toml

IDENTITY_FILE = "identity.key"
NEXT_FILE = "identity.key.next"
"""A key rotation's new key until it is swapped in (node/operate/rotate.py)."""
RECOVERY_FILE = "recovery.pub"
ADMIN_TOKEN_FILE = "admin.token"  # noqa: S105 - a file name, not a secret
DATABASE_FILE = "records.db"
CHAPTER_FILE = "chapter.db"
LOCK_FILE = "node.lock"


class DataDirError(Exception):
    """The data directory cannot be created or read; the message says how to fix it."""


@dataclass(frozen=True)
class NodeFiles:
    identity: NodeIdentity
    admin_token: str
    database: Path
    created: bool
    """True when this call made the identity (a first start)."""


def ensure_data_dir(config: NodeConfig) -> NodeFiles:
    directory = config.data_dir
    _make_dir(directory)
    key_path = directory / IDENTITY_FILE
    if (directory / NEXT_FILE).exists():
        raise DataDirError(
            f"a key rotation in {directory} was cut short ({NEXT_FILE} is there): "
            "run `mutualaid key rotate` again to finish it, then start the node"
        )
    created = False
    try:
        if key_path.exists():
            identity = NodeIdentity.load(key_path)
        else:
            identity = NodeIdentity.generate()
            identity.save(key_path)
            created = True
    except KeyFileError as exc:
        raise DataDirError(str(exc)) from None
    token = _ensure_token(directory / ADMIN_TOKEN_FILE)
    if not config.config_file.exists():
        _write_private(config.config_file, to_toml(config).encode())
    return NodeFiles(identity, token, directory / DATABASE_FILE, created)


class DataDirLock:
    """The exclusive lock on a data directory, held while this object's file is open."""

    def __init__(self, fd: int, path: Path) -> None:
        self._fd = fd
        self.path = path

    def release(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = -1


def lock_data_dir(directory: Path) -> DataDirLock:
    """Create ``directory`` if needed and lock it for this process, or raise
    ``DataDirError`` naming it (and the process that holds it) when a running
    node has it. Nothing else in the directory is touched."""
    _make_dir(directory)
    path = directory / LOCK_FILE
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)  # no O_TRUNC: the holder's pid stays
    except OSError as exc:
        raise DataDirError(f"cannot open the lock file {path}: {exc.strerror or exc}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        holder = _holder(fd)
        os.close(fd)
        if exc.errno in (errno.EWOULDBLOCK, errno.EACCES):
            by = f" (process {holder})" if holder else ""
            raise DataDirError(
                f"data directory {directory} is in use by a running node{by}; stop it first, "
                "or give this one its own --data-dir"
            ) from None
        raise DataDirError(f"cannot lock the data directory {directory}: {exc.strerror or exc}") from None
    with contextlib.suppress(OSError):  # the pid is for the message above; the lock works without it
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
    return DataDirLock(fd, path)


def _holder(fd: int) -> str:
    with contextlib.suppress(OSError):
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
        if text.isdigit():
            return text
    return ""


def _make_dir(directory: Path) -> None:
    try:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise DataDirError(f"cannot create data directory {directory}: {exc.strerror or exc}") from None


def read_recovery_key(data_dir: Path) -> bytes | None:
    """The public recovery key this node's profile names, if it has one."""
    path = data_dir / RECOVERY_FILE
    try:
        text = path.read_text().strip()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise DataDirError(f"cannot read the recovery key {path}: {exc.strerror or exc}") from None
    try:
        return public_key_from_text(text)
    except InvalidKey as exc:
        raise DataDirError(f"{path} does not hold a public key ({exc}); restore it from a backup") from None


def write_recovery_key(data_dir: Path, public_key: bytes, *, replace: bool = False) -> None:
    """Record the public recovery key; it never changes once peers pinned it
    (``replace``: a key rotation from the paper puts the paper's back)."""
    path = data_dir / RECOVERY_FILE
    if replace:
        path.unlink(missing_ok=True)
    _write_private(path, (public_key_to_text(public_key) + "\n").encode())


def read_admin_token(data_dir: Path) -> str:
    path = data_dir / ADMIN_TOKEN_FILE
    try:
        return path.read_text().strip()
    except OSError as exc:
        raise DataDirError(f"cannot read the admin token {path}: {exc.strerror or exc}") from None


def _ensure_token(path: Path) -> str:
    if path.exists():
        return read_admin_token(path.parent)
    token = secrets.token_urlsafe(32)
    _write_private(path, (token + "\n").encode())
    return token


def _write_private(path: Path, data: bytes) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    except FileExistsError:
        return
    except OSError as exc:
        raise DataDirError(f"cannot write {path}: {exc.strerror or exc}") from None
