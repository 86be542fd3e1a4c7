"""Sealed boxes: anonymous public-key encryption to a node's X25519 key.

A box is ``b"\\x01" + ephemeral_public (32) + ciphertext_and_tag``. The sender
makes a fresh X25519 key per message, derives a one-time ChaCha20-Poly1305 key
with HKDF-SHA256 over the shared secret (salted with both public keys, so the
key is bound to this exact sender half and recipient), and authenticates the
caller's ``context`` as associated data. Because every key is used once, a
fixed all-zero nonce is safe.

Opening fails with one error and one message whatever went wrong (too short,
unknown version, low-order point, wrong key, wrong context, tampering), so a
prober learns nothing from the failure.
"""

from __future__ import annotations

import secrets

import nacl.bindings
import nacl.exceptions

from crypto.errors import InvalidKey, SealError
from crypto.primitives import hkdf_sha256, x25519, x25519_public_key

__all__ = ["SEAL_PUBLIC_KEY_SIZE", "open_sealed", "seal"]

SEAL_PUBLIC_KEY_SIZE = 32

_VERSION = b"\x01"
_HKDF_INFO = b"mutualaid/v1/seal"
_NONCE = bytes(12)
_TAG_SIZE = 16
_HEADER_SIZE = len(_VERSION) + SEAL_PUBLIC_KEY_SIZE
_MIN_SIZE = _HEADER_SIZE + _TAG_SIZE


def _message_key(shared: bytes, ephemeral_public: bytes, recipient_public: bytes) -> bytes:
    return hkdf_sha256(shared, salt=ephemeral_public + recipient_public, info=_HKDF_INFO)


def seal(recipient_seal_public_key: bytes, plaintext: bytes, *, context: bytes = b"") -> bytes:
    """Encrypt ``plaintext`` so only the holder of the recipient's key can read it.

    ``context`` is authenticated but not sent: the recipient must pass the same
    bytes to open the box. Raises ``InvalidKey`` for a malformed or low-order
    recipient key.
    """
    if len(recipient_seal_public_key) != SEAL_PUBLIC_KEY_SIZE:
        raise InvalidKey(
            f"sealing public key must be {SEAL_PUBLIC_KEY_SIZE} bytes, got {len(recipient_seal_public_key)}"
        )
    recipient_seal_public_key = bytes(recipient_seal_public_key)
    ephemeral = secrets.token_bytes(SEAL_PUBLIC_KEY_SIZE)
    try:
        shared = x25519(ephemeral, recipient_seal_public_key)
    except ValueError as exc:
        # An all-zero shared secret, which only a low-order point can
        # produce: such a "key" has no private half.
        raise InvalidKey("sealing public key is a low-order point") from exc
    ephemeral_public = x25519_public_key(ephemeral)
    key = _message_key(shared, ephemeral_public, recipient_seal_public_key)
    ciphertext = nacl.bindings.crypto_aead_chacha20poly1305_ietf_encrypt(bytes(plaintext), bytes(context), _NONCE, key)
    return _VERSION + ephemeral_public + ciphertext


def open_sealed(private_key: bytes, sealed: bytes, *, context: bytes = b"") -> bytes:
    """Decrypt a box made by ``seal`` for the raw X25519 ``private_key``; raises ``SealError``."""
    if len(sealed) < _MIN_SIZE or sealed[:1] != _VERSION:
        raise SealError()
    ephemeral_public = bytes(sealed[1:_HEADER_SIZE])
    recipient_public = x25519_public_key(private_key)
    try:
        shared = x25519(private_key, ephemeral_public)
        key = _message_key(shared, ephemeral_public, recipient_public)
        return nacl.bindings.crypto_aead_chacha20poly1305_ietf_decrypt(
            bytes(sealed[_HEADER_SIZE:]), bytes(context), _NONCE, key
        )
    except (nacl.exceptions.CryptoError, ValueError):
        # One error for every cause; the cause is dropped on purpose.
        raise SealError() from None
