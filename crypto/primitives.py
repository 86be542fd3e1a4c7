"""The few raw primitives the keys are built from, on libsodium (PyNaCl's bindings).

A running node signs, derives its sealing key and opens sealed replies; all
of that is here over libsodium, which verification already loads, so a node
never imports ``cryptography`` (its Rust module alone is about 9 MiB of
resident memory: docs/STORAGE.md). The outputs are the same bytes the
``cryptography`` versions gave: Ed25519 is deterministic, X25519 clamps the
scalar the same way in both libraries, and HKDF is RFC 5869, written out
below because libsodium has no HKDF. tests/crypto/test_vectors.py holds
vectors made with the ``cryptography`` code to keep it so.
"""

from __future__ import annotations

import hashlib
import hmac

import nacl.bindings
import nacl.exceptions

__all__ = ["ed25519_public_key", "ed25519_secret_key", "ed25519_sign", "hkdf_sha256", "x25519", "x25519_public_key"]

_HASH = "sha256"
_HASH_SIZE = hashlib.sha256().digest_size


def hkdf_sha256(key_material: bytes, *, salt: bytes | None, info: bytes, length: int = 32) -> bytes:
    """HKDF-SHA256 (RFC 5869): extract with ``salt`` (none: a block of zeros), then expand."""
    if not 0 < length <= 255 * _HASH_SIZE:
        raise ValueError(f"HKDF-SHA256 gives 1 to {255 * _HASH_SIZE} bytes, not {length}")
    pseudo_random_key = hmac.digest(salt or bytes(_HASH_SIZE), key_material, _HASH)
    blocks: list[bytes] = []
    block = b""
    for counter in range(1, -(-length // _HASH_SIZE) + 1):
        block = hmac.digest(pseudo_random_key, block + info + bytes((counter,)), _HASH)
        blocks.append(block)
    return b"".join(blocks)[:length]


def ed25519_public_key(seed: bytes) -> bytes:
    """The 32-byte Ed25519 public key of a 32-byte seed."""
    public_key, _ = nacl.bindings.crypto_sign_seed_keypair(seed)
    return public_key


def ed25519_sign(secret_key: bytes, message: bytes) -> bytes:
    """A 64-byte Ed25519 signature; ``secret_key`` is libsodium's 64 bytes (seed + public key)."""
    return nacl.bindings.crypto_sign(message, secret_key)[: nacl.bindings.crypto_sign_BYTES]


def ed25519_secret_key(seed: bytes) -> bytes:
    """libsodium's 64-byte form of an Ed25519 secret: the seed, then its public key."""
    _, secret_key = nacl.bindings.crypto_sign_seed_keypair(seed)
    return secret_key


def x25519_public_key(private_key: bytes) -> bytes:
    """The X25519 public key of a 32-byte private key (clamped, as RFC 7748 says)."""
    return nacl.bindings.crypto_scalarmult_base(private_key)


def x25519(private_key: bytes, public_key: bytes) -> bytes:
    """The X25519 shared secret; raises ``ValueError`` when it is all zeros.

    Only a low-order point gives all zeros; libsodium refuses it, as
    ``cryptography`` did, and the callers turn it into their own error.
    """
    try:
        return nacl.bindings.crypto_scalarmult(private_key, public_key)
    except nacl.exceptions.RuntimeError:
        raise ValueError("X25519 with a low-order point") from None
