"""Records: signing, the order of checks, field rules, versions and tombstones."""

from __future__ import annotations

import hashlib
from typing import Any

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto import Domain, NodeIdentity, signing_message
from protocol.codec import encode
from protocol.errors import (
    DecodeError,
    LocalProtocolError,
    RecordInvalid,
    RemoteProtocolError,
    SignatureInvalid,
)
from protocol.records import (
    DAY,
    DEFAULT_TTL,
    MAX_FUTURE_SKEW,
    MAX_RECORD_BYTES,
    Record,
    accept_record,
    build_record,
    check_time,
    new_version,
    newer,
    parse_record,
)

NOW = 1_800_000_000
ALICE = NodeIdentity.from_seed(bytes(range(32)))
BOB = NodeIdentity.from_seed(bytes(range(1, 33)))


def need(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "kind": "need",
        "slot": "n1",
        "created_at": NOW,
        "expires_at": NOW + DEFAULT_TTL,
        "status": "open",
        "title": "Rice for a family of four",
        "category": "food",
        "area": "u4pru",
        "details": "Any kind of rice.\nWe can pick it up.",
        "tags": ["rice", "staples"],
        "give_back": "I can fix bicycles",
        "languages": ["en", "pt-br"],
        "urgency": "high",
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


def sign_raw(identity: NodeIdentity, payload: bytes) -> bytes:
    signature = identity.sign_message(signing_message(Domain.RECORD, payload))
    return encode([payload, signature])


def test_build_parse_accept() -> None:
    record = build_record(ALICE, need())
    assert record.id == hashlib.sha256(record.message).digest()
    assert record.message == signing_message(Domain.RECORD, record.payload)
    again = accept_record(record.raw, NOW)
    assert again.id == record.id and again.raw == record.raw
    assert again.address == (ALICE.public_key, "need", "n1")
    assert again.get("give_back") == "I can fix bicycles"
    assert again.status == "open" and not again.is_tombstone


def test_flipping_any_byte_is_rejected() -> None:
    raw = build_record(ALICE, need()).raw
    for index in range(len(raw)):
        for flip in (0x01, 0x80):
            tampered = bytearray(raw)
            tampered[index] ^= flip
            with pytest.raises(RemoteProtocolError):
                accept_record(bytes(tampered), NOW)


def test_signature_by_another_key_is_rejected() -> None:
    record = build_record(ALICE, need())
    forged = encode([record.payload, BOB.sign_message(record.message)])
    with pytest.raises(SignatureInvalid):
        accept_record(forged, NOW)


def test_signature_from_another_domain_is_rejected() -> None:
    record = build_record(ALICE, need())
    other = ALICE.sign(Domain.PEER_REQUEST, record.payload)
    with pytest.raises(SignatureInvalid):
        accept_record(encode([record.payload, other]), NOW)


def _non_canonical_payloads(body: dict[str, Any]) -> list[bytes]:
    full = {"v": 1, "author": ALICE.public_key, **body}
    canonical = encode(full)
    unsorted = msgpack.packb(dict(reversed(sorted(full.items()))), use_bin_type=True)
    # created_at is a uint32; spell it as a uint64.
    ts = msgpack.packb(full["created_at"])
    wide = canonical.replace(ts, b"\xcf" + full["created_at"].to_bytes(8, "big"), 1)
    # A duplicated key: the map header says one more entry.
    dup = bytes([canonical[0] + 1]) + canonical[1:] + msgpack.packb("v") + msgpack.packb(1)
    # The title as str16 instead of str8/fixstr.
    title = full["title"].encode()
    long_title = canonical.replace(msgpack.packb(full["title"]), b"\xda" + len(title).to_bytes(2, "big") + title, 1)
    return [unsorted, wide, dup, long_title]


def test_signed_non_canonical_encodings_are_rejected() -> None:
    """A correct signature over a non-canonical payload is still refused."""
    for payload in _non_canonical_payloads(need()):
        raw = sign_raw(ALICE, payload)
        with pytest.raises(DecodeError):
            accept_record(raw, NOW)
    # The envelope itself must be canonical too: bin32 around a short payload.
    record = build_record(ALICE, need())
    payload = record.payload
    wide = b"\x92\xc6" + len(payload).to_bytes(4, "big") + payload + encode(record.signature)
    with pytest.raises(DecodeError):
        accept_record(wide, NOW)


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"area": "u4prux"}, "area_too_precise"),
        ({"area": "U4PR"}, "bad_area"),
        ({"area": "u4pa"}, "bad_area"),  # 'a' is not a geohash letter
        ({"title": None}, "missing_field"),
        ({"title": "x" * 121}, "title_too_long"),
        ({"title": "   "}, "empty"),
        ({"title": "line\nbreak"}, "control_character"),
        ({"title": "next\x85line"}, "control_character"),
        ({"title": "\u202etxet"}, "control_character"),
        ({"title": "\u200b"}, "empty"),
        ({"details": "x" * 2001}, "details_too_long"),
        ({"category": "Food"}, "bad_slug"),
        ({"category": "food--x"}, "bad_slug"),
        ({"tags": [f"t{i}" for i in range(11)]}, "too_many_tags"),
        ({"tags": ["a", "a"]}, "duplicate_item"),
        ({"languages": ["English"]}, "bad_language"),
        ({"urgency": "asap"}, "bad_urgency"),
        ({"status": "lost"}, "bad_status"),
        ({"kind": "vote"}, "bad_kind"),
        ({"phone": "555"}, "unknown_field"),
        ({"expires_at": NOW}, "expires_before_created"),
        ({"expires_at": NOW + 91 * DAY}, "lifetime_too_long"),
        ({"created_at": -1}, "bad_timestamp"),
        ({"created_at": True}, "bad_timestamp"),
        ({"slot": "a/b"}, "bad_slot"),
        ({"needed_by": "tomorrow"}, "bad_timestamp"),
        ({"quantity": 3}, "wrong_type"),
    ],
)
def test_field_rules(overrides: dict[str, Any], reason: str) -> None:
    body = need(**{k: v for k, v in overrides.items() if v is not None})
    for key, value in overrides.items():
        if value is None:
            body.pop(key)
    with pytest.raises(RecordInvalid) as info:
        build_record(ALICE, body)
    assert info.value.reason == reason


