# Hostile input through the page: markup, script and odd Unicode (right-to-
# left text, zero-width joiners, stacked combining marks, emoji sequences) in
# every field a member can type into render as the same text and run
# nothing; a bidi override the node refuses gives a clear error; a wrong
# manage token changes nothing; a cross-site form post is refused; every
# control is labelled, reachable by keyboard, and fits a 360 px screen; and
# no page asks any host but the node for anything.

from __future__ import annotations

import http.server
import threading
import urllib.error
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Dialog, Page

from tests._nodes import call
from tests.web._flows import post_through_form, search
from tests.web.conftest import Node, Visit

pytestmark = pytest.mark.slow

TITLE = (
    '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">'
    " \u200fשלום\u200f 👩\u200d👩\u200d👧\u200d👦"
)
DETAILS = (
    "Ṫ̷̛̥̓ḛ̸̈x̴̢̛t̶ z̷̡̛a̶l̸g̵o\u200b\u200d and مرحبا بكم (Arabic) and 🏳\ufe0f\u200d🌈🇪🇸 "
    "<b>bold</b> &amp; &lt; \"quotes\" 'single' `${window.__pwned=4}` {message} "
    "javascript:window.__pwned=5 <iframe src=//evil.example></iframe>\n<style>body{display:none}</style>"
)
QUANTITY = "\u200f٣ <i>x</i> ﷽"
GIVE_BACK = '"><svg onload=window.__pwned=3>'
REPLY = "<script>window.__pwned=6</script> e\u0301\u0301\u0301 \u200f עברית"
CONTACT = '"><img src=x onerror=window.__pwned=7> ☎\ufe0f'
FLAG_NOTE = "<a href=javascript:window.__pwned=8>x</a>"


