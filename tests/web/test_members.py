# The chapter's smaller moments in a real Chromium against a real node
# process, at phone size: a bad invite code or a taken name said beside its
# field; signing a device in from a scanned card link (the card leaves the
# address bar); my card (invite someone, replace the card, sign out and in
# again, leave); ranked choice by keyboard with an open ballot; and the
# organizer view: the founding notice and the operator's admin token, a card
# without a mandate told so (the log still readable), and after the members
# grant a mandate, that card's organizer tools while the admin token is refused.

from __future__ import annotations

import re
import urllib.error
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from tests._nodes import call, stop
from tests.web._flows import eventually
from tests.web.conftest import Node, Visit, open_page, screenshot, start_node

pytestmark = pytest.mark.slow


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Node]:
    one = start_node(tmp_path / "n", "Members' chapter")
    try:
        yield one
    finally:
        assert stop(one.process) == 0


def invite(node: Node, count: int = 1) -> list[str]:
    sheet = call(f"{node.url}/api/v1/invites", "POST", {"count": count}, token=node.admin_token())
    assert isinstance(sheet, dict)
    return [i["code"] for i in sheet["invites"]]


def member(node: Node, name: str) -> dict[str, Any]:
    """A member who joined through the API: their card and roll entry."""
    joined = call(f"{node.url}/api/v1/members", "POST", {"code": invite(node)[0], "name": name})
    assert isinstance(joined, dict)
    return joined


def signed_in(browser: Browser, node: Node, card: str, locale: str = "en-US") -> Visit:
    visit = open_page(browser, locale=locale)
    visit.page.goto(f"{node.url}/#/card/{card}")
    visit.page.wait_for_url(re.compile(r".*#/me$"))
    visit.page.locator("dl.me").wait_for()  # the node took the card, and this device keeps it
    return visit


def card_refused(node: Node, card: str) -> bool:
    try:
        call(f"{node.url}/api/v1/members/me", token=card)
    except urllib.error.HTTPError as exc:
        return exc.code == 403
    return False


def error_beside(page: Page, label: str) -> str:
    control = page.get_by_label(label, exact=True)
    expect(control).to_have_attribute("aria-invalid", "true")
    described = (control.get_attribute("aria-describedby") or "").split()
    note = page.locator(f"#{described[-1]}")
    assert note.get_attribute("role") == "alert"
    return note.text_content() or ""


def test_a_bad_invite_code_or_a_taken_name_is_said_beside_its_field(visit: Visit, node: Node) -> None:
    page = visit.page
    page.goto(f"{node.url}/#/join/ABCD-EFGH-JKMN")
    page.get_by_label("Your name in the chapter").fill("Ana")
    page.get_by_role("button", name="Join", exact=True).click()
    page.locator(".field-error").wait_for()
    assert error_beside(page, "Invite code").startswith("This invite code is not valid")
    screenshot(page, "chapter-join-bad-code")

    member(node, "Ana")
    page.get_by_label("Invite code").fill(invite(node)[0].lower().replace("-", " "))  # as typed from paper
    page.get_by_role("button", name="Join", exact=True).click()
    page.locator(".field-error", has_text="already goes by this name").wait_for()
    assert error_beside(page, "Your name in the chapter").startswith("Someone on the roll already goes by this name")
    assert page.get_by_label("Invite code").get_attribute("aria-invalid") is None
    page.get_by_label("Your name in the chapter").fill("")
    page.get_by_role("button", name="Join", exact=True).click()
    assert error_beside(page, "Your name in the chapter") == 'Please fill in "Your name in the chapter".'
    hostile = '<img src=x onerror="window.__ran=1"> Ana B.'  # a name is text, never markup
    page.get_by_label("Your name in the chapter").fill(hostile)
    page.get_by_role("button", name="Join", exact=True).click()
    page.get_by_role("heading", name=f"Welcome, {hostile}").wait_for()
    page.goto(f"{node.url}/#/roll")
    expect(page.locator("ul.roll .name", has_text="Ana B.")).to_have_text(hostile)
    assert page.locator("main img").count() == 0 and page.evaluate("window.__ran") is None
    assert visit.errors == []


