# What the page reads from the node, in a real Chromium against a real node
# process: the data block in / runs nothing under the Content-Security-Policy
# (and an inline script would be refused, so the check can fail); every
# limit the forms apply is the node's own declaration; the chapter's name is
# in the header of every page and the brand follows the language; and the
# page no longer fetches the node's profile (or a hundred of them) to learn
# its areas.

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Page

from crypto import NodeIdentity
from node.chapter.categories import Categories
from node.chapter.settings import ChapterState
from node.core.config import NodeConfig
from node.members import api, terms
from node.members.pagedata import page_data
from protocol.fieldtable import GEOHASH_PATTERN, LANGUAGE_PATTERN
from protocol.records import FIELDS
from protocol.replies import MAX_CONTACT_CHARS, MAX_MESSAGE_CHARS
from tests._nodes import call
from tests.web.conftest import Node, Visit

pytestmark = pytest.mark.slow

CSP_WATCH = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => window.__csp.push(e.violatedDirective));
"""


def test_the_data_block_runs_nothing_and_an_inline_script_would_be_refused(visit: Visit, node_a: Node) -> None:
    page = visit.page
    page.add_init_script(CSP_WATCH)
    page.goto(f"{node_a.url}/")
    page.get_by_role("heading", name="Needs and offers near you").wait_for()
    assert page.locator("#chapter").text_content() == "Riverside pantry"  # read from the data block
    assert page.evaluate("window.__csp") == []
    # The control: an inline script is refused and reported, so the watch above can see one.
    page.evaluate(
        "() => { const s = document.createElement('script'); s.textContent = 'window.__ran = 1';"
        " document.body.append(s); }"
    )
    page.wait_for_function("window.__csp.length > 0")
    assert page.evaluate("window.__ran") is None
    assert page.evaluate("window.__csp") == ["script-src-elem"]
    assert visit.foreign(node_a.url) == []


def _limit(name: str) -> int:
    row = next(f for f in FIELDS if f.name == name)
    most = row.type.json_schema()["maxLength"]
    assert isinstance(most, int)
    return most


def maxlength(page: Page, label: str) -> int:
    value = page.get_by_label(label, exact=True).get_attribute("maxlength")
    assert value is not None, label
    return int(value)


def test_the_limits_the_page_applies_are_the_nodes_declarations(visit: Visit, node_a: Node) -> None:
    page = visit.page
    page.goto(f"{node_a.url}/#/post")
    page.get_by_label("Title").wait_for()
    # What the page holds is exactly what the node derives from its declarations.
    api_url = page.evaluate("document.querySelector('link[href*=\"dom.js\"]').href.replace('dom.js', 'api.js')")
    held: Any = page.evaluate("async (url) => (await import(url)).NODE", api_url)
    identity = NodeIdentity.load(node_a.data / "identity.key")
    assert held == page_data(NodeConfig(name="Riverside pantry", areas=("u4pr", "u4ps")), identity, ChapterState())
    assert held["forms"]["need"]["area"]["pattern"] == GEOHASH_PATTERN
    assert held["forms"]["need"]["languages"]["items"]["pattern"] == LANGUAGE_PATTERN

    # And the form controls apply them: the field table's lengths, the API's own.
    for label, name in (("Title", "title"), ("Details", "details"), ("Quantity", "quantity")):
        assert maxlength(page, label) == _limit(name), label
    assert maxlength(page, "Something I can give back") == _limit("give_back")
    categories = page.get_by_label("Category").evaluate("el => [...el.options].map((o) => o.value)")
    assert categories == list(Categories().slugs)
    urgencies = page.get_by_label("Urgency").evaluate("el => [...el.options].map((o) => o.value)")
    assert urgencies == api.post_body(Categories(), "need").fields["urgency"].schema["enum"]
    # More languages than a post may hold are refused beside the field, with the node's number.
    most = next(f for f in FIELDS if f.name == "languages").type.json_schema()["maxItems"]
    page.get_by_label("Title").fill("Tea")
    page.get_by_label("Languages").fill(", ".join(["en", "es", "fr", "de", "it", "pt", "nl", "pl", "sv"][: most + 1]))
    page.get_by_role("button", name="Post", exact=True).click()
    page.get_by_text(f"Give at most {most} languages.").wait_for()
    assert page.get_by_label("Languages").get_attribute("aria-invalid") == "true"

    page.goto(f"{node_a.url}/")
    page.get_by_label("Search", exact=True).wait_for()
    assert maxlength(page, "Search") == next(p for p in api.SEARCH_PARAMS if p.name == "q").schema["maxLength"]
    answer = call(
        f"{node_a.url}/api/v1/records",
        "POST",
        {"kind": "need", "title": "Limits test, a ladder", "category": "tools", "area": "u4pru"},
    )
    assert isinstance(answer, dict)
    page.goto(f"{node_a.url}/#/r/{answer['record']['id']}")
    assert maxlength(page, "Message") == MAX_MESSAGE_CHARS
    assert maxlength(page, "How to reach you") == MAX_CONTACT_CHARS
    page.get_by_text("Report this post").click()
    assert maxlength(page, "Note (optional)") == terms.MAX_NOTE_CHARS
    reasons = page.get_by_label("Reason", exact=True).evaluate("el => [...el.options].map((o) => o.value)")
    assert reasons == list(terms.FLAG_REASONS)
    assert visit.errors == []


def test_the_chapters_name_is_on_every_page_and_the_areas_cost_no_request(visit: Visit, node_a: Node) -> None:
    page = visit.page
    for route in ("#/", "#/post", "#/report", "#/organizer", "#/no-such-page"):
        page.goto(f"{node_a.url}/{route}")
        page.locator("main:not([aria-busy]) h1").first.wait_for()
        assert page.locator("header #chapter").text_content() == "Riverside pantry", route
        assert page.locator("#brand").text_content() == "Mutual aid", route
        assert page.title() == "Mutual aid · Riverside pantry", route
    page.goto(f"{node_a.url}/#/post")
    page.get_by_label("Area", exact=True).wait_for()
    page.wait_for_load_state("networkidle")
    asked = [u for u in visit.requests if "/api/v1/node" in u or "kind=node" in u]
    assert asked == []  # the areas are in the page: no profile is fetched
    page.get_by_label("Page language").select_option("es")
    page.get_by_label("Título").wait_for()
    assert page.locator("#brand").text_content() == "Apoyo mutuo"  # the brand follows the language
    assert page.locator("#chapter").text_content() == "Riverside pantry"  # the chapter's name is its own
    assert page.title() == "Apoyo mutuo · Riverside pantry"
    assert visit.errors == []
