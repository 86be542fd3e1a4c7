"""Signed records: what an offer, a need, a node profile and a reply are on the wire.

A record travels as the canonical msgpack array ``[payload, signature]``:
``payload`` is the canonical msgpack map of its fields (as ``bin``), and the
Ed25519 signature covers ``signing_message(Domain.RECORD, payload)``. Its id
is SHA-256 of exactly those signed bytes, so the id names the content, not a
particular signature. We verify the bytes we received and never re-encode.

Checks run cheapest first, because a hostile peer chooses the input: the size,
then the decode (limits applied while decoding), then field rules, then the
clock (expired, too far in the future), and only then the signature, which
costs about a hundred decodes. ``parse_record`` does the first three,
``check_time`` the clock and ``verify_record`` the signature; ``accept_record``
runs all of them in that order.

Records are addressable: ``(author, kind, slot)``. A version whose status is
``fulfilled`` or ``withdrawn`` is a tombstone and is final: it outranks every
live version; otherwise the higher ``created_at`` wins, ties to the lowest id
(``replaces``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from crypto import BadSignature, Domain, signing_message, verify_message
from protocol import fields as f
from protocol import recurrence
from protocol.ballots import BALLOTS, CHOICES, MAX_OPTIONS, METHODS, OUTCOMES, THRESHOLDS
from protocol.codec import Limits, Value, decode, decode_checked, encode
from protocol.errors import DecodeError, LocalProtocolError, RecordInvalid, SignatureInvalid
from protocol.fieldtable import (
    Bytes,
    Choice,
    Field,
    Figures,
    Geohash,
    Integer,
    Key,
    Language,
    ListOf,
    LocalTime,
    MapOf,
    Rrule,
    Slot,
    Slug,
    Text,
    Timestamp,
    TimeZone,
    Url,
    Version,
    check_fields,
    plan,
)

FORMAT_VERSION = 1
KINDS = ("need", "offer", "node", "reply", "decision", "finding", "event", "key_rotation")
POST_KINDS = ("need", "offer")
DECISION_TYPES = ("text", "categories", "peering", "organizers", "member", "settings", "removal")
"""What a chapter's proposal (and so its decision) may be about (docs/CHAPTER.md)."""
EVENT_KINDS = ("meeting", "assembly", "teach-in", "study-group", "distribution", "skill-share", "clinic", "other")
"""What an event is (docs/PROTOCOL.md 3.4): a general assembly is ``assembly``."""
EVENT_ACCESS = ("step-free", "childcare", "interpretation", "food")
"""What an event offers so everyone can come."""
EVENT_STATES = ("scheduled", "cancelled")
IMMUTABLE_KINDS = frozenset({"decision", "key_rotation"})
"""Kinds whose address holds one version for ever: a second one is history
rewritten, refused (``decision_rewritten``, ``key_rotation_rewritten``), never a newer version."""
STATUSES = ("open", "claimed", "fulfilled", "withdrawn")
TOMBSTONE_STATUSES = frozenset({"fulfilled", "withdrawn"})
NODE_PROFILE_SLOT = "profile"

MAX_RECORD_BYTES = 24 * 1024
"""Room for every record the field limits admit, at 4 UTF-8 bytes a
character (a need at every limit is about 10.6 KB), so no post a member can
write is refused for its size alone."""
DAY = 86_400
DEFAULT_TTL = 30 * DAY
MAX_TTL = 90 * DAY
MAX_FUTURE_SKEW = 10 * 60
MAX_REPLY_TTL = 30 * DAY
MAX_SEALED_BYTES = 12 * 1024
"""A sealed reply's ciphertext: 2000 characters of message and 500 of contact
fit in any script (4 UTF-8 bytes a character at most, padded to 256 bytes),
and a whole reply stays under MAX_RECORD_BYTES."""
MIN_SEALED_BYTES = 49  # version byte, ephemeral key and tag: an empty box
MAX_FINDING_TTL = 366 * DAY
"""A finding may speak for a year of the report."""
MAX_EVENT_TTL = 400 * DAY
"""An event lives until its last occurrence, at most this long after it is made."""
MAX_DECISION_TTL = 3650 * DAY
"""A decision is the chapter's history, not a member's post: it lives ten
years (a post at most ``MAX_TTL``)."""
MAX_ROTATION_TTL = MAX_DECISION_TTL
"""A key rotation outlives anything the old key signed (a decision lives ten years)."""
MAX_COUNT = 10**9

