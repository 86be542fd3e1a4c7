# The fuzz targets: one function per decoder a peer (or a file) can feed,
# each taking raw bytes and checking the invariants the issue names.
#
# What every target holds the code to, whatever the bytes:
# - only the decoder's declared errors escape (anything else propagates and
#   the fuzzer records a crash);
# - whatever is accepted is what the encoder would have written (it re-encodes
#   to the same bytes) and passes the rules checked again here, written a
#   second time from the documented format rather than by calling the validator.
#
# Signatures are the one thing a fuzzer cannot get past by mutation, so two
# targets also sign what they are fed with a fixed key (FUZZ_KEY, the author
# and exporter of the seed corpus): that lets the fuzzer explore every rule
# that runs after the signature check, not only those before it.
#
# The functions are plain Python: tests/fuzz/test_fuzz.py runs every corpus
# and crasher file through them without atheris, and tests/fuzz/__main__.py
# hands them to atheris.

from __future__ import annotations

import hashlib
from collections.abc import Callable

from crypto import Domain, NodeIdentity, signing_message, verify_message
from protocol import peerwire
from protocol.bundle import MAX_BUNDLE_RECORDS, decode_bundle, encode_bundle
from protocol.codec import Limits, decode, encode
from protocol.errors import BundleInvalid, DecodeError, ReconcileError, RecordInvalid, SignatureInvalid
from protocol.filters import MAX_FILTER_AREAS
from protocol.reconcile import SKIP, ItemSet, ReconcileConfig, Reconciler
from protocol.records import (
    FIELDS,
    KINDS,
    MAX_DECISION_TTL,
    MAX_EVENT_TTL,
    MAX_FINDING_TTL,
    MAX_FUTURE_SKEW,
    MAX_RECORD_BYTES,
    MAX_REPLY_TTL,
    MAX_ROTATION_TTL,
    MAX_TTL,
    STATUSES,
    Record,
    accept_record,
    parse_record,
)
from protocol.sketch import SIZES, wire_bytes

Target = Callable[[bytes], None]

FUZZ_KEY = NodeIdentity.from_seed(b"mutualaid fuzz corpus key".ljust(32, b"."))
"""Signs the seed records and bundles, and what the signing targets are fed."""
NOW = 1_800_000_000
"""The clock every target runs at (the seed records are valid at it)."""
RECORD_ERRORS = (DecodeError, RecordInvalid, SignatureInvalid)
"""What ``parse_record`` and ``accept_record`` may raise (protocol/records.py)."""
PEER_ERRORS = (DecodeError, RecordInvalid)
"""What the peer body decoders may raise: DecodeError, and RecordInvalid for a
filter's area that is not a geohash (SyncFilter checks it); both are answered 400."""

# The longest life of each kind, written here from docs/PROTOCOL.md section 3
# rather than read from the validator's own table.
_LIFETIME = {"need": MAX_TTL, "offer": MAX_TTL, "node": MAX_TTL, "reply": MAX_REPLY_TTL,
             "decision": MAX_DECISION_TTL, "finding": MAX_FINDING_TTL, "event": MAX_EVENT_TTL,
             "key_rotation": MAX_ROTATION_TTL}  # fmt: skip
_REQUIRED = {kind: {f.name for f in FIELDS if kind in f.required} for kind in KINDS}
_ALLOWED = {kind: {f.name for f in FIELDS if kind in f.kinds} for kind in KINDS}


class InvariantBroken(AssertionError):
    """A decoder accepted something the format forbids, or returned something impossible."""


def _check(condition: bool, what: str) -> None:
    if not condition:
        raise InvariantBroken(what)


# -- records -------------------------------------------------------------------


def sign_payload(payload: bytes) -> bytes:
    """``payload`` as FUZZ_KEY's signed record envelope (canonical when the payload is bytes)."""
    signature = FUZZ_KEY.sign_message(signing_message(Domain.RECORD, payload))
    return encode([payload, signature])


