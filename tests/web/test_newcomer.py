# What a new member tripped on (issue 9), each in a real Chromium against a
# real node process, at 360 px in English and Spanish where it matters: cards
# that name their values, a closed post that says so, replies with their
# time, a confirm step before a final change (keyboard only), a bad area
# reported on its field, the organizers' "no open needs" told apart from
# "every open need has an answer", "Show more" announcing only what it added,
# the per-address reply limit, and the report: the weeks it gets, 0 as 0,
# chart text of at least 12 px on a phone, a legend that fits its words, and
# the numbers in a table for screen readers.

from __future__ import annotations

import itertools
import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from bench import bench_page
from node.members.replies import MAX_REPLIES_PER_CLIENT
from node.members.terms import MAX_REASON_CHARS
from tests._nodes import call, start, stop
from tests.web.conftest import Node, Visit, open_page, screenshot, start_node

pytestmark = pytest.mark.slow


def post(url: str, **fields: Any) -> tuple[str, str]:
    body = {"kind": "need", "category": "household", "area": "u4pru", **fields}
    answer = call(f"{url}/api/v1/records", "POST", body)
    assert isinstance(answer, dict)
    return answer["record"]["id"], answer["manage_token"]


def reply(url: str, record_id: str, message: str) -> None:
    call(f"{url}/api/v1/records/{record_id}/replies", "POST", {"message": message, "contact": ""})


def test_cards_name_their_values_and_languages(browser: Browser, node_a: Node) -> None:
    post(node_a.url, title="Card facts, CARD-77", quantity="3", languages=["en", "pt-br"])
    for locale, expected in (
        ("en-US", r"^Household · area u4pru · Quantity 3 · English, Brazilian Portuguese · posted "),
        ("es-ES", r"^Hogar · zona u4pru · Cantidad 3 · inglés, portugués de Brasil · publicada el "),
    ):
        visit = open_page(browser, locale=locale)
        page = visit.page
        page.goto(f"{node_a.url}/#/?q=CARD-77")
        facts = page.locator(".card .facts")
        facts.wait_for()
        assert re.match(expected, facts.text_content() or ""), facts.text_content()
        screenshot(page, f"browse-cards-{locale[:2]}")
        assert visit.errors == []
        page.context.close()


def test_a_closed_post_says_so_and_replies_show_their_time(visit: Visit, node_a: Node) -> None:
    page = visit.page
    record_id, token = post(node_a.url, title="Closed post, CLOSED-12")
    reply(node_a.url, record_id, "I can bring it, WHEN-REPLY")
    page.goto(f"{node_a.url}/#/manage/{record_id}/{token}")
    when = page.locator(".reply-item time")
    when.wait_for()
    sent_at = when.get_attribute("datetime") or ""
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", sent_at)
    shown = page.evaluate(
        "(iso) => new Date(iso).toLocaleString('en', {dateStyle: 'medium', timeStyle: 'short'})", sent_at
    )
    assert when.text_content() == shown and re.search(r"\d{1,2}:\d\d", shown)  # a date and a time of day
    call(f"{node_a.url}/api/v1/records/{record_id}/status", "POST", {"status": "fulfilled"}, token=token)
    page.goto(f"{node_a.url}/#/r/{record_id}")
    facts = page.locator("article.record dl")
    # The manage view had such a list too: wait for the post's own, redrawn after the hash changed.
    expect(facts.locator("dt", has_text="Fulfilled on")).to_have_count(1)
    terms = facts.locator("dt").all_text_contents()
    assert "Fulfilled on" in terms and "Open until" not in terms and "Posted" not in terms
    page.get_by_label("Page language").select_option("es")
    page.get_by_text("Resuelta el", exact=True).wait_for()
    assert "Abierta hasta" not in page.locator("article.record dl").text_content()  # type: ignore[operator]
    screenshot(page, "record-fulfilled-es")
    withdrawn, token2 = post(node_a.url, title="Withdrawn post, CLOSED-13")
    call(f"{node_a.url}/api/v1/records/{withdrawn}/status", "POST", {"status": "withdrawn"}, token=token2)
    page.goto(f"{node_a.url}/#/r/{withdrawn}")
    page.get_by_text("Retirada el", exact=True).wait_for()
    page.goto(f"{node_a.url}/#/manage/{record_id}/{token}")
    page.locator(".reply-item time").wait_for()
    assert re.search(r"\d{1,2}:\d\d", page.locator(".reply-item time").text_content() or "")
    assert visit.errors == []


