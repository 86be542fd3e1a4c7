"""A chapter's recovery key: kept on paper, off the node, and outranking its node key.

At ``init`` the node makes a second Ed25519 key from 32 fresh random bytes and
prints them once as 24 BIP-39 words (the standard English list, whose last
word carries a checksum, so a mistyped or missing word is an error, not a
different key) and as a QR code. Only its public key stays on the node
(``recovery.pub``) and goes into the node's signed profile; peers pin it.
The one thing it signs is a ``key_rotation`` record naming the node key that
replaces one lost or stolen (docs/OPERATING.md, "When the key is lost or leaks").
"""

from __future__ import annotations

import secrets
import unicodedata

from mnemonic import Mnemonic

from crypto.errors import InvalidKey
from crypto.primitives import ed25519_secret_key, ed25519_sign

__all__ = ["RECOVERY_WORDS", "RecoveryKey"]

RECOVERY_WORDS = 24
"""256 bits of key and 8 of checksum, 11 bits a word."""
_SEED_SIZE = 32
_WORDS = Mnemonic("english")


class RecoveryKey:
    """The recovery key's secret; it signs like a node identity (``Signer``)."""

    __slots__ = ("_public_key", "_secret_key", "_seed")

    def __init__(self, seed: bytes) -> None:
        if not isinstance(seed, bytes) or len(seed) != _SEED_SIZE:
            raise InvalidKey(f"a recovery key is {_SEED_SIZE} bytes")
        self._seed = seed
        self._secret_key = ed25519_secret_key(seed)
        self._public_key = self._secret_key[_SEED_SIZE:]

    @classmethod
    def generate(cls) -> RecoveryKey:
        return cls(secrets.token_bytes(_SEED_SIZE))

    @classmethod
    def from_words(cls, text: str) -> RecoveryKey:
        """The key written down as words; raises ``InvalidKey`` saying what is wrong."""
        words = unicodedata.normalize("NFKD", text).lower().split()
        if len(words) != RECOVERY_WORDS:
            raise InvalidKey(f"a recovery key is {RECOVERY_WORDS} words; {len(words)} were given")
        unknown = [str(n) for n, word in enumerate(words, 1) if word not in _WORDS.wordlist]
        if unknown:  # by place only: a word of the key is never repeated back
            raise InvalidKey(f"not on the word list: word {', '.join(unknown)}; check the spelling")
        try:
            seed = bytes(_WORDS.to_entropy(words))
        except ValueError:
            raise InvalidKey("the words do not add up (their checksum fails): one is wrong or out of place") from None
        return cls(seed)

    @property
    def words(self) -> str:
        return str(_WORDS.to_mnemonic(self._seed))

    @property
    def public_key(self) -> bytes:
        return self._public_key

    def sign_message(self, message: bytes) -> bytes:
        return ed25519_sign(self._secret_key, message)

    def __repr__(self) -> str:
        return "RecoveryKey(...)"
