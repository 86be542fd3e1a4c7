"""Reading and writing the private key file that holds a node's identity.

The file is a PEM PKCS8 Ed25519 key, encrypted when a passphrase is given, so
standard tools can inspect it. The plain form, the one a node writes and
reads at every start, is a fixed 16-byte DER header and the 32-byte seed,
written and read here directly; only an encrypted file (PBES2) or another
tool's encoding brings in ``cryptography``, imported then and not before, so
a running node does not carry it (docs/STORAGE.md, the memory paragraph).
Both directions guard the secret:

- writing goes to a fresh 0600 temp file in the same directory, is fsynced,
  renamed over the target and the directory fsynced, so a crash leaves either
  the old file or the new one, never a torn or briefly world-readable key;
- reading refuses a file that group or others can access, checked on the open
  descriptor (not the path) so the file cannot be swapped between check and
  read, and turns every failure into a ``KeyFileError`` that says what to do.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import os
import secrets
import shlex
import stat

from crypto.errors import KeyFileError

__all__ = ["read_key_file", "write_key_file"]

# A PEM Ed25519 key is a few hundred bytes; anything far larger is not ours,
# and reading it whole would let a bad path exhaust memory.
MAX_KEY_FILE_SIZE = 64 * 1024

_POSIX = os.name == "posix"
_BINARY = getattr(os, "O_BINARY", 0)  # Windows would otherwise translate newlines
_ENCRYPTED_MARKER = b"-----BEGIN ENCRYPTED PRIVATE KEY-----"
_SEED_SIZE = 32
_PLAIN_BEGIN = b"-----BEGIN PRIVATE KEY-----\n"
_PLAIN_END = b"\n-----END PRIVATE KEY-----\n"
_PKCS8_ED25519_HEADER = bytes.fromhex("302e020100300506032b657004220420")
"""DER of PKCS8 v1 for Ed25519 (RFC 8410) up to the seed: SEQUENCE(46) { INTEGER 0,
SEQUENCE { OID 1.3.101.112 }, OCTET STRING(34) { OCTET STRING(32) seed } }."""


def _plain_pem(seed: bytes) -> bytes:
    """The unencrypted PEM of the key with this seed, byte for byte what ``cryptography`` writes."""
    return _PLAIN_BEGIN + base64.b64encode(_PKCS8_ED25519_HEADER + seed) + _PLAIN_END


def _plain_seed(data: bytes) -> bytes | None:
    """The seed of a plain PEM in exactly the form ``_plain_pem`` writes; None for any other text."""
    body = data.strip()
    begin, end = _PLAIN_BEGIN.strip(), _PLAIN_END.strip()
    if not (body.startswith(begin) and body.endswith(end)):
        return None
    try:
        der = base64.b64decode(b"".join(body[len(begin) : -len(end)].split()), validate=True)
    except binascii.Error:
        return None
    if len(der) != len(_PKCS8_ED25519_HEADER) + _SEED_SIZE or not der.startswith(_PKCS8_ED25519_HEADER):
        return None
    return der[len(_PKCS8_ED25519_HEADER) :]


def _check_passphrase(passphrase: bytes | None) -> None:
    if passphrase is not None and not passphrase:
        raise KeyFileError("passphrase must not be empty; pass None for an unencrypted key file")


def write_key_file(path: str, seed: bytes, passphrase: bytes | None) -> None:
    """Atomically write the Ed25519 key with this seed to ``path``, mode 0600."""
    _check_passphrase(passphrase)
    if len(seed) != _SEED_SIZE:
        raise KeyFileError(f"an Ed25519 seed is {_SEED_SIZE} bytes, got {len(seed)}")
    pem = _plain_pem(seed) if passphrase is None else _encrypted_pem(seed, passphrase)
    try:
        _replace_atomically(path, pem)
    except OSError as exc:
        raise KeyFileError(f"cannot write key file {path}: {exc.strerror or exc}") from exc


def _replace_atomically(path: str, data: bytes) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    temp = os.path.join(directory, f".{os.path.basename(path)}.{secrets.token_hex(8)}.tmp")
    # O_EXCL also refuses to follow a planted symlink at the temp name.
    fd = os.open(temp, os.O_CREAT | os.O_EXCL | os.O_WRONLY | _BINARY, 0o600)
    try:
        try:
            if _POSIX:
                os.fchmod(fd, 0o600)  # a umask could only narrow it; make it exact
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    if _POSIX:
        # The rename is only durable once the directory entry is on disk.
        dir_fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def read_key_file(path: str, passphrase: bytes | None) -> bytes:
    """Return the Ed25519 seed stored in the key file at ``path``."""
    _check_passphrase(passphrase)
    data = _read_private_file(path)
    encrypted = _ENCRYPTED_MARKER in data
    seed = _plain_seed(data)
    if seed is not None:
        if passphrase is not None:
            raise KeyFileError(f"key file {path} is not encrypted, but a passphrase was given")
        return seed
    return _read_other_pem(path, data, passphrase, encrypted=encrypted)


def _encrypted_pem(seed: bytes, passphrase: bytes) -> bytes:
    """PKCS8 encrypted with the passphrase (PBES2), through ``cryptography``: a rare operation."""
    from cryptography.hazmat.primitives import serialization  # noqa: PLC0415 (kept out of a running node)
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: PLC0415

    return Ed25519PrivateKey.from_private_bytes(seed).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.BestAvailableEncryption(passphrase)
    )


def _read_other_pem(path: str, data: bytes, passphrase: bytes | None, *, encrypted: bool) -> bytes:
    """Any key file but the plain form a node writes: encrypted, or another tool's encoding."""
    from cryptography.exceptions import UnsupportedAlgorithm  # noqa: PLC0415 (kept out of a running node)
    from cryptography.hazmat.primitives import serialization  # noqa: PLC0415
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: PLC0415

    try:
        key = serialization.load_pem_private_key(data, passphrase)
    except TypeError as exc:
        # cryptography signals a passphrase mismatch with TypeError.
        if encrypted:
            raise KeyFileError(f"key file {path} is encrypted; a passphrase is needed to load it") from exc
        raise KeyFileError(f"key file {path} is not encrypted, but a passphrase was given") from exc
    except (ValueError, UnsupportedAlgorithm) as exc:
        if encrypted and passphrase is not None:
            raise KeyFileError(f"wrong passphrase for key file {path} (or the file is damaged)") from exc
        raise KeyFileError(f"key file {path} is not a PEM PKCS8 private key") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(
            f"key file {path} holds a {type(key).__name__.removesuffix('PrivateKey')} key, not an Ed25519 key"
        )
    return key.private_bytes_raw()