def _check_record(record: Record, raw: bytes) -> None:
    """What a record ``parse_record`` accepted must be, checked without the validator."""
    _check(record.raw == raw, "the record's raw bytes are not the input")
    envelope = decode(raw)
    _check(isinstance(envelope, list) and len(envelope) == 2, "the envelope is not [payload, signature]")
    assert isinstance(envelope, list)
    payload, signature = envelope
    _check(isinstance(payload, bytes) and signature == record.signature and len(signature) == 64, "bad envelope")
    assert isinstance(payload, bytes)
    _check(encode(dict(record.fields)) == payload, "the payload does not re-encode to itself")
    kind = record.kind
    _check(kind in KINDS, f"unknown kind {kind!r} accepted")
    names = set(record.fields)
    _check(_REQUIRED[kind] <= names, f"a {kind} without {sorted(_REQUIRED[kind] - names)}")
    _check(names <= _ALLOWED[kind], f"a {kind} with {sorted(names - _ALLOWED[kind])}")
    _check(record.fields["v"] == 1 and type(record.fields["v"]) is int, "format version is not 1")
    _check(isinstance(record.author, bytes) and len(record.author) == 32, "author is not a key")
    _check(0 <= record.created_at < record.expires_at, "expires before it is created")
    _check(record.expires_at - record.created_at <= _LIFETIME[kind], f"a {kind} living too long")
    _check(record.status in STATUSES, f"status {record.status!r}")
    _check(len(raw) <= MAX_RECORD_BYTES, "a record over the size limit")
    again = parse_record(raw)
    _check(again.id == record.id and dict(again.fields) == dict(record.fields), "parsing is not repeatable")


def _check_accepted(record: Record, raw: bytes) -> None:
    _check_record(record, raw)
    _check(record.created_at <= NOW + MAX_FUTURE_SKEW, "a record from the future accepted")
    _check(record.expires_at > NOW, "an expired record accepted")
    verify_message(record.author, record.message, record.signature)  # BadSignature here is a crash


def record(data: bytes) -> None:
    """``parse_record`` and ``accept_record`` on the input as a record, then on
    the input as a payload that FUZZ_KEY signs."""
    for raw in (data, sign_payload(data)):
        try:
            parsed = parse_record(raw)
        except RECORD_ERRORS:
            continue
        _check_record(parsed, raw)
        try:
            accepted = accept_record(raw, NOW)
        except RECORD_ERRORS:
            continue
        _check_accepted(accepted, raw)


# -- peer wire bodies --------------------------------------------------------------


def peer_body(data: bytes) -> None:
    """``peerwire.decode_body`` on the input, then each way the peer API and
    the peer client read a decoded body: a filter, record and id lists. And
    the input's lines as the four signed-request headers."""
    _peer_headers(data)
    try:
        value = peerwire.decode_body(data)
    except DecodeError:
        return
    _check(encode(value) == data, "a body that does not re-encode to itself")
    candidates = [value]
    if isinstance(value, dict):
        candidates += [value.get(key) for key in ("filter", "records", "ids", "wanted", "rotations")]
    for candidate in candidates:
        _peer_filter(candidate)
        for size in (None, 32):
            try:
                items = peerwire.byte_list(candidate, "items", size)
            except DecodeError:
                continue
            _check(len(items) <= peerwire.MAX_BATCH, "a list over MAX_BATCH accepted")
            _check(all(type(i) is bytes and (size is None or len(i) == size) for i in items), "a bad item accepted")


_HEADERS = (peerwire.HEADER_KEY, peerwire.HEADER_TIME, peerwire.HEADER_SIGNATURE, peerwire.HEADER_NONCE)


def _peer_headers(data: bytes) -> None:
    headers = dict(zip(_HEADERS, data.decode("latin-1").split("\n"), strict=False))  # what HTTP can carry
    try:
        auth = peerwire.parse_headers(headers)
    except peerwire.PeerAuthError:
        return
    _check(len(auth.key) == 32 and len(auth.signature) == 64 and len(auth.nonce) == 16, "bad auth header lengths")
    try:
        peerwire.check_request(auth, "POST", "/peer/v1/records", "127.0.0.1:8080", data, NOW)
    except peerwire.PeerAuthError:
        return
    raise InvariantBroken("a request signature made by nobody verified")


def _peer_filter(value: object) -> None:
    try:
        sync_filter = peerwire.filter_from_wire(value)  # type: ignore[arg-type]
    except PEER_ERRORS:
        return
    _check(sync_filter.kinds <= set(KINDS), "an unknown kind kept in a filter")
    areas = sync_filter.areas
    _check(areas is None or len(areas) <= 2 * MAX_FILTER_AREAS, "too many areas kept")
    again = peerwire.filter_from_wire(peerwire.filter_to_wire(sync_filter))
    _check(again == sync_filter, "a filter that does not survive its own wire form")


# -- reconciliation ---------------------------------------------------------------------


def items() -> list[tuple[int, bytes]]:
    """300 items, several per timestamp, sorted."""
    made = {(NOW - 7 * (i % 50), hashlib.sha256(i.to_bytes(4, "big")).digest()) for i in range(300)}
    return sorted(made)


_ITEMS = ItemSet(items())
"""The set both fuzzed sides hold."""
_CONFIG = ReconcileConfig(max_message_bytes=4096, max_need_ids=200, idlist_threshold=8, branching=8)
"""Small frames and caps, so the fuzzer reaches cuts, splits and the need cap with small inputs."""
_HELD = set(_ITEMS.ids(0, len(_ITEMS)))


