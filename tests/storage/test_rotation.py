"""What the store does with a key rotation (protocol/rotation.py): the recovery key
a profile names is pinned once; a rotation drops the old key's records, redirects
their ids to the new key's addresses, moves this node's manage tokens, post
versions and removals to the new key, and survives a reopen. The pure rules
(who may rotate, re-signing in chain order) are checked alongside."""

from __future__ import annotations

import hashlib

import pytest

from crypto import NodeIdentity, RecoveryKey
from protocol.errors import SignatureInvalid
from protocol.records import MAX_ROTATION_TTL, Record, build_record, new_version, rotation_consent, verify_record
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


def rotation(signer: RecoveryKey = PAPER, old: bytes = ALICE.public_key, new: NodeIdentity = NEW) -> Record:
    proof = new.sign_message(rotation_consent(old, new.public_key, signer.public_key))
    return build_record(
        signer,
        {"kind": "key_rotation", "slot": old.hex(), "created_at": NOW, "expires_at": NOW + MAX_ROTATION_TTL,
         "old": old, "new": new.public_key, "proof": proof},
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
    assert recovery_fault(profile_with(PAPER.public_key), None) is None
    assert recovery_fault(profile_with(PAPER.public_key), PAPER.public_key) is None
    assert recovery_fault(profile_with(b"t" * 32), PAPER.public_key) == "recovery_changed"
    assert recovery_fault(node_profile(ALICE), PAPER.public_key) == "recovery_dropped"
    assert recovery_fault(node_profile(ALICE), None) is None
    assert current_key(b"a", {b"a": b"b", b"b": b"c"}) == b"c"


def test_a_rotation_needs_the_new_keys_consent() -> None:
    good = rotation()
    verify_record(good)
    claimed = dict(good.fields) | {"proof": identity("mallory").sign_message(b"x")}
    forged = build_record(PAPER, {k: v for k, v in claimed.items() if k not in ("v", "author")})
    with pytest.raises(SignatureInvalid, match="proof"):
        verify_record(forged)  # naming a key whose holder never agreed: refused with the signatures


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


async def test_a_pin_comes_only_from_a_profile_the_store_keeps(store: RecordStore) -> None:
    thief = RecoveryKey(b"t" * 32)
    await store.writer.put(node_profile(BOB, created_at=NOW - 10), NOW)
    # An older profile of Bob's naming a recovery key is superseded, so it pins nothing,
    # and a rotation in the same batch that leans on it is refused.
    older = node_profile(BOB, created_at=NOW - 50)
    stale = build_record(BOB, {k: v for k, v in older.fields.items() if k not in ("v", "author")}
                         | {"recovery": thief.public_key})  # fmt: skip
    outcomes = await store.writer.put_many([stale, rotation(thief, BOB.public_key)], NOW)
    assert [(o.status, o.reason) for o in outcomes] == [("superseded", None), ("rejected", "unknown_recovery")]
    assert await store.keys.recovery_for(BOB.public_key) is None
    # The operator's word (key rotate from the paper alone) pins it with the rotation, and only then.
    vouch = {BOB.public_key: thief.public_key}
    (vouched,) = await store.writer.put_many([rotation(thief, BOB.public_key)], NOW, pins=vouch)
    assert vouched.status == "accepted" and await store.keys.recovery_for(BOB.public_key) == thief.public_key


async def test_a_rotation_before_its_profile_in_one_batch_is_taken(store: RecordStore) -> None:
    outcomes = await store.writer.put_many([rotation(), profile_with(PAPER.public_key)], NOW)
    assert [o.status for o in outcomes] == ["accepted", "accepted"]  # outcomes in the order given
    assert store.keys.current(ALICE.public_key) == NEW.public_key


async def test_a_rotation_moves_everything_the_old_key_held(store: RecordStore, db_path: str) -> None:
    need, other = post(ALICE, "n1"), post(BOB, "b1")
    gone = post(ALICE, "n2", title="Removed")
    await store.writer.put_many([profile_with(PAPER.public_key)], NOW)
    assert await store.keys.recovery_for(ALICE.public_key) == PAPER.public_key
    await store.writer.put_own(need, hashlib.sha256(b"token").digest(), NOW)
    await store.writer.put_own(gone, hashlib.sha256(b"token2").digest(), NOW)
    await store.writer.put(other, NOW)
    assert await store.writer.remove(gone.address, gone.id, "spam", NOW)
    # A later profile cannot swap the pin, nor drop it: the store refuses both, whatever the ingest let by.
    (swap,) = await store.writer.put_many([profile_with(b"t" * 32, created_at=NOW - 10)], NOW)
    (drop,) = await store.writer.put_many([node_profile(ALICE, created_at=NOW - 5)], NOW)
    assert (swap.reason, drop.reason) == ("recovery_changed", "recovery_dropped")
    assert await store.keys.recovery_for(ALICE.public_key) == PAPER.public_key
    # A rotation signed by another recovery key, or for a key with no pin, is refused by the store itself.
    (forged,) = await store.writer.put_many([rotation(RecoveryKey(b"t" * 32))], NOW)
    (unpinned,) = await store.writer.put_many([rotation(old=BOB.public_key)], NOW)
    assert (forged.reason, unpinned.reason) == ("not_recovery_key", "unknown_recovery")

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
    (again,) = await store.writer.put_many([rotation(new=identity("other"))], NOW)
    assert (again.status, again.reason) == ("rejected", "key_rotation_rewritten")
    (late,) = await store.writer.put_many([post(ALICE, "n3")], NOW)
    assert (late.status, late.reason) == ("rejected", "key_rotated")  # nothing more from the old key
    await close_or_fail(store)

    reopened = await RecordStore.open(db_path)
    try:
        assert reopened.keys.current(ALICE.public_key) == NEW.public_key
        assert reopened.moderation.is_removed((NEW.public_key, "need", "n2"))
        assert await reopened.keys.redirect(need.id) == (NEW.public_key, "need", "n1")
    finally:
        await close_or_fail(reopened)