def _read_private_file(path: str) -> bytes:
    try:
        # O_NONBLOCK: opening a FIFO planted at the path must not hang; the
        # S_ISREG check below then refuses it.
        fd = os.open(path, os.O_RDONLY | _BINARY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError as exc:
        raise KeyFileError(f"key file {path} does not exist") from exc
    except OSError as exc:
        raise KeyFileError(f"cannot open key file {path}: {exc.strerror or exc}") from exc
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise KeyFileError(f"key file {path} is not a regular file")
        mode = stat.S_IMODE(info.st_mode)
        if _POSIX and mode & 0o077:
            access = "readable" if mode & 0o044 else "accessible"
            raise KeyFileError(
                f"key file {path} is {access} by group or others (mode {mode:04o}); run: chmod 600 {shlex.quote(path)}"
            )
        chunks: list[bytes] = []
        remaining = MAX_KEY_FILE_SIZE + 1
        while remaining > 0 and (chunk := os.read(fd, remaining)):
            chunks.append(chunk)
            remaining -= len(chunk)
        data = b"".join(chunks)
    except OSError as exc:
        raise KeyFileError(f"cannot read key file {path}: {exc.strerror or exc}") from exc
    finally:
        os.close(fd)
    if len(data) > MAX_KEY_FILE_SIZE:
        raise KeyFileError(f"key file {path} is larger than {MAX_KEY_FILE_SIZE} bytes")
    return data