def finding(**overrides: Any) -> dict[str, Any]:
    body = {"kind": "finding", "slot": "f1", "created_at": NOW, "expires_at": NOW + 30 * DAY, "title": "Food",
            "text": "Most needs are food.", "weeks": 13, "as_of": NOW,
            "figures": [["totals", "all", 10, None, 0]]}  # fmt: skip
    return body | overrides


def event(**overrides: Any) -> dict[str, Any]:
    body = {"kind": "event", "slot": "e1", "created_at": NOW, "expires_at": NOW + 60 * DAY, "title": "Study group",
            "what": "study-group", "start": "2027-02-23T18:00", "end": "2027-02-23T20:00", "tz": "America/Chicago",
            "area": "dp3w", "rrule": "FREQ=WEEKLY;COUNT=6"}  # fmt: skip
    return body | overrides


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (finding(figures=[["totals", "all", 7, None, 0]]), "finer_than_report"),
        (finding(figures=[["totals", "all", 1, None, 0]]), "finer_than_report"),
        (finding(figures=[["by_street", "main", 5, 0, 0]]), "bad_figures"),
        (finding(figures=[["totals", "all", 5, 0, 0], ["totals", "all", 5, 0, 0]]), "duplicate_item"),
        (finding(figures=[["totals", "all", 5, 0]]), "bad_figure"),
        (finding(as_of=NOW + 1), "bad_as_of"),
        (finding(weeks=53), "bad_weeks"),
        (finding(expires_at=NOW + 367 * DAY), "lifetime_too_long"),
        (event(end="2027-02-23T17:00"), "bad_end"),
        (event(end="2027-02-24T18:01"), "bad_end"),
        (event(rrule="FREQ=YEARLY;COUNT=2"), "bad_rrule"),
        (event(rrule="FREQ=WEEKLY;COUNT=2;BYDAY=MO"), "bad_rrule"),
        (event(tz="not a zone"), "bad_tz"),
        (event(start="2027-02-23 18:00"), "bad_start"),
        (event(what="party"), "bad_what"),
        (event(state="postponed"), "bad_state"),
        (event(expires_at=NOW + 401 * DAY), "lifetime_too_long"),
    ],
)
def test_finding_and_event_rules(body: dict[str, Any], reason: str) -> None:
    with pytest.raises(RecordInvalid) as info:
        build_record(ALICE, body)
    assert info.value.reason == reason


def test_a_finding_and_an_event_at_their_rules_are_accepted() -> None:
    assert build_record(ALICE, finding(figures=[["by_week", "2027-W05", 0, None, 5]])).kind == "finding"
    assert build_record(ALICE, event(rrule="FREQ=WEEKLY;COUNT=6;BYDAY=TU,TH", access=["step-free"])).kind == "event"


def test_give_back_is_only_on_needs() -> None:
    with pytest.raises(RecordInvalid) as info:
        build_record(ALICE, need(kind="offer"))
    assert info.value.reason == "unknown_field" and info.value.field == "give_back"
    offer = build_record(ALICE, need(kind="offer", give_back=None))
    assert offer.kind == "offer"


