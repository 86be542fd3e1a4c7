"""Bundles: records carried between nodes without a network (a USB stick, a file).

A bundle is one file: the records exactly as the exporting node holds them
(each still signed by its author), a header saying who made it, when and with
what filter, and the exporter's Ed25519 signature over everything before it
(domain ``bundle``), so one changed bit anywhere in the file is refused::

    "mutualaid bundle\\x00"                    17 bytes, the magic
    header length                            4 bytes, big-endian, at most MAX_HEADER_BYTES
    header                                   canonical msgpack map (below)
    count times: record length, record       4 bytes big-endian (1..MAX_RECORD_BYTES), the raw record
    signature                                64 bytes: Ed25519 by ``exporter`` over
                                             signing_message(Domain.BUNDLE, every byte before it)

The header is ``{"v": 1, "exporter": key, "created_at": t, "count": n}``,
with ``"since": t`` and ``"area": geohash`` when the export was filtered; no
other key. Nothing may follow the signature. ``decode_bundle`` checks the
cheap things first (the file's size, the magic, the header, every length,
the end), then the one signature; whatever it is fed it returns a ``Bundle``
or raises ``BundleInvalid``. The records inside are not checked here: each
goes through the receiving node's own ingest, exactly as if a peer had sent
it, so the bundle's signature says who carried them and that nothing changed
on the way, never that they are good.

Pure: no I/O, no clock (``created_at`` is given), like the rest of ``protocol``.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

from crypto import BadSignature, Domain, signing_message, verify_message
from crypto.signing import PUBLIC_KEY_SIZE, SIGNATURE_SIZE
from protocol import fields as f
from protocol.codec import Limits, Value, decode, encode
from protocol.errors import BundleInvalid, DecodeError, LocalProtocolError, RecordInvalid
from protocol.records import MAX_RECORD_BYTES, Signer

FORMAT = 1
MAGIC = b"mutualaid bundle\x00"
MEDIA_TYPE = "application/octet-stream"
"""How a bundle travels over HTTP (a type no HTML form can send cross-site)."""
BLOCKED_EXPORTER = "blocked_exporter"
"""The reason every record of a bundle is refused when its exporter is a blocked peer."""
MAX_BUNDLE_RECORDS = 100_000
"""Records in one bundle: a town's worth of posts, far more than a street needs."""
MAX_BUNDLE_BYTES = 64 * 1024 * 1024
"""A whole bundle file: it is read into memory, on a Raspberry Pi too."""
MAX_HEADER_BYTES = 256
_LENGTH = struct.Struct(">I")
_HEADER_LIMITS = Limits(max_size=MAX_HEADER_BYTES, max_str=16, max_bin=PUBLIC_KEY_SIZE, max_array=0, max_map=6,
                        max_depth=1)  # fmt: skip
_REQUIRED = ("v", "exporter", "created_at", "count")
_OPTIONAL = ("since", "area")


@dataclass(frozen=True)
class Bundle:
    """A bundle read whole and verified: who signed it, when, with which filter, and the records."""

    exporter: bytes
    created_at: int
    since: int | None
    area: str | None
    records: list[bytes]


class BundleTooLarge(LocalProtocolError):
    """Asked to make a bundle over ``MAX_BUNDLE_RECORDS`` or ``MAX_BUNDLE_BYTES``: narrow the export."""

    code = "bad_bundle"


def bundle_size(records: Sequence[bytes]) -> int:
    """The bytes of a bundle holding ``records`` (with a header of at most MAX_HEADER_BYTES)."""
    return len(MAGIC) + _LENGTH.size + MAX_HEADER_BYTES + sum(_LENGTH.size + len(r) for r in records) + SIGNATURE_SIZE


def check_size(records: Sequence[bytes]) -> None:
    """Raises ``BundleTooLarge`` when ``records`` do not fit in one bundle."""
    if len(records) > MAX_BUNDLE_RECORDS:
        raise BundleTooLarge(f"{len(records):,} records: a bundle holds at most {MAX_BUNDLE_RECORDS:,}")
    size = bundle_size(records)
    if size > MAX_BUNDLE_BYTES:
        raise BundleTooLarge(f"{size:,} bytes: a bundle holds at most {MAX_BUNDLE_BYTES:,}")


def encode_bundle(
    signer: Signer, records: Sequence[bytes], *, created_at: int, since: int | None = None, area: str | None = None
) -> bytes:
    """The signed bundle of ``records`` (raw, as held), made by ``signer`` at ``created_at``."""
    check_size(records)
    for raw in records:
        if not 0 < len(raw) <= MAX_RECORD_BYTES:
            raise LocalProtocolError(f"a record of {len(raw)} bytes cannot be in a bundle")
    header: dict[str, Value] = {"v": FORMAT, "exporter": signer.public_key, "created_at": created_at,
                                "count": len(records)}  # fmt: skip
    if since is not None:
        header["since"] = since
    if area is not None:
        header["area"] = area
    head = encode(header)
    parts = [MAGIC, _LENGTH.pack(len(head)), head]
    for raw in records:
        parts += (_LENGTH.pack(len(raw)), raw)
    body = b"".join(parts)
    return body + signer.sign_message(signing_message(Domain.BUNDLE, body))