def test_my_card_signs_in_invites_is_replaced_signed_out_and_leaves(browser: Browser, node: Node) -> None:
    ana = member(node, "Ana")
    visit = signed_in(browser, node, ana["card"])
    page = visit.page
    assert ana["card"] not in page.url  # the card left the address bar and the history
    assert page.evaluate("localStorage.getItem('mutualaid.card')") == ana["card"]
    me = page.locator("dl.me")
    me.wait_for()
    assert "Ana" in (me.text_content() or "") and "the founding meeting" in (me.text_content() or "")
    assert page.locator(".member-card img.qr").evaluate("img => img.decode().then(() => img.naturalWidth > 0)")

    # Invite someone: a code and its join link; the quota counts down.
    page.get_by_text("You can make 3 more invite codes this week.").wait_for()
    page.get_by_role("button", name="Make an invite code").click()
    page.get_by_text("You can make 2 more invite codes this week.").wait_for()
    code = page.locator(".invite .code").text_content() or ""
    link = page.get_by_label("Join link").input_value()
    assert link == f"{node.url}/#/join/{code}"
    screenshot(page, "chapter-me")
    friend = open_page(browser, locale="es-ES")
    try:
        friend.page.goto(link)
        friend.page.get_by_label("Tu nombre en el grupo").fill("Bea")
        friend.page.get_by_role("button", name="Unirme").click()
        friend.page.get_by_role("heading", name="Te damos la bienvenida, Bea").wait_for()
        friend.page.goto(f"{node.url}/#/roll")
        bea = friend.page.locator("ul.roll li", has_text="Bea")
        bea.wait_for()
        assert "invitación de Ana" in (bea.text_content() or "")
    finally:
        friend.page.context.close()

    # Replace my card: asked first (Escape answers no), then the old card stops working.
    page.get_by_role("button", name="Replace my card").click()
    question = page.get_by_text("Replace your card?")
    assert question.evaluate("el => el === document.activeElement")
    page.keyboard.press("Escape")
    assert page.get_by_role("button", name="Replace my card").evaluate("el => el === document.activeElement")
    page.get_by_role("button", name="Replace my card").click()
    page.get_by_role("button", name="Yes, give me a new card").click()
    page.get_by_role("heading", name="Your new card").wait_for()
    new_card = page.locator(".member-card .card-text").text_content() or ""
    assert new_card != ana["card"] and page.evaluate("localStorage.getItem('mutualaid.card')") == new_card
    assert card_refused(node, ana["card"]) and not card_refused(node, new_card)

    # Sign out of this device, then in again by typing the card.
    page.reload()
    page.get_by_role("button", name="Sign out of this device").click()
    page.get_by_role("button", name="Yes, sign out").click()
    page.get_by_text("This device no longer keeps your card.").wait_for()
    assert page.evaluate("localStorage.getItem('mutualaid.card')") is None
    page.get_by_label("Your member card").fill(ana["card"])  # the old one
    page.get_by_role("button", name="Sign in on this device").click()
    assert error_beside(page, "Your member card").startswith("This member card is not valid here")
    page.get_by_label("Your member card").fill(new_card.lower())
    page.get_by_role("button", name="Sign in on this device").click()
    page.locator("dl.me").wait_for()

    # Leave the chapter.
    page.get_by_role("button", name="Leave the chapter").click()
    page.get_by_role("button", name="Yes, leave the chapter").click()
    page.get_by_role("heading", name="You left the chapter").wait_for()
    assert card_refused(node, new_card)
    assert page.evaluate("localStorage.getItem('mutualaid.card')") is None
    page.goto(f"{node.url}/#/proposals")
    page.get_by_label("Your member card").wait_for()  # nothing to act with: the form, and a way to join
    assert page.get_by_role("link", name="join the chapter").get_attribute("href") == "#/join"
    assert visit.errors == []
    page.context.close()


