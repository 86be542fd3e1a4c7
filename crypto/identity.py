"""A node's identity: one secret seed behind a signing key and a sealing key.

The Ed25519 signing key is the seed itself; the X25519 sealing key is derived
from it with HKDF-SHA256 rather than by converting the Ed25519 key, so the two
uses share no key material directly, and one key file still restores both.
The secret never leaves this object except through ``save``.
"""

from __future__ import annotations

import os
import secrets

from crypto.errors import InvalidKey
from crypto.keyfile import read_key_file, write_key_file
from crypto.keytext import public_key_to_text
from crypto.primitives import ed25519_secret_key, ed25519_sign, hkdf_sha256, x25519_public_key
from crypto.sealing import open_sealed
from crypto.signing import Domain, signing_message

__all__ = ["SEED_SIZE", "NodeIdentity"]

SEED_SIZE = 32

_SEAL_KEY_INFO = b"mutualaid/v1/x25519"


def _derive_seal_key(seed: bytes) -> bytes:
    return hkdf_sha256(seed, salt=None, info=_SEAL_KEY_INFO)


class NodeIdentity:
    """A node's Ed25519 signing key; its X25519 sealing key is derived from the
    same 32-byte seed with HKDF-SHA256 (info=b"mutualaid/v1/x25519"), so one key
    file holds the whole identity.

    Make one with ``generate``, ``from_seed`` or ``load``.
    """

    __slots__ = ("_public_key", "_seal_key", "_seal_public_key", "_secret_key")

    def __init__(self, seed: bytes) -> None:
        if not isinstance(seed, bytes) or len(seed) != SEED_SIZE:
            raise InvalidKey(f"identity seed must be {SEED_SIZE} bytes")
        # libsodium's 64-byte secret: the seed, then the public key.
        self._secret_key = ed25519_secret_key(seed)
        self._seal_key = _derive_seal_key(seed)
        # Cached: both are read on every signed message and every sealed reply.
        self._public_key = self._secret_key[SEED_SIZE:]
        self._seal_public_key = x25519_public_key(self._seal_key)

    @classmethod
    def generate(cls) -> NodeIdentity:
        """Make a new identity from a fresh random seed."""
        return cls(secrets.token_bytes(SEED_SIZE))

    @classmethod
    def from_seed(cls, seed: bytes) -> NodeIdentity:
        """Rebuild an identity from its 32-byte seed; raises ``InvalidKey``."""
        return cls(seed)

    @property
    def public_key(self) -> bytes:
        """The raw 32-byte Ed25519 public key: the node's name on the network."""
        return self._public_key

    @property
    def seal_public_key(self) -> bytes:
        """The raw 32-byte X25519 public key others ``seal`` messages to."""
        return self._seal_public_key

    def sign(self, domain: Domain, payload: bytes) -> bytes:
        """Return a 64-byte signature over ``payload`` in ``domain``."""
        return ed25519_sign(self._secret_key, signing_message(domain, payload))

    def sign_message(self, message: bytes) -> bytes:
        """Sign a message that already carries its domain prefix."""
        return ed25519_sign(self._secret_key, message)

    def open_sealed(self, sealed: bytes, *, context: bytes = b"") -> bytes:
        """Open a box sealed to this identity; raises ``SealError``."""
        return open_sealed(self._seal_key, sealed, context=context)

    def save(self, path: str | os.PathLike[str], *, passphrase: bytes | None = None) -> None:
        """Write the identity atomically to a 0600 key file; raises ``KeyFileError``."""
        write_key_file(os.fspath(path), self._secret_key[:SEED_SIZE], passphrase)

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, passphrase: bytes | None = None) -> NodeIdentity:
        """Read an identity saved by ``save``; raises ``KeyFileError``."""
        return cls(read_key_file(os.fspath(path), passphrase))

    def __repr__(self) -> str:
        return f"NodeIdentity(public_key={public_key_to_text(self._public_key)!r})"