# Which status may follow which in a newer version. Tombstones are final.
TRANSITIONS: Mapping[str, frozenset[str]] = {
    "open": frozenset({"open", "claimed", "fulfilled", "withdrawn"}),
    "claimed": frozenset({"open", "claimed", "fulfilled", "withdrawn"}),
    "fulfilled": frozenset(),
    "withdrawn": frozenset(),
}

_ENVELOPE_LIMITS = Limits(
    max_size=MAX_RECORD_BYTES, max_str=0, max_bin=MAX_RECORD_BYTES, max_array=2, max_map=0, max_depth=1
)
_PAYLOAD_LIMITS = Limits(
    max_size=MAX_RECORD_BYTES,
    max_str=MAX_RECORD_BYTES,
    max_bin=MAX_SEALED_BYTES,
    max_array=32,
    max_map=32,
    max_depth=3,
)

_RECORD_PREFIX_LEN = len(signing_message(Domain.RECORD, b""))

_ALL = frozenset(KINDS)
_POSTS = frozenset(POST_KINDS)
_NEED, _NODE, _REPLY = frozenset({"need"}), frozenset({"node"}), frozenset({"reply"})
_DECISION = frozenset({"decision"})
_FINDING, _EVENT = frozenset({"finding"}), frozenset({"event"})
_ROTATION = frozenset({"key_rotation"})
_NO: frozenset[str] = frozenset()
FIELDS: tuple[Field, ...] = (
    Field("v", Version(FORMAT_VERSION), _ALL, _NO, "the record format's version"),
    Field("kind", Choice(KINDS), _ALL, _NO, "what the record is"),
    Field("author", Key("Ed25519 public key of the signer"), _ALL, _NO, "the node that signed it"),
    Field("slot", Slot(), _ALL, _NO, "with `author` and `kind`, the record's address"),
    Field("created_at", Timestamp(), _ALL, _NO, "when this version was made"),
    Field(
        "expires_at", Timestamp(), _ALL, _NO, "when it stops being served",
        note=f"after `created_at`, at most {MAX_TTL // DAY} days later ({MAX_REPLY_TTL // DAY} for a reply, "
        f"{MAX_FINDING_TTL // DAY} for a finding, {MAX_EVENT_TTL // DAY} for an event, {MAX_DECISION_TTL // DAY} "
        "for a decision or a key rotation)",
    ),
    Field("status", Choice(STATUSES), _POSTS, _NO, "where the post stands; fulfilled and withdrawn are final"),
    Field("title", Text(120), _POSTS | _DECISION | _FINDING | _EVENT, _NO,
          "in a few words: what is needed or offered, decided, found or held"),
    Field("category", Slug(), _POSTS, _NO, "one of the chapter's categories (any slug from a peer)"),
    Field("area", Geohash(), _POSTS | _REPLY, _EVENT, "roughly where, never finer than ~5 km"),
    Field("details", Text(2000, multiline=True), _NO, _POSTS | _EVENT, "anything that helps; public"),
    Field("tags", ListOf(Slug(), 10), _NO, _POSTS, "words to find it by"),
    Field("quantity", Text(40), _NO, _POSTS, "how many or how much"),
    Field("urgency", Choice(f.URGENCIES), _NO, _POSTS, "how soon (absent means `normal`)"),
    Field("needed_by", Timestamp(), _NO, _POSTS, "the date by which it is needed"),
    Field("languages", ListOf(Language(), 8), _NO, _POSTS | _FINDING | _EVENT, "languages spoken (or written) in it"),
    Field("give_back", Text(280, multiline=True), _NO, _NEED, "what the person in need can offer in return"),
    Field("name", Text(80), _NODE, _NO, "the node's (the chapter's) name"),
    Field("areas", ListOf(Geohash(), 32), _NODE, _NO, "areas the node serves (may be empty)"),
    Field("urls", ListOf(Url(), 8), _NODE, _NO, "where other nodes reach it"),
    Field("seal_key", Key("X25519 public key for sealed replies"), _NODE, _NO, "the key replies are sealed to"),
    Field("kinds", ListOf(Choice(POST_KINDS), 2, min_items=1), _NO, _NODE, "the kinds the node serves"),
    Field("recovery", Key("Ed25519 public key of the chapter's recovery key"), _NO, _NODE,
          "the key that may name this node's next key", note="peers pin it; a profile that changes it is refused"),
    Field("old", Key("Ed25519 public key of the node key replaced"), _ROTATION, _NO, "the node key retired",
          note="the slot is this key in hex; `author` is the recovery key its profile named"),
    Field("new", Key("Ed25519 public key of the node key that replaces it"), _ROTATION, _NO,
          "the node key that speaks for the chapter from now on"),
    Field("proof", Bytes(64, 64, "an Ed25519 signature by `new`"), _ROTATION, _NO,
          "the new key's consent: its signature over `[old, new, author]`",
          note="in the `key-rotation` domain (section 2), checked with the record's signature"),
    Field("to", Key("Ed25519 key of the recipient node (the post's author)"), _REPLY, _NO, "who may open it"),
    Field("about", Key("id of the post (the version the member saw)"), _REPLY, _NO, "the post it answers"),
    Field(
        "sealed", Bytes(MIN_SEALED_BYTES, MAX_SEALED_BYTES, "a sealed box (section 6) to the recipient's `seal_key`"),
        _REPLY, _NO, "the message and contact, readable by the recipient only",
    ),
    Field("seq", Integer(1, 2**31 - 1), _DECISION, _NO, "its place in the chapter's chain of decisions",
          note="the slot is this number in decimal"),
    Field("prev", Key("id of the chapter's previous decision"), _NO, _DECISION, "the decision before it",
          note="present exactly when `seq` is over 1"),
    Field("proposal", Slot(), _DECISION, _NO, "the chapter's own id of the proposal decided"),
    Field("text", Text(4000, multiline=True), _FINDING, _DECISION, "the proposal's text, or the finding in full"),
    Field("type", Choice(DECISION_TYPES), _DECISION, _NO, "what it changes on the chapter's node, if anything"),
    Field("effect", MapOf(Text(200), 6), _NO, _DECISION, "what it changes, never a member's name",
          note="never with `type` `text`"),
    Field("method", Choice(METHODS), _DECISION, _NO, "agree/abstain/disagree(/block), or ranked options"),
    Field("threshold", Choice(THRESHOLDS), _DECISION, _NO, "what it needed to pass"),
    Field("ballot", Choice(BALLOTS), _DECISION, _NO, "secret or open ballot"),
    Field("quorum", Integer(0, 100), _DECISION, _NO, "percent of the electorate that had to vote"),
    Field("outcome", Choice(OUTCOMES), _DECISION, _NO, "passed, failed, or no quorum"),
    Field("counts", MapOf(Integer(0, MAX_COUNT), MAX_OPTIONS + 1), _DECISION, _NO,
          f"ballots by choice ({', '.join(CHOICES)}), or first preferences by option (`option-1`...)"),
    Field("options", ListOf(Text(80), MAX_OPTIONS, min_items=2), _NO, _DECISION, "a ranked proposal's options",
          note="present exactly when `method` is `ranked` (a `text` proposal)"),
    Field("winner", Integer(1, MAX_OPTIONS), _NO, _DECISION, "the option instant runoff chose"),
    Field("electorate", Integer(0, MAX_COUNT), _DECISION, _NO, "members who could vote (frozen at opening)"),
    Field("turnout", Integer(0, MAX_COUNT), _DECISION, _NO, "members who voted", note="at most `electorate`"),
    Field("receipts", Key("SHA-256 of the receipts list"), _DECISION, _NO, "which ballots were counted"),
    Field("opened_at", Timestamp(), _DECISION, _NO, "when the vote opened"),
    Field("closed_at", Timestamp(), _DECISION, _NO, "when it closed", note="from `opened_at` to `created_at`"),
    Field("weeks", Integer(1, 52), _FINDING, _NO, "the weeks of the report the finding covers"),
    Field("as_of", Timestamp(), _FINDING, _NO, "when the report it cites was made", note="at most `created_at`"),
    Field("figures", Figures(), _FINDING, _NO, "the report rows it cites, as the report published them"),
    Field("acts", ListOf(Key("id of an event or a decision acting on the finding"), 8), _NO, _FINDING,
          "the events and decisions that act on it"),
    Field("revises", Key("id of the finding this one revises"), _NO, _FINDING, "the earlier finding it replaces"),
    Field("what", Choice(EVENT_KINDS), _EVENT, _NO, "what the event is"),
    Field("start", LocalTime(), _EVENT, _NO, "when it starts, local to `tz`", note="before `end`"),
    Field("end", LocalTime(), _EVENT, _NO, "when it ends, local to `tz`", note="at most 24 hours after `start`"),
    Field("tz", TimeZone(), _EVENT, _NO, "the time zone of `start` and `end`"),
    Field("rrule", Rrule(), _NO, _EVENT, "how it repeats", note="its first occurrence is `start`"),
    Field("venue", Text(200), _NO, _EVENT, "a public meeting place (never a home address)"),
    Field("access", ListOf(Choice(EVENT_ACCESS), 4), _NO, _EVENT, "what it offers so everyone can come"),
    Field("materials", ListOf(Url(), 8), _NO, _EVENT, "study materials"),
    Field("agenda", ListOf(Key("id of a finding or a decision it will discuss"), 8), _NO, _EVENT,
          "the findings or decisions it will discuss"),
    Field("state", Choice(EVENT_STATES), _NO, _EVENT, "scheduled (absent) or cancelled"),
)  # fmt: skip
"""Every field of every kind (docs/PROTOCOL.md section 3.3 and 3.4 are made from it)."""
PLANS = {kind: plan(FIELDS, kind) for kind in KINDS}
COMMON_FIELDS = frozenset(row.name for row in FIELDS if row.required == _ALL)


