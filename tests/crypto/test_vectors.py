# The libsodium-based crypto/ against vectors the cryptography-based crypto/
# made (commit 8db376e, tests/crypto/vectors/): the same public keys, signatures
# and key files from the same seeds, old sealed boxes still open, and new boxes
# open with plain `cryptography`, so key files on disk and sealed replies stay
# compatible both ways. Plus RFC 5869's own HKDF-SHA256 vectors.

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from crypto import Domain, NodeIdentity, RecoveryKey, SealError, seal, verify
from crypto.primitives import hkdf_sha256

VECTORS: dict[str, Any] = json.loads((Path(__file__).parent / "vectors" / "cryptography-8db376e.json").read_text())
IDENTITIES = VECTORS["identities"]
BOXES = VECTORS["boxes"]


@pytest.mark.parametrize("vector", IDENTITIES, ids=lambda v: v["seed"][:8])
def test_same_keys_and_signatures_from_the_same_seed(vector: dict[str, Any]) -> None:
    identity = NodeIdentity.from_seed(bytes.fromhex(vector["seed"]))
    message = bytes.fromhex(vector["message"])
    assert identity.public_key.hex() == vector["public_key"]
    assert identity.seal_public_key.hex() == vector["seal_public_key"]
    assert identity.sign_message(message).hex() == vector["signature"]
    assert identity.sign(Domain.RECORD, message).hex() == vector["record_signature"]
    verify(identity.public_key, Domain.RECORD, message, identity.sign(Domain.RECORD, message))


def test_rfc8032_first_vector() -> None:
    # RFC 8032 section 7.1, TEST 1: the empty message.
    identity = NodeIdentity.from_seed(bytes.fromhex(IDENTITIES[3]["seed"]))
    assert identity.public_key.hex() == "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
    assert identity.sign_message(b"").hex() == (
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
        "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
    )


@pytest.mark.parametrize("vector", IDENTITIES, ids=lambda v: v["seed"][:8])
def test_key_files_are_byte_identical_and_old_ones_load(vector: dict[str, Any], tmp_path: Path) -> None:
    seed = bytes.fromhex(vector["seed"])
    path = tmp_path / "identity.key"
    NodeIdentity.from_seed(seed).save(path)
    assert path.read_text() == vector["pem"]
    for pem, passphrase in ((vector["pem"], None), (vector["pem_encrypted"], vector["passphrase"].encode())):
        old = tmp_path / "old.key"
        old.write_text(pem)
        old.chmod(0o600)
        assert NodeIdentity.load(old, passphrase=passphrase).public_key.hex() == vector["public_key"]


@pytest.mark.parametrize("vector", BOXES, ids=lambda v: f"{v['seed'][:8]}-{len(v['plaintext'])}")
def test_old_boxes_open(vector: dict[str, Any]) -> None:
    identity = NodeIdentity.from_seed(bytes.fromhex(vector["seed"]))
    sealed, context = bytes.fromhex(vector["sealed"]), bytes.fromhex(vector["context"])
    assert identity.open_sealed(sealed, context=context).hex() == vector["plaintext"]
    with pytest.raises(SealError):
        identity.open_sealed(sealed, context=context + b"x")


def _open_with_cryptography(seed: bytes, sealed: bytes, context: bytes) -> bytes:
    """The sealing format (crypto/sealing.py) opened with nothing but plain ``cryptography``."""
    seal_key = X25519PrivateKey.from_private_bytes(
        HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"mutualaid/v1/x25519").derive(seed)
    )
    ephemeral_public = sealed[1:33]
    shared = seal_key.exchange(X25519PublicKey.from_public_bytes(ephemeral_public))
    salt = ephemeral_public + seal_key.public_key().public_bytes_raw()
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=b"mutualaid/v1/seal").derive(shared)
    return ChaCha20Poly1305(key).decrypt(bytes(12), sealed[33:], context)


@pytest.mark.parametrize("length", [0, 1, 64, 1000])
def test_new_boxes_open_with_cryptography(length: int) -> None:
    seed = os.urandom(32)
    plaintext, context = os.urandom(length), os.urandom(length % 40)
    sealed = seal(NodeIdentity.from_seed(seed).seal_public_key, plaintext, context=context)
    assert sealed[:1] == b"\x01"
    assert _open_with_cryptography(seed, sealed, context) == plaintext


@pytest.mark.parametrize("vector", VECTORS["recovery"], ids=lambda v: v["seed"][:8])
def test_recovery_keys_unchanged(vector: dict[str, Any]) -> None:
    recovery = RecoveryKey.from_words(vector["words"])
    assert recovery.public_key.hex() == vector["public_key"]
    assert recovery.sign_message(bytes.fromhex(vector["message"])).hex() == vector["signature"]


@pytest.mark.parametrize(
    ("ikm", "salt", "info", "length", "okm"),
    [
        (  # RFC 5869 A.1
            "0b" * 22,
            "000102030405060708090a0b0c",
            "f0f1f2f3f4f5f6f7f8f9",
            42,
            "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865",
        ),
        (  # RFC 5869 A.3: no salt, no info
            "0b" * 22,
            None,
            "",
            42,
            "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8",
        ),
    ],
)
def test_hkdf_rfc5869(ikm: str, salt: str | None, info: str, length: int, okm: str) -> None:
    salt_bytes = None if salt is None else bytes.fromhex(salt)
    assert hkdf_sha256(bytes.fromhex(ikm), salt=salt_bytes, info=bytes.fromhex(info), length=length).hex() == okm


def test_hkdf_rfc5869_long_inputs() -> None:
    # RFC 5869 A.2: 80-byte inputs, 82 bytes out (three blocks).
    ikm, salt, info = bytes(range(0x00, 0x50)), bytes(range(0x60, 0xB0)), bytes(range(0xB0, 0x100))
    okm = hkdf_sha256(ikm, salt=salt, info=info, length=82)
    assert okm.hex() == (
        "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c"
        "59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71"
        "cc30c58179ec3e87c14c01d5c1f3434f1d87"
    )
