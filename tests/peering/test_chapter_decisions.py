# A chapter's decisions travel like any record, and its history cannot be
# rewritten on a node that has seen it: real node processes, a real vote on
# the chapter's node, and a hostile caller pushing forged, replayed, rewritten
# and unchained decisions to its neighbour.

from __future__ import annotations

import base64
import time
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from crypto import NodeIdentity
from protocol.ballots import receipts_digest
from protocol.records import DAY, Record, build_record
from tests.peering.conftest import Node, NodeFactory, wait_until
from tests.peering.test_policy import push


def found_chapter(node: Node, *names: str) -> dict[str, str]:
    """Members by name, each with their card: the operator's founding sheet, then joins."""
    status, sheet = node.api("POST", "/api/v1/invites", {"count": len(names)}, token=node.admin_token())
    assert status == 201, sheet
    cards = {}
    for name, invite in zip(names, sheet["invites"], strict=True):
        status, joined = node.api("POST", "/api/v1/members", {"code": invite["code"], "name": name})
        assert status == 201, joined
        cards[name] = joined["card"]
    return cards


def decided(node: Node, cards: dict[str, str], title: str) -> dict[str, Any]:
    """A text proposal everyone agrees to; the proposal once closed."""
    proposer = next(iter(cards.values()))
    status, opened = node.api("POST", "/api/v1/proposals", {"type": "text", "title": title}, token=proposer)
    assert status == 201, opened
    pid = opened["proposal"]["id"]
    for card in cards.values():
        status, answer = node.api("POST", f"/api/v1/proposals/{pid}/ballots", {"choice": "agree"}, token=card)
        assert status == 200, answer

    def published() -> dict[str, Any] | None:
        proposal = node.api("GET", f"/api/v1/proposals/{pid}", token=proposer)[1]["proposal"]
        return proposal if proposal["decision"] else None

    return wait_until(published, "the decision is published")


def verify(r: dict[str, Any], author: bytes) -> None:
    """A decision as a peer shows it: signed by the chapter's key over exactly these bytes."""
    assert r["author"] == author.hex()
    Ed25519PublicKey.from_public_bytes(author).verify(bytes.fromhex(r["signature"]), base64.b64decode(r["signed"]))


def decision(signer: NodeIdentity, seq: int, prev: bytes | None, title: str, **changes: Any) -> Record:
    now = int(time.time())
    body: dict[str, Any] = {
        "kind": "decision", "slot": str(seq), "created_at": now, "expires_at": now + 3650 * DAY, "seq": seq,
        "proposal": f"forged{seq}", "title": title, "type": "text", "method": "choice", "threshold": "majority",
        "ballot": "secret", "quorum": 50, "outcome": "passed", "counts": {"agree": 3, "abstain": 0, "disagree": 0},
        "electorate": 3, "turnout": 3, "receipts": bytes(32), "opened_at": now - 60, "closed_at": now,
    }  # fmt: skip
    if prev is not None:
        body["prev"] = prev
    return build_record(signer, body | changes)


def test_a_decision_reaches_a_peer_and_its_history_cannot_be_rewritten(nodes: NodeFactory) -> None:
    chapter = nodes.start("chapter")
    neighbour = nodes.start("neighbour", peers=[chapter.url])
    wait_until(lambda: neighbour.connected_peers() >= 1, "the neighbour is connected")
    cards = found_chapter(chapter, "Ana", "Bo", "Cy")
    first = decided(chapter, cards, "Open the pantry on Sundays")
    assert first["result"]["outcome"] == "passed" and first["applied"] == "none"
    author = bytes.fromhex(chapter.info()["public_key"])

    held = wait_until(lambda: neighbour.get(first["decision"]), "the neighbour holds the decision")
    verify(held, author)
    assert held["seq"] == 1 and "prev" not in held and held["counts"] == {"agree": 3, "abstain": 0, "disagree": 0}
    assert (held["electorate"], held["turnout"]) == (3, 3)
    # Anyone holding the chapter's receipts list can tell it is the one counted; no name travels.
    receipts = [(bytes.fromhex(r["hash"]), r["choice"]) for r in first["receipts"]]
    assert held["receipts"] == receipts_digest(receipts).hex()
    fields = {k: v for k, v in held.items() if k not in ("signature", "signed")}  # (random letters there)
    assert not any(name in str(fields) for name in cards)
    assert [r["id"] for r in neighbour.records(kind="decision")] == [first["decision"]]

    second = decided(chapter, cards, "Meet on the first Monday")
    chained = wait_until(lambda: neighbour.get(second["decision"]), "the second decision travels")
    assert chained["seq"] == 2 and chained["prev"] == first["decision"]

    # A hostile caller pushes to the neighbour. Someone who stole the chapter's
    # key (or the chapter itself) tries to rewrite what was decided:
    stolen = NodeIdentity.load(chapter.data_dir / "identity.key")
    caller = NodeIdentity.generate()
    second_id = bytes.fromhex(second["decision"])
    rewritten = decision(stolen, 1, None, "Close the pantry for good")  # the held second names the real first
    unchained = decision(stolen, 3, bytes(32), "A decision that follows nothing held")
    forged = build_record(_Impostor(author, caller), _fields(decision(caller, 3, second_id, "Signed by another")))
    status, answer = push(neighbour, caller, [rewritten.raw, unchained.raw, forged.raw])
    assert status == 200, answer
    assert answer == {"outcomes": ["rejected:chain_broken", "rejected:chain_broken", "rejected:bad_signature"]}
    # A third decision chained to the second is taken; offered again, it is a duplicate;
    # another third, chained just as well, is history rewritten.
    third = decision(stolen, 3, second_id, "Keep the pantry open")
    assert push(neighbour, caller, [third.raw]) == (200, {"outcomes": ["accepted"]})
    assert push(neighbour, caller, [third.raw]) == (200, {"outcomes": ["duplicate"]})
    again = decision(stolen, 3, second_id, "Close the pantry after all", created_at=int(time.time()) + 5)
    assert push(neighbour, caller, [again.raw]) == (200, {"outcomes": ["rejected:decision_rewritten"]})
    assert [r["title"] for r in neighbour.records(kind="decision")] == [
        "Keep the pantry open", "Meet on the first Monday", "Open the pantry on Sundays"]  # fmt: skip
    assert neighbour.stop() == 0 and chapter.stop() == 0