def test_node_profile() -> None:
    body = {
        "kind": "node",
        "slot": "profile",
        "created_at": NOW,
        "expires_at": NOW + DEFAULT_TTL,
        "name": "Riverside chapter",
        "areas": ["u4pr", "u4px"],
        "urls": ["http://192.0.2.10:8440", "https://riverside.example/aid"],
        "seal_key": ALICE.seal_public_key,
        "kinds": ["need", "offer"],
    }
    record = build_record(ALICE, body)
    assert record.kind == "node" and record.status == "open"
    with pytest.raises(RecordInvalid):
        build_record(ALICE, {**body, "slot": "other"})
    with pytest.raises(RecordInvalid):
        build_record(ALICE, {**body, "urls": ["ftp://x"]})
    with pytest.raises(RecordInvalid):
        build_record(ALICE, {**body, "seal_key": b"short"})


def test_time_rules() -> None:
    ok = build_record(ALICE, need(created_at=NOW + MAX_FUTURE_SKEW))
    check_time(ok, NOW)
    future = build_record(ALICE, need(created_at=NOW + MAX_FUTURE_SKEW + 1))
    with pytest.raises(RecordInvalid) as info:
        accept_record(future.raw, NOW)
    assert info.value.reason == "from_future"
    record = build_record(ALICE, need())
    with pytest.raises(RecordInvalid) as info:
        accept_record(record.raw, record.expires_at)
    assert info.value.reason == "expired"
    accept_record(record.raw, record.expires_at - 1)


def test_versions_and_tombstones() -> None:
    v1 = build_record(ALICE, need())
    v2 = new_version(ALICE, v1, NOW, {"status": "claimed", "details": None})
    assert v2.created_at == NOW + 1 and "details" not in v2.fields and newer(v2, v1)
    v3 = new_version(ALICE, v2, NOW + 5, {"status": "fulfilled"})
    assert v3.is_tombstone and v3.expires_at == v1.expires_at
    for status in ("open", "claimed", "withdrawn", "fulfilled"):
        with pytest.raises(RecordInvalid) as info:
            new_version(ALICE, v3, NOW + 10, {"status": status})
        assert info.value.reason == "after_tombstone"
    with pytest.raises(RecordInvalid) as info:
        new_version(ALICE, v1, NOW, {"slot": "other"})
    assert info.value.reason == "immutable_field"


def test_ties_go_to_the_lowest_id() -> None:
    a = build_record(ALICE, need(title="first"))
    b = build_record(ALICE, need(title="second"))
    low, high = sorted([a, b], key=lambda r: r.id)
    assert newer(low, high) and not newer(high, low)
    assert not newer(a, a)


def test_size_is_checked_before_decoding() -> None:
    with pytest.raises(DecodeError, match="exceeds the limit"):
        parse_record(b"\x92" + b"\x00" * MAX_RECORD_BYTES)


def test_version_must_be_the_integer_one() -> None:
    for bad in (True, 2, "1"):
        payload = encode({"v": bad, "author": ALICE.public_key, **need()})
        with pytest.raises(RecordInvalid) as info:
            accept_record(sign_raw(ALICE, payload), NOW)
        assert info.value.reason == "unsupported_version"


def test_only_the_author_makes_new_versions() -> None:
    v1 = build_record(ALICE, need())
    with pytest.raises(LocalProtocolError):
        new_version(BOB, v1, NOW, {"status": "claimed"})


def test_tombstones_outrank_every_live_version() -> None:
    """Whatever order versions arrive in, every node keeps the same one."""
    v1 = build_record(ALICE, need())
    withdrawn = new_version(ALICE, v1, NOW + 100, {"status": "withdrawn"})
    # A later edit made elsewhere (another device, a buggy client).
    later_edit = build_record(ALICE, need(created_at=NOW + 200, title="edited later"))
    assert newer(withdrawn, later_edit) and not newer(later_edit, withdrawn)
    fulfilled = build_record(ALICE, need(created_at=NOW + 300, status="fulfilled"))
    assert newer(fulfilled, withdrawn)  # between tombstones, the newer one
    versions = [v1, withdrawn, later_edit, fulfilled]
    for order in (versions, versions[::-1], [later_edit, v1, fulfilled, withdrawn]):
        kept = order[0]
        for version in order[1:]:
            if newer(version, kept):
                kept = version
        assert kept is fulfilled


@settings(max_examples=300)
@given(st.binary(max_size=600))
def test_random_bytes_are_only_ever_remote_errors(data: bytes) -> None:
    with pytest.raises(RemoteProtocolError):
        accept_record(data, NOW)


@given(st.data())
def test_mutated_records_never_escape(data: st.DataObject) -> None:
    raw = bytearray(build_record(ALICE, need()).raw)
    for _ in range(data.draw(st.integers(1, 6))):
        raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    try:
        record = accept_record(bytes(raw), NOW)
    except RemoteProtocolError:
        return
    assert isinstance(record, Record) and record.raw == bytes(raw)  # only if it is genuinely signed
