# The member web page in a real Chromium against real node processes: the
# issue's main journeys, start to finish, through the page alone.
#
# - post a need, find it by search, open the manage link, mark it fulfilled;
# - reply to an offer on node B, read the reply through the manage link on
#   node A; the reply's text is in no log and not in B's database file;
# - switch to Spanish (from the browser's language, then by the switch);
# - the report draws its charts and shows small counts as "fewer than 5";
# - the organizer view with the admin token typed in;
# - a screenshot of each main page in tests/web/screenshots/;
# - the page never asks any host but the node for anything.

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser

from tests._nodes import call, stop
from tests.web._flows import eventually, in_days, post_through_form, search
from tests.web.conftest import Node, Visit, open_page, screenshot, start_node

pytestmark = pytest.mark.slow


def test_post_a_need_find_it_manage_it_and_mark_it_fulfilled(visit: Visit, node_a: Node) -> None:
    page = visit.page
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    offer = {"kind": "offer", "title": "Boots in size 38, barely worn", "category": "clothing", "area": "u4pru"}
    call(f"{node_a.url}/api/v1/records", "POST", offer)
    page.goto(f"{node_a.url}/#/post")
    page.get_by_label("Title").wait_for()
    screenshot(page, "post")
    link, record_id, token = post_through_form(
        page,
        node_a.url,
        {
            "title": "Winter boots, size 38, for the walk to work",
            "category": "clothing",
            "details": "Mine split at the sole. Any colour.",
            "urgency": "high",
            "needed_by": in_days(20),
            "quantity": "1 pair",
            "languages": "en, es",
            "give_back": "I can mend clothes",
        },
    )
    screenshot(page, "posted")
    # "Something I can give back" became an offer of its own, managed with the same token.
    page.get_by_text("What you can give back is posted too").wait_for()
    linked = search(node_a.url, q="mend", kind="offer")
    assert [(r["title"], r["area"]) for r in linked] == [("I can mend clothes", "u4pr")]
    href = page.get_by_role("link", name="Manage that offer").get_attribute("href")
    assert href == f"#/manage/{linked[0]['id']}/{token}"
    page.get_by_role("button", name="Copy link").click()
    page.get_by_text("Copied.").wait_for()
    assert page.evaluate("navigator.clipboard.readText()") == link
    posted = call(f"{node_a.url}/api/v1/records/{record_id}")
    assert isinstance(posted, dict)
    assert posted["title"] == "Winter boots, size 38, for the walk to work"
    assert (posted["category"], posted["area"], posted["urgency"]) == ("clothing", "u4pr", "high")
    assert posted["languages"] == ["en", "es"] and posted["quantity"] == "1 pair"
    assert posted["needed_by"].startswith(in_days(20)) and posted["give_back"] == "I can mend clothes"

    page.goto(f"{node_a.url}/#/")
    page.get_by_label("Search", exact=True).fill("boots")
    page.get_by_label("Search", exact=True).press("Enter")
    result = page.locator(".card", has_text="Winter boots, size 38")
    result.wait_for()
    assert "q=boots" in page.url
    screenshot(page, "browse")
    result.get_by_role("link").click()
    page.get_by_role("heading", name="Winter boots, size 38, for the walk to work").wait_for()
    page.get_by_label("Message").wait_for()  # the private reply form is there
    matches = page.locator("section.matches")
    matches.get_by_role("link", name="Boots in size 38, barely worn").wait_for()  # a suggestion that fits
    assert matches.locator("h2").text_content() == "Offers that might help"
    screenshot(page, "record")

    page.goto(link)
    page.get_by_role("heading", name="Replies", exact=True).wait_for()
    # The linked give-back offer is managed on the same page, with its own replies.
    linked_box = page.locator(".linked-post")
    linked_box.get_by_role("heading", name="I can mend clothes").wait_for()
    linked_box.get_by_role("heading", name="Replies to your offer").wait_for()
    own = page.locator(".main-post")
    own.get_by_role("button", name="Mark as fulfilled").click()
    own.get_by_role("button", name="Yes, mark as fulfilled").click()  # a final step asks first
    page.get_by_text('Saved: the post is now "Fulfilled".').wait_for()
    # Fulfilled is final: a plain note, no buttons that would fail; the offer keeps its own.
    own.get_by_text("That is final").wait_for()
    assert own.get_by_role("button").count() == 0
    assert linked_box.get_by_role("button", name="Mark as fulfilled").count() == 1
    screenshot(page, "manage")
    fulfilled = search(node_a.url, q="boots", status="fulfilled")
    assert [r["title"] for r in fulfilled] == ["Winter boots, size 38, for the walk to work"]
    assert [r["kind"] for r in search(node_a.url, q="boots")] == ["offer"]  # the need is no longer open
    # The address bar follows the new version, with the same token, and the
    # link the member saved (the first version's id) still opens the post.
    new_link = f"{node_a.url}/#/manage/{fulfilled[0]['id']}/{token}"
    assert page.url == new_link
    assert call(f"{node_a.url}/api/v1/records/{record_id}")["id"] == fulfilled[0]["id"]  # type: ignore[index]
    page.goto(link)
    page.get_by_role("heading", name="Replies", exact=True).wait_for()
    page.wait_for_url(new_link)
    assert page.get_by_text("its private link changed").count() == 0

    assert visit.foreign(node_a.url) == []
    assert not any(token in url for url in visit.requests), "the token left the fragment"
    assert token.encode() not in node_a.log.read_bytes()
    assert visit.errors == []


