"""A node's backup: one file holding a consistent copy of its data directory, and its restore.

The copy of each database is taken with SQLite's online backup API from a
read-only connection, so it is consistent while the node runs and writes
(WAL for ``records.db``, a rollback journal for ``chapter.db``): never a file
copy of a live database. Each copy is checked (``PRAGMA quick_check``)
before it goes in. The backup file is a gzipped tar of fixed names:

    backup.json        what it is: format, when, the node's public key, each file's size and SHA-256
    records.db         records, manage tokens (hashed), removals, blocks, flags, the year's report
    chapter.db         the roll, invites, proposals and ballots, decisions, mandates, answers' notes
    config.toml        settings
    admin.token        the operator's token
    identity.key.sealed  only with ``--with-key``: the node key sealed with a passphrase
                       (Argon2id and XSalsa20-Poly1305, ``crypto/passphrase.py``)

It is written to a temporary file beside FILE, fsynced and renamed, 0600:
it holds the roll's names, the organizers' notes and the admin token, and
stays with the operator. ``restore`` reads only those names, as regular
files, checks every size and digest against ``backup.json`` and every
database before anything is moved into the data directory, and refuses a
directory that already holds a node. Blocking file work: the CLI calls it.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import json
import os
import sqlite3
import tarfile
import tempfile
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from crypto import KeyFileError, NodeIdentity, open_seed, public_key_to_text, read_key_file, seal_seed
from node.core.config import CONFIG_FILE
from node.core.datadir import ADMIN_TOKEN_FILE, CHAPTER_FILE, DATABASE_FILE, IDENTITY_FILE, RECOVERY_FILE

FORMAT = 1
MANIFEST = "backup.json"
SEALED_KEY = "identity.key.sealed"
DATABASES = (DATABASE_FILE, CHAPTER_FILE)
PLAIN = (CONFIG_FILE, ADMIN_TOKEN_FILE, RECOVERY_FILE)
NAMES = frozenset((MANIFEST, SEALED_KEY, *DATABASES, *PLAIN))
"""Every name a backup may hold: anything else in a file is refused."""
MAX_MANIFEST_BYTES = 64 * 1024
MAX_MEMBER_BYTES = 1 << 40
CHUNK = 1 << 20
MIN_PASSPHRASE = 12
"""Characters: the passphrase guards the node key wherever the backup goes."""
MAX_PASSPHRASE = 1024
GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
"""gzip's header as a backup writes it: deflate, no name, time 0, best compression, unknown OS."""


class BackupError(Exception):
    """A backup or restore cannot be done; the message says why and what to do."""


@dataclass(frozen=True)
class Made:
    path: Path
    node_key: str
    files: dict[str, int]
    """Each file's size in bytes."""
    with_key: bool


def make_backup(data_dir: Path, out: Path, passphrase: bytes | None = None, *, now: float | None = None) -> Made:
    """Writes the backup of ``data_dir`` to ``out`` (``passphrase``: with the key, sealed by it),
    dated ``now`` (default: the system clock's time)."""
    if not (data_dir / IDENTITY_FILE).is_file():
        raise BackupError(f"{data_dir} holds no node (no {IDENTITY_FILE}): give the node's --data-dir")
    try:
        identity = NodeIdentity.load(data_dir / IDENTITY_FILE)
    except KeyFileError as exc:
        raise BackupError(str(exc)) from None
    out = out.absolute()
    if out.is_dir():
        raise BackupError(f"{out} is a directory: give the backup's file name, such as {out / 'node.backup'}")
    with tempfile.TemporaryDirectory(prefix=".backup-", dir=out.parent) as work:
        staged = Path(work)
        files: dict[str, Path] = {}
        for name in DATABASES:
            if (data_dir / name).is_file():
                files[name] = _copy_database(data_dir / name, staged / name)
        for name in PLAIN:
            if (data_dir / name).is_file():
                files[name] = staged / name
                files[name].write_bytes((data_dir / name).read_bytes())
        if passphrase is not None:
            files[SEALED_KEY] = staged / SEALED_KEY
            seed = read_key_file(str(data_dir / IDENTITY_FILE), None)
            files[SEALED_KEY].write_bytes(seal_seed(seed, passphrase))
        manifest: dict[str, Any] = {
            "format": FORMAT,
            "made_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
            "node_key": public_key_to_text(identity.public_key),
            "files": {name: {"bytes": path.stat().st_size, "sha256": _digest(path)} for name, path in files.items()},
        }
        _write_archive(out, manifest, files)
    sizes = {name: int(entry["bytes"]) for name, entry in manifest["files"].items()}
    return Made(out, str(manifest["node_key"]), sizes, passphrase is not None)