@dataclass(frozen=True, slots=True, eq=False)
class Record:
    """A parsed record. ``raw`` is exactly the bytes received or built."""

    raw: bytes
    id: bytes
    message: bytes
    signature: bytes
    author: bytes
    kind: str
    slot: str
    created_at: int
    expires_at: int
    status: str
    fields: Mapping[str, Value]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Record) and other.id == self.id

    def __hash__(self) -> int:
        return hash(self.id)

    @property
    def address(self) -> tuple[bytes, str, str]:
        return (self.author, self.kind, self.slot)

    @property
    def is_tombstone(self) -> bool:
        return self.status in TOMBSTONE_STATUSES

    @property
    def version_key(self) -> VersionKey:
        return version_key(self.status, self.created_at, self.id)

    @property
    def area(self) -> str | None:
        """The coarse area (a geohash prefix), None for kinds that have none."""
        area = self.fields.get("area")
        return None if area is None else str(area)

    @property
    def payload(self) -> bytes:
        return self.message[_RECORD_PREFIX_LEN:]

    def get(self, name: str, default: Any = None) -> Any:
        return self.fields.get(name, default)


VersionKey = tuple[bool, int, bytes]


def version_key(status: str, created_at: int, record_id: bytes) -> VersionKey:
    return (status in TOMBSTONE_STATUSES, created_at, record_id)


