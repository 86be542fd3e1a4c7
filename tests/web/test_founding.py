# A founding meeting in real Chromium against real node processes: the
# operator prints five invite codes, five members join through the page at
# phone size (one in Spanish), one proposes a "pets" category, four agree and
# one abstains (one changes their vote twice first), and the proposal closes
# as soon as everyone has voted. Before it the node offers no "pets"
# anywhere and refuses a post in it; after it the post form, the browse
# filter and the report offer it and the node takes such a post. A peer node
# holds the signed decision, whose receipts digest is the digest of the
# receipts list the members see; every voter finds their own ballot marked
# in that list.

from __future__ import annotations

import base64
import hashlib
import json
import re
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgpack
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from playwright.sync_api import Browser, Page, expect

from protocol.ballots import receipts_digest
from tests._nodes import call, stop
from tests.web._flows import eventually
from tests.web.conftest import Node, Visit, open_page, screenshot, start_node

pytestmark = pytest.mark.slow

RECORD_PREFIX = b"mutualaid/v1/record\x00"  # docs/PROTOCOL.md: what a record's signature covers, then the payload
CHAPTER = "Founding chapter"

# What each member sees, in the language of their browser.
WORDS = {
    "en": {
        "name": "Your name in the chapter",
        "join": "Join",
        "vote": "Vote",
        "change": "Change my vote",
        "counted": "Your vote is counted.",
        "changed": "Your vote is changed.",
        "yours": "This is your ballot",
        "agree": "Agree",
        "abstain": "Abstain",
        "turnout": "{n} of 5 voted",
        "passed": "Passed",
        "welcome": "Welcome, {name}",
    },
    "es": {
        "name": "Tu nombre en el grupo",
        "join": "Unirme",
        "vote": "Votar",
        "change": "Cambiar mi voto",
        "counted": "Tu voto está contado.",
        "changed": "Tu voto está cambiado.",
        "yours": "Este es tu voto",
        "agree": "A favor",
        "abstain": "Abstención",
        "turnout": "{n} de 5 votaron",
        "passed": "Aprobada",
        "welcome": "Te damos la bienvenida, {name}",
    },
}


@dataclass
class Member:
    name: str
    lang: str
    visit: Visit
    card: str

    @property
    def page(self) -> Page:
        return self.visit.page

    def word(self, key: str, **values: object) -> str:
        return WORDS[self.lang][key].format(**values)


def refused(url: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """POST that must fail: its status and error body."""
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST")  # noqa: S310 - loopback
    request.add_header("Content-Type", "application/json")
    try:
        urllib.request.urlopen(request, timeout=30)  # noqa: S310
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())
    raise AssertionError(f"{url} accepted {body}")


def pet_post() -> dict[str, Any]:
    return {"kind": "offer", "title": "Cat food, two bags", "category": "pets", "area": "u4pru"}


def category_options(page: Page, url: str, route: str, select: str) -> dict[str, str]:
    page.goto(f"{url}/{route}")
    page.reload()  # the page's data as the node writes it now
    options = page.locator(f"select[name={select}] option")
    options.first.wait_for(state="attached")
    return {o.get_attribute("value") or "": (o.text_content() or "") for o in options.all()}


def join(browser: Browser, url: str, code: str, name: str, lang: str) -> Member:
    visit = open_page(browser, locale="es-ES" if lang == "es" else "en-US")
    member = Member(name, lang, visit, "")
    page = visit.page
    page.goto(f"{url}/#/join/{code}")
    page.get_by_label(member.word("name")).fill(name)
    assert page.locator("input[name=code]").input_value() == code  # the link filled it in
    page.get_by_role("button", name=member.word("join"), exact=True).click()
    page.get_by_role("heading", name=member.word("welcome", name=name)).wait_for()
    qr = page.locator(".member-card img.qr")
    qr.wait_for()
    assert qr.evaluate("img => img.decode().then(() => img.naturalWidth > 0)")  # a QR code the browser can draw
    member.card = page.locator(".member-card .card-text").text_content() or ""
    assert re.fullmatch(r"card-[0-9A-Z]{5}(-[0-9A-Z]{5}){4}", member.card)
    assert page.evaluate("localStorage.getItem('mutualaid.card')") == member.card
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    return member


