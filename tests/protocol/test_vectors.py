"""The test vectors in docs/PROTOCOL.md are true of this code.

Each fenced block with ``public_key:`` / ``message:`` / ``signature:`` or
``record:`` lines is read from the document and checked, so the spec and the
code cannot drift apart silently.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from crypto import Domain, NodeIdentity, public_key_to_text, signing_message, verify_message
from crypto.signing import verify_message_reference
from protocol.reconcile import ItemSet, Reconciler
from protocol.records import DEFAULT_TTL, accept_record, build_record, new_version
from protocol.replies import ReplyText, open_reply

SPEC = Path(__file__).resolve().parents[2] / "docs" / "PROTOCOL.md"
IDENTITY = NodeIdentity.from_seed(bytes(range(32)))
CREATED = 1_767_225_600


def vector_blocks() -> list[dict[str, bytes]]:
    blocks = []
    for body in re.findall(r"```\n(.*?)```", SPEC.read_text(), flags=re.S):
        fields = dict(re.findall(r"^(\w+): ([0-9a-f]+)$", body, flags=re.M))
        if "public_key" in fields:
            blocks.append({k: bytes.fromhex(v) for k, v in fields.items()})
    return blocks


def test_spec_has_vectors_with_the_required_lines() -> None:
    blocks = vector_blocks()
    assert len(blocks) >= 2
    assert {"public_key", "message", "signature"} <= blocks[0].keys()


def test_every_vector_verifies_with_both_verifiers() -> None:
    for block in vector_blocks():
        if "message" in block:
            verify_message(block["public_key"], block["message"], block["signature"])
            verify_message_reference(block["public_key"], block["message"], block["signature"])
            assert block["message"].startswith(signing_message(Domain.RECORD, b""))
            assert hashlib.sha256(block["message"]).digest() == block["id"]
        if "record" in block:
            record = accept_record(block["record"], CREATED + 7200)
            assert record.author == block["public_key"]
            assert record.id == block["id"]
            if "message" in block:
                assert record.message == block["message"] and record.signature == block["signature"]


def test_the_code_rebuilds_the_vectors_byte_for_byte() -> None:
    first, tombstone = vector_blocks()[:2]
    assert IDENTITY.public_key == first["public_key"]
    body = {
        "kind": "need",
        "slot": "9f2c",
        "created_at": CREATED,
        "expires_at": CREATED + DEFAULT_TTL,
        "status": "open",
        "title": "Winter coat, child size 8",
        "category": "clothing",
        "area": "u4pru",
        "tags": ["winter", "kids"],
        "urgency": "high",
        "languages": ["en"],
        "give_back": "I can mend clothes",
    }
    record = build_record(IDENTITY, body)
    assert record.raw == first["record"]
    withdrawn = new_version(IDENTITY, record, CREATED + 3600, {"status": "withdrawn"})
    assert withdrawn.raw == tombstone["record"]
    text = SPEC.read_text()
    assert public_key_to_text(IDENTITY.public_key) in text
    assert IDENTITY.seal_public_key.hex() in text


def test_reconcile_vector() -> None:
    items = ItemSet.from_unsorted((CREATED + i, hashlib.sha256(str(i).encode()).digest()) for i in range(3))
    text = SPEC.read_text()
    assert items.fingerprint(0, 3).hex() in text
    assert Reconciler(items).initiate().hex() in text


def test_reply_vector_opens_to_the_documented_text() -> None:
    (block,) = [b for b in vector_blocks() if b"\xa5reply" in b.get("record", b"")]  # the str "reply"
    reply = accept_record(block["record"], CREATED + 7200)
    assert reply.kind == "reply" and reply.id == block["id"]
    first = vector_blocks()[0]
    assert reply.get("about") == first["id"] and reply.get("to") == IDENTITY.public_key
    assert open_reply(IDENTITY, reply) == ReplyText(
        "Hello, I have a coat in size 8.", "Ask for Ana at the pantry", CREATED + 3600
    )