def test_ranked_choice_by_keyboard_with_an_open_ballot(browser: Browser, node: Node) -> None:
    cards = [member(node, name)["card"] for name in ("Ana", "Bo")]
    ana, bo = (signed_in(browser, node, card) for card in cards)
    try:
        page = ana.page
        page.goto(f"{node.url}/#/proposals/new")
        page.get_by_label("What kind of proposal").select_option("text")
        page.get_by_label("Title", exact=True).fill("Where do we meet?")
        page.get_by_label("Option 1").fill("The library")
        page.get_by_label("Option 2").fill("The park")
        page.get_by_role("button", name="Add an option").click()
        page.get_by_label("Option 3").fill("The cafe")
        page.get_by_label("Open", exact=False).first.check()
        page.get_by_role("button", name="Propose", exact=True).click()
        page.wait_for_url(re.compile(r".*#/p/[0-9a-f]{32}$"))
        proposal = page.url.rsplit("/", 1)[1]

        # Ana puts the park first, from the keyboard.
        park_up = page.get_by_role("button", name="Move The park up")
        park_up.focus()
        page.keyboard.press("Enter")
        page.get_by_text("The park is now number 1.").wait_for(state="attached")
        assert page.get_by_role("button", name="Move The park down").evaluate("el => el === document.activeElement")
        assert page.locator("ol.ranking li .option").all_text_contents() == ["The park", "The library", "The cafe"]
        screenshot(page, "chapter-ranking")
        page.get_by_role("button", name="Vote with this order").click()
        page.get_by_text("Your vote is counted.").wait_for()
        assert "Your vote: 1. The park, 2. The library, 3. The cafe." in (
            page.locator(".my-ballot").text_content() or ""
        )

        # Bo ranks only some: the cafe is left out, then the library too and back.
        bo.page.goto(f"{node.url}/#/p/{proposal}")
        bo.page.get_by_role("button", name="Move The park up").click()
        bo.page.get_by_role("button", name="Leave The cafe out of your ranking").click()
        bo.page.get_by_role("button", name="Leave The library out of your ranking").click()
        bo.page.get_by_role("button", name="Rank The library again").click()
        assert bo.page.locator("ol.ranking li .option").all_text_contents() == ["The park", "The library"]
        assert bo.page.locator("ul.ranking-out li .option").all_text_contents() == ["The cafe"]
        bo.page.get_by_role("button", name="Vote with this order").click()
        bo.page.get_by_text("Your vote is counted.").wait_for()

        def closed() -> bool | None:
            found = call(f"{node.url}/api/v1/proposals/{proposal}", token=cards[0])
            assert isinstance(found, dict)
            return True if found["proposal"]["state"] == "closed" else None

        eventually("the proposal closes", closed)
        page.reload()
        page.locator("ul.open-ballots").wait_for()
        ballots = page.locator("ul.open-ballots li").all_text_contents()
        assert "Ana · 1. The park, 2. The library, 3. The cafe" in ballots
        assert "Bo · 1. The park, 2. The library" in ballots
        assert (
            page.locator("dt", has_text="Chosen").locator("xpath=following-sibling::dd[1]").text_content() == "The park"
        )
        assert page.locator("table", has_text="Instant runoff").count() == 1
        screenshot(page, "chapter-ranked-closed")
        assert ana.errors == [] and bo.errors == []
    finally:
        ana.page.context.close()
        bo.page.context.close()


