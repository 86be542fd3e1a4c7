"""Exceptions raised by the crypto package.

Everything this package raises on bad input or a failed check is a
``CryptoError``; library exceptions from ``cryptography`` and ``nacl`` are
translated where they are caught and never escape. The tree:

    CryptoError
    ├── KeyFileError   a key file is missing, unreadable, malformed, not an
    │                  Ed25519 key, has insecure permissions, or its passphrase
    │                  is missing or wrong; also a failed save
    ├── InvalidKey     a public key or seed is malformed: wrong length, bad
    │                  text form, checksum mismatch, low-order sealing key
    ├── BadSignature   a signature does not verify, or the signature or key has
    │                  the wrong length
    └── SealError      a sealed message cannot be opened, for any reason

``SealError`` deliberately carries one fixed message whatever went wrong, so
that a sender probing with crafted boxes learns nothing about why one failed.
"""

from __future__ import annotations

__all__ = ["BadSignature", "CryptoError", "InvalidKey", "KeyFileError", "SealError"]


class CryptoError(Exception):
    """Root of every error raised by the crypto package."""


class KeyFileError(CryptoError):
    """A key file cannot be used; the message names the file and the fix."""


class InvalidKey(CryptoError):
    """A public key (raw or text form) or a seed is malformed."""


class BadSignature(CryptoError):
    """A signature does not verify for this key and message."""


class SealError(CryptoError):
    """A sealed message cannot be opened."""

    def __init__(self) -> None:
        super().__init__("sealed message cannot be opened")

    def __reduce__(self) -> tuple[type[SealError], tuple[()]]:
        # The default would call SealError(message), which __init__ refuses;
        # errors must survive pickling to cross a process-pool boundary.
        return (type(self), ())