def replaces(a: VersionKey, b: VersionKey) -> bool:
    """True when the version keyed ``a`` replaces the one keyed ``b``.

    A total order, so every node keeps the same version whatever the order
    records arrive in: tombstones outrank every live version (a withdrawal
    is final even against a later edit from another device); then the newer
    ``created_at`` wins; ties go to the lowest id.
    """
    return (a[0], a[1], b[2]) > (b[0], b[1], a[2])


def newer(a: Record, b: Record) -> bool:
    """True when ``a`` replaces ``b`` at the same address."""
    return replaces(a.version_key, b.version_key)


def parse_record(raw: bytes, *, validate: bool = True) -> Record:
    """Decode and validate fields; no clock, no signature. Raises DecodeError or RecordInvalid.

    ``validate=False`` is for bytes this node validated when they arrived
    (its own store): a rule tightened since must not make old rows unreadable.
    """
    if not isinstance(raw, bytes):
        raise DecodeError(f"expected bytes, got {type(raw).__name__}")
    if len(raw) > MAX_RECORD_BYTES:
        raise DecodeError(f"record of {len(raw)} bytes exceeds the limit of {MAX_RECORD_BYTES}")
    envelope = decode(raw, _ENVELOPE_LIMITS)
    if not isinstance(envelope, list) or len(envelope) != 2:
        raise RecordInvalid("bad_envelope", "a record is the array [payload, signature]")
    payload, signature = envelope
    if not isinstance(payload, bytes) or not isinstance(signature, bytes) or len(signature) != 64:
        raise RecordInvalid("bad_envelope", "payload must be bytes and signature 64 bytes")
    body = decode(payload, _PAYLOAD_LIMITS)
    if not isinstance(body, dict):
        raise RecordInvalid("bad_payload", "the payload must be a map")
    status = _validate(body) if validate else str(body.get("status", "open"))
    return _record(raw, payload, signature, body, status)