def decode_bundle(data: bytes) -> Bundle:
    """The bundle in ``data``, every byte checked and its signature verified; else ``BundleInvalid``."""
    if len(data) > MAX_BUNDLE_BYTES:
        raise BundleInvalid("too_large", f"{len(data):,} bytes: a bundle is at most {MAX_BUNDLE_BYTES:,}")
    if not data:
        raise BundleInvalid("not_a_bundle", "the file is empty")
    if not data.startswith(MAGIC):
        if MAGIC.startswith(data):
            raise BundleInvalid("truncated", f"the file ends after {len(data)} bytes, inside the magic")
        raise BundleInvalid("not_a_bundle", "the file does not begin as a mutualaid bundle does")
    view = memoryview(data)
    at = len(MAGIC)
    head_length, at = _length(view, at, "the header's length")
    if head_length > MAX_HEADER_BYTES:
        raise BundleInvalid("bad_header", f"a header of {head_length:,} bytes; at most {MAX_HEADER_BYTES}")
    header = _header(_take(view, at, head_length, "the header"))
    at += head_length
    records: list[bytes] = []
    count = header.records
    for index in range(count):
        length, at = _length(view, at, f"record {index + 1}'s length")
        if not 0 < length <= MAX_RECORD_BYTES:
            raise BundleInvalid("bad_record_length", f"record {index + 1} of {count} claims {length:,} bytes "
                                f"(1 to {MAX_RECORD_BYTES:,}), at byte {at - _LENGTH.size}")  # fmt: skip
        records.append(bytes(_take(view, at, length, f"record {index + 1} of {count}")))
        at += length
    left = len(data) - at
    if left < SIGNATURE_SIZE:
        raise BundleInvalid("truncated", f"the file ends {SIGNATURE_SIZE - left} bytes short of its signature")
    if left > SIGNATURE_SIZE:
        raise BundleInvalid("trailing_bytes", f"{left - SIGNATURE_SIZE:,} bytes follow the signature")
    try:
        verify_message(header.exporter, signing_message(Domain.BUNDLE, bytes(view[:at])), bytes(view[at:]))
    except BadSignature:
        raise BundleInvalid("bad_signature", "the exporter's signature does not verify: the file was changed "
                            "after it was made, or damaged") from None  # fmt: skip
    return Bundle(header.exporter, header.created_at, header.since, header.area, records)


def _length(view: memoryview, at: int, what: str) -> tuple[int, int]:
    (value,) = _LENGTH.unpack_from(_take(view, at, _LENGTH.size, what))
    return int(value), at + _LENGTH.size


def _take(view: memoryview, at: int, length: int, what: str) -> memoryview:
    if at + length > len(view):
        raise BundleInvalid("truncated", f"the file ends inside {what}, at byte {len(view):,}")
    return view[at : at + length]


class _Header(NamedTuple):
    exporter: bytes
    created_at: int
    records: int
    since: int | None
    area: str | None


def _header(raw: memoryview) -> _Header:
    try:
        header = decode(bytes(raw), _HEADER_LIMITS)
    except DecodeError as exc:
        raise BundleInvalid("bad_header", f"the header is not one canonical msgpack map: {exc}") from None
    if not isinstance(header, dict):
        raise BundleInvalid("bad_header", "the header is not a map")
    if header.get("v") != FORMAT:
        raise BundleInvalid("unknown_version", f"a bundle of format {header.get('v')!r}; this node reads {FORMAT}")
    unknown = sorted(set(header) - {*_REQUIRED, *_OPTIONAL})
    missing = [name for name in _REQUIRED if name not in header]
    if unknown or missing:
        raise BundleInvalid("bad_header", f"the header lacks {missing} or has {unknown}")
    exporter, count = header["exporter"], header["count"]
    if not isinstance(exporter, bytes) or len(exporter) != PUBLIC_KEY_SIZE:
        raise BundleInvalid("bad_header", "the header's exporter is not a public key")
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise BundleInvalid("bad_header", "the header's count is not a whole number")
    if count > MAX_BUNDLE_RECORDS:
        raise BundleInvalid("too_many_records", f"{count:,} records: a bundle holds at most {MAX_BUNDLE_RECORDS:,}")
    try:
        created_at = f.timestamp("created_at", header["created_at"])
        since = None if "since" not in header else f.timestamp("since", header["since"])
        area = None if "area" not in header else f.geohash("area", header["area"])
    except RecordInvalid as exc:
        raise BundleInvalid("bad_header", f"the header's {exc}") from None
    return _Header(exporter, created_at, count, since, area)
