# Node identity and its key file: determinism from the seed, round trips
# through disk, and a KeyFileError that names the fix for each way loading
# or saving can fail.

from __future__ import annotations

import os
import re
import shlex
import stat
from pathlib import Path

import pytest

from crypto import (
    Domain,
    InvalidKey,
    KeyFileError,
    NodeIdentity,
    public_key_to_text,
    seal,
    verify,
)

posix_only = pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")

# A throwaway X25519 key in PKCS8 PEM: a well-formed key file of the wrong type.
X25519_PEM = b"""-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VuBCIEICg1tiOcwvrcsXgeJHosAUscAeRXh3nDAds/WT4J8Opw
-----END PRIVATE KEY-----
"""


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def assert_same_identity(a: NodeIdentity, b: NodeIdentity) -> None:
    assert a.public_key == b.public_key
    assert a.seal_public_key == b.seal_public_key
    verify(a.public_key, Domain.RECORD, b"p", b.sign(Domain.RECORD, b"p"))
    assert a.open_sealed(seal(b.seal_public_key, b"s")) == b"s"


# --- the identity itself ---------------------------------------------------


def test_from_seed_is_deterministic() -> None:
    a, b = NodeIdentity.from_seed(b"s" * 32), NodeIdentity.from_seed(b"s" * 32)
    assert_same_identity(a, b)
    assert a.sign(Domain.RECORD, b"x") == b.sign(Domain.RECORD, b"x")


def test_seeds_give_distinct_keys() -> None:
    a, b = NodeIdentity.from_seed(b"a" * 32), NodeIdentity.from_seed(b"b" * 32)
    assert a.public_key != b.public_key
    assert a.seal_public_key != b.seal_public_key
    assert a.public_key != a.seal_public_key
    assert len(a.public_key) == len(a.seal_public_key) == 32


def test_generate_is_random() -> None:
    assert NodeIdentity.generate().public_key != NodeIdentity.generate().public_key


@pytest.mark.parametrize("length", [0, 16, 31, 33, 64])
def test_from_seed_rejects_wrong_length(length: int) -> None:
    with pytest.raises(InvalidKey, match="32 bytes"):
        NodeIdentity.from_seed(b"s" * length)


def test_repr_hides_the_secret() -> None:
    seed = bytes(range(100, 132))
    identity = NodeIdentity.from_seed(seed)
    text = repr(identity)
    assert public_key_to_text(identity.public_key) in text
    for secret_form in (seed.hex(), repr(seed), seed.hex().upper()):
        assert secret_form not in text
    assert str(identity) == text


# --- key file round trips --------------------------------------------------


def test_save_load_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "node.key"
    identity = NodeIdentity.generate()
    identity.save(path)
    assert path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    assert_same_identity(NodeIdentity.load(path), identity)
    assert_same_identity(NodeIdentity.load(str(path)), identity)


@posix_only
def test_saved_file_is_private(tmp_path: Path) -> None:
    path = tmp_path / "node.key"
    old_umask = os.umask(0)
    try:
        NodeIdentity.generate().save(path)
    finally:
        os.umask(old_umask)
    assert mode_of(path) == 0o600


def test_passphrase_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "node.key"
    identity = NodeIdentity.generate()
    identity.save(path, passphrase=b"correct horse")
    assert path.read_bytes().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    assert_same_identity(NodeIdentity.load(path, passphrase=b"correct horse"), identity)


def test_save_over_existing_file_is_atomic(tmp_path: Path) -> None:
    path = tmp_path / "node.key"
    path.write_bytes(b"old contents")
    path.chmod(0o644)
    first, second = NodeIdentity.generate(), NodeIdentity.generate()
    first.save(path)
    second.save(path, passphrase=b"pw")
    assert sorted(os.listdir(tmp_path)) == ["node.key"]
    assert_same_identity(NodeIdentity.load(path, passphrase=b"pw"), second)
    if os.name == "posix":
        assert mode_of(path) == 0o600


def test_failed_save_leaves_nothing_behind(tmp_path: Path) -> None:
    # Renaming a file over a directory fails after the temp file is written.
    target = tmp_path / "node.key"
    target.mkdir()
    with pytest.raises(KeyFileError, match=f"cannot write key file {re.escape(str(target))}"):
        NodeIdentity.generate().save(target)
    assert sorted(os.listdir(tmp_path)) == ["node.key"]
    assert target.is_dir()


