# Text form of public keys: round trips, forgiving presentation, and a precise
# InvalidKey for each way the text can be wrong, including every typo.

from __future__ import annotations

import base64
import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crypto import InvalidKey, NodeIdentity, public_key_from_text, public_key_to_text

ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"
KEY = NodeIdentity.from_seed(b"k" * 32).public_key


@given(key=st.binary(min_size=32, max_size=32))
def test_round_trip(key: bytes) -> None:
    text = public_key_to_text(key)
    assert len(text) == 58
    assert text.startswith("ma1")
    assert set(text[3:]) <= set(ALPHABET)
    assert public_key_from_text(text) == key


def test_known_encoding() -> None:
    # Pins the format, recomputed from its definition: prefix, then base32 of
    # key + 2 checksum bytes, lowercase, no padding.
    key = bytes(32)
    checksum = hashlib.sha256(b"mutualaid/v1/keytext\x00" + key).digest()[:2]
    expected = "ma1" + base64.b32encode(key + checksum).decode().rstrip("=").lower()
    assert expected == "ma1" + "a" * 51 + "miei"
    assert public_key_to_text(key) == expected


def test_presentation_is_forgiving() -> None:
    text = public_key_to_text(KEY)
    assert public_key_from_text(text.upper()) == KEY
    assert public_key_from_text(f"  {text}\n") == KEY
    assert public_key_from_text(f"{text[:20]}\n  {text[20:]}") == KEY


@given(key=st.binary(min_size=32, max_size=32))
def test_hex_is_accepted(key: bytes) -> None:
    assert public_key_from_text(key.hex()) == key
    assert public_key_from_text(key.hex().upper()) == key


@pytest.mark.parametrize("seed", [bytes([n]) * 32 for n in range(8)])
def test_every_single_character_typo_is_caught(seed: bytes) -> None:
    text = public_key_to_text(NodeIdentity.from_seed(seed).public_key)
    for position in range(3, len(text)):
        for char in ALPHABET:
            if char != text[position]:
                typo = text[:position] + char + text[position + 1 :]
                with pytest.raises(InvalidKey, match="checksum"):
                    public_key_from_text(typo)


def test_adjacent_swaps_are_caught() -> None:
    text = public_key_to_text(KEY)
    for position in range(3, len(text) - 1):
        swapped = text[:position] + text[position + 1] + text[position] + text[position + 2 :]
        if swapped != text:
            with pytest.raises(InvalidKey):
                public_key_from_text(swapped)


@pytest.mark.parametrize("prefix", ["", "mb1", "ma2", "am1", "npub1"])
def test_wrong_prefix(prefix: str) -> None:
    text = prefix + public_key_to_text(KEY)[3:]
    with pytest.raises(InvalidKey, match="must start with 'ma1'"):
        public_key_from_text(text)


@pytest.mark.parametrize("change", ["drop", "add"])
def test_wrong_length(change: str) -> None:
    text = public_key_to_text(KEY)
    text = text[:-1] if change == "drop" else text + "a"
    with pytest.raises(InvalidKey, match="must be 58 characters, got"):
        public_key_from_text(text)


@pytest.mark.parametrize("bad", ["0", "1", "8", "9", "=", "-", "é"])
def test_bad_character(bad: str) -> None:
    text = public_key_to_text(KEY)
    text = text[:10] + bad + text[11:]
    with pytest.raises(InvalidKey, match=r"bad character .* at position 11"):
        public_key_from_text(text)


@pytest.mark.parametrize("text", ["", "ma1", "00" * 31, "00" * 33, "g" * 64])
def test_other_garbage(text: str) -> None:
    with pytest.raises(InvalidKey):
        public_key_from_text(text)


@pytest.mark.parametrize("length", [0, 31, 33])
def test_to_text_rejects_wrong_length(length: int) -> None:
    with pytest.raises(InvalidKey, match="32 bytes"):
        public_key_to_text(bytes(length))


@given(text=st.text(max_size=80))
def test_arbitrary_text_raises_only_invalid_key(text: str) -> None:
    try:
        key = public_key_from_text(text)
    except InvalidKey:
        return
    assert len(key) == 32