def _fields(record: Record) -> dict[str, Any]:
    return {k: v for k, v in record.fields.items() if k not in ("v", "author")}


class _Impostor:
    """Claims one key, signs with another: what a forger without the chapter's key can make."""

    def __init__(self, claimed: bytes, signer: NodeIdentity) -> None:
        self.public_key = claimed
        self._signer = signer

    def sign_message(self, message: bytes) -> bytes:
        return self._signer.sign_message(message)


def test_the_members_decide_whom_the_node_peers_with(nodes: NodeFactory) -> None:
    chapter = nodes.start("chapter")
    neighbour = nodes.start("neighbour")
    cards = found_chapter(chapter, "Ana", "Bo")
    key = neighbour.info()["key"]
    start = {"type": "peering", "title": "Peer with the neighbours",
             "effect": {"action": "start", "url": neighbour.url, "key": key}}  # fmt: skip
    proposer = cards["Ana"]
    status, opened = chapter.api("POST", "/api/v1/proposals", start, token=proposer)
    assert status == 201, opened
    for card in cards.values():
        chapter.api("POST", f"/api/v1/proposals/{opened['proposal']['id']}/ballots", {"choice": "agree"}, token=card)
    wait_until(lambda: chapter.connected_peers() >= 1, "the chapter peers with the neighbour it decided on")
    peers = chapter.api("GET", "/api/v1/peers", token=chapter.admin_token())[1]["peers"]
    assert [(p["url"], p["public_key"], p["source"]) for p in peers] == [
        (neighbour.url, neighbour.info()["public_key"], "decision")]  # fmt: skip
    record, _ = neighbour.post("Spare bread on Saturdays", kind="offer")
    wait_until(lambda: chapter.get(record["id"]), "the neighbour's post reaches the chapter")
    stop = {"type": "peering", "title": "Stop", "effect": {"action": "stop", "url": neighbour.url, "key": key}}
    status, opened = chapter.api("POST", "/api/v1/proposals", stop, token=proposer)
    assert status == 201, opened
    for card in cards.values():
        chapter.api("POST", f"/api/v1/proposals/{opened['proposal']['id']}/ballots", {"choice": "agree"}, token=card)
    wait_until(lambda: not chapter.api("GET", "/api/v1/peers", token=chapter.admin_token())[1]["peers"],
               "the link is dropped")  # fmt: skip
    rules = chapter.api("GET", "/api/v1/policy", token=chapter.admin_token())[1]["rules"]
    assert [(r["subject"], r["key_text"], r["action"]) for r in rules] == [("peer", key, "block")]
    assert neighbour.stop() == 0 and chapter.stop() == 0


def test_in_one_batch_the_first_of_two_conflicting_links_is_kept(nodes: NodeFactory) -> None:
    node = nodes.start("node")
    chapter_key, caller = NodeIdentity.generate(), NodeIdentity.generate()
    first = decision(chapter_key, 1, None, "First")
    second = decision(chapter_key, 2, first.id, "Second")
    stray = decision(chapter_key, 3, bytes(32), "Follows nothing")
    # Sent out of order, with a link that follows nothing: the real chain gets in whatever the order.
    status, answer = push(node, caller, [stray.raw, second.raw, first.raw])
    assert (status, answer) == (200, {"outcomes": ["rejected:chain_broken", "accepted", "accepted"]})
    # A forged first decision (not signed by the chapter) cannot stand as a neighbour either.
    other = decision(chapter_key, 4, bytes(32), "Fourth, after a forged third")
    forged = build_record(_Impostor(chapter_key.public_key, caller), _fields(decision(caller, 3, second.id, "x")))
    status, answer = push(node, caller, [forged.raw, other.raw])
    assert (status, answer) == (200, {"outcomes": ["rejected:bad_signature", "accepted"]})
    assert node.stop() == 0
