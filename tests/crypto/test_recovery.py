"""The recovery key on paper: 24 words that come back to the same key, and
every way of copying them wrong caught with a message, never a different key."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crypto import InvalidKey, RecoveryKey, verify
from crypto.signing import Domain, signing_message


@given(st.binary(min_size=32, max_size=32))
def test_the_words_bring_back_the_same_key(seed: bytes) -> None:
    key = RecoveryKey(seed)
    words = key.words
    assert len(words.split()) == 24
    again = RecoveryKey.from_words(f"  {words.upper()}\n")  # case and spacing do not matter
    assert again.public_key == key.public_key
    message = signing_message(Domain.RECORD, b"payload")
    verify(key.public_key, Domain.RECORD, b"payload", again.sign_message(message))  # raises if not


def test_words_copied_wrong_are_refused_with_what_is_wrong() -> None:
    words = RecoveryKey(b"\x01" * 32).words.split()
    with pytest.raises(InvalidKey, match="24 words; 23"):
        RecoveryKey.from_words(" ".join(words[:-1]))
    with pytest.raises(InvalidKey, match=r"not on the word list: word 3;"):
        RecoveryKey.from_words(" ".join([*words[:2], "abandonn", *words[3:]]))
    swapped = [words[1], words[0], *words[2:]] if words[0] != words[1] else [*words[:2], words[3], words[2], *words[4:]]
    with pytest.raises(InvalidKey, match="checksum"):
        RecoveryKey.from_words(" ".join(swapped))
    with pytest.raises(InvalidKey):
        RecoveryKey(b"short")
    assert repr(RecoveryKey(b"\x01" * 32)) == "RecoveryKey(...)"  # the secret never shows in a log
