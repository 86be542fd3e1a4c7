"""The data directory: everything a node keeps between runs.

    identity.key   the node's Ed25519 seed (0600); lose it and peers see a new node
    admin.token    bearer token for peer administration (0600), read by the CLI
    config.toml    settings (see node.core.config)
    records.db     the record store (plus its -wal and -shm files)

``ensure_data_dir`` is idempotent: it creates what is missing and never
replaces an identity or a token that exists. Blocking file work; callers on
the event loop run it in a thread.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from crypto import KeyFileError, NodeIdentity
from node.core.config import NodeConfig, to_toml

IDENTITY_FILE = "identity.key"
ADMIN_TOKEN_FILE = "admin.token"  # noqa: S105 - a file name, not a secret
DATABASE_FILE = "records.db"


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
    try:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise DataDirError(f"cannot create data directory {directory}: {exc.strerror or exc}") from None
    key_path = directory / IDENTITY_FILE
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