def _record(raw: bytes, payload: bytes, signature: bytes, body: dict[str, Value], status: str) -> Record:
    """The Record of checked parts (its id is the hash of its signing message)."""
    message = signing_message(Domain.RECORD, payload)
    return Record(
        raw=raw,
        id=hashlib.sha256(message).digest(),
        message=message,
        signature=signature,
        author=body["author"],  # type: ignore[arg-type]
        kind=body["kind"],  # type: ignore[arg-type]
        slot=body["slot"],  # type: ignore[arg-type]
        created_at=body["created_at"],  # type: ignore[arg-type]
        expires_at=body["expires_at"],  # type: ignore[arg-type]
        status=status,
        fields=body,
    )


def checked_record(raw: bytes, status: str) -> Record:
    """The record ``parse_record(raw)`` gave, rebuilt without its checks: for
    bytes a checker process has just parsed and validated, which hands back
    only the ``status`` it found (node/peering/checkers.py). A fifth of
    ``parse_record``'s cost, on the thread the event loop runs on."""
    envelope: list[bytes] = decode_checked(raw)  # type: ignore[assignment]
    payload, signature = envelope
    body: dict[str, Value] = decode_checked(payload)  # type: ignore[assignment]
    return _record(raw, payload, signature, body, status)


def check_time(record: Record, now: int) -> None:
    """Reject a record that has expired or claims to come from the future."""
    if record.created_at > now + MAX_FUTURE_SKEW:
        raise RecordInvalid(
            "from_future", f"created {record.created_at - now} s in the future (at most {MAX_FUTURE_SKEW})"
        )
    if record.expires_at <= now:
        raise RecordInvalid("expired", "the record has expired")


def verify_record(record: Record) -> None:
    try:
        verify_message(record.author, record.message, record.signature)
    except BadSignature:
        raise SignatureInvalid("signature does not verify against the author key") from None
    if record.kind == "key_rotation":
        old, new = bytes(record.get("old")), bytes(record.get("new"))
        try:
            verify_message(new, rotation_consent(old, new, record.author), bytes(record.get("proof")))
        except BadSignature:
            raise SignatureInvalid("the rotation's proof does not verify against its new key") from None


