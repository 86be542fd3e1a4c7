"""Ed25519 signature verification and the domain-separated message format.

Every signature in mutualaid covers ``b"mutualaid/v1/" + domain + b"\\x00" +
payload``. Domain names never contain NUL, so no prefix is a prefix of
another, and a signature made for one domain can never verify in another.

Verification sits on the hot ingest path, so it goes through libsodium (via
PyNaCl's bindings): it is close to twice as fast as ``cryptography`` here and
applies the strict RFC 8032 checks (canonical S, no small-order points).
Signing lives with the private key in ``identity``.
"""

from __future__ import annotations

import enum

import nacl.bindings
import nacl.exceptions

from crypto.errors import BadSignature

__all__ = [
    "PUBLIC_KEY_SIZE",
    "SIGNATURE_SIZE",
    "Domain",
    "signing_message",
    "verify",
    "verify_message",
    "verify_message_reference",
]

PUBLIC_KEY_SIZE = 32
SIGNATURE_SIZE = 64

_PREFIX = b"mutualaid/v1/"


class Domain(enum.Enum):
    """What a signature is for; one domain's signatures never verify in another."""

    RECORD = "record"
    PEER_REQUEST = "peer-request"
    BUNDLE = "bundle"
    KEY_ROTATION = "key-rotation"
    """The new key's consent to a key rotation (``proof``, docs/PROTOCOL.md 3.4)."""


# Built once so the hot path does a dict lookup rather than an encode per call.
_DOMAIN_PREFIX: dict[Domain, bytes] = {domain: _PREFIX + domain.value.encode("ascii") + b"\x00" for domain in Domain}


def signing_message(domain: Domain, payload: bytes) -> bytes:
    """Return the exact bytes a signature for ``payload`` in ``domain`` covers."""
    return _DOMAIN_PREFIX[domain] + payload


def verify_message(public_key: bytes, message: bytes, signature: bytes) -> None:
    """Check ``signature`` over an already-prefixed ``message``.

    Raises ``BadSignature`` if it does not verify, including when the key or
    signature has the wrong length.
    """
    # Lengths are checked here, not left to libsodium: the binding hands the
    # key to C as a bare pointer, and a short signature would silently borrow
    # bytes from the message (sig + message is split at a fixed offset).
    if len(public_key) != PUBLIC_KEY_SIZE:
        raise BadSignature(f"public key must be {PUBLIC_KEY_SIZE} bytes, got {len(public_key)}")
    if len(signature) != SIGNATURE_SIZE:
        raise BadSignature(f"signature must be {SIGNATURE_SIZE} bytes, got {len(signature)}")
    try:
        # PyNaCl exposes no detached verify; crypto_sign_open on sig + message
        # is the cheapest public route (VerifyKey adds an object and the same
        # concatenation on top of it).
        nacl.bindings.crypto_sign_open(signature + message, public_key)
    except (nacl.exceptions.BadSignatureError, ValueError, TypeError) as exc:
        raise BadSignature("signature does not verify") from exc


def verify(public_key: bytes, domain: Domain, payload: bytes, signature: bytes) -> None:
    """Check ``signature`` over ``payload`` in ``domain``; raises ``BadSignature``."""
    verify_message(public_key, _DOMAIN_PREFIX[domain] + payload, signature)


def verify_message_reference(public_key: bytes, message: bytes, signature: bytes) -> None:
    """The same check through ``cryptography`` (OpenSSL) instead of libsodium.

    Not used on the hot path: it is the yardstick the ingest benchmark
    compares against, and a second opinion the tests cross-check with.
    """
    from cryptography.exceptions import InvalidSignature  # noqa: PLC0415
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey  # noqa: PLC0415

    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
    except (InvalidSignature, ValueError) as exc:
        raise BadSignature("signature does not verify") from exc
