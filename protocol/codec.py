"""Canonical msgpack: the one byte encoding of every value on the wire.

Strategy: encoding normalises the value (maps sorted by the UTF-8 bytes of
their keys, which must be strings) and lets the msgpack C extension write it,
which always picks the shortest form. Decoding accepts only what the encoder
would have written (see ``decode`` for its fast path and strict reader), so
a value has exactly one encoding and a record's signature covers exactly one
meaning. Rejected: floats, ext types, the unused 0xc1 byte, non-minimal
integers and length headers, map keys that are not strings or not strictly
increasing (which also rejects duplicates), invalid UTF-8, and trailing
bytes. Whatever it is fed, ``decode`` returns a value or
raises ``DecodeError``; nothing else escapes (a Hypothesis test holds us to it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from struct import unpack_from

import msgpack

from protocol.errors import DecodeError, EncodeError

Value = None | bool | int | str | bytes | list["Value"] | dict[str, "Value"]

_INT_MIN = -(2**63)
_UINT_MAX = 2**64 - 1
_PLAIN = frozenset({str, bytes, bool, type(None)})
"""Types ``_normalise`` passes through unchanged (their subclasses too, by the longer way)."""


@dataclass(frozen=True)
class Limits:
    """Hard bounds applied while decoding; each is checked before allocation."""

    max_size: int = 64 * 1024
    """Total encoded bytes accepted."""
    max_str: int = 16 * 1024
    """Longest string, in encoded bytes."""
    max_bin: int = 16 * 1024
    """Longest byte string."""
    max_array: int = 4096
    """Most elements in one array."""
    max_map: int = 64
    """Most entries in one map."""
    max_depth: int = 8
    """Deepest nesting of arrays and maps (a scalar at top level is depth 0)."""


DEFAULT_LIMITS = Limits()


def encode(value: Value) -> bytes:
    """Return the canonical encoding of ``value``; ``EncodeError`` if it has none."""
    try:
        out: bytes = msgpack.packb(_normalise(value, 0), use_bin_type=True)
    except (ValueError, OverflowError, TypeError) as exc:  # surrogates, huge ints
        raise EncodeError(f"value has no canonical encoding: {exc}") from None
    return out


def _normalise(value: object, depth: int) -> object:
    if depth > 64:
        raise EncodeError("value nested too deeply to encode")
    if value is None or isinstance(value, (bool, str, bytes)):
        return value
    if isinstance(value, int):
        if not _INT_MIN <= value <= _UINT_MAX:
            raise EncodeError(f"integer {value} outside the 64-bit range")
        return value
    if isinstance(value, (list, tuple)):
        # Scalars inline (a receipts list is 10k small arrays: the call per item was most of its encoding).
        return [
            item
            if (kind := type(item)) in _PLAIN or (kind is int and _INT_MIN <= item <= _UINT_MAX)
            else _normalise(item, depth + 1)
            for item in value
        ]
    if isinstance(value, dict):
        for key in value:
            if not isinstance(key, str):
                raise EncodeError(f"map key {key!r} is not a string")
        ordered = sorted(value, key=lambda k: k.encode("utf-8", "surrogatepass"))
        return {key: _normalise(value[key], depth + 1) for key in ordered}
    raise EncodeError(f"{type(value).__name__} has no canonical encoding")


def decode(data: bytes, limits: Limits = DEFAULT_LIMITS) -> Value:
    """Decode exactly one canonical value from ``data`` or raise ``DecodeError``.

    Two readers, one meaning. The fast path is msgpack's C reader, with every
    length limit applied by it while it decodes and its own fixed nesting bound
    (it keeps an explicit stack, never the C stack); the value is then walked
    for depth and types and re-encoded, and accepted only if that gives back
    exactly ``data``. Anything the fast path refuses is handed to the strict
    reader below, which explains precisely what is wrong. A differential test
    holds the two to accepting exactly the same inputs.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise DecodeError(f"expected bytes, got {type(data).__name__}")
    buf = bytes(data)
    if len(buf) > limits.max_size:
        raise DecodeError(f"message of {len(buf)} bytes exceeds the limit of {limits.max_size}")
    try:
        value = msgpack.unpackb(
            buf,
            raw=False,
            strict_map_key=True,
            max_str_len=limits.max_str,
            max_bin_len=limits.max_bin,
            max_array_len=limits.max_array,
            max_map_len=limits.max_map,
            max_ext_len=0,
        )
        if _within(value, 0, limits.max_depth) and msgpack.packb(value, use_bin_type=True) == buf:
            return value  # type: ignore[no-any-return]
    except Exception:  # noqa: S110 - any refusal goes to the strict reader for its message
        pass
    return decode_strict(buf, limits)