def vote(member: Member, proposal: str, choice: str, *, again: bool = False) -> None:
    page = member.page
    page.goto(f"{member.visit.page.url.split('#')[0]}#/p/{proposal}")
    page.get_by_role("radio", name=re.compile("^" + member.word(choice))).check()
    page.get_by_role("button", name=member.word("change" if again else "vote"), exact=True).click()
    page.get_by_text(member.word("changed" if again else "counted")).wait_for()


def verify_decision(record: dict[str, Any], author: str) -> dict[str, Any]:
    """Check a decision record as an outsider would (cryptography and msgpack
    only) and return the payload its signature covers."""
    signed = base64.b64decode(record["signed"], validate=True)
    Ed25519PublicKey.from_public_bytes(bytes.fromhex(record["author"])).verify(
        bytes.fromhex(record["signature"]), signed
    )
    assert hashlib.sha256(signed).hexdigest() == record["id"]
    assert record["author"] == author and record["kind"] == "decision"
    assert signed.startswith(RECORD_PREFIX)
    payload = msgpack.unpackb(signed[len(RECORD_PREFIX) :], raw=False)
    assert isinstance(payload, dict)
    assert payload["receipts"] == bytes.fromhex(record["receipts"])
    for name in ("type", "outcome", "counts", "electorate", "turnout", "title"):
        assert payload[name] == record[name], name
    return payload


def test_a_founding_meeting_decides_a_new_category_and_a_peer_checks_the_decision(
    browser: Browser, tmp_path: Path
) -> None:
    chapter = start_node(tmp_path / "chapter", CHAPTER)
    peer = start_node(tmp_path / "peer", "Neighbouring chapter", chapter.url)
    members: list[Member] = []
    try:
        run_meeting(browser, chapter, peer, members)
    finally:
        for m in members:
            m.page.context.close()
        assert stop(peer.process) == 0
        assert stop(chapter.process) == 0


