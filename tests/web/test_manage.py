# The manage page in a real Chromium against a real node process: it shows
# every post its token manages (a need and its linked give-back offer), each
# with its replies; a closed post shows a plain note and its replies with no
# action that would fail; a post this node's organizers removed says so, with
# their reason, on the manage page and on the public record page.

from __future__ import annotations

import pytest

from tests._nodes import call
from tests.web._flows import post_through_form, search
from tests.web.conftest import Node, Visit, screenshot

pytestmark = pytest.mark.slow


def reply(url: str, record_id: str, message: str, contact: str = "") -> None:
    sent = call(f"{url}/api/v1/records/{record_id}/replies", "POST", {"message": message, "contact": contact})
    assert isinstance(sent, dict) and sent["reply"]["delivered"] == "direct"


def test_a_reply_to_the_linked_give_back_offer_is_read_on_the_needs_manage_page(visit: Visit, node_a: Node) -> None:
    page = visit.page
    link, need_id, token = post_through_form(
        page,
        node_a.url,
        {"title": "Help moving a sofa upstairs", "category": "household", "give_back": "Bread baked on Sundays"},
    )
    offers = search(node_a.url, q="sundays", kind="offer")
    assert [o["title"] for o in offers] == ["Bread baked on Sundays"]
    reply(node_a.url, offers[0]["id"], "I would love a loaf, GIVEBACK-REPLY-4411", "at the Thursday market")
    reply(node_a.url, need_id, "I can lift on Saturday, NEED-REPLY-2208")

    page.goto(link)
    own, linked = page.locator(".main-post"), page.locator(".linked-post")
    own.get_by_role("heading", name="Help moving a sofa upstairs").wait_for()
    own.locator(".reply-item .message", has_text="NEED-REPLY-2208").wait_for()
    linked.get_by_role("heading", name="Replies to your offer").wait_for()
    got = linked.locator(".reply-item")
    got.wait_for()
    assert got.locator(".message").text_content() == "I would love a loaf, GIVEBACK-REPLY-4411"
    assert "at the Thursday market" in (got.locator(".contact").text_content() or "")
    assert own.locator(".reply-item").count() == 1  # each reply under the post it answers
    assert linked.get_by_role("button", name="Mark as fulfilled").count() == 1
    screenshot(page, "manage-linked")

    # Opened from the offer's side, the need is on the page too.
    page.goto(f"{node_a.url}/#/manage/{offers[0]['id']}/{token}")
    page.locator(".linked-post").get_by_role("heading", name="Help moving a sofa upstairs").wait_for()
    page.locator(".main-post").get_by_text("GIVEBACK-REPLY-4411").wait_for()
    assert visit.foreign(node_a.url) == [] and visit.errors == []


def test_a_closed_post_shows_a_note_and_its_replies_and_nothing_that_would_fail(visit: Visit, node_a: Node) -> None:
    answer = call(
        f"{node_a.url}/api/v1/records",
        "POST",
        {"kind": "offer", "title": "Folding table", "category": "household", "area": "u4pru"},
    )
    assert isinstance(answer, dict)
    offer_id, token = answer["record"]["id"], answer["manage_token"]
    reply(node_a.url, offer_id, "Could I borrow it for a party? CLOSED-REPLY-5150")
    call(f"{node_a.url}/api/v1/records/{offer_id}/status", "POST", {"status": "withdrawn"}, token=token)
    page = visit.page
    page.goto(f"{node_a.url}/#/manage/{offer_id}/{token}")
    page.get_by_text("This post is withdrawn. That is final").wait_for()
    page.locator(".reply-item .message", has_text="CLOSED-REPLY-5150").wait_for()
    assert page.locator("main button, main form, main details").count() == 0
    page.goto(f"{node_a.url}/#/r/{offer_id}")
    page.get_by_text("This post is closed (Withdrawn)").wait_for()
    assert page.get_by_label("Message").count() == 0  # no reply form the node would refuse
    assert visit.errors == []


def test_a_post_removed_by_the_organizers_says_so_with_their_reason(visit: Visit, node_a: Node) -> None:
    answer = call(
        f"{node_a.url}/api/v1/records",
        "POST",
        {
            "kind": "need",
            "title": "Cheap watches for sale",
            "category": "other",
            "area": "u4pru",
            "give_back": "Watch straps, WATCH-OFFER",
        },
    )
    assert isinstance(answer, dict)
    need_id, token = answer["record"]["id"], answer["manage_token"]
    reason = "selling things is not mutual aid"
    call(
        f"{node_a.url}/api/v1/organizer/removals", "POST", {"id": need_id, "reason": reason}, token=node_a.admin_token()
    )
    page = visit.page
    for route in (f"#/r/{need_id}", f"#/manage/{need_id}/{token}"):
        page.goto(f"{node_a.url}/{route}")
        page.get_by_role("heading", name="This post was removed").wait_for()
        page.get_by_text("The organizers of this node removed this post.").wait_for()
        assert page.locator(".removed span").text_content() == reason, route
        assert page.locator(".main-post").count() == 0  # nothing to do with the removed post itself
    # The linked offer was not removed: it stays manageable on the same page.
    page.locator(".linked-post").get_by_role("heading", name="Watch straps, WATCH-OFFER").wait_for()
    assert page.locator(".linked-post").get_by_role("button", name="Mark as fulfilled").count() == 1
    screenshot(page, "manage-removed")
    page.get_by_label("Page language").select_option("es")
    page.get_by_role("heading", name="Esta publicación fue retirada").wait_for()
    assert visit.errors == []