@contextlib.contextmanager
def read_only(path: Path) -> Iterator[sqlite3.Connection]:
    """A read-only connection to a node's database, running or stopped. Should
    SQLite make a ``-wal`` or ``-shm`` beside it as root (``sudo mutualaid
    backup``), they would stay root's and the node, run as its own user, could
    no longer write its database: any made here are given to the database's owner."""
    sidecars = [path.with_name(path.name + suffix) for suffix in ("-wal", "-shm")]
    before = {p for p in sidecars if p.exists()}
    # No -wal: no node has the file open (a node keeps it while it runs), and everything is in
    # the main file. Read it as it is: a read-only connection cannot make the -shm a WAL read needs.
    immutable = "" if sidecars[0] in before else "&immutable=1"
    try:
        with contextlib.closing(
            sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro{immutable}", uri=True, timeout=30)
        ) as db:
            yield db
    finally:
        if os.geteuid() == 0:
            owner = path.stat()
            for made in (p for p in sidecars if p not in before and p.exists()):
                with contextlib.suppress(FileNotFoundError):
                    os.chown(made, owner.st_uid, owner.st_gid)


def _copy_database(source: Path, target: Path) -> Path:
    """A consistent copy by SQLite's online backup, from a read-only connection, checked."""
    try:
        with read_only(source) as src, contextlib.closing(sqlite3.connect(target)) as dst:
            src.backup(dst)
            dst.execute("PRAGMA journal_mode = DELETE")  # one self-contained file
            (result,) = dst.execute("PRAGMA quick_check").fetchone()
    except sqlite3.Error as exc:
        raise BackupError(f"{source.name} could not be copied ({exc}): is the file damaged? try again") from None
    if result != "ok":
        raise BackupError(f"{source.name} is damaged ({result}): this backup would carry the damage; none written")
    return target


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _write_archive(out: Path, manifest: dict[str, Any], files: dict[str, Path]) -> None:
    def write(raw: BinaryIO) -> None:
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as packed:
            with tarfile.open(fileobj=packed, mode="w", format=tarfile.PAX_FORMAT) as archive:
                _add(archive, MANIFEST, json.dumps(manifest, indent=2).encode())
                for name, path in files.items():
                    info = tarfile.TarInfo(name)
                    info.size, info.mode, info.mtime = path.stat().st_size, 0o600, int(time.time())
                    with path.open("rb") as f:
                        archive.addfile(info, f)
            packed.close()  # its trailer (CRC-32, length) written before the sync

    write_whole(out, write)


def write_whole(out: Path, write: Callable[[BinaryIO], None], check: Callable[[Path], None] | None = None) -> None:
    """``out`` written whole or not at all: a temporary file beside it (0600), fsynced,
    ``check``ed if given, then renamed over it, and the directory synced."""
    fd, temporary = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as raw:
            write(raw)
            raw.flush()
            os.fsync(raw.fileno())
        if check is not None:
            check(Path(temporary))
        os.replace(temporary, out)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    _sync_dir(out.parent)


def receive_backup(chunks: Iterable[bytes], out: Path) -> Made:
    """A backup a node sent (``mutualaid backup --node``), written whole or not at all,
    and read back whole as ``restore`` reads it (every file's size and digest) before it
    takes ``out``'s name: a backup cut short on the way is never left looking whole."""
    out = out.absolute()
    if out.is_dir():
        raise BackupError(f"{out} is a directory: give the backup's file name, such as {out / 'node.backup'}")
    made: list[Made] = []

    def write(raw: BinaryIO) -> None:
        for chunk in chunks:
            raw.write(chunk)

    write_whole(out, write, lambda path: made.append(check_backup(path)))
    return Made(out, made[0].node_key, made[0].files, made[0].with_key)