def watch_dialogs(page: Page) -> list[str]:
    dialogs: list[str] = []

    def on_dialog(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    return dialogs


def assert_nothing_ran(page: Page, dialogs: list[str]) -> None:
    assert page.evaluate("window.__pwned") is None
    assert dialogs == []
    # The page's own module is the only script (beside the node's data block,
    # which never runs); nothing a member typed became an element.
    assert page.evaluate("[...document.scripts].map((s) => s.type)") == ["application/json", "module"]
    planted = "main img, main iframe, main b, main i, main style, main svg, main a[href^=javascript]"
    assert page.evaluate(f"document.querySelectorAll('{planted}').length") == 0


def text_of(page: Page, selector: str) -> Any:
    return page.locator(selector).first.evaluate("el => el.textContent")


def test_hostile_text_in_every_field_renders_as_text(visit: Visit, node_a: Node) -> None:
    page = visit.page
    dialogs = watch_dialogs(page)
    link, record_id, _ = post_through_form(
        page,
        node_a.url,
        {"title": TITLE, "details": DETAILS, "quantity": QUANTITY, "give_back": GIVE_BACK, "category": "food"},
    )
    stored = call(f"{node_a.url}/api/v1/records/{record_id}")
    assert isinstance(stored, dict)
    fields = (stored["title"], stored["details"], stored["quantity"], stored["give_back"])
    assert fields == (TITLE, DETAILS, QUANTITY, GIVE_BACK)

    page.goto(f"{node_a.url}/#/r/{record_id}")
    page.locator("article.record h1").wait_for()
    assert text_of(page, "article.record h1") == TITLE
    assert text_of(page, "article.record .details") == DETAILS
    assert text_of(page, "article.record .give-back span") == GIVE_BACK
    assert QUANTITY in page.locator("article.record dl").evaluate("el => el.textContent")
    assert_nothing_ran(page, dialogs)
    page.get_by_label("Message").fill(REPLY)
    page.get_by_label("How to reach you").fill(CONTACT)
    page.get_by_role("button", name="Send privately").click()
    page.get_by_role("heading", name="Reply sent").wait_for()
    page.get_by_text("Report this post").click()
    page.get_by_label("Note (optional)").fill(FLAG_NOTE)
    page.get_by_role("button", name="Send to organizers").click()
    page.get_by_text("The organizers of this node will look at it.").wait_for()
    assert_nothing_ran(page, dialogs)

    page.goto(f"{node_a.url}/#/")
    page.get_by_label("Search", exact=True).fill('"><script>window.__pwned=9</script> שלום')
    page.get_by_label("Search", exact=True).press("Enter")
    # The search re-renders the view from the address: wait for that render
    # (its box holds the query) before clearing the box it made.
    page.wait_for_function("location.hash.includes('q=') && document.querySelector('main input[name=q]').value !== ''")
    page.locator("main [role=status], main .card").first.wait_for()
    page.get_by_label("Search", exact=True).fill("")
    page.get_by_label("Search", exact=True).press("Enter")
    card = page.locator(".card", has=page.locator(f'a[href="#/r/{record_id}"]'))
    card.wait_for()
    assert card.locator("h2").evaluate("el => el.textContent") == TITLE
    assert_nothing_ran(page, dialogs)

    page.goto(link)
    page.get_by_role("heading", name="Replies", exact=True).wait_for()
    assert text_of(page, "article.record h1") == TITLE
    own = page.locator(".main-post")
    item = own.locator(".reply-item")
    item.wait_for()
    assert text_of(page, ".main-post .reply-item .message") == REPLY
    assert text_of(page, ".main-post .reply-item .contact span") == CONTACT
    assert text_of(page, ".linked-post article.record h3") == GIVE_BACK  # the linked offer, as text
    own.get_by_text("Edit the post").click()
    assert own.get_by_label("Title").input_value() == TITLE
    assert own.get_by_label("Details").input_value() == DETAILS
    own.get_by_role("button", name="Save changes").click()  # unchanged text survives a round trip
    page.get_by_text("Your changes are saved.").wait_for()
    again = search(node_a.url, q="arabic")
    assert [(r["title"], r["details"]) for r in again] == [(TITLE, DETAILS)]
    assert_nothing_ran(page, dialogs)

    page.goto(f"{node_a.url}/#/organizer")
    page.get_by_label("Admin token").fill(node_a.admin_token())
    page.get_by_role("button", name="Open").click()
    page.get_by_text(FLAG_NOTE).wait_for()
    assert_nothing_ran(page, dialogs)
    assert visit.foreign(node_a.url) == [] and visit.errors == []


def test_text_the_node_refuses_gets_a_clear_error_and_is_not_stored(visit: Visit, node_a: Node) -> None:
    page = visit.page
    page.goto(f"{node_a.url}/#/post")
    page.get_by_label("Title").fill("Looks like \u202egnissim\u202c text")
    page.get_by_role("button", name="Post", exact=True).click()
    alert = page.get_by_role("alert")
    alert.wait_for()
    assert "control character" in (alert.text_content() or "")
    assert page.locator(".manage-link").count() == 0
    page.get_by_label("Title").fill("Wool blankets, refused area")  # words no other test posts on node_a
    page.get_by_label("Area", exact=True).select_option("")
    page.get_by_label("Area code").fill("12 Rose Lane")
    page.get_by_role("button", name="Post", exact=True).click()
    page.get_by_text("The area must be a code of 1 to 5 characters").wait_for()
    assert search(node_a.url, q="refused") == [] and search(node_a.url, q="gnissim") == []


def test_a_wrong_manage_token_changes_nothing(visit: Visit, node_a: Node) -> None:
    answer = call(
        f"{node_a.url}/api/v1/records",
        "POST",
        {"kind": "offer", "title": "Sewing machine", "category": "tools", "area": "u4pru"},
    )
    assert isinstance(answer, dict)
    record_id = answer["record"]["id"]
    page = visit.page
    page.goto(f"{node_a.url}/#/manage/{record_id}/not-the-token-aaaaaaaaaaaaaaaaaaaaaaa")
    # The node says at once that the token manages nothing here: the post is
    # shown, with no button or form that would only fail.
    page.get_by_text("This link does not let you change this post.").wait_for()
    page.get_by_role("heading", name="Sewing machine").wait_for()
    assert page.locator("main button, main form").count() == 0
    # And the API itself refuses a change sent with that token.
    wrong = "not-the-token-" + "a" * 23
    with pytest.raises(urllib.error.HTTPError) as refused:
        call(
            f"{node_a.url}/api/v1/records/{record_id}/status",
            "POST",
            {"status": "fulfilled"},
            token=wrong,
        )
    assert refused.value.code == 403
    refused.value.close()
    now = call(f"{node_a.url}/api/v1/records/{record_id}")
    assert isinstance(now, dict) and (now["status"], now["title"]) == ("open", "Sewing machine")


class _Attacker(http.server.BaseHTTPRequestHandler):
    """Another site: a page whose form posts to the node when it loads."""

    target = ""

    def do_GET(self) -> None:
        body = f"""<!doctype html><form id=f method=post enctype=text/plain action="{self.target}/api/v1/records">
<input name='{{"kind":"need","title":"Forged by another site","category":"food","area":"u4pru","x":"' value='"}}'>
</form><script>document.getElementById("f").submit()</script>""".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def attacker(node_a: Node) -> Iterator[str]:
    handler = type("Handler", (_Attacker,), {"target": node_a.url})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://localhost:{server.server_address[1]}/"  # another site: localhost is not 127.0.0.1
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_a_cross_site_form_post_is_refused(visit: Visit, node_a: Node, attacker: str) -> None:
    page = visit.page
    with page.expect_response(lambda r: r.url.endswith("/api/v1/records") and r.request.method == "POST") as info:
        page.goto(attacker)
    response = info.value
    assert response.status == 403, response.text()
    assert response.json()["error"]["code"] == "cross_site"
    assert search(node_a.url, q="forged") == []


ROUTES = ("#/", "#/post", "#/report", "#/organizer", "#/no-such-page")


def test_every_control_is_labelled_and_the_page_fits_a_small_phone(visit: Visit, node_a: Node) -> None:
    page = visit.page
    answer = call(
        f"{node_a.url}/api/v1/records",
        "POST",
        {"kind": "need", "title": "Soup pot", "category": "household", "area": "u4pru"},
    )
    assert isinstance(answer, dict)
    record, token = answer["record"], answer["manage_token"]
    for route in (*ROUTES, f"#/r/{record['id']}", f"#/manage/{record['id']}/{token}"):
        page.goto(f"{node_a.url}/{route}")
        page.locator("main:not([aria-busy]) h1").first.wait_for()
        page.wait_for_load_state("networkidle")
        for box in page.locator("details").all():
            box.evaluate("el => el.open = true")
        unlabelled = page.evaluate(
            """[...document.querySelectorAll('input, select, textarea')]
               .filter(el => el.type !== 'hidden' && el.labels.length === 0
                             && !el.closest('fieldset') && !el.getAttribute('aria-label'))
               .map(el => el.name || el.id)"""
        )
        assert unlabelled == [], (route, unlabelled)
        assert page.evaluate("document.documentElement.scrollWidth") <= 360, route
        assert page.locator("h1").count() >= 1, route
    assert visit.foreign(node_a.url) == [] and visit.errors == []


def test_the_post_form_works_from_the_keyboard_alone(visit: Visit, node_a: Node) -> None:
    page = visit.page
    page.goto(f"{node_a.url}/#/post")
    page.get_by_label("Title").wait_for()
    page.evaluate("document.getElementById('skip').focus()")  # the first stop, as after a fresh load
    reached: list[str] = []
    for _ in range(60):
        page.keyboard.press("Tab")
        reached.append(
            page.evaluate(
                "(el => el.tagName + ':' + ((el.labels && el.labels[0] ? el.labels[0].textContent : el.textContent)"
                " || '').trim())(document.activeElement)"
            )
        )
        if reached[-1] == "INPUT:Title":
            page.keyboard.type("Tea for the Thursday meeting")
        if reached[-1] == "BUTTON:Post":
            break
    for stop in ("SELECT:Page language", "INPUT:Something I need", "INPUT:Title", "SELECT:Category", "SELECT:Area",
                 "TEXTAREA:Details", "SELECT:Urgency", "INPUT:Needed by", "INPUT:Quantity", "INPUT:Languages",
                 "TEXTAREA:Something I can give back", "BUTTON:Post"):  # fmt: skip
        assert stop in reached, (stop, reached)
    page.keyboard.press("Enter")
    page.locator(".manage-link").wait_for()
    assert page.evaluate("document.activeElement.textContent") == "Copy link"  # focus moves to what matters next
    assert [r["title"] for r in search(node_a.url, q="thursday")] == ["Tea for the Thursday meeting"]