REPLY = "Ich habe noch ein Kinderfahrrad, REPLY-7f3a"
CONTACT = "ring 555-0199 after six, REPLY-CONTACT-91c2"


def test_reply_on_node_b_is_read_through_the_manage_link_on_node_a(
    browser: Browser, node_a: Node, tmp_path: Path
) -> None:
    answer = call(
        f"{node_a.url}/api/v1/records",
        "POST",
        {"kind": "offer", "title": "Child's bicycle, 20 inch", "category": "transport", "area": "u4pru"},
    )
    assert isinstance(answer, dict)
    offer_id, token = answer["record"]["id"], answer["manage_token"]
    node_b = start_node(tmp_path / "b", "Hillside kitchen", node_a.url)
    try:
        eventually("the offer reaching node B", lambda: search(node_b.url, q="bicycle") or None)
        visit = open_page(browser)
        page = visit.page
        page.goto(f"{node_b.url}/#/r/{offer_id}")
        page.get_by_text("only the person who posted this will read it").wait_for()
        page.get_by_label("Message").fill(REPLY)
        page.get_by_label("How to reach you").fill(CONTACT)
        page.get_by_role("button", name="Send privately").click()
        page.get_by_role("heading", name="Reply sent").wait_for()
        screenshot(page, "reply-sent")
        assert visit.foreign(node_b.url) == [] and visit.errors == []

        def delivered() -> Any:
            got = call(f"{node_a.url}/api/v1/records/{offer_id}/replies", token=token)
            assert isinstance(got, dict)
            return got["replies"] or None

        eventually("the reply reaching node A", delivered)
        page.goto(f"{node_a.url}/#/manage/{offer_id}/{token}")
        reply = page.locator(".reply-item")
        reply.wait_for()
        assert reply.locator(".message").text_content() == REPLY
        assert CONTACT in (reply.locator(".contact").text_content() or "")
        screenshot(page, "manage-replies")
        page.context.close()
    finally:
        assert stop(node_b.process) == 0
    b_files = b"".join(p.read_bytes() for p in node_b.data.glob("records.db*"))
    assert b"Child's bicycle" in b_files  # the file really holds the records it got
    for secret in (REPLY, CONTACT, "REPLY-7f3a", "555-0199"):
        assert secret.encode() not in b_files, f"{secret!r} is in node B's database"
        for log in (node_a.log, node_b.log):
            assert secret.encode() not in log.read_bytes(), f"{secret!r} is in {log.name}"


def test_the_page_speaks_spanish_and_remembers_the_switch(browser: Browser, node_a: Node) -> None:
    visit = open_page(browser, locale="es-ES")
    page = visit.page
    page.goto(f"{node_a.url}/")
    page.get_by_role("heading", name="Necesidades y ofertas cerca de ti").wait_for()
    assert page.evaluate("document.documentElement.lang") == "es"
    screenshot(page, "browse-es")
    page.goto(f"{node_a.url}/#/post")
    for label in ("Título", "Categoría", "Zona", "Detalles", "Urgencia", "Algo que puedo aportar"):
        page.get_by_label(label, exact=True).wait_for()
    screenshot(page, "post-es")
    page.get_by_label("Idioma de la página").select_option("en")
    page.get_by_label("Title", exact=True).wait_for()
    assert page.evaluate("document.documentElement.lang") == "en"
    page.reload()
    page.get_by_role("heading", name="Post a need or an offer").wait_for()
    assert page.evaluate("localStorage.getItem('mutualaid.lang')") == "en"
    page.get_by_label("Page language").select_option("es")
    page.goto(f"{node_a.url}/#/report")
    page.get_by_role("heading", name="Informe de necesidades de la comunidad").wait_for()
    assert visit.foreign(node_a.url) == [] and visit.errors == []
    page.context.close()