def rotation_consent(old: bytes, new: bytes, recovery: bytes) -> bytes:
    """What the new key signs to accept a rotation to it (its ``proof``): a
    rotation can only name a key whose holder takes the chapter on."""
    return signing_message(Domain.KEY_ROTATION, encode([old, new, recovery]))


def accept_record(raw: bytes, now: int) -> Record:
    """Every check a node applies to a record arriving from outside, cheapest first."""
    record = parse_record(raw)
    check_time(record, now)
    verify_record(record)
    return record


def check_transition(old_status: str, new_status: str) -> None:
    """Rules an author's node follows when it makes a new version.

    Receivers need no such check: ``replaces`` already ranks a tombstone above
    every live version, so a version after a tombstone is simply superseded."""
    if old_status in TOMBSTONE_STATUSES:
        raise RecordInvalid("after_tombstone", f"the record was already {old_status}; it cannot change")
    if new_status not in TRANSITIONS[old_status]:
        raise RecordInvalid("bad_transition", f"status cannot go from {old_status} to {new_status}")


def _validate(body: dict[str, Value]) -> str:
    """Check every field of a payload against the table, then its kind's own
    rules; return its lifecycle status."""
    kind = body.get("kind")
    if type(body.get("v")) is not int or body["v"] != FORMAT_VERSION:
        raise RecordInvalid("unsupported_version", f"format version must be {FORMAT_VERSION}", field="v")
    f.choice("kind", kind, KINDS)
    check_fields(body, str(kind), PLANS)
    created, expires = body["created_at"], body["expires_at"]
    assert isinstance(created, int) and isinstance(expires, int)  # the table checked them
    if expires <= created:
        raise f.invalid("expires_at", "expires_before_created", "must be after created_at")
    longest = _MAX_LIFETIME.get(str(kind), MAX_TTL)
    if expires - created > longest:
        raise f.invalid("expires_at", "lifetime_too_long", f"a {kind!s} may live at most {longest // DAY} days")
    return _KIND_RULES[str(kind)](body, created, expires)


def _post_rules(body: dict[str, Value], created: int, expires: int) -> str:
    return str(body["status"])


def _node_rules(body: dict[str, Value], created: int, expires: int) -> str:
    if body["slot"] != NODE_PROFILE_SLOT:
        raise f.invalid("slot", "bad_slot", f"a node profile's slot is {NODE_PROFILE_SLOT!r}")
    return "open"


def _reply_rules(body: dict[str, Value], created: int, expires: int) -> str:
    return "open"


def _decision_rules(body: dict[str, Value], created: int, expires: int) -> str:
    seq = body["seq"]
    if body["slot"] != str(seq):
        raise f.invalid("slot", "bad_slot", "a decision's slot is its seq in decimal")
    if ("prev" in body) != (seq != 1):
        raise f.invalid("prev", "bad_prev", "the first decision has no prev; every later one names it")
    ranked = body["method"] == "ranked"
    if ("options" in body) != ranked or ("winner" in body and not ranked) or (ranked and body["type"] != "text"):
        raise f.invalid("options", "bad_options", "options (and a winner) belong to ranked text proposals only")
    if "effect" in body and body["type"] == "text":
        raise f.invalid("effect", "bad_effect", "a text proposal changes nothing on the node")
    winner, options = body.get("winner"), body.get("options")
    if isinstance(winner, int) and isinstance(options, list) and winner > len(options):
        raise f.invalid("winner", "bad_winner", "the winner must be one of the options")
    turnout, electorate = body["turnout"], body["electorate"]
    assert isinstance(turnout, int) and isinstance(electorate, int)  # the table checked them
    if turnout > electorate:
        raise f.invalid("turnout", "bad_turnout", "more voted than could")
    opened, closed = body["opened_at"], body["closed_at"]
    assert isinstance(opened, int) and isinstance(closed, int)
    if not opened <= closed <= created:
        raise f.invalid("closed_at", "bad_closed_at", "a vote closes after it opens and before its decision")
    return "open"


