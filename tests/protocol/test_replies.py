"""Reply records: field rules and bounds, sealing to the poster's node, opening."""

from __future__ import annotations

from typing import Any

import pytest

from crypto import NodeIdentity, SealError, seal
from protocol.codec import encode
from protocol.errors import DecodeError, RecordInvalid
from protocol.records import (
    DAY,
    MAX_RECORD_BYTES,
    MAX_SEALED_BYTES,
    MIN_SEALED_BYTES,
    accept_record,
    build_record,
    parse_record,
)
from protocol.replies import REPLY_TTL, ReplyText, build_reply, context, open_reply, plaintext

NOW = 1_800_000_000
POSTER = NodeIdentity.from_seed(bytes(range(32)))  # the node that signed the post
SENDER = NodeIdentity.from_seed(bytes(range(1, 33)))  # the node a member replied through
STRANGER = NodeIdentity.from_seed(bytes(range(2, 34)))


def post(**changes: Any) -> Any:
    body = {
        "kind": "offer",
        "slot": "p1",
        "created_at": NOW - 100,
        "expires_at": NOW + 10 * DAY,
        "status": "open",
        "title": "Two coats",
        "category": "clothing",
        "area": "u4pru",
    } | changes
    return build_record(POSTER, body)


def reply_body(**changes: Any) -> dict[str, Any]:
    return {
        "kind": "reply",
        "slot": "r1",
        "created_at": NOW,
        "expires_at": NOW + REPLY_TTL,
        "to": POSTER.public_key,
        "about": bytes(32),
        "area": "u4pru",
        "sealed": bytes(100),
    } | changes


def test_a_reply_round_trips_and_only_the_poster_opens_it() -> None:
    offer = post()
    reply = build_reply(
        SENDER, offer, POSTER.seal_public_key, ReplyText("Hola, ¿sigue?", "call 555-0100", NOW), NOW, slot="r1"
    )
    received = accept_record(reply.raw, NOW)
    assert (received.kind, received.author, received.status) == ("reply", SENDER.public_key, "open")
    assert (received.get("to"), received.get("about"), received.get("area")) == (POSTER.public_key, offer.id, "u4pru")
    assert received.expires_at - received.created_at == REPLY_TTL
    assert b"555-0100" not in reply.raw and b"Hola" not in reply.raw
    assert open_reply(POSTER, received) == ReplyText("Hola, ¿sigue?", "call 555-0100", NOW)
    for wrong in (SENDER, STRANGER):
        with pytest.raises(SealError):
            open_reply(wrong, received)


def test_the_slot_is_the_callers_and_is_checked_like_any_slot() -> None:
    """protocol/ draws no randomness: the caller names the reply's address."""
    offer = post()
    reply = build_reply(SENDER, offer, POSTER.seal_public_key, ReplyText("hi", "", NOW), NOW, slot="a1b2c3d4")
    assert reply.address == (SENDER.public_key, "reply", "a1b2c3d4")
    with pytest.raises(RecordInvalid) as info:
        build_reply(SENDER, offer, POSTER.seal_public_key, ReplyText("hi", "", NOW), NOW, slot="not a slot!")
    assert info.value.reason == "bad_slot"


def test_a_sealed_box_moved_to_another_post_does_not_open() -> None:
    offer, other = post(), post(slot="p2")
    reply = build_reply(SENDER, offer, POSTER.seal_public_key, ReplyText("hello", "", NOW), NOW, slot="r1")
    moved = build_record(SENDER, reply_body(about=other.id, sealed=reply.get("sealed")))
    with pytest.raises(SealError):
        open_reply(POSTER, moved)


def test_plaintext_is_padded_so_lengths_say_little() -> None:
    sizes = {len(plaintext("x" * n, "", NOW)) for n in (1, 50, 150, 200)}
    assert sizes == {256}
    assert len(plaintext("x" * 300, "", NOW)) == 512


