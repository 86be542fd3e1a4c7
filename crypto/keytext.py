"""The short text form of a public key that people copy, paste and read aloud.

Form: ``"ma1"`` + lowercase base32 (RFC 4648, no padding) of the 32-byte key
followed by a 2-byte checksum, the first two bytes of
``sha256(b"mutualaid/v1/keytext\\x00" + key)``: 58 characters in all. Base32
avoids the characters people confuse (0/O, 1/l) and survives case changes;
the checksum turns a typo into an error instead of a wrong peer (a changed
key slips through with probability 2**-16).

Parsing is forgiving about presentation (whitespace anywhere, any case, or the
64-character hex form tools print) and strict about content, with a message
that says which rule failed.
"""

from __future__ import annotations

import base64
import hashlib
import string

from crypto.errors import InvalidKey

__all__ = ["public_key_from_text", "public_key_to_text"]

_PREFIX = "ma1"
_KEY_SIZE = 32
_CHECKSUM_SIZE = 2
_CHECKSUM_TAG = b"mutualaid/v1/keytext\x00"
_BODY_LENGTH = 55  # ceil((32 + 2) * 8 / 5)
_ALPHABET = frozenset("abcdefghijklmnopqrstuvwxyz234567")
_HEX_LENGTH = 2 * _KEY_SIZE
_HEX_DIGITS = frozenset(string.hexdigits)


def _checksum(key: bytes) -> bytes:
    return hashlib.sha256(_CHECKSUM_TAG + key).digest()[:_CHECKSUM_SIZE]


def public_key_to_text(public_key: bytes) -> str:
    """Return the ``ma1...`` text form of a raw 32-byte public key."""
    if len(public_key) != _KEY_SIZE:
        raise InvalidKey(f"public key must be {_KEY_SIZE} bytes, got {len(public_key)}")
    body = base64.b32encode(public_key + _checksum(public_key)).decode("ascii")
    return _PREFIX + body.rstrip("=").lower()


def public_key_from_text(text: str) -> bytes:
    """Parse the ``ma1...`` or 64-hex-character form; raises ``InvalidKey``."""
    compact = "".join(text.split()).lower()
    if len(compact) == _HEX_LENGTH and _HEX_DIGITS.issuperset(compact):
        return bytes.fromhex(compact)
    if not compact.startswith(_PREFIX):
        raise InvalidKey(f"public key text must start with {_PREFIX!r} (or be {_HEX_LENGTH} hex digits)")
    body = compact[len(_PREFIX) :]
    for position, char in enumerate(body, start=len(_PREFIX) + 1):
        if char not in _ALPHABET:
            raise InvalidKey(
                f"public key text has a bad character {char!r} at position {position}; only a-z and 2-7 are used"
            )
    if len(body) != _BODY_LENGTH:
        raise InvalidKey(f"public key text must be {len(_PREFIX) + _BODY_LENGTH} characters, got {len(compact)}")
    key = base64.b32decode(body.upper() + "=" * (-len(body) % 8))[:_KEY_SIZE]
    # Comparing against a fresh encoding checks the checksum and also the 3
    # unused bits of the last character, which the decoder ignores: a typo
    # that only touched those would otherwise be accepted.
    if public_key_to_text(key) != compact:
        raise InvalidKey("public key text checksum does not match (a typo?)")
    return key