def _finding_rules(body: dict[str, Value], created: int, expires: int) -> str:
    as_of = body["as_of"]
    assert isinstance(as_of, int)
    if as_of > created:
        raise f.invalid("as_of", "bad_as_of", "a finding cites a report made before it")
    return "open"


def _event_rules(body: dict[str, Value], created: int, expires: int) -> str:
    start, end = str(body["start"]), str(body["end"])
    begins, ends = datetime.fromisoformat(start), datetime.fromisoformat(end)
    if not begins < ends <= begins + timedelta(days=1):
        raise f.invalid("end", "bad_end", "an event ends after it starts, within 24 hours")
    rule = body.get("rrule")
    recurrence.occurrences(begins, None if rule is None else recurrence.parse(str(rule)))
    return "open"


def _rotation_rules(body: dict[str, Value], created: int, expires: int) -> str:
    old, new, author = body["old"], body["new"], body["author"]
    assert isinstance(old, bytes) and isinstance(new, bytes)  # the table checked them
    if body["slot"] != old.hex():
        raise f.invalid("slot", "bad_slot", "a key rotation's slot is the old key in hex")
    if len({old, new, author}) != 3:
        raise f.invalid("new", "bad_rotation", "the old key, the new key and the recovery key must all differ")
    return "open"


_KIND_RULES = {
    "need": _post_rules,
    "offer": _post_rules,
    "node": _node_rules,
    "reply": _reply_rules,
    "decision": _decision_rules,
    "finding": _finding_rules,
    "event": _event_rules,
    "key_rotation": _rotation_rules,
}
_MAX_LIFETIME = {
    "reply": MAX_REPLY_TTL,
    "decision": MAX_DECISION_TTL,
    "finding": MAX_FINDING_TTL,
    "event": MAX_EVENT_TTL,
    "key_rotation": MAX_ROTATION_TTL,
}
"""The longest a record of a kind may live, when not ``MAX_TTL``."""
"""The rules of each kind that span fields (the table checks each field alone)."""


class Signer(Protocol):
    """What building a record needs from an identity (``crypto.NodeIdentity`` fits)."""

    @property
    def public_key(self) -> bytes: ...

    def sign_message(self, message: bytes) -> bytes: ...


def build_record(signer: Signer, body: Mapping[str, Any]) -> Record:
    """Sign ``body`` (which must hold every field but ``v`` and ``author``) and parse the result.

    Parsing what we just built means a node can never sign a record that its
    peers would refuse.
    """
    full = dict(body)
    full["v"] = FORMAT_VERSION
    full["author"] = signer.public_key
    payload = encode(full)
    signature = signer.sign_message(signing_message(Domain.RECORD, payload))
    return parse_record(encode([payload, signature]))


def new_version(signer: Signer, old: Record, now: int, changes: Mapping[str, Any]) -> Record:
    """The next version of ``old`` with ``changes`` applied (``None`` removes a field).

    ``created_at`` always moves forward so the new version wins even when the
    clock has not ticked; a tombstone keeps the expiry of what it replaces, so
    it outlives every copy of the record it withdraws.
    """
    if signer.public_key != old.author:
        raise LocalProtocolError("only the author's key can make a new version of a record")
    body: dict[str, Value] = dict(old.fields)
    for name, value in changes.items():
        if name in ("v", "author", "kind", "slot", "created_at"):
            raise f.invalid(name, "immutable_field", "cannot be changed by a new version")
        if value is None:
            body.pop(name, None)
        else:
            body[name] = value
    created = max(now, old.created_at + 1)
    body["created_at"] = created
    if body.get("status") in TOMBSTONE_STATUSES:
        body["expires_at"] = max(old.expires_at, created + 1)
    record = build_record(signer, body)
    check_transition(old.status, record.status)
    return record