@pytest.mark.parametrize(
    ("message", "contact"),
    [("", ""), ("   ", ""), ("\u200b", ""), ("x" * 2001, ""), ("hi", "c" * 501), ("a\x00b", ""), ("hi", "\u202e"),
     (42, ""), ("hi", 7)],
)  # fmt: skip
def test_bad_text_is_refused_before_sealing(message: Any, contact: Any) -> None:
    with pytest.raises(RecordInvalid):
        build_reply(SENDER, post(), POSTER.seal_public_key, ReplyText(message, contact, NOW), NOW, slot="r1")


def test_the_longest_text_in_the_widest_script_fits_a_record() -> None:
    """Every message and contact within the character limits can be sent: a
    limit in characters that the record's byte limit then refused would be a lie."""
    longest = build_reply(
        SENDER, post(), POSTER.seal_public_key, ReplyText("😀" * 2000, "😀" * 500, NOW), NOW, slot="r1"
    )
    assert len(longest.raw) <= MAX_RECORD_BYTES
    with pytest.raises(RecordInvalid) as info:
        build_reply(SENDER, post(), POSTER.seal_public_key, ReplyText("😀" * 2001, "", NOW), NOW, slot="r1")
    assert info.value.reason == "message_too_long"


def test_a_reply_answers_only_needs_and_offers() -> None:
    profile = build_record(
        POSTER,
        {"kind": "node", "slot": "profile", "created_at": NOW, "expires_at": NOW + DAY, "name": "n", "areas": [],
         "urls": [], "seal_key": POSTER.seal_public_key},
    )  # fmt: skip
    with pytest.raises(RecordInvalid):
        build_reply(SENDER, profile, POSTER.seal_public_key, ReplyText("hi", "", NOW), NOW, slot="r1")
    with pytest.raises(RecordInvalid):  # a low-order point is no sealing key
        build_reply(SENDER, post(), bytes(32), ReplyText("hi", "", NOW), NOW, slot="r1")


BAD_REPLIES: list[tuple[str, dict[str, Any], str]] = [
    ("to-short", {"to": bytes(31)}, "bad_key"),
    ("to-text", {"to": "ab" * 32}, "bad_key"),
    ("about-long", {"about": bytes(33)}, "bad_key"),
    ("sealed-empty-box", {"sealed": bytes(MIN_SEALED_BYTES - 1)}, "bad_sealed"),
    ("sealed-text", {"sealed": "x" * 100}, "wrong_type"),
    ("area-precise", {"area": "u4pruu"}, "area_too_precise"),
    ("area-missing", {"area": None}, "missing_field"),
    ("lives-31-days", {"expires_at": NOW + 31 * DAY}, "lifetime_too_long"),
    ("has-status", {"status": "open"}, "unknown_field"),
    ("has-title", {"title": "hi"}, "unknown_field"),
    ("no-sealed", {"sealed": None}, "missing_field"),
]


@pytest.mark.parametrize(("name", "changes", "reason"), BAD_REPLIES, ids=[c[0] for c in BAD_REPLIES])
def test_a_bad_reply_record_is_refused(name: str, changes: dict[str, Any], reason: str) -> None:
    body = {k: v for k, v in (reply_body() | changes).items() if v is not None}
    with pytest.raises(RecordInvalid) as info:
        build_record(SENDER, body)
    assert info.value.reason == reason


def test_an_oversized_box_is_refused_by_size_before_anything_else() -> None:
    body = reply_body(sealed=bytes(MAX_SEALED_BYTES + 1)) | {"v": 1, "author": SENDER.public_key}
    payload = encode(body)
    raw = encode([payload, SENDER.sign_message(b"x")])
    with pytest.raises(DecodeError):  # the payload decoder's bin limit, before any field rule
        parse_record(raw)


def test_the_biggest_box_is_accepted() -> None:
    record = build_record(SENDER, reply_body(sealed=bytes(MAX_SEALED_BYTES)))
    assert len(record.raw) <= MAX_RECORD_BYTES


def test_the_context_names_the_recipient_and_the_post() -> None:
    box = seal(POSTER.seal_public_key, b"x", context=context(POSTER.public_key, bytes(32)))
    assert POSTER.open_sealed(box, context=context(POSTER.public_key, bytes(32))) == b"x"
    with pytest.raises(SealError):
        POSTER.open_sealed(box, context=context(STRANGER.public_key, bytes(32)))
