# Three nodes in a line, A - B - C: A and C each know only B, and B knows
# nobody. Whatever is posted on A can reach C only through B, by A pushing to
# B and C long-polling B's feed.

from __future__ import annotations

import base64
import hashlib
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from tests.peering.conftest import NodeFactory, wait_until


def verify_with_plain_cryptography(r: dict[str, Any]) -> None:
    """Check R the way an outsider would: nothing of ours, just its fields and Ed25519."""
    signed = base64.b64decode(r["signed"], validate=True)
    Ed25519PublicKey.from_public_bytes(bytes.fromhex(r["author"])).verify(bytes.fromhex(r["signature"]), signed)
    assert hashlib.sha256(signed).hexdigest() == r["id"]


def test_a_need_and_its_withdrawal_travel_from_a_through_b_to_c(nodes: NodeFactory) -> None:
    b = nodes.start("b")
    a = nodes.start("a", peers=[b.url])
    c = nodes.start("c", peers=[b.url])

    posted, token = a.post("Rain boots for a toddler", details="size 24, any colour", tags=["kids"])
    assert posted["author"] == a.info()["public_key"]

    def c_finds_it() -> dict[str, Any] | None:
        return next((r for r in c.search("rain boots") if r["slot"] == posted["slot"]), None)

    on_c = wait_until(c_finds_it, "C finds the need posted on A")
    assert on_c["id"] == posted["id"]
    assert on_c["status"] == "open"
    assert on_c["title"] == "Rain boots for a toddler"
    assert (on_c["details"], on_c["tags"]) == ("size 24, any colour", ["kids"])
    # The same signed bytes, relayed untouched, and checkable without trusting C.
    assert (on_c["signed"], on_c["signature"]) == (posted["signed"], posted["signature"])
    assert on_c["author"] == a.info()["public_key"]
    verify_with_plain_cryptography(on_c)
    assert b.get(posted["id"]) is not None, "B relayed the record, so it holds it"

    status, answer = a.api("POST", f"/api/v1/records/{posted['id']}/status", {"status": "withdrawn"}, token=token)
    assert status == 200, answer
    withdrawn = answer["record"]
    assert withdrawn["status"] == "withdrawn"
    assert withdrawn["slot"] == posted["slot"]
    assert withdrawn["id"] != posted["id"]

    on_c_now = wait_until(lambda: c.get(withdrawn["id"]), "C holds the withdrawal made on A")
    assert on_c_now["status"] == "withdrawn"
    assert on_c_now["signed"] == withdrawn["signed"]
    verify_with_plain_cryptography(on_c_now)
    # C keeps only the current version: the open one is gone, and a default
    # search (open and claimed posts) no longer lists the need.
    assert c.get(posted["id"]) is None
    assert [r for r in c.search("rain boots") if r["slot"] == posted["slot"]] == []
    assert [r["id"] for r in c.search("rain boots", status="withdrawn")] == [withdrawn["id"]]
    assert b.get(withdrawn["id"]) is not None

    a.stop()
    c.stop()
    b.stop()