def check_backup(backup: Path) -> Made:
    """What a backup holds, every byte read and checked as ``restore`` checks it (the
    gzip stream, the contents list, each file's size and SHA-256), nothing written."""
    with _opened(backup) as archive:
        manifest = _manifest(archive)
        listed: dict[str, dict[str, Any]] = manifest["files"]
        seen = set()
        for member in _members(archive):
            if member.name != MANIFEST:
                _check_member(archive, member, listed.get(member.name))
                seen.add(member.name)
    if seen != set(listed):
        raise BackupError(f"the backup lacks {', '.join(sorted(set(listed) - seen))}, which its contents list")
    sizes = {name: int(entry["bytes"]) for name, entry in listed.items()}
    return Made(backup, str(manifest["node_key"]), sizes, SEALED_KEY in listed)


def _check_member(archive: tarfile.TarFile, member: tarfile.TarInfo, listed: dict[str, Any] | None) -> None:
    if listed is None or listed["bytes"] != member.size:
        raise BackupError(f"the backup's {member.name} does not match its contents list: it is damaged")
    source = archive.extractfile(member)
    assert source is not None
    h = hashlib.sha256()
    while chunk := source.read(CHUNK):
        h.update(chunk)
    if h.hexdigest() != listed["sha256"]:
        raise BackupError(f"the backup's {member.name} is not what was written (its SHA-256 differs): it is damaged")


def _add(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), 0o600, int(time.time())
    archive.addfile(info, io.BytesIO(data))


def _sync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# --- restore ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Restored:
    data_dir: Path
    node_key: str
    made_at: str
    files: tuple[str, ...]
    with_key: bool


def needs_passphrase(backup: Path) -> bool:
    """Whether the backup holds the node key (restoring it asks for its passphrase)."""
    with _opened(backup) as archive:
        return SEALED_KEY in _manifest(archive)["files"]


ORDER = (*DATABASES, CONFIG_FILE, ADMIN_TOKEN_FILE, RECOVERY_FILE, IDENTITY_FILE)
"""The order files are moved into place: the key last, so a restore cut short leaves
no directory a node would start on (without a key it holds no node to refuse)."""


def check_target(data_dir: Path) -> None:
    """Refuses a data directory that holds a node (or its settings): a restore never overwrites one."""
    taken = [name for name in ORDER if (data_dir / name).exists()]
    if taken:
        raise BackupError(f"{data_dir} already holds a node ({', '.join(taken)}): restore into a new directory")


def restore(backup: Path, data_dir: Path, passphrase: bytes | None = None) -> Restored:
    """Makes ``data_dir`` (new, or empty) hold the node the backup holds."""
    check_target(data_dir)
    try:
        return _restore(backup, data_dir, passphrase)
    except OSError as exc:  # the backup was read whole already: this is the target's
        raise BackupError(f"cannot write {data_dir}: {exc}; the backup is not at fault") from None


def _restore(backup: Path, data_dir: Path, passphrase: bytes | None) -> Restored:
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    with _opened(backup) as archive, tempfile.TemporaryDirectory(prefix=".restore-", dir=data_dir) as work:
        manifest = _manifest(archive)
        listed: dict[str, dict[str, Any]] = manifest["files"]
        staged = Path(work)
        for member in _members(archive):
            if member.name == MANIFEST:
                continue
            _extract(archive, member, staged / member.name, listed.get(member.name))
        missing = sorted(set(listed) - {p.name for p in staged.iterdir()})
        if missing:
            raise BackupError(f"the backup lacks {', '.join(missing)}, which its contents list: it is damaged")
        for name in DATABASES:
            if (staged / name).exists():
                _check_database(staged / name)
        node_key = str(manifest["node_key"])
        if (staged / SEALED_KEY).exists():
            _unseal(staged, passphrase, node_key)
        for name in ORDER:
            if (staged / name).exists():
                os.replace(staged / name, data_dir / name)
    _sync_dir(data_dir)
    return Restored(data_dir, node_key, str(manifest["made_at"]), tuple(sorted(listed)), SEALED_KEY in listed)


