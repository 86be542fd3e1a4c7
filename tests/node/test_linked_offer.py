# A need's "something I can give back" becomes a linked offer: posted with the
# need, in the same area, managed by the same token, found by offer searches.

from __future__ import annotations

from tests.node._support import check_signed, need, offer
from tests.node.conftest import RunningNode


async def test_give_back_becomes_an_offer_managed_by_the_same_token(node: RunningNode) -> None:
    body = need(give_back="I can mend clothes\nand teach\tsewing", languages=["es"], area="u4pru", expires_in_days=9)
    status, answer = await node.call("POST", "/api/v1/records", json=body)
    assert status == 201, answer
    posted, linked, token = answer["record"], answer["linked_offer"], answer["manage_token"]
    check_signed(linked)
    assert (linked["kind"], linked["status"], linked["category"], linked["area"]) == ("offer", "open", "other", "u4pru")
    assert linked["title"] == "I can mend clothes and teach sewing"
    assert linked["details"] == body["give_back"]
    assert (linked["tags"], linked["languages"]) == (["give-back"], ["es"])
    assert linked["expires_at"] == posted["expires_at"] and linked["slot"] != posted["slot"]
    assert await node.row_counts() == (2, 2)

    status, found = await node.call("GET", "/api/v1/records?kind=offer&q=sewing")
    assert [r["id"] for r in found["records"]] == [linked["id"]]
    status, changed = await node.call(
        "POST",
        f"/api/v1/records/{linked['id']}/status",
        json={"status": "withdrawn"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert status == 200, changed
    status, still = await node.call("GET", f"/api/v1/records/{posted['id']}")
    assert (status, still["status"]) == (200, "open")  # the need is not touched


async def test_a_long_give_back_is_cut_for_the_title_only(node: RunningNode) -> None:
    text = "word " * 55
    status, answer = await node.call("POST", "/api/v1/records", json=need(give_back=text.strip()))
    assert status == 201, answer
    title = answer["linked_offer"]["title"]
    assert len(title) == 120 and title.endswith("\u2026")
    assert answer["linked_offer"]["details"] == text.strip()


async def test_no_linked_offer_without_give_back(node: RunningNode) -> None:
    status, answer = await node.call("POST", "/api/v1/records", json=need())
    assert status == 201 and "linked_offer" not in answer
    status, answer = await node.call("POST", "/api/v1/records", json=offer())
    assert status == 201 and "linked_offer" not in answer
    assert await node.row_counts() == (2, 2)