def focused(page: Page) -> str:
    return str(page.evaluate("document.activeElement.textContent"))


def test_final_changes_ask_first_and_work_from_the_keyboard(visit: Visit, node_a: Node) -> None:
    page = visit.page
    record_id, token = post(node_a.url, title="Confirm first, CONFIRM-5")

    def status_of() -> object:
        got = call(f"{node_a.url}/api/v1/records/{record_id}")
        assert isinstance(got, dict)
        return got["status"]

    page.goto(f"{node_a.url}/#/manage/{record_id}/{token}")
    own = page.locator(".main-post")
    withdraw = own.get_by_role("button", name="Withdraw it")
    withdraw.click()
    question = "Withdraw this post? That is final"
    assert focused(page).startswith(question)  # the question is read first
    confirm = own.get_by_role("group", name=re.compile("^Withdraw this post"))
    screenshot(page, "manage-confirm")
    confirm.get_by_role("button", name="No, keep it as it is").click()
    assert confirm.count() == 0 and status_of() == "open"
    assert focused(page) == "Withdraw it"  # the focus goes back where it was

    fulfil = own.get_by_role("button", name="Mark as fulfilled")
    fulfil.focus()
    page.keyboard.press("Enter")
    assert focused(page).startswith("Mark this post as fulfilled? That is final")
    assert own.get_by_role("button", name="Mark as fulfilled", exact=True).is_hidden()  # the question replaces them
    page.keyboard.press("Escape")
    assert focused(page) == "Mark as fulfilled" and status_of() == "open"
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    assert focused(page) == "Yes, mark as fulfilled"
    page.keyboard.press("Enter")
    page.get_by_text('Saved: the post is now "Fulfilled".').wait_for()
    assert status_of() == "fulfilled"
    page.get_by_label("Page language").select_option("es")
    page.locator(".main-post").get_by_text("Esta publicación está resuelta").wait_for()
    assert visit.errors == []


def test_a_bad_area_is_told_on_its_field(browser: Browser, node_a: Node) -> None:
    for locale, post_label, message in (
        ("en-US", "Post", "The area must be a code of 1 to 5 characters"),
        ("es-ES", "Publicar", "La zona debe ser un código de 1 a 5 caracteres"),
    ):
        visit = open_page(browser, locale=locale)
        page = visit.page
        page.goto(f"{node_a.url}/#/post")
        area = page.locator("select[name=area_choice]")
        area.wait_for()
        page.locator("input[name=title]").fill("Blankets for the shelter")
        area.select_option("")
        code = page.locator("input[name=area_code]")
        code.fill("12 Rose Lane")
        page.get_by_role("button", name=post_label, exact=True).click()
        error = page.locator(".field-error")
        error.wait_for()
        assert (error.text_content() or "").startswith(message)
        assert code.get_attribute("aria-invalid") == "true"
        described = (code.get_attribute("aria-describedby") or "").split()
        assert error.get_attribute("id") in described and len(described) == 2  # the hint and the message
        assert error.get_attribute("role") == "alert"
        assert page.evaluate("document.activeElement.name") == "area_code"
        assert page.locator("form.post ~ div [role=alert]").count() == 0  # not only a notice at the bottom
        screenshot(page, f"post-bad-area-{locale[:2]}")
        code.fill("u4pru")
        page.get_by_role("button", name=post_label, exact=True).click()
        page.locator(".manage-link").wait_for()
        assert visit.errors == []
        page.context.close()