@contextlib.contextmanager
def _opened(backup: Path) -> Iterator[tarfile.TarFile]:
    """The backup's tar, once every byte of the file is known good: its gzip header is
    exactly the one a backup is written with (gzip checks no header field), and the
    whole stream inflates to its CRC-32 and length (a tar reader stops at the archive's
    end marker, before the trailer). Within, each file's SHA-256 is checked as read.
    Only reading the backup is blamed on it: the body's own errors pass through."""
    with contextlib.ExitStack() as stack:
        try:
            raw = stack.enter_context(backup.open("rb"))
            if raw.read(len(GZIP_HEADER)) != GZIP_HEADER:
                raise BackupError(f"{backup} is not a mutualaid backup, or its first bytes are damaged")
            raw.seek(0)
            with gzip.GzipFile(fileobj=raw, mode="rb") as whole:
                while whole.read(CHUNK):
                    pass
            raw.seek(0)
            packed = stack.enter_context(gzip.GzipFile(fileobj=raw, mode="rb"))
            archive = stack.enter_context(tarfile.open(fileobj=packed, mode="r:"))
        except FileNotFoundError:
            raise BackupError(f"{backup}: no such file") from None
        except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
            raise BackupError(f"{backup} is not a mutualaid backup, or it is damaged ({exc})") from None
        try:
            yield archive
        except (tarfile.TarError, EOFError, zlib.error) as exc:
            raise BackupError(f"{backup} is damaged ({exc})") from None


def _members(archive: tarfile.TarFile) -> Iterator[tarfile.TarInfo]:
    seen: set[str] = set()
    for member in archive:
        if member.name not in NAMES or member.name in seen:
            raise BackupError(f"the backup holds {member.name!r}, which no mutualaid backup holds: not restored")
        if not member.isreg() or member.size > MAX_MEMBER_BYTES:
            raise BackupError(f"the backup's {member.name!r} is not a plain file: not restored")
        seen.add(member.name)
        yield member


def _manifest(archive: tarfile.TarFile) -> dict[str, Any]:
    first = archive.next()
    if first is None or first.name != MANIFEST or not first.isreg() or first.size > MAX_MANIFEST_BYTES:
        raise BackupError(f"the file does not begin with {MANIFEST}: it is not a mutualaid backup")
    source = archive.extractfile(first)
    assert source is not None
    try:
        manifest = json.loads(source.read())
        files = manifest["files"]
        ok = manifest["format"] == FORMAT and isinstance(files, dict) and set(files) <= NAMES - {MANIFEST}
        ok = ok and all(isinstance(f["bytes"], int) and isinstance(f["sha256"], str) for f in files.values())
        ok = ok and isinstance(manifest["node_key"], str) and isinstance(manifest["made_at"], str)
    except (ValueError, KeyError, TypeError):
        ok = False
    if not ok:
        raise BackupError(f"the backup's {MANIFEST} is not one this version reads (format {FORMAT}): not restored")
    return dict(manifest)


def _extract(archive: tarfile.TarFile, member: tarfile.TarInfo, target: Path, listed: dict[str, Any] | None) -> None:
    if listed is None or listed["bytes"] != member.size:
        raise BackupError(f"the backup's {member.name} does not match its contents list: it is damaged")
    source = archive.extractfile(member)
    assert source is not None
    h = hashlib.sha256()
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        while chunk := source.read(CHUNK):
            h.update(chunk)
            out.write(chunk)
        out.flush()
        os.fsync(out.fileno())
    if h.hexdigest() != listed["sha256"]:
        raise BackupError(f"the backup's {member.name} is not what was written (its SHA-256 differs): it is damaged")


def _check_database(path: Path) -> None:
    try:
        with contextlib.closing(sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True)) as db:
            (result,) = db.execute("PRAGMA quick_check").fetchone()
    except sqlite3.Error as exc:
        result = str(exc)
    if result != "ok":
        raise BackupError(f"the backup's {path.name} is damaged ({result}): not restored")


def _unseal(staged: Path, passphrase: bytes | None, node_key: str) -> None:
    if passphrase is None:
        raise BackupError("the backup holds the node key: its passphrase is needed to restore it")
    try:
        identity = NodeIdentity(open_seed((staged / SEALED_KEY).read_bytes(), passphrase))
    except KeyFileError as exc:
        raise BackupError(f"{exc}: nothing restored") from None
    if public_key_to_text(identity.public_key) != node_key:
        raise BackupError("the backup's node key is not the node its contents name: it is damaged")
    identity.save(staged / IDENTITY_FILE)