def test_the_organizer_view_by_founding_token_then_by_mandate(browser: Browser, node: Node) -> None:
    ana, bo = member(node, "Ana"), member(node, "Bo")
    posted = call(
        f"{node.url}/api/v1/records",
        "POST",
        {"kind": "offer", "title": "Old sofa", "category": "household", "area": "u4pru"},
    )
    assert isinstance(posted, dict)
    call(f"{node.url}/api/v1/records/{posted['record']['id']}/flags", "POST", {"reason": "spam"})
    visit = signed_in(browser, node, ana["card"])
    page = visit.page
    try:
        # Founding period, a card without a mandate: told so, with the founding notice; the log is readable.
        page.goto(f"{node.url}/#/organizer")
        page.get_by_text("Your member card holds no organizer mandate").wait_for()
        expect(page.get_by_text("Founding period: the operator's admin token acts as organizer")).to_be_visible()
        page.get_by_text("The organizers have done nothing yet.").wait_for()
        screenshot(page, "chapter-organizer-no-mandate")

        # The operator's admin token acts meanwhile; what it does is logged, for every member to read.
        page.get_by_label("Admin token").fill(node.admin_token())
        page.get_by_role("button", name="Open").click()
        page.get_by_role("button", name="Dismiss the flags").click()
        page.get_by_text("Flags dismissed. The post stays up.").wait_for()
        log = page.locator("#organizers-log li")
        log.first.wait_for()
        assert "Dismissed flags" in (log.first.text_content() or "")
        assert "the operator (founding period)" in (log.first.text_content() or "")
        page.get_by_role("button", name="Forget the token").click()

        # The members grant Bo a mandate (chosen from the roll): the founding period ends.
        page.goto(f"{node.url}/#/proposals/new")
        page.get_by_label("What kind of proposal").select_option("organizers")
        page.get_by_label("What to do").select_option("grant")
        page.get_by_label("Member", exact=True).select_option(label="Bo")
        page.get_by_label("Term (days)").fill("90")
        page.get_by_label("Title", exact=True).fill("Bo organizes")
        page.get_by_role("button", name="Propose", exact=True).click()
        page.wait_for_url(re.compile(r".*#/p/[0-9a-f]{32}$"))
        page.get_by_text("Grant Bo an organizer mandate for 90 days.").wait_for()
        proposal = page.url.rsplit("/", 1)[1]
        for card in (ana["card"], bo["card"]):
            call(f"{node.url}/api/v1/proposals/{proposal}/ballots", "POST", {"choice": "agree"}, token=card)

        def founded() -> bool | None:
            me = call(f"{node.url}/api/v1/members/me", token=bo["card"])
            assert isinstance(me, dict)
            return True if me["mandate"] and not me["founding"] else None

        eventually("the mandate is granted", founded)
        page.goto(f"{node.url}/#/roll")
        page.reload()
        page.locator("ul.roll li", has_text="Bo").get_by_text("Organizer").wait_for()
        page.goto(f"{node.url}/#/organizer")
        page.get_by_text("Your member card holds no organizer mandate").wait_for()
        assert page.get_by_text("Founding period: the operator's admin token").count() == 0
        assert page.get_by_label("Admin token").count() == 0  # the operator's token no longer acts

        # Bo's card holds the mandate: the organizer tools open with it.
        bo_visit = signed_in(browser, node, bo["card"])
        try:
            bo_page = bo_visit.page
            assert "a mandate until" in (bo_page.locator("dl.me").text_content() or "")
            bo_page.get_by_role("link", name="Open the organizers' page").click()
            bo_page.get_by_text("You act with the member card this device keeps.").wait_for()
            bo_page.get_by_role("heading", name="Unanswered needs").wait_for()
            bo_page.locator("section", has=bo_page.get_by_role("heading", name="Flags", exact=True)).get_by_text(
                "No flags."
            ).wait_for()
            screenshot(bo_page, "chapter-organizer-mandate")
            assert bo_visit.errors == []
        finally:
            bo_page.context.close()
        assert visit.errors == []
    finally:
        page.context.close()


