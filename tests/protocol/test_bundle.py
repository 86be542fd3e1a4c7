"""Bundles (protocol/bundle.py): a round trip, and every damage refused with its reason.

Invariant, as for the codec: whatever bytes ``decode_bundle`` is fed, it
returns a ``Bundle`` or raises ``BundleInvalid``; nothing else escapes. And a
bundle is all or nothing: a flipped bit anywhere, a byte cut off or added,
is refused, so no record of a damaged file is ever looked at.
"""

from __future__ import annotations

import contextlib
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto import Domain, NodeIdentity, signing_message
from protocol.bundle import (
    MAGIC,
    MAX_BUNDLE_BYTES,
    MAX_BUNDLE_RECORDS,
    MAX_HEADER_BYTES,
    BundleTooLarge,
    bundle_size,
    decode_bundle,
    encode_bundle,
)
from protocol.codec import encode
from protocol.errors import BundleInvalid
from protocol.records import MAX_RECORD_BYTES, build_record

EXPORTER = NodeIdentity.from_seed(bytes(range(32)))
AUTHOR = NodeIdentity.from_seed(bytes(range(1, 33)))
NOW = 1_800_000_000


def _need(slot: str, area: str = "u4pru") -> bytes:
    body = {"kind": "need", "slot": slot, "created_at": NOW - 60, "expires_at": NOW + 86_400, "status": "open",
            "title": f"Need {slot}", "category": "food", "area": area}  # fmt: skip
    return build_record(AUTHOR, body).raw


RECORDS = [_need("a"), _need("b", "gcpvj"), _need("c")]
SMALL = encode_bundle(EXPORTER, RECORDS, created_at=NOW, since=NOW - 3600, area="u4")


def refused(data: bytes) -> str:
    with pytest.raises(BundleInvalid) as caught:
        decode_bundle(data)
    return caught.value.reason


def test_a_bundle_reads_back_as_written() -> None:
    bundle = decode_bundle(SMALL)
    assert bundle.records == RECORDS  # byte for byte
    assert (bundle.exporter, bundle.created_at, bundle.since, bundle.area) == (EXPORTER.public_key, NOW, NOW - 3600,
                                                                               "u4")  # fmt: skip
    plain = decode_bundle(encode_bundle(EXPORTER, [], created_at=NOW))
    assert (plain.records, plain.since, plain.area) == ([], None, None)
    assert len(SMALL) <= bundle_size(RECORDS)


def test_every_flipped_bit_is_refused() -> None:
    reasons = set()
    for at in range(len(SMALL)):
        for bit in range(8):
            damaged = bytearray(SMALL)
            damaged[at] ^= 1 << bit
            reasons.add(refused(bytes(damaged)))
    assert "bad_signature" in reasons and "not_a_bundle" in reasons


def test_every_cut_and_every_addition_is_refused() -> None:
    for length in range(len(SMALL)):
        assert refused(SMALL[:length]) in ("truncated", "not_a_bundle"), length
    assert refused(b"") == "not_a_bundle"
    assert refused(SMALL[:5]) == "truncated"
    assert refused(SMALL[:-1]) == "truncated"
    assert refused(SMALL + b"\x00") == "trailing_bytes"
    assert refused(SMALL + SMALL) == "trailing_bytes"


def _signed(body: bytes) -> bytes:
    return body + EXPORTER.sign_message(signing_message(Domain.BUNDLE, body))


def _framed(header: dict[str, object], records: list[bytes]) -> bytes:
    head = encode(header)  # type: ignore[arg-type]
    parts = [MAGIC, struct.pack(">I", len(head)), head]
    for raw in records:
        parts += [struct.pack(">I", len(raw)), raw]
    return _signed(b"".join(parts))


def test_a_signed_bundle_that_breaks_the_format_is_refused_with_its_reason() -> None:
    key = EXPORTER.public_key
    good = {"v": 1, "exporter": key, "created_at": NOW, "count": 1}
    assert decode_bundle(_framed(good, [RECORDS[0]])).records == [RECORDS[0]]
    cases = {
        "unknown_version": _framed(good | {"v": 2}, [RECORDS[0]]),
        "bad_header": _framed(good | {"colour": "blue"}, [RECORDS[0]]),
        "too_many_records": _framed(good | {"count": MAX_BUNDLE_RECORDS + 1}, []),
        "bad_record_length": _framed(good, [b""]),
    }
    for reason, data in cases.items():
        assert refused(data) == reason
    assert refused(_framed({k: v for k, v in good.items() if k != "exporter"}, [RECORDS[0]])) == "bad_header"
    assert refused(_framed(good | {"area": "u4pruxyz"}, [RECORDS[0]])) == "bad_header"  # finer than an area
    # One record fewer than counted: the signature is read as the missing record's length.
    assert refused(_framed(good | {"count": 2}, [RECORDS[0]])) in ("truncated", "bad_record_length")
    long_header = MAGIC + struct.pack(">I", MAX_HEADER_BYTES + 1) + bytes(MAX_HEADER_BYTES + 1)
    assert refused(_signed(long_header)) == "bad_header"
    oversized = MAGIC + struct.pack(">I", 0) + bytes(MAX_BUNDLE_BYTES)
    assert refused(oversized) == "too_large"
    other = NodeIdentity.from_seed(bytes(32))  # signed by another key than the header names
    body = _framed(good, [RECORDS[0]])[:-64]
    assert refused(body + other.sign_message(signing_message(Domain.BUNDLE, body))) == "bad_signature"
    # A record signature's domain is not a bundle's.
    assert refused(body + EXPORTER.sign_message(signing_message(Domain.RECORD, body))) == "bad_signature"


def test_a_bundle_over_its_limits_is_not_made() -> None:
    with pytest.raises(BundleTooLarge):
        encode_bundle(EXPORTER, [b"x"] * (MAX_BUNDLE_RECORDS + 1), created_at=NOW)
    with pytest.raises(BundleTooLarge):
        encode_bundle(EXPORTER, [b"x" * MAX_RECORD_BYTES] * (MAX_BUNDLE_BYTES // MAX_RECORD_BYTES + 1), created_at=NOW)


@settings(max_examples=300)
@given(st.binary(max_size=600))
def test_any_bytes_give_a_bundle_or_bundle_invalid(data: bytes) -> None:
    for candidate in (data, MAGIC + data, SMALL[:40] + data):
        with contextlib.suppress(BundleInvalid):
            decode_bundle(candidate)