def test_the_organizers_tell_no_open_needs_from_every_need_answered(browser: Browser, tmp_path: Path) -> None:
    node = start_node(tmp_path / "org", "Quiet chapter")
    try:
        visit = open_page(browser)
        page = visit.page
        page.goto(f"{node.url}/#/organizer")
        page.get_by_label("Admin token").fill(node.admin_token())
        page.get_by_role("button", name="Open").click()
        page.get_by_text("There are no open needs right now.").wait_for()
        assert page.get_by_text("Every open need has an answer.").count() == 0
        need, _ = post(node.url, title="Answered soon, ORG-NEED")
        page.reload()
        card = page.locator(".card", has_text="ORG-NEED")
        card.wait_for()
        card.get_by_text("Remove from this node").click()
        assert card.get_by_label("Reason for removing").get_attribute("maxlength") == str(MAX_REASON_CHARS)
        reply(node.url, need, "I can help")
        page.reload()
        page.get_by_text("Every open need has an answer.").wait_for()
        page.get_by_label("Page language").select_option("es")
        page.get_by_text("Todas las necesidades abiertas tienen respuesta.").wait_for()
        screenshot(page, "organizer-answered-es")
        assert visit.errors == []
        page.context.close()
    finally:
        assert stop(node.process) == 0


def test_show_more_announces_only_the_new_cards(browser: Browser, tmp_path: Path) -> None:
    node = start_node(tmp_path / "more", "Busy chapter")
    try:
        bench_page.seed(node.url, 21)
        visit = open_page(browser)
        page = visit.page
        page.goto(f"{node.url}/")
        page.locator(".card").nth(19).wait_for()
        assert page.locator("main [aria-live]").count() == 0  # the list itself is not a live region
        assert page.locator("ul.cards").get_attribute("aria-live") is None
        page.get_by_role("button", name="Show more").click()
        page.locator(".card").nth(20).wait_for()
        status = page.locator("main [role=status]", has_text="more shown")
        assert status.text_content() == "1 more shown."
        newest = page.locator(".cards > li").nth(20).locator("a")
        assert page.evaluate("document.activeElement.getAttribute('href')") == newest.get_attribute("href")
        assert visit.errors == []
        page.context.close()
    finally:
        assert stop(node.process) == 0


def test_the_reply_limit_of_one_address_is_told_plainly(browser: Browser, tmp_path: Path) -> None:
    data = tmp_path / "household"
    data.mkdir()
    (data / "config.toml").write_text(
        'name = "Household"\nareas = ["u4pr"]\nmember_write_burst = 100\nmember_write_limit_loopback = true\n'
    )
    process, url = start(data)
    try:
        offer, _ = post(url, kind="offer", title="Spare bicycle, LIMIT-OFFER")
        for n in range(MAX_REPLIES_PER_CLIENT):
            reply(url, offer, f"reply {n} from this house")
        for locale, label, button, expected in (
            ("en-US", "Message", "Send privately", f"{MAX_REPLIES_PER_CLIENT} replies to this post have already"),
            ("es-ES", "Mensaje", "Enviar en privado", f"Desde esta conexión ya se enviaron {MAX_REPLIES_PER_CLIENT}"),
        ):
            visit = open_page(browser, locale=locale)
            page = visit.page
            page.goto(f"{url}/#/r/{offer}")
            page.get_by_label(label, exact=True).fill("one more")
            page.get_by_role("button", name=button).click()
            alert = page.get_by_role("alert")
            alert.wait_for()
            text = alert.text_content() or ""
            assert text.startswith(expected), text
            assert "{" not in text and "try again in" not in text and "intentarlo en" not in text
            assert page.get_by_label(label, exact=True).get_attribute("aria-invalid") is None  # about no one field
            screenshot(page, f"reply-limit-{locale[:2]}")
            assert visit.errors == []
            page.context.close()
    finally:
        assert stop(process) == 0