def scattered() -> ItemSet:
    """_ITEMS with 30 items swapped for others: every range of the first split
    differs, so the initiator asks for a sketch."""
    ours = items()
    theirs = [item for k, item in enumerate(ours) if k % 10 != 3]
    theirs += [(NOW - 3 * i, hashlib.sha256(b"other %d" % i).digest()) for i in range(30)]
    return ItemSet.from_unsorted(theirs)


_SCATTERED = scattered()
_SKETCH_LIMITS = Limits(max_size=2 * _CONFIG.max_message_bytes, max_bin=_CONFIG.max_message_bytes, max_depth=4)
_FIRST_SPLIT = Reconciler(_SCATTERED, _CONFIG).respond(Reconciler(_ITEMS, _CONFIG).initiate())


def _asking() -> tuple[Reconciler, int]:
    """An initiator that has asked for a sketch, and the size it asked for."""
    initiator = Reconciler(_ITEMS, _CONFIG)
    initiator.initiate()
    request = initiator.receive(_FIRST_SPLIT)
    value = decode(request) if request is not None else None
    if not (isinstance(value, list) and len(value) == 3 and isinstance(value[2], int)):
        raise InvariantBroken("the fuzz sets no longer lead to a sketch request")
    return initiator, value[2]


def reconcile(data: bytes) -> None:
    """The input as a message to a responder, and as the reply to an initiator's first message."""
    responder = Reconciler(_ITEMS, _CONFIG)
    try:
        reply = responder.respond(data)
    except ReconcileError:
        pass
    else:
        _check(len(reply) <= _CONFIG.max_message_bytes, "a reply over the frame limit")
        _check_message(reply)
    initiator = Reconciler(_ITEMS, _CONFIG)
    initiator.initiate()
    _receive(initiator, data)
    # The input as the reply to a sketch request, then its bytes as the cells themselves.
    _receive(_asking()[0], data)
    asking, size = _asking()
    cells = data[: wire_bytes(size)].ljust(wire_bytes(size), b"\x00")
    _receive(asking, encode([2, [[0, b"", SKIP, None]], cells]))


def _receive(initiator: Reconciler, data: bytes) -> None:
    """Feed a reply to an initiator; check what it sends and what it learnt."""
    try:
        following = initiator.receive(data)
    except ReconcileError:
        return
    if following is not None:
        _check(len(following) <= _CONFIG.max_message_bytes, "a message over the frame limit")
        _check_message(following)
    _check(len(initiator.need_ids) <= _CONFIG.max_need_ids, "more need ids than the cap")
    _check(not _HELD & set(initiator.need_ids), "an id we hold counted as needed")
    _check(set(initiator.have_ids) <= _HELD, "an id we do not hold counted as ours")
    _check(len(set(initiator.need_ids)) == len(initiator.need_ids), "a need id twice")


def _check_message(message: bytes) -> None:
    """What we send must be a message the other side accepts (a reply's sketch:
    cells of a size that exists, and the ranges beside it)."""
    value = decode(message, _SKETCH_LIMITS)
    if isinstance(value, list) and len(value) == 3 and isinstance(value[2], bytes):
        _check(any(len(value[2]) == wire_bytes(size) for size in SIZES), "a sketch of no size")
        message = encode(value[:2])
    try:
        Reconciler(_ITEMS, _CONFIG).respond(message)
    except ReconcileError as exc:
        raise InvariantBroken(f"we sent a message our own responder refuses: {exc}") from None


# -- bundles --------------------------------------------------------------------------------


def bundle(data: bytes) -> None:
    """``decode_bundle`` on the input, then on the input re-signed by FUZZ_KEY
    (everything but its last 64 bytes, as the exporter's signature covers)."""
    candidates = [data]
    if len(data) >= 64:
        body = data[:-64]
        candidates.append(body + FUZZ_KEY.sign_message(signing_message(Domain.BUNDLE, body)))
    for raw in candidates:
        try:
            decoded = decode_bundle(raw)
        except BundleInvalid:
            continue
        _check(len(decoded.records) <= MAX_BUNDLE_RECORDS, "too many records")
        _check(all(0 < len(r) <= MAX_RECORD_BYTES for r in decoded.records), "a record of a bad length")
        if decoded.exporter == FUZZ_KEY.public_key:  # Ed25519 is deterministic: the same bytes again
            again = encode_bundle(FUZZ_KEY, decoded.records, created_at=decoded.created_at, since=decoded.since,
                                  area=decoded.area)  # fmt: skip
            _check(again == raw, "an accepted bundle that its encoder would write differently")


TARGETS: dict[str, Target] = {"record": record, "peer_body": peer_body, "reconcile": reconcile, "bundle": bundle}