def decode_checked(data: bytes) -> Value:
    """Decode bytes ``decode`` has already accepted (in another process, say):
    msgpack's C reader alone, with ``decode``'s options, so it gives the same
    value. Never for bytes from outside: it checks no limit and no canonical form."""
    return msgpack.unpackb(data, raw=False, strict_map_key=True)  # type: ignore[no-any-return]


_SCALAR_TYPES = frozenset({str, int, bytes, bool, type(None)})


def _within(value: object, depth: int, max_depth: int) -> bool:
    """True if ``value`` holds only canonical types, nests at most ``max_depth``
    and has map keys in order (so re-encoding it as it is must give the input)."""
    kind = type(value)
    if kind is dict:
        if depth >= max_depth:
            return False
        keys = list(value)  # type: ignore[call-overload]
        if any(type(k) is not str for k in keys) or keys != sorted(keys):
            return False  # code-point order is UTF-8 byte order for decoded text
        children = value.values()  # type: ignore[attr-defined]
    elif kind is list:
        if depth >= max_depth:
            return False
        children = value
    else:
        return kind in _SCALAR_TYPES
    return all(type(v) in _SCALAR_TYPES or _within(v, depth + 1, max_depth) for v in children)


def decode_strict(data: bytes, limits: Limits = DEFAULT_LIMITS) -> Value:
    """The reference reader: checks every limit before it allocates or recurses."""
    buf = bytes(data)
    if len(buf) > limits.max_size:
        raise DecodeError(f"message of {len(buf)} bytes exceeds the limit of {limits.max_size}")
    if not buf:
        raise DecodeError("empty input")
    reader = _Reader(buf, limits)
    value = reader.value(0)
    if reader.pos != len(buf):
        raise DecodeError(f"{len(buf) - reader.pos} trailing bytes after the value at offset {reader.pos}")
    return value


# Lower bound of the value range each fixed-width integer form may carry, so
# that the form is the shortest one possible (what msgpack's packer emits).
_UINT_FORMS = {0xCC: (1, ">B", 0x80), 0xCD: (2, ">H", 0x100), 0xCE: (4, ">I", 0x10000), 0xCF: (8, ">Q", 0x100000000)}
_INT_FORMS = {0xD0: (1, ">b", -0x21), 0xD1: (2, ">h", -0x81), 0xD2: (4, ">i", -0x8001), 0xD3: (8, ">q", -0x80000001)}
_STR_FORMS = {0xD9: (1, ">B", 32), 0xDA: (2, ">H", 0x100), 0xDB: (4, ">I", 0x10000)}
_BIN_FORMS = {0xC4: (1, ">B", 0), 0xC5: (2, ">H", 0x100), 0xC6: (4, ">I", 0x10000)}
_ARRAY_FORMS = {0xDC: (2, ">H", 16), 0xDD: (4, ">I", 0x10000)}
_MAP_FORMS = {0xDE: (2, ">H", 16), 0xDF: (4, ">I", 0x10000)}


