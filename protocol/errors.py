"""Errors raised by the pure protocol core.

One root, split the way h11 splits them: the *peer* (or whatever handed us the
bytes) broke the protocol, or *we* misused the API. Every error that can reach
the wire carries a stable ``code`` that the node puts in its JSON error body.

    ProtocolError
     +-- RemoteProtocolError        bytes or values from outside are wrong
     |    +-- DecodeError           not canonical msgpack, or over a limit
     |    +-- RecordInvalid         a well-formed value that is not a valid record
     |    +-- SignatureInvalid      the Ed25519 signature does not verify
     |    +-- ReconcileError        a malformed reconciliation message
     |    +-- BundleInvalid         a bundle file that is not whole, or not signed by its exporter
     +-- LocalProtocolError         our own caller passed something impossible
          +-- EncodeError           a value that has no canonical encoding
"""

from __future__ import annotations


class ProtocolError(Exception):
    """Root of every error raised by ``protocol``."""

    code = "protocol_error"


class RemoteProtocolError(ProtocolError):
    """Input from outside broke the protocol."""

    code = "bad_input"


class DecodeError(RemoteProtocolError):
    """Bytes that are not exactly one canonical msgpack value within limits."""

    code = "decode_error"


class RecordInvalid(RemoteProtocolError):
    """A decoded value that is not a valid record.

    ``reason`` is a short machine-readable slug (``title_too_long``,
    ``area_too_precise``...), ``field`` names the offending field when there is
    one, and the message says it for a human.
    """

    code = "invalid_record"

    def __init__(self, reason: str, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.field = field


class SignatureInvalid(RemoteProtocolError):
    """The record's signature does not verify against its author key."""

    code = "bad_signature"


class ReconcileError(RemoteProtocolError):
    """A reconciliation message that cannot be understood."""

    code = "bad_reconcile_message"


class BundleInvalid(RemoteProtocolError):
    """A bundle of records carried offline (``protocol/bundle.py``) that is not
    whole: not a bundle, truncated, over a limit, or its exporter's signature
    does not verify. ``reason`` is a short slug (``truncated``, ``bad_signature``...)."""

    code = "bad_bundle"

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class LocalProtocolError(ProtocolError):
    """We asked the core for something impossible (a bug on our side)."""

    code = "internal"


class EncodeError(LocalProtocolError):
    """A value with no canonical encoding (float, non-str key, int too large)."""

    code = "encode_error"