def test_save_into_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="cannot write key file"):
        NodeIdentity.generate().save(tmp_path / "absent" / "node.key")


def test_empty_passphrase_is_refused(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="passphrase must not be empty"):
        NodeIdentity.generate().save(tmp_path / "node.key", passphrase=b"")
    assert os.listdir(tmp_path) == []


# --- key file failures -----------------------------------------------------


def test_wrong_passphrase(tmp_path: Path) -> None:
    path = tmp_path / "node.key"
    NodeIdentity.generate().save(path, passphrase=b"right")
    with pytest.raises(KeyFileError, match="wrong passphrase"):
        NodeIdentity.load(path, passphrase=b"wrong")


def test_missing_passphrase(tmp_path: Path) -> None:
    path = tmp_path / "node.key"
    NodeIdentity.generate().save(path, passphrase=b"right")
    with pytest.raises(KeyFileError, match="encrypted; a passphrase is needed"):
        NodeIdentity.load(path)


def test_passphrase_for_plain_file(tmp_path: Path) -> None:
    path = tmp_path / "node.key"
    NodeIdentity.generate().save(path)
    with pytest.raises(KeyFileError, match="not encrypted, but a passphrase was given"):
        NodeIdentity.load(path, passphrase=b"pw")


@pytest.mark.parametrize(
    "contents",
    [
        b"",
        b"not a key at all",
        b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        os.urandom(300),
    ],
)
def test_garbage_file(tmp_path: Path, contents: bytes) -> None:
    path = tmp_path / "node.key"
    path.write_bytes(contents)
    path.chmod(0o600)
    with pytest.raises(KeyFileError, match="is not a PEM PKCS8 private key"):
        NodeIdentity.load(path)


def test_truncated_file(tmp_path: Path) -> None:
    path = tmp_path / "node.key"
    NodeIdentity.generate().save(path)
    path.write_bytes(path.read_bytes()[:60])
    with pytest.raises(KeyFileError, match="not a PEM PKCS8 private key"):
        NodeIdentity.load(path)


def test_other_key_type(tmp_path: Path) -> None:
    path = tmp_path / "node.key"
    path.write_bytes(X25519_PEM)
    path.chmod(0o600)
    with pytest.raises(KeyFileError, match="holds a X25519 key, not an Ed25519 key"):
        NodeIdentity.load(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="does not exist"):
        NodeIdentity.load(tmp_path / "absent.key")


def test_directory_is_not_a_key_file(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="not a regular file"):
        NodeIdentity.load(tmp_path)


def test_oversized_file(tmp_path: Path) -> None:
    path = tmp_path / "node.key"
    path.write_bytes(b"-" * (1 << 20))
    path.chmod(0o600)
    with pytest.raises(KeyFileError, match="larger than"):
        NodeIdentity.load(path)


@posix_only
@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660, 0o666])
def test_readable_by_others_is_refused(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "node.key"
    NodeIdentity.generate().save(path)
    path.chmod(mode)
    expected = (
        f"key file {path} is readable by group or others (mode {mode:04o}); run: chmod 600 {shlex.quote(str(path))}"
    )
    with pytest.raises(KeyFileError) as caught:
        NodeIdentity.load(path)
    assert str(caught.value) == expected


@posix_only
@pytest.mark.parametrize("mode", [0o620, 0o602, 0o610])
def test_other_group_bits_are_refused(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "node.key"
    NodeIdentity.generate().save(path)
    path.chmod(mode)
    fix = re.escape(f"run: chmod 600 {path}")
    with pytest.raises(KeyFileError, match=f"accessible by group or others .*{fix}$"):
        NodeIdentity.load(path)


@posix_only
def test_fix_command_quotes_the_path(tmp_path: Path) -> None:
    path = tmp_path / "my node.key"
    NodeIdentity.generate().save(path)
    path.chmod(0o644)
    with pytest.raises(KeyFileError) as caught:
        NodeIdentity.load(path)
    assert str(caught.value).endswith(f"run: chmod 600 '{path}'")
    path.chmod(0o600)
    NodeIdentity.load(path)