class _Reader:
    __slots__ = ("buf", "limits", "pos")

    def __init__(self, buf: bytes, limits: Limits) -> None:
        self.buf = buf
        self.pos = 0
        self.limits = limits

    def _take(self, n: int) -> int:
        """Reserve ``n`` bytes and return their start offset."""
        start = self.pos
        if start + n > len(self.buf):
            raise DecodeError(f"truncated: need {n} bytes at offset {start}, have {len(self.buf) - start}")
        self.pos = start + n
        return start

    def _length(self, form: tuple[int, str, int], what: str, offset: int) -> int:
        width, fmt, minimum = form
        start = self._take(width)
        (n,) = unpack_from(fmt, self.buf, start)
        if n < minimum:
            raise DecodeError(f"non-canonical {what} length header at offset {offset}")
        return int(n)

    def value(self, depth: int) -> Value:
        offset = self._take(1)
        tag = self.buf[offset]
        return _READ[tag](self, tag, depth, offset)

    # One reader per kind of first byte, dispatched from ``_READ``.

    def _fixint(self, tag: int, depth: int, offset: int) -> Value:
        return tag if tag <= 0x7F else tag - 0x100

    def _fixstr(self, tag: int, depth: int, offset: int) -> Value:
        return self._str(tag & 0x1F, offset)

    def _fixarray(self, tag: int, depth: int, offset: int) -> Value:
        return self._array(tag & 0x0F, depth, offset)

    def _fixmap(self, tag: int, depth: int, offset: int) -> Value:
        return self._map(tag & 0x0F, depth, offset)

    def _constant(self, tag: int, depth: int, offset: int) -> Value:
        return _CONSTANTS[tag]

    def _uint(self, tag: int, depth: int, offset: int) -> Value:
        width, fmt, minimum = _UINT_FORMS[tag]
        (n,) = unpack_from(fmt, self.buf, self._take(width))
        if n < minimum:
            raise DecodeError(f"non-canonical integer {n} at offset {offset}")
        return int(n)

    def _int(self, tag: int, depth: int, offset: int) -> Value:
        width, fmt, maximum = _INT_FORMS[tag]
        (n,) = unpack_from(fmt, self.buf, self._take(width))
        if n > maximum:
            raise DecodeError(f"non-canonical integer {n} at offset {offset}")
        return int(n)

    def _sized_str(self, tag: int, depth: int, offset: int) -> Value:
        return self._str(self._length(_STR_FORMS[tag], "string", offset), offset)

    def _bin(self, tag: int, depth: int, offset: int) -> Value:
        n = self._length(_BIN_FORMS[tag], "bytes", offset)
        if n > self.limits.max_bin:
            raise DecodeError(f"byte string of {n} bytes at offset {offset} exceeds {self.limits.max_bin}")
        start = self._take(n)
        return self.buf[start : start + n]

    def _sized_array(self, tag: int, depth: int, offset: int) -> Value:
        return self._array(self._length(_ARRAY_FORMS[tag], "array", offset), depth, offset)

    def _sized_map(self, tag: int, depth: int, offset: int) -> Value:
        return self._map(self._length(_MAP_FORMS[tag], "map", offset), depth, offset)

    def _refused(self, tag: int, depth: int, offset: int) -> Value:
        if tag in (0xCA, 0xCB):
            raise DecodeError(f"float at offset {offset}: floats are not allowed")
        if tag == 0xC1:
            raise DecodeError(f"reserved byte 0xc1 at offset {offset}")
        raise DecodeError(f"ext type at offset {offset}: ext types are not allowed")

    def _str(self, n: int, offset: int) -> str:
        if n > self.limits.max_str:
            raise DecodeError(f"string of {n} bytes at offset {offset} exceeds {self.limits.max_str}")
        start = self._take(n)
        try:
            return self.buf[start : start + n].decode("utf-8")
        except UnicodeDecodeError:
            raise DecodeError(f"invalid UTF-8 in string at offset {offset}") from None

    def _array(self, n: int, depth: int, offset: int) -> list[Value]:
        if depth >= self.limits.max_depth:
            raise DecodeError(f"nesting deeper than {self.limits.max_depth} at offset {offset}")
        if n > self.limits.max_array:
            raise DecodeError(f"array of {n} items at offset {offset} exceeds {self.limits.max_array}")
        if n > len(self.buf) - self.pos:  # every item takes at least one byte
            raise DecodeError(f"truncated: array of {n} items at offset {offset}")
        return [self.value(depth + 1) for _ in range(n)]

    def _map(self, n: int, depth: int, offset: int) -> dict[str, Value]:
        if depth >= self.limits.max_depth:
            raise DecodeError(f"nesting deeper than {self.limits.max_depth} at offset {offset}")
        if n > self.limits.max_map:
            raise DecodeError(f"map of {n} entries at offset {offset} exceeds {self.limits.max_map}")
        if 2 * n > len(self.buf) - self.pos:
            raise DecodeError(f"truncated: map of {n} entries at offset {offset}")
        out: dict[str, Value] = {}
        previous = b""
        for index in range(n):
            key_offset = self.pos
            key = self.value(depth + 1)
            if not isinstance(key, str):
                raise DecodeError(f"map key at offset {key_offset} is not a string")
            raw = key.encode("utf-8")
            if index and raw <= previous:
                raise DecodeError(f"map key {key!r} at offset {key_offset} is duplicated or out of order")
            previous = raw
            out[key] = self.value(depth + 1)
        return out


_CONSTANTS: dict[int, Value] = {0xC0: None, 0xC2: False, 0xC3: True}
_Read = Callable[[_Reader, int, int, int], Value]


def _read_table() -> list[_Read]:
    """The reader of each first byte (every byte not named is refused)."""
    table: list[_Read] = [_Reader._refused] * 256
    spans: list[tuple[range | Iterable[int], _Read]] = [
        (range(0x00, 0x80), _Reader._fixint),
        (range(0xE0, 0x100), _Reader._fixint),
        (range(0xA0, 0xC0), _Reader._fixstr),
        (range(0x90, 0xA0), _Reader._fixarray),
        (range(0x80, 0x90), _Reader._fixmap),
        (_CONSTANTS, _Reader._constant),
        (_UINT_FORMS, _Reader._uint),
        (_INT_FORMS, _Reader._int),
        (_STR_FORMS, _Reader._sized_str),
        (_BIN_FORMS, _Reader._bin),
        (_ARRAY_FORMS, _Reader._sized_array),
        (_MAP_FORMS, _Reader._sized_map),
    ]
    for tags, reader in spans:
        for tag in tags:
            table[tag] = reader
    return table


_READ = _read_table()