def test_the_report_draws_its_charts_and_hides_small_counts(browser: Browser, tmp_path: Path) -> None:
    node = start_node(tmp_path / "r", "Report test")
    try:
        for n in range(6):
            call(
                f"{node.url}/api/v1/records",
                "POST",
                {"kind": "need", "title": f"Groceries {n}", "category": "food", "area": "u4pru"},
            )
        for n in range(2):
            call(
                f"{node.url}/api/v1/records",
                "POST",
                {"kind": "need", "title": f"Room {n}", "category": "housing", "area": "u4pru"},
            )
        call(
            f"{node.url}/api/v1/records",
            "POST",
            {"kind": "offer", "title": "Bread", "category": "food", "area": "u4pru"},
        )
        report = call(f"{node.url}/api/v1/report?weeks=13")
        assert isinstance(report, dict)
        by_category = {row["category"]: row for row in report["by_category"]}
        # Rounded to the nearest 5 (6 is 5); 1 to 4 is null, 0 is 0.
        assert by_category["food"]["needs"] == 5 and by_category["housing"]["needs"] is None
        assert by_category["food"]["offers"] is None and by_category["housing"]["offers"] == 0  # 0 is 0
        assert report["outrun_by_area"] == [{"area": "u4p", "needs": 10, "offers": None}]
        visit = open_page(browser, width=800)
        page = visit.page
        page.goto(f"{node.url}/#/report")
        page.get_by_role("heading", name="By category").wait_for()
        charts = page.locator("svg.chart")
        assert charts.count() == 3
        by_cat = page.locator("section", has=page.get_by_role("heading", name="By category")).locator("svg")
        bars = by_cat.locator("rect.bar title").all_text_contents()
        assert "Food, Needs: 5" in bars and "Food, Offers: fewer than 5" in bars
        assert "Housing, Needs: fewer than 5" in bars and "Housing, Offers: 0" in bars
        assert all(not re.search(r"Housing, Needs: \d", b) for b in bars)
        assert "fewer than 5" in by_cat.locator("text").all_text_contents()
        assert page.get_by_role("link", name="Download CSV").get_attribute("href") == "/api/v1/report.csv?weeks=13"
        assert page.get_by_label("Period").evaluate("el => [...el.options].map((o) => o.value)") == [
            "4",
            "8",
            "13",
            "26",
            "52",
        ]
        page.get_by_text("Every count is rounded to the nearest 5").wait_for()
        by_area = page.locator("section", has=page.get_by_role("heading", name="Areas where needs outrun offers"))
        assert by_area.locator("tbody tr").all_inner_texts() == ["u4p\t10\tfewer than 5"]
        categories = page.locator(
            "section", has=page.get_by_role("heading", name="Categories where needs outrun offers")
        )
        assert categories.locator("tbody th").all_text_contents() == ["Food"]
        screenshot(page, "report")
        page.emulate_media(media="print")
        assert page.locator("header").is_hidden() and page.get_by_role("button", name="Print").is_hidden()
        assert charts.first.is_visible()
        screenshot(page, "report-print")
        page.emulate_media(media="screen")
        page.get_by_label("Page language").select_option("es")
        page.get_by_role("heading", name="Por categoría").wait_for()
        # A chart is drawn once its box has a width (a ResizeObserver): wait for it, then read it.
        page.locator("svg.chart").first.locator("text", has_text="menos de 5").first.wait_for()
        assert "menos de 5" in page.locator("svg.chart").first.locator("text").all_text_contents()
        page.get_by_role("heading", name="Zonas donde las necesidades superan a las ofertas").wait_for()
        assert visit.foreign(node.url) == [] and visit.errors == []
        page.context.close()
    finally:
        assert stop(node.process) == 0


def test_the_organizer_view_with_the_admin_token(browser: Browser, node_a: Node) -> None:
    answer = call(
        f"{node_a.url}/api/v1/records",
        "POST",
        {
            "kind": "need",
            "title": "Ride to the clinic on Tuesday",
            "category": "transport",
            "area": "u4pru",
            "urgency": "urgent",
        },
    )
    assert isinstance(answer, dict)
    record_id = answer["record"]["id"]
    visit = open_page(browser)
    page = visit.page
    page.goto(f"{node_a.url}/#/r/{record_id}")
    page.get_by_text("Report this post").click()
    page.get_by_label("Reason", exact=True).select_option("spam")
    page.get_by_label("Note (optional)").fill("posted three times")
    page.get_by_role("button", name="Send to organizers").click()
    page.get_by_text("The organizers of this node will look at it.").wait_for()

    page.goto(f"{node_a.url}/#/organizer")
    page.get_by_label("Admin token").fill(node_a.admin_token())
    page.get_by_role("button", name="Open").click()
    unanswered = page.locator("section", has=page.get_by_role("heading", name="Unanswered needs"))
    unanswered.locator(".card", has_text="Ride to the clinic on Tuesday").wait_for()
    flags = page.locator("section", has=page.get_by_role("heading", name="Flags"))
    flags.get_by_text("posted three times").wait_for()
    screenshot(page, "organizer")
    assert page.evaluate("sessionStorage.getItem('mutualaid.admin')") == node_a.admin_token()
    assert page.evaluate("JSON.stringify(Object.keys(localStorage))") in ("[]", '["mutualaid.lang"]')

    card = unanswered.locator("li", has_text="Ride to the clinic on Tuesday")
    card.get_by_text("Remove from this node").click()
    card.get_by_label("Reason for removing").fill("duplicate post")
    card.get_by_role("button", name="Remove").click()
    page.get_by_text("Removed from this node.").wait_for()
    assert search(node_a.url, q="clinic") == []
    assert node_a.admin_token().encode() not in node_a.log.read_bytes()
    assert visit.foreign(node_a.url) == [] and visit.errors == []
    page.context.close()
