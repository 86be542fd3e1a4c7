"""Private replies: a member's message to a poster, sealed to the poster's node.

A reply is a signed record of kind ``reply`` (the sending node signs it) that
every node may store and forward, but only the recipient node can open: its
``sealed`` field is a sealed box (``crypto.seal``) to the X25519 key in the
recipient's signed profile. The box's associated data binds it to this
recipient and this post (``"mutualaid/v1/reply" || 0x00 || to || about``), so
a box lifted into another reply does not open.

Inside the box is the canonical msgpack map ``{message, contact, sent_at,
pad}``; ``pad`` is zero bytes that round the plaintext up to a multiple of
256, so the ciphertext's size says little about the message's length.

Pure: the time, the recipient's profile and the reply's slot (a random
name the caller draws: every reply is its own address) come in as
arguments. The one random draw left is the sealed box's ephemeral X25519
key, made inside ``crypto.seal``: the box uses a fixed nonce, which is safe
only because that key is fresh for every box, so no caller may supply it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from crypto import InvalidKey, SealError, seal
from protocol import fields as f
from protocol.codec import Limits, decode, encode
from protocol.errors import DecodeError, RecordInvalid
from protocol.records import DAY, MAX_SEALED_BYTES, Record, Signer, build_record

MAX_MESSAGE_CHARS = 2000
MAX_CONTACT_CHARS = 500
REPLY_TTL = 30 * DAY
_PAD_TO = 256
_SEAL_OVERHEAD = 49
_CONTEXT_PREFIX = b"mutualaid/v1/reply\x00"
_PLAIN_LIMITS = Limits(
    max_size=MAX_SEALED_BYTES, max_str=MAX_SEALED_BYTES, max_bin=MAX_SEALED_BYTES, max_array=0, max_map=4, max_depth=1
)


class Opener(Protocol):
    """What opening a reply needs from an identity (``crypto.NodeIdentity`` fits)."""

    def open_sealed(self, sealed: bytes, *, context: bytes = b"") -> bytes: ...


@dataclass(frozen=True)
class ReplyText:
    """A reply as the poster reads it. Never stored or logged in clear."""

    message: str
    contact: str
    sent_at: int


def context(to: bytes, about: bytes) -> bytes:
    return _CONTEXT_PREFIX + to + about


def check_text(message: object, contact: object) -> tuple[str, str]:
    """The member's message (required) and contact (may be empty); RecordInvalid otherwise."""
    text = _unicode("message", f.text("message", message, max_chars=MAX_MESSAGE_CHARS, multiline=True))
    if contact is None or contact == "":
        return text, ""
    return text, _unicode("contact", f.text("contact", contact, max_chars=MAX_CONTACT_CHARS, multiline=True))


def _unicode(field: str, value: str) -> str:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate, which JSON escapes can carry
        raise f.invalid(field, "not_unicode", "is not valid Unicode text") from None
    return value


def plaintext(message: str, contact: str, sent_at: int) -> bytes:
    """The padded plaintext sealed in a reply."""
    bare = len(encode({"message": message, "contact": contact, "sent_at": sent_at, "pad": b""}))
    # Under 256 pad bytes, so the pad's length header stays 2 bytes whatever it holds.
    pad = -bare % _PAD_TO
    data = encode({"message": message, "contact": contact, "sent_at": sent_at, "pad": bytes(pad)})
    if len(data) + _SEAL_OVERHEAD > MAX_SEALED_BYTES:
        raise RecordInvalid("reply_too_long", "message: the message and contact are too long together", field="message")
    return data


def build_reply(
    signer: Signer, post: Record, recipient_seal_key: bytes, text: ReplyText, now: int, *, slot: str
) -> Record:
    """A signed reply to ``post``, sealed to its author node's ``recipient_seal_key``,
    at ``slot`` (random, drawn by the caller: two replies never share an address)."""
    if post.kind not in ("need", "offer"):
        raise RecordInvalid("bad_about", "a reply answers a need or an offer", field="about")
    message, contact = check_text(text.message, text.contact)
    try:
        box = plaintext(message, contact, text.sent_at)
        sealed = seal(recipient_seal_key, box, context=context(post.author, post.id))
    except InvalidKey:
        raise RecordInvalid("bad_key", "the poster's node has no usable sealing key", field="to") from None
    body = {
        "kind": "reply",
        "slot": slot,
        "created_at": now,
        "expires_at": now + REPLY_TTL,
        "to": post.author,
        "about": post.id,
        "area": str(post.get("area")),
        "sealed": sealed,
    }
    return build_record(signer, body)


def open_reply(opener: Opener, reply: Record) -> ReplyText:
    """The clear text of a reply sealed to ``opener``; raises SealError or DecodeError."""
    to, about, sealed = reply.get("to"), reply.get("about"), reply.get("sealed")
    if reply.kind != "reply" or not isinstance(to, bytes) or not isinstance(about, bytes):
        raise DecodeError("not a reply record")
    assert isinstance(sealed, bytes)
    value = decode(opener.open_sealed(sealed, context=context(to, about)), _PLAIN_LIMITS)
    if not isinstance(value, dict):
        raise DecodeError("a reply's plaintext is a map")
    message, contact, sent_at = value.get("message"), value.get("contact"), value.get("sent_at")
    if not isinstance(message, str) or not isinstance(contact, str) or type(sent_at) is not int:
        raise DecodeError("a reply's plaintext is {message, contact, sent_at, pad}")
    return ReplyText(message, contact, sent_at)


__all__ = ["REPLY_TTL", "ReplyText", "SealError", "build_reply", "check_text", "open_reply", "plaintext"]