def test_every_kind_of_proposal_has_its_form_from_the_nodes_data(browser: Browser, node: Node) -> None:
    ana = member(node, "Ana")
    visit = signed_in(browser, node, ana["card"])
    page = visit.page
    try:
        page.goto(f"{node.url}/#/proposals/new")
        kinds = page.get_by_label("What kind of proposal")
        kinds.wait_for()
        data = page.evaluate("JSON.parse(document.getElementById('node-data').textContent)")
        types = [o.get_attribute("value") for o in kinds.locator("option").all()]
        assert types == data["chapter"]["types"]
        for kind in types:
            kinds.select_option(kind)
            forms = data["forms"]["effects"].get(kind)
            first = next(iter(forms.values())) if forms else {}
            wanted = sorted(f"effect.{name}" for name in first if name != "action")
            for name in wanted:
                expect(page.locator(f".effect [name='{name}']")).to_have_count(1)
            expect(page.locator(".effect [name^='effect.']:not([name='effect.action'])")).to_have_count(len(wanted))
            shown = page.locator(".effect [name^='effect.']:not([name='effect.action'])").evaluate_all(
                "els => els.map((e) => e.name)"
            )
            assert sorted(shown) == wanted, kind
            assert page.locator("fieldset.options").count() == (1 if kind == "text" else 0)

        # A settings proposal: at least one setting, each with its value now; sent as the node declares it.
        kinds.select_option("settings")
        expect(page.get_by_text("Now: 3.")).to_be_visible()  # the invite quota in force
        page.get_by_label("Title", exact=True).fill("More invites")
        page.get_by_role("button", name="Propose", exact=True).click()
        first_setting = page.locator(".effect label").first.text_content() or ""
        assert error_beside(page, first_setting) == "Fill in at least one setting to change."
        page.get_by_label("Invites per member each week").fill("99")
        page.get_by_role("button", name="Propose", exact=True).click()
        assert error_beside(page, "Invites per member each week").startswith(
            '"Invites per member each week" must be from'
        )
        page.get_by_label("Invites per member each week").fill("5")
        page.get_by_role("button", name="Propose", exact=True).click()
        page.get_by_text("Change the settings: invites per member each week: 5.").wait_for()
        # The node's own refusal beside its field: a category the chapter already has.
        page.goto(f"{node.url}/#/proposals/new")
        page.get_by_label("What kind of proposal").select_option("categories")
        page.get_by_label("Category code").fill("food")
        page.get_by_label("Name in English").fill("Food")
        page.get_by_label("Name in Spanish").fill("Comida")
        page.get_by_label("Title", exact=True).fill("Food again")
        page.get_by_role("button", name="Propose", exact=True).click()
        assert error_beside(page, "Category code").startswith("This change does not fit the chapter as it stands")
        screenshot(page, "chapter-propose-refused")
        assert visit.errors == []
    finally:
        page.context.close()


def test_a_card_link_never_replaces_the_card_a_device_keeps_silently(browser: Browser, node: Node) -> None:
    ana, bo = member(node, "Ana")["card"], member(node, "Bo")["card"]
    visit = signed_in(browser, node, ana)
    try:
        page = visit.page
        page.goto(f"{node.url}/#/card/{bo}")  # Bo sent Ana his own card's link
        page.get_by_text("This device keeps the card of Ana. The link you opened holds the card of Bo.").wait_for()
        assert bo not in page.url
        page.get_by_role("button", name="Keep the card of Ana").click()
        page.locator("dl.me").wait_for()
        assert page.evaluate("localStorage.getItem('mutualaid.card')") == ana
        page.goto(f"{node.url}/#/card/{bo}")
        page.get_by_role("button", name="Use the card of Bo here").click()
        page.locator("dl.me").wait_for()
        assert page.evaluate("localStorage.getItem('mutualaid.card')") == bo
        assert visit.errors == []
    finally:
        visit.page.context.close()
