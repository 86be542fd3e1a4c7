"""What the store does with a key rotation (protocol/rotation.py): the recovery key
a profile names is pinned once; a rotation drops the old key's records, redirects
their ids to the new key's addresses, moves this node's manage tokens, post
versions and removals to the new key, and survives a reopen. The pure rules
(who may rotate, re-signing in chain order) are checked alongside."""

from __future__ import annotations

import hashlib

from crypto import RecoveryKey
from protocol.records import MAX_ROTATION_TTL, Record, build_record, new_version
from protocol.rotation import current_key, recovery_fault, resign, rotation_fault
from storage import RecordStore
from tests.storage._support import ALICE, BOB, NOW, close_or_fail, identity, node_profile, post

PAPER = RecoveryKey(b"r" * 32)
NEW = identity("alice-new")


def profile_with(recovery: bytes, created_at: int = NOW - 100) -> Record:
    base = node_profile(ALICE, created_at=created_at)
    return build_record(
        ALICE, {k: v for k, v in base.fields.items() if k not in ("v", "author")} | {"recovery": recovery}
    )


def rotation(signer: object = PAPER, old: bytes = ALICE.public_key, new: bytes = NEW.public_key) -> Record:
    return build_record(
        signer,  # type: ignore[arg-type]
        {"kind": "key_rotation", "slot": old.hex(), "created_at": NOW, "expires_at": NOW + MAX_ROTATION_TTL,
         "old": old, "new": new},
    )  # fmt: skip


def decision(author: object, seq: int, prev: bytes | None) -> Record:
    body = {"kind": "decision", "slot": str(seq), "created_at": NOW - 50 + seq, "expires_at": NOW + 86_400,
            "seq": seq, "proposal": f"p{seq}", "title": f"Decision {seq}", "type": "text", "method": "choice",
            "threshold": "majority", "ballot": "secret", "quorum": 0, "outcome": "passed", "counts": {"agree": 1},
            "electorate": 1, "turnout": 1, "receipts": hashlib.sha256(b"r").digest(), "opened_at": NOW - 60,
            "closed_at": NOW - 55}  # fmt: skip
    if prev is not None:
        body["prev"] = prev
    return build_record(author, body)  # type: ignore[arg-type]


def test_only_the_pinned_recovery_key_may_rotate_and_a_pin_never_changes() -> None:
    assert rotation_fault(rotation(), None) == "unknown_recovery"
    assert rotation_fault(rotation(), PAPER.public_key) is None
    assert rotation_fault(rotation(RecoveryKey(b"t" * 32)), PAPER.public_key) == "not_recovery_key"
    other = RecoveryKey(b"o" * 32).public_key  # the new key is another chapter's
    assert rotation_fault(rotation(), PAPER.public_key, other) == "key_taken"
    assert rotation_fault(rotation(), PAPER.public_key, PAPER.public_key) is None
    assert rotation_fault(rotation(), PAPER.public_key, new_retired=True) == "key_taken"
    assert recovery_fault(profile_with(PAPER.public_key), None) is None
    assert recovery_fault(profile_with(PAPER.public_key), PAPER.public_key) is None
    assert recovery_fault(profile_with(b"t" * 32), PAPER.public_key) == "recovery_changed"
    assert recovery_fault(node_profile(ALICE), PAPER.public_key) is None  # leaving it out changes nothing
    assert current_key(b"a", {b"a": b"b", b"b": b"c"}) == b"c"
    assert current_key(b"a", {b"a": b"b", b"b": b"a"}) in (b"a", b"b")  # a loop ends


def test_resigning_keeps_content_and_times_and_relinks_the_chain() -> None:
    first = decision(ALICE, 1, None)
    second = decision(ALICE, 2, first.id)
    need = post(ALICE, "n1")
    edited = new_version(ALICE, need, NOW, {"title": "Warm coats for two children"})
    carried = resign([edited, second, first, node_profile(ALICE)], NEW, {need.id: ("need", "n1")})
    kinds = [(r.kind, r.slot) for r in carried]
    assert kinds == [("decision", "1"), ("decision", "2"), ("need", "n1")]  # chain order first; no profile
    one, two, coat = carried
    assert all(r.author == NEW.public_key for r in carried)
    assert two.get("prev") == one.id  # the chain links under the new key
    assert (coat.get("title"), coat.created_at, coat.expires_at) == (edited.get("title"), edited.created_at,
                                                                     edited.expires_at)  # fmt: skip


async def test_a_rotation_moves_everything_the_old_key_held(store: RecordStore, db_path: str) -> None:
    need, other = post(ALICE, "n1"), post(BOB, "b1")
    gone = post(ALICE, "n2", title="Removed")
    await store.writer.put_many([profile_with(PAPER.public_key)], NOW)
    assert await store.keys.recovery_for(ALICE.public_key) == PAPER.public_key
    await store.writer.put_own(need, hashlib.sha256(b"token").digest(), NOW)
    await store.writer.put_own(gone, hashlib.sha256(b"token2").digest(), NOW)
    await store.writer.put(other, NOW)
    assert await store.writer.remove(gone.address, gone.id, "spam", NOW)
    # A later profile cannot swap the pin (the ingest refuses it; the store keeps the first).
    await store.writer.put_many([profile_with(b"t" * 32, created_at=NOW - 10)], NOW)
    assert await store.keys.recovery_for(ALICE.public_key) == PAPER.public_key

    (moved,) = resign([need], NEW)
    outcomes = await store.writer.put_many([rotation(), moved], NOW, own=True)
    assert [o.status for o in outcomes] == ["accepted", "accepted"]
    assert store.keys.retired(ALICE.public_key) and store.keys.current(ALICE.public_key) == NEW.public_key
    assert await store.reads.get(need.id, NOW) is None  # the old key's copy is gone
    assert await store.reads.get(other.id, NOW) is not None  # nobody else's
    assert await store.keys.redirect(need.id) == (NEW.public_key, "need", "n1")
    assert (await store.own.current(need.id, NOW)) == moved  # a manage link's old id finds the new record
    assert await store.own.manage_token_hash(NEW.public_key, "need", "n1") == hashlib.sha256(b"token").digest()
    assert store.moderation.is_removed((NEW.public_key, "need", "n2"))  # a removal follows the chapter
    assert await store.keys.rotations_to(NEW.public_key) == [rotation().raw]
    # A second rotation of the same key is history rewritten.
    (again,) = await store.writer.put_many([rotation(new=identity("other").public_key)], NOW)
    assert (again.status, again.reason) == ("rejected", "key_rotation_rewritten")
    await close_or_fail(store)

    reopened = await RecordStore.open(db_path)
    try:
        assert reopened.keys.current(ALICE.public_key) == NEW.public_key
        assert reopened.moderation.is_removed((NEW.public_key, "need", "n2"))
        assert await reopened.keys.redirect(need.id) == (NEW.public_key, "need", "n1")
    finally:
        await close_or_fail(reopened)