def run_meeting(browser: Browser, chapter: Node, peer: Node, members: list[Member]) -> None:
    url = chapter.url
    key = call(f"{url}/api/v1/node")
    assert isinstance(key, dict)
    author = key["public_key"]

    # Before: no "pets" in the post form, the browse filter or the report, and a post in it is refused.
    look = open_page(browser)
    assert "pets" not in category_options(look.page, url, "#/post", "category")
    assert "pets" not in category_options(look.page, url, "#/?category=", "category")
    report = call(f"{url}/api/v1/report")
    assert isinstance(report, dict)
    assert "pets" not in [row["category"] for row in report["by_category"]]
    status, body = refused(f"{url}/api/v1/records", pet_post())
    assert status == 422 and body["error"]["code"] == "invalid_record" and body["error"]["field"] == "category"

    # The operator's sheet: five invite codes, made with the admin token (founding period).
    sheet = call(f"{url}/api/v1/invites", "POST", {"count": 5}, token=chapter.admin_token())
    assert isinstance(sheet, dict)
    codes = [invite["code"] for invite in sheet["invites"]]
    assert len(set(codes)) == 5

    for code, (name, lang) in zip(
        codes, [("Ana", "en"), ("Beatriz", "es"), ("Chen", "en"), ("Dee", "en"), ("Emeka", "en")], strict=True
    ):
        members.append(join(browser, url, code, name, lang))
    ana, beatriz, chen, dee, emeka = members
    screenshot(ana.page, "chapter-joined-card")
    screenshot(beatriz.page, "chapter-joined-card-es")
    expect(
        beatriz.page.get_by_text("Tu tarjeta de miembro").first
    ).to_be_visible()  # Spanish, from the browser's language

    # Ana proposes through the page.
    page = ana.page
    page.goto(f"{url}/#/proposals")
    page.get_by_role("link", name="Propose something").click()
    page.get_by_label("What kind of proposal").select_option("categories")
    page.get_by_label("What to do").select_option("add")
    page.get_by_label("Category code").fill("pets")
    page.get_by_label("Name in English").fill("Pets")
    page.get_by_label("Name in Spanish").fill("Mascotas")
    page.get_by_label("Title", exact=True).fill("A category for pets")
    page.get_by_label("The proposal in full").fill("Pet food, walks, vets: people ask for these every week.")
    assert page.get_by_label("Quorum (%)").input_value() == "50"  # the chapter's setting
    screenshot(page, "chapter-propose")
    page.get_by_role("button", name="Propose", exact=True).click()
    page.wait_for_url(re.compile(r".*#/p/[0-9a-f]{32}$"))
    proposal = page.url.rsplit("/", 1)[1]
    page.get_by_role("heading", name="A category for pets").wait_for()
    expect(page.get_by_text('Add the category "Pets" (pets).')).to_be_visible()
    expect(page.get_by_text("0 of 5 voted").first).to_be_visible()

    # The votes: four agree, one abstains; Chen changes their mind twice before the last vote.
    vote(ana, proposal, "agree")
    vote(beatriz, proposal, "agree")
    expect(beatriz.page.get_by_text(beatriz.word("turnout", n=2)).first).to_be_visible()
    expect(beatriz.page.get_by_text("Propuesta de")).to_be_visible()
    screenshot(beatriz.page, "chapter-proposal-open-es")
    vote(chen, proposal, "agree")
    vote(chen, proposal, "abstain", again=True)
    vote(chen, proposal, "agree", again=True)
    vote(dee, proposal, "agree")
    dee.page.goto(f"{url}/#/proposals")
    mine = dee.page.locator("article.proposal", has_text="A category for pets")
    assert "4 of 5 voted" in (mine.text_content() or "")
    assert "Your vote: Agree." in (mine.text_content() or "")
    screenshot(dee.page, "chapter-proposals")
    vote(emeka, proposal, "abstain")

    # It closes as soon as everyone has voted (waited for, never timed).
    def closed() -> dict[str, Any] | None:
        found = call(f"{url}/api/v1/proposals/{proposal}", token=ana.card)
        assert isinstance(found, dict)
        p = found["proposal"]
        return p if p["state"] == "closed" and p["decision"] and p["applied"] else None

    decided = eventually("the proposal closes", closed)
    assert decided["result"]["outcome"] == "passed"
    assert decided["result"]["counts"] == {"agree": 4, "abstain": 1, "disagree": 0}
    assert decided["applied"] == "done"

    # Every voter finds their own ballot marked in the receipts list, as they cast it.
    shown: dict[str, str] = {}
    choice_of = {WORDS[lang][c]: c for lang in WORDS for c in ("agree", "abstain")}
    for m, cast in zip(members, ["agree", "agree", "agree", "agree", "abstain"], strict=True):
        m.page.goto(f"{url}/#/p/{proposal}")
        m.page.reload()
        m.page.locator("ol.receipts li").first.wait_for()
        assert m.page.locator("p.outcome").text_content() == m.word("passed") + "."
        rows = m.page.locator("ol.receipts li")
        assert rows.count() == 5
        marked = m.page.locator("ol.receipts li.mine")
        assert marked.count() == 1, m.name
        assert m.word("yours") in (marked.text_content() or "")
        assert choice_of[marked.locator(".ballot").text_content() or ""] == cast
        mark = marked.locator(".hash").text_content() or ""
        assert mark not in shown.values()
        shown[m.name] = mark
        for row in rows.all():
            shown_hash = row.locator(".hash").text_content() or ""
            assert re.fullmatch(r"[0-9a-f]{64}", shown_hash)
        assert m.page.evaluate("document.documentElement.scrollWidth") <= 360
        assert "null" not in (m.page.locator("main").text_content() or "")
    screenshot(ana.page, "chapter-proposal-closed")
    screenshot(beatriz.page, "chapter-proposal-closed-es")

    # The receipts list as the page shows it, and its digest.
    listed = [
        (
            bytes.fromhex(row.locator(".hash").text_content() or ""),
            choice_of[row.locator(".ballot").text_content() or ""],
        )
        for row in ana.page.locator("ol.receipts li").all()
    ]
    assert sorted(h.hex() for h, _ in listed) == sorted(shown.values())
    digest = receipts_digest(listed).hex()
    assert ana.page.locator(".hash.digest").text_content() == digest

    # The peer holds the decision, signed by the chapter's node, carrying that digest.
    def on_peer() -> dict[str, Any] | None:
        found = call(f"{peer.url}/api/v1/records?kind=decision")
        assert isinstance(found, dict)
        return next((r for r in found["records"] if r["id"] == decided["decision"]), None)

    record = eventually("the peer holds the decision", on_peer)
    payload = verify_decision(record, author)
    assert record["receipts"] == digest
    assert payload["effect"] == {"action": "add", "slug": "pets", "name-en": "Pets", "name-es": "Mascotas"}
    assert (record["outcome"], record["turnout"], record["electorate"]) == ("passed", 5, 5)

    # After: the post form (reloaded), the browse filter and the report offer "pets"; the node takes such a post.
    assert category_options(look.page, url, "#/post", "category")["pets"] == "Pets"
    assert category_options(beatriz.page, url, "#/post", "category")["pets"] == "Mascotas"
    assert category_options(look.page, url, "#/?category=", "category")["pets"] == "Pets"
    posted = call(f"{url}/api/v1/records", "POST", pet_post())
    assert isinstance(posted, dict) and posted["record"]["category"] == "pets"
    report = call(f"{url}/api/v1/report")
    assert isinstance(report, dict)
    assert "pets" in [row["category"] for row in report["by_category"]]
    look.page.goto(f"{url}/#/report")
    rows = look.page.locator("section[aria-labelledby=by-category] table tbody th")
    rows.first.wait_for(state="attached")
    assert "Pets" in rows.all_text_contents()  # the report's category list, by the chapter's name for it
    look.page.context.close()

    # The decision log: the chapter's own first; on the peer, labelled with the chapter's name.
    ana.page.goto(f"{url}/#/decisions")
    own = ana.page.locator("section", has=ana.page.get_by_role("heading", name=f"Decided in {CHAPTER}"))
    entry = own.locator("article", has_text="A category for pets")
    entry.wait_for()
    text = entry.text_content() or ""
    assert "Passed" in text and "Agree: 4 · Abstain: 1 · Disagree: 0" in text and "5 of 5 voted" in text
    screenshot(ana.page, "chapter-decisions")
    visitor = open_page(browser, locale="es-ES")
    try:

        def labelled() -> bool | None:
            visitor.page.goto(f"{peer.url}/#/decisions")
            visitor.page.reload()
            other = visitor.page.locator("article", has_text="A category for pets")
            other.wait_for()
            return True if f"De {CHAPTER}" in (other.text_content() or "") else None

        eventually("the peer knows the chapter's name", labelled)
        expect(visitor.page.get_by_role("heading", name="Decidido en otros grupos")).to_be_visible()
        screenshot(visitor.page, "chapter-decisions-peer-es")
    finally:
        visitor.page.context.close()

    # The roll: five members, invited at the founding meeting.
    emeka.page.goto(f"{url}/#/roll")
    emeka.page.get_by_text("5 members.").wait_for()
    assert emeka.page.locator("ul.roll li").count() == 5
    expect(emeka.page.locator("ul.roll li", has_text="Beatriz").get_by_text("at the founding meeting")).to_be_visible()
    screenshot(emeka.page, "chapter-roll")
    for m in members:
        assert m.visit.errors == [], (m.name, m.visit.errors)
        assert m.visit.foreign(url) == []
