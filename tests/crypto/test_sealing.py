# Sealed boxes: round trips, and one error (SealError, one message) for every
# way a box can fail to open.

from __future__ import annotations

import pickle

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crypto import InvalidKey, NodeIdentity, SealError, seal

RECIPIENT = NodeIdentity.from_seed(b"r" * 32)
OTHER = NodeIdentity.from_seed(b"o" * 32)
OVERHEAD = 1 + 32 + 16


@given(plaintext=st.binary(max_size=4096), context=st.binary(max_size=64))
def test_round_trip(plaintext: bytes, context: bytes) -> None:
    sealed = seal(RECIPIENT.seal_public_key, plaintext, context=context)
    assert len(sealed) == len(plaintext) + OVERHEAD
    assert sealed[0] == 1
    assert RECIPIENT.open_sealed(sealed, context=context) == plaintext


def test_default_context_is_empty() -> None:
    assert RECIPIENT.open_sealed(seal(RECIPIENT.seal_public_key, b"x"), context=b"") == b"x"


def test_two_seals_differ() -> None:
    first = seal(RECIPIENT.seal_public_key, b"same")
    second = seal(RECIPIENT.seal_public_key, b"same")
    assert first != second
    assert first[1:33] != second[1:33]


def test_wrong_recipient() -> None:
    sealed = seal(RECIPIENT.seal_public_key, b"for R only")
    with pytest.raises(SealError, match=r"^sealed message cannot be opened$"):
        OTHER.open_sealed(sealed)


def test_signing_key_is_not_the_sealing_key() -> None:
    # Sealing to the Ed25519 key by mistake must not produce an openable box.
    sealed = seal(RECIPIENT.public_key, b"x")
    with pytest.raises(SealError):
        RECIPIENT.open_sealed(sealed)


@pytest.mark.parametrize(("sealed_with", "opened_with"), [(b"a", b"b"), (b"a", b""), (b"", b"a")])
def test_wrong_context(sealed_with: bytes, opened_with: bytes) -> None:
    sealed = seal(RECIPIENT.seal_public_key, b"x", context=sealed_with)
    with pytest.raises(SealError):
        RECIPIENT.open_sealed(sealed, context=opened_with)


def test_every_byte_flip_fails() -> None:
    sealed = seal(RECIPIENT.seal_public_key, b"meet at the library", context=b"ctx")
    for index in range(len(sealed)):
        for mask in (0x01, 0x80, 0xFF):
            tampered = bytearray(sealed)
            tampered[index] ^= mask
            with pytest.raises(SealError, match=r"^sealed message cannot be opened$"):
                RECIPIENT.open_sealed(bytes(tampered), context=b"ctx")


def test_truncation_and_extension_fail() -> None:
    sealed = seal(RECIPIENT.seal_public_key, b"twelve bytes")
    for length in range(len(sealed)):
        with pytest.raises(SealError):
            RECIPIENT.open_sealed(sealed[:length])
    with pytest.raises(SealError):
        RECIPIENT.open_sealed(sealed + b"\x00")


def test_empty_input() -> None:
    with pytest.raises(SealError):
        RECIPIENT.open_sealed(b"")


@pytest.mark.parametrize("version", [0, 2, 255])
def test_unknown_version(version: int) -> None:
    sealed = seal(RECIPIENT.seal_public_key, b"x")
    with pytest.raises(SealError):
        RECIPIENT.open_sealed(bytes([version]) + sealed[1:])


def test_low_order_ephemeral_key() -> None:
    # An all-zero ephemeral key gives an all-zero shared secret, which the
    # library refuses with ValueError; it must surface as SealError.
    forged = b"\x01" + bytes(32) + bytes(40)
    with pytest.raises(SealError):
        RECIPIENT.open_sealed(forged)


def test_low_order_recipient_key() -> None:
    with pytest.raises(InvalidKey, match="low-order"):
        seal(bytes(32), b"x")


@pytest.mark.parametrize("length", [0, 31, 33, 64])
def test_wrong_length_recipient_key(length: int) -> None:
    with pytest.raises(InvalidKey, match="32 bytes"):
        seal(b"k" * length, b"x")


@given(data=st.binary(max_size=200), context=st.binary(max_size=8))
def test_arbitrary_bytes_raise_only_seal_error(data: bytes, context: bytes) -> None:
    with pytest.raises(SealError):
        RECIPIENT.open_sealed(data, context=context)


def test_seal_error_survives_pickling() -> None:
    # Errors may cross a process-pool boundary (bulk work runs in executors).
    error = pickle.loads(pickle.dumps(SealError()))  # noqa: S301 - our own bytes
    assert isinstance(error, SealError)
    assert str(error) == "sealed message cannot be opened"
