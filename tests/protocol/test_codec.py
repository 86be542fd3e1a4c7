"""The canonical codec: round trips, and exactly one accepted encoding.

Invariant (as in h11's fuzz harness): whatever bytes ``decode`` is fed, it
returns a value or raises ``DecodeError``; nothing else escapes.
"""

from __future__ import annotations

import struct
from typing import Any

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.codec import DEFAULT_LIMITS, Limits, Value, decode, decode_strict, encode
from protocol.errors import DecodeError, EncodeError

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.text(max_size=300)
    | st.binary(max_size=300)
)
values: st.SearchStrategy[Any] = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=20) | st.dictionaries(st.text(max_size=40), children, max_size=20),
    max_leaves=60,
)


SMALL = Limits(max_size=2048, max_str=64, max_bin=64, max_array=8, max_map=8, max_depth=3)


def decode_or_error(data: bytes, limits: Limits = DEFAULT_LIMITS) -> Value | DecodeError:
    result: Value | DecodeError
    try:
        result = decode(data, limits)
    except DecodeError as exc:
        result = exc
    # Differential: the fast path and the strict reader accept exactly the same inputs.
    try:
        strict = decode_strict(data, limits)
    except DecodeError:
        assert isinstance(result, DecodeError), f"fast path accepted what the strict reader refuses: {data!r}"
    else:
        assert not isinstance(result, DecodeError), f"fast path refused a canonical value: {data!r} ({result!r})"
        assert result == strict
    return result


@given(values)
def test_round_trip(value: Value) -> None:
    data = encode(value)
    assert decode(data) == value
    assert encode(decode(data)) == data


@given(values)
def test_encoding_is_msgpack_with_sorted_keys(value: Value) -> None:
    """Any msgpack library that sorts map keys by their UTF-8 bytes writes the same bytes."""

    def sort(v: Any) -> Any:
        if isinstance(v, dict):
            return {k: sort(v[k]) for k in sorted(v, key=lambda k: k.encode())}
        if isinstance(v, list):
            return [sort(x) for x in v]
        return v

    assert encode(value) == msgpack.packb(sort(value), use_bin_type=True)


@given(st.binary(max_size=400))
def test_random_bytes_decode_or_raise_decode_error(data: bytes) -> None:
    decode_or_error(data)
    decode_or_error(data, SMALL)


@settings(max_examples=300)
@given(values, st.data())
def test_fast_and_strict_readers_agree_under_tight_limits(value: Value, data: st.DataObject) -> None:
    raw = encode(value)
    decode_or_error(raw, SMALL)
    cut = data.draw(st.integers(0, len(raw)))
    decode_or_error(raw[:cut] + data.draw(st.binary(max_size=4)), SMALL)


@settings(max_examples=60, deadline=None)  # a correctness test: a loaded machine must not fail it
@given(values, st.binary(min_size=1, max_size=8))
def test_truncations_and_trailing_junk_are_rejected(value: Value, junk: bytes) -> None:
    data = encode(value)
    # One byte at a time: every strict prefix is incomplete, the whole is a value.
    for end in range(len(data)):
        assert isinstance(decode_or_error(data[:end]), DecodeError)
    assert decode(data) == value
    assert isinstance(decode_or_error(data + junk), DecodeError)


@given(values, st.data())
def test_mutated_encodings_never_escape(value: Value, data: st.DataObject) -> None:
    raw = bytearray(encode(value))
    for _ in range(data.draw(st.integers(1, 4))):
        index = data.draw(st.integers(0, len(raw) - 1))
        raw[index] = data.draw(st.integers(0, 255))
    result = decode_or_error(bytes(raw))
    decode_or_error(bytes(raw), SMALL)
    if not isinstance(result, DecodeError):
        assert encode(result) == bytes(raw)  # whatever is accepted is canonical


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"\xcc\x05", "uint8 for a fixint"),
        (b"\xcd\x00\xff", "uint16 for a uint8"),
        (b"\xce\x00\x00\xff\xff", "uint32 for a uint16"),
        (b"\xcf\x00\x00\x00\x00\xff\xff\xff\xff", "uint64 for a uint32"),
        (b"\xd0\xff", "int8 for a negative fixint"),
        (b"\xd0\x05", "int8 for a positive value"),
        (b"\xd1\xff\x80", "int16 for an int8"),
        (b"\xd3\x00\x00\x00\x00\x00\x00\x00\x01", "int64 for a positive value"),
        (b"\xd9\x01a", "str8 for a fixstr"),
        (b"\xda\x00\x01a", "str16 for a short string"),
        (b"\xc5\x00\x01a", "bin16 for a short byte string"),
        (b"\xdc\x00\x01\x01", "array16 for a fixarray"),
        (b"\xde\x00\x01\xa1a\x01", "map16 for a fixmap"),
        (b"\x82\xa1b\x01\xa1a\x02", "unsorted keys"),
        (b"\x82\xa1a\x01\xa1a\x02", "duplicate keys"),
        (b"\x81\x01\x02", "non-string key"),
        (b"\xca\x00\x00\x00\x00", "float32"),
        (b"\xcb" + struct.pack(">d", 1.5), "float64"),
        (b"\xd4\x01\x00", "fixext1"),
        (b"\xc7\x01\x01\x00", "ext8"),
        (b"\xc1", "reserved byte"),
        (b"\xa2\xff\xfe", "invalid UTF-8"),
        (b"\x01\x02", "trailing byte"),
        (b"", "empty input"),
        (b"\x91", "array missing its item"),
        (b"\xdd\xff\xff\xff\xff", "huge array header on no data"),
        (b"\xc6\xff\xff\xff\xff", "huge bin header on no data"),
    ],
)
def test_non_canonical_or_malformed_is_rejected(data: bytes, why: str) -> None:
    with pytest.raises(DecodeError):
        decode(data)
    with pytest.raises(DecodeError):
        decode_strict(data)


def test_map_keys_sort_by_utf8_bytes_not_length() -> None:
    assert encode({"b": 1, "aa": 2}) == b"\x82\xa2aa\x02\xa1b\x01"
    assert decode(b"\x82\xa2aa\x02\xa1b\x01") == {"aa": 2, "b": 1}


def test_limits_apply_while_decoding() -> None:
    limits = Limits(max_size=100, max_str=4, max_bin=4, max_array=3, max_map=2, max_depth=2)
    assert decode(encode([[1]]), limits) == [[1]]
    cases = [
        encode([[[1]]]),  # depth 3
        encode("abcde"),
        encode(b"abcde"),
        encode([1, 2, 3, 4]),
        encode({"a": 1, "b": 2, "c": 3}),
        encode([0] * 3) + b"",  # fine, control below
    ]
    for data in cases[:-1]:
        with pytest.raises(DecodeError):
            decode(data, limits)
    with pytest.raises(DecodeError, match="exceeds the limit"):
        decode(encode(b"x" * 200), limits)
    # Deep nesting far past the limit fails fast instead of recursing.
    with pytest.raises(DecodeError, match="nesting"):
        decode(b"\x91" * 10_000 + b"\x00")


@pytest.mark.parametrize("value", [1.5, {1: 2}, 2**64, -(2**63) - 1, object(), "\ud800"])
def test_values_without_a_canonical_encoding(value: Any) -> None:
    with pytest.raises(EncodeError):
        encode(value)


def test_decode_refuses_non_bytes() -> None:
    with pytest.raises(DecodeError):
        decode("text")  # type: ignore[arg-type]