def chart_text(page: Page, section: str) -> list[dict[str, Any]]:
    found = page.locator("section", has=page.get_by_role("heading", name=section, exact=True)).locator("svg.chart")
    found.wait_for()
    texts = found.evaluate(
        """(svg) => {
            const box = svg.getBoundingClientRect();
            return [...svg.querySelectorAll("text")].map((t) => {
              const r = t.getBoundingClientRect();
              return {text: t.textContent, cls: t.getAttribute("class"),
                      px: parseFloat(getComputedStyle(t).fontSize) * t.getScreenCTM().a,
                      inside: r.left >= box.left - 0.5 && r.right <= box.right + 0.5 && r.right <= innerWidth,
                      left: r.left, right: r.right, top: r.top, bottom: r.bottom};
            });
        }"""
    )
    assert isinstance(texts, list)
    return texts


def test_the_report_on_a_phone_in_both_languages(browser: Browser, tmp_path: Path) -> None:
    node = start_node(tmp_path / "report", "Report chapter")
    try:
        for n in range(6):
            post(node.url, title=f"Groceries {n}", category="food")
        post(node.url, title="Room", category="housing")
        report = call(f"{node.url}/api/v1/report")
        assert isinstance(report, dict)
        assert len(report["by_week"]) == 1  # the node leaves out the weeks before its first post
        for locale, by_category, by_week, table_name in (
            ("en-US", "By category", "By week", "By category"),
            ("es-ES", "Por categoría", "Por semana", "Por categoría"),
        ):
            visit = open_page(browser, locale=locale, width=360)
            page = visit.page
            page.goto(f"{node.url}/#/report")
            for section in (by_category, by_week):
                texts = chart_text(page, section)
                small = [(t["text"], round(t["px"], 1)) for t in texts if t["px"] < 12]
                assert small == [], small  # text stays readable on a phone
                clipped = [t["text"] for t in texts if not t["inside"]]
                assert clipped == [], clipped
                legend = sorted((t for t in texts if t["cls"] == "legend"), key=lambda t: (t["top"], t["left"]))
                assert len(legend) == 3
                for a, b in itertools.combinations(legend, 2):  # no two overlap
                    assert a["right"] <= b["left"] or a["bottom"] <= b["top"], (a, b)
            weeks = page.locator("section", has=page.get_by_role("heading", name=by_week, exact=True))
            assert weeks.locator("svg text.label").count() == len(report["by_week"])
            # Screen readers get the numbers: a table (the drawing is hidden from them), 0 as 0.
            assert page.locator("svg.chart").first.evaluate("el => el.closest('[aria-hidden=true]') !== null")
            table = page.get_by_role("table", name=table_name)
            rows = table.locator("tbody tr").all_inner_texts()
            fewer = "fewer than 5" if locale == "en-US" else "menos de 5"
            food, housing = ("Food", "Housing") if locale == "en-US" else ("Comida", "Vivienda")
            assert f"{food}\t5\t0\t0" in rows and f"{housing}\t{fewer}\t0\t0" in rows, rows
            assert page.evaluate("document.documentElement.scrollWidth") <= 360
            screenshot(page, f"report-360-{locale[:2]}")
            assert visit.errors == []
            page.context.close()
    finally:
        assert stop(node.process) == 0


def test_the_post_form_at_360_px_in_spanish(browser: Browser, node_a: Node) -> None:
    visit = open_page(browser, locale="es-ES")
    page = visit.page
    _, record_id, token = post_through_form_es(page, node_a.url)
    page.goto(f"{node_a.url}/#/manage/{record_id}/{token}")
    page.locator(".main-post").get_by_role("button", name="Marcar como resuelta").click()
    page.get_by_role("button", name="Sí, marcar como resuelta").wait_for()
    screenshot(page, "manage-confirm-es")
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    assert visit.errors == []
    page.context.close()


def post_through_form_es(page: Page, url: str) -> tuple[str, str, str]:
    page.goto(f"{url}/#/post")
    page.get_by_label("Título").fill("Sopa para dos, ES-FORM")
    screenshot(page, "post-360-es")
    page.get_by_role("button", name="Publicar", exact=True).click()
    page.locator(".manage-link").wait_for()
    link = page.locator(".manage-link input").input_value()
    match = re.search(r"/#/manage/([0-9a-f]{64})/(.+)$", link)
    assert match
    return link, match.group(1), match.group(2)
