"""The chapter over HTTP, against a real node on 127.0.0.1: the founding
period, joining, proposals of every type changing the node when they pass,
organizers acting by mandate and logged, closing that survives a restart,
and every bad input answered with its code, nothing stored, the node serving.
Every answer is checked against the OpenAPI document."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from node.app import create_app
from node.core.datadir import CHAPTER_FILE, NodeFiles
from node.core.errors import AppRunner
from tests.node._support import assert_error_shape, need
from tests.node.conftest import RunningNode
from tests.node.test_openapi import check_against_document

Json = dict[str, Any]


class Chapter:
    """A node with a helper per chapter action, each answer held to the document."""

    def __init__(self, node: RunningNode) -> None:
        self.node = node
        self.admin = node.files.admin_token

    async def call(self, method: str, path: str, template: str, body: Any = None, card: str | None = None) -> Any:
        headers = {} if card is None else {"Authorization": f"Bearer {card}"}
        kwargs: dict[str, Any] = {"headers": headers}
        if body is not None:
            kwargs["json"] = body
        status, answer = await self.node.call(method, path, **kwargs)
        check_against_document(template, method.lower(), status, answer)
        return status, answer

    async def ok(self, method: str, path: str, template: str, body: Any = None, card: str | None = None) -> Any:
        status, answer = await self.call(method, path, template, body, card)
        assert 200 <= status < 300, (status, answer)
        return answer

    async def refused(
        self, code: str, method: str, path: str, template: str, body: Any = None, card: str | None = None
    ) -> str:
        status, answer = await self.call(method, path, template, body, card)
        assert assert_error_shape(status, answer)[0] == code, answer
        return str(answer["error"]["message"])

    async def join(self, *names: str) -> list[str]:
        sheet = await self.ok("POST", "/api/v1/invites", "/api/v1/invites", {"count": len(names)}, self.admin)
        cards = []
        for name, invite in zip(names, sheet["invites"], strict=True):
            joined = await self.ok("POST", "/api/v1/members", "/api/v1/members", {"code": invite["code"], "name": name})
            cards.append(joined["card"])
        return cards

    async def propose(self, card: str, body: Json) -> Json:
        answer = await self.ok("POST", "/api/v1/proposals", "/api/v1/proposals", body, card)
        return dict(answer["proposal"])

    async def vote(self, card: str, pid: str, ballot: Json) -> Json:
        return dict(await self.ok("POST", f"/api/v1/proposals/{pid}/ballots", "/api/v1/proposals/{id}/ballots",
                                  ballot, card))  # fmt: skip

    async def proposal(self, card: str, pid: str) -> Json:
        answer = await self.ok("GET", f"/api/v1/proposals/{pid}", "/api/v1/proposals/{id}", card=card)
        return dict(answer["proposal"])

    async def settled(self, card: str, pid: str) -> Json:
        """The proposal once closed, applied and published (the closer runs in the background)."""
        for _ in range(400):
            proposal = await self.proposal(card, pid)
            if proposal["decision"] and proposal["applied"]:
                return proposal
            await asyncio.sleep(0.025)
        pytest.fail(f"proposal {pid} was never settled: {proposal}")

    async def decide(self, cards: list[str], body: Json, ballot: Json | None = None) -> Json:
        """A proposal everyone votes on (agree unless told), settled."""
        opened = await self.propose(cards[0], body)
        for card in cards:
            await self.vote(card, opened["id"], ballot or {"choice": "agree"})
        return await self.settled(cards[0], opened["id"])


@pytest.fixture
def chapter(node: RunningNode) -> Chapter:
    return Chapter(node)


# --- the founding period and the roll ----------------------------------------------------------


async def test_a_founding_meeting_and_the_roll(chapter: Chapter) -> None:
    ana, bo = await chapter.join("Ana", "Bo")
    roll = await chapter.ok("GET", "/api/v1/members", "/api/v1/members", card=bo)
    assert roll["founding"] is True
    assert sorted((m["name"], m["invited_by"], m["status"]) for m in roll["members"]) == [
        ("Ana", None, "active"), ("Bo", None, "active")]  # fmt: skip
    # Any member invites, within the weekly quota; whom they invite shows on the roll.
    codes = await chapter.ok("POST", "/api/v1/invites", "/api/v1/invites", {"count": 3}, ana)
    await chapter.ok("POST", "/api/v1/members", "/api/v1/members", {"code": codes["invites"][0]["code"], "name": "Cy"})
    message = await chapter.refused("invite_quota", "POST", "/api/v1/invites", "/api/v1/invites", {}, ana)
    assert "0 left" in message
    roll = await chapter.ok("GET", "/api/v1/members", "/api/v1/members", card=bo)
    cy = next(m for m in roll["members"] if m["name"] == "Cy")
    assert cy["invited_by"]["name"] == "Ana"
    me = await chapter.ok("GET", "/api/v1/members/me", "/api/v1/members/me", card=ana)
    assert me["invites_left"] == 0 and me["mandate"] is None and me["founding"] is True
    # The roll is for members: nobody else reads it, and no name is in the node's public answers.
    await chapter.refused("unauthorized", "GET", "/api/v1/members", "/api/v1/members")
    await chapter.refused("card_invalid", "GET", "/api/v1/members", "/api/v1/members", card=chapter.admin)
    status, info = await chapter.node.call("GET", "/api/v1/node")
    assert status == 200 and "Ana" not in str(info)


async def test_a_card_replaced_or_left_stops_working(chapter: Chapter) -> None:
    (ana, bo) = await chapter.join("Ana", "Bo")
    new = await chapter.ok("POST", "/api/v1/members/me/card", "/api/v1/members/me/card", card=ana)
    await chapter.refused("card_invalid", "GET", "/api/v1/members/me", "/api/v1/members/me", card=ana)
    assert (await chapter.ok("GET", "/api/v1/members/me", "/api/v1/members/me", card=new["card"]))["member"][
        "name"] == "Ana"  # fmt: skip
    await chapter.ok("DELETE", "/api/v1/members/me", "/api/v1/members/me", card=bo)
    await chapter.refused("card_invalid", "GET", "/api/v1/proposals", "/api/v1/proposals", card=bo)
    roll = await chapter.ok("GET", "/api/v1/members", "/api/v1/members", card=new["card"])
    assert {m["name"]: m["status"] for m in roll["members"]} == {"Ana": "active", "Bo": "left"}
    status, qr = await chapter.node.call(
        "GET", "/api/v1/members/me/qr", headers={"Authorization": f"Bearer {new['card']}"}
    )
    assert status == 200 and str(qr).startswith("<svg")


async def test_bad_invites_and_names(chapter: Chapter) -> None:
    (ana,) = await chapter.join("Ana")
    path = "/api/v1/members"
    for code in ("AAAA-AAAA-AAAA", "not a code at all!", "0" * 12):
        await chapter.refused("invalid_invite", "POST", path, path, {"code": code, "name": "Guesser"})
    sheet = await chapter.ok("POST", "/api/v1/invites", "/api/v1/invites", {"count": 2}, chapter.admin)
    code = sheet["invites"][0]["code"]
    await chapter.refused("name_taken", "POST", path, path, {"code": code, "name": " ana "})
    for name in ("", "   ", "x" * 61, "tab\there"):
        await chapter.refused("invalid_member", "POST", path, path, {"code": code, "name": name})
    await chapter.refused("unknown_field", "POST", path, path, {"code": code, "name": "Eve", "email": "e@x"})
    joined = await chapter.ok("POST", path, path, {"code": code.lower().replace("-", " "), "name": "Dee"})
    await chapter.refused("invalid_invite", "POST", path, path, {"code": code, "name": "Again"})  # used once
    assert joined["member"]["name"] == "Dee"
    roll = await chapter.ok("GET", path, path, card=ana)
    assert sorted(m["name"] for m in roll["members"]) == ["Ana", "Dee"]  # nothing else was added


async def test_guessing_codes_is_held_back_even_all_at_once(chapter: Chapter) -> None:
    async def guess(i: int) -> int:
        body = {"code": f"GUES-{i:04}-0000", "name": "Guesser"}
        status, _ = await chapter.node.call("POST", "/api/v1/members", json=body)
        return status

    statuses = await asyncio.gather(*(guess(i) for i in range(50)))
    assert statuses.count(404) == 10 and statuses.count(429) == 40  # the burst, however the tries arrive
    status, answer = await chapter.node.call("POST", "/api/v1/members", json={"code": "GUES-9999-0000", "name": "G"})
    assert status == 429 and answer["error"]["code"] == "too_many_attempts"


async def test_good_codes_are_not_held_back(chapter: Chapter) -> None:
    names = [f"Member {i}" for i in range(25)]  # more joins from one address than its failures allow
    assert len(await chapter.join(*names)) == 25


# --- proposals that change the node ---------------------------------------------------------------


async def test_a_category_decided_is_offered_at_once_and_the_decision_is_published(chapter: Chapter) -> None:
    cards = await chapter.join("Ana", "Bo", "Cy")
    pets = need(category="pets")
    status, refused = await chapter.node.call("POST", "/api/v1/records", json=pets)
    assert status == 422 and "pets" not in refused["error"]["message"].split("one of ")[-1]
    add = {"type": "categories", "title": "Pets", "effect": {"action": "add", "slug": "pets", "name_en": "Pets",
                                                              "name_es": "Mascotas"}}  # fmt: skip
    opened = await chapter.propose(cards[0], add)
    assert opened["state"] == "open" and opened["electorate"] == 3 and opened["result"] is None
    await chapter.vote(cards[0], opened["id"], {"choice": "agree"})
    await chapter.vote(cards[1], opened["id"], {"choice": "agree"})
    changed = await chapter.vote(cards[1], opened["id"], {"choice": "abstain"})  # changed their mind
    assert changed["changed"] is True
    mid = await chapter.proposal(cards[2], opened["id"])
    assert mid["result"] is None and mid["voted"] == 2 and mid["receipts"] is None  # hidden until close
    receipt = (await chapter.vote(cards[2], opened["id"], {"choice": "agree"}))["receipt"]
    done = await chapter.settled(cards[2], opened["id"])
    assert done["result"]["counts"] == {"agree": 2, "abstain": 1, "disagree": 0}
    assert done["result"]["outcome"] == "passed" and done["applied"] == "done"
    assert done["my_ballot"]["choice"] == "agree" and done["my_ballot"]["receipt"] == receipt
    assert sorted(n["name"] for n in done["electorate_names"] if n["voted"]) == ["Ana", "Bo", "Cy"]
    assert len(done["receipts"]) == 3
    info = (await chapter.node.call("GET", "/api/v1/node"))[1]
    assert {"slug": "pets", "names": {"en": "Pets", "es": "Mascotas"}} in info["categories"]
    assert info["categories"][-1]["slug"] == "other"
    await chapter.node.post(pets)
    status, page = await chapter.node.call("GET", "/")
    assert "Mascotas" in page  # the page's data is made again
    records = (await chapter.node.call("GET", "/api/v1/records?kind=decision"))[1]["records"]
    assert [r["id"] for r in records] == [done["decision"]]
    ours = chapter.node.files.identity.public_key.hex()
    assert (await chapter.node.call("GET", f"/api/v1/records?kind=decision&author={ours}"))[1]["records"] == records
    assert (await chapter.node.call("GET", f"/api/v1/records?kind=decision&author={'0' * 64}"))[1]["records"] == []
    assert records[0]["effect"] == {"action": "add", "slug": "pets", "name-en": "Pets", "name-es": "Mascotas"}
    # The next decision names this one.
    retire = {"type": "categories", "title": "No pets", "effect": {"action": "retire", "slug": "pets"}}
    second = await chapter.decide(cards, retire)
    records = (await chapter.node.call("GET", "/api/v1/records?kind=decision"))[1]["records"]
    assert records[0]["id"] == second["decision"] and records[0]["prev"] == done["decision"] and records[0]["seq"] == 2
    assert "pets" not in [c["slug"] for c in (await chapter.node.call("GET", "/api/v1/node"))[1]["categories"]]


async def test_settings_decided_apply_at_once(chapter: Chapter) -> None:
    cards = await chapter.join("Ana", "Bo")
    body = {"type": "settings", "title": "Tighter", "effect": {"invite_quota": 1, "report_weeks": 4, "quorum": 100}}
    await chapter.decide(cards, body)
    info = (await chapter.node.call("GET", "/api/v1/node"))[1]
    assert info["chapter"]["settings"]["invite_quota"] == 1 and info["chapter"]["settings"]["quorum"] == 100
    assert (await chapter.node.call("GET", "/api/v1/report"))[1]["weeks"] == 4
    await chapter.ok("POST", "/api/v1/invites", "/api/v1/invites", {}, cards[0])
    await chapter.refused("invite_quota", "POST", "/api/v1/invites", "/api/v1/invites", {}, cards[0])
    low = {"type": "text", "title": "Lower", "quorum": 50}
    message = await chapter.refused("not_applicable", "POST", "/api/v1/proposals", "/api/v1/proposals", low, cards[0])
    assert "at least 100%" in message
    again = {"type": "settings", "title": "Same", "effect": {"invite_quota": 1}}
    await chapter.refused("not_applicable", "POST", "/api/v1/proposals", "/api/v1/proposals", again, cards[0])


async def test_organizers_act_by_mandate_and_are_logged(chapter: Chapter) -> None:
    ana, bo, cy = await chapter.join("Ana", "Bo", "Cy")
    record, _ = await chapter.node.post(need(title="Spam spam spam"))
    # The founding period: the operator's token stands in for an organizer, and the log says so.
    await chapter.ok("GET", "/api/v1/organizer/flags", "/api/v1/organizer/flags", card=chapter.admin)
    await chapter.refused("no_mandate", "GET", "/api/v1/organizer/flags", "/api/v1/organizer/flags", card=bo)
    roll = await chapter.ok("GET", "/api/v1/members", "/api/v1/members", card=ana)
    bo_id = next(m["id"] for m in roll["members"] if m["name"] == "Bo")
    grant = {"type": "organizers", "title": "Bo organizes", "effect": {"action": "grant", "member": bo_id,
                                                                        "term_days": 30}}  # fmt: skip
    await chapter.decide([ana, bo, cy], grant)
    me = await chapter.ok("GET", "/api/v1/members/me", "/api/v1/members/me", card=bo)
    assert me["mandate"] is not None and me["founding"] is False
    # The founding period is over: the admin token keeps the operator's work only.
    message = await chapter.refused("no_mandate", "GET", "/api/v1/organizer/flags", "/api/v1/organizer/flags",
                                    card=chapter.admin)  # fmt: skip
    assert "founding period is over" in message
    await chapter.refused("founding_over", "POST", "/api/v1/invites", "/api/v1/invites", {}, chapter.admin)
    await chapter.refused("no_mandate", "GET", "/api/v1/organizer/unanswered", "/api/v1/organizer/unanswered", card=cy)
    removal = {"id": record["id"], "reason": "spam"}
    await chapter.ok("POST", "/api/v1/organizer/removals", "/api/v1/organizer/removals", removal, bo)
    log = await chapter.ok("GET", "/api/v1/organizer/log", "/api/v1/organizer/log", card=cy)
    assert [(e["organizer"], e["action"], e["target"], e["reason"]) for e in log["entries"]] == [
        ("Bo", "remove", record["id"], "spam")]  # fmt: skip
    # The members reverse the removal: the address may be stored again.
    reverse = {"type": "removal", "title": "Not spam", "effect": {"action": "reverse", "record_id": record["id"]}}
    await chapter.decide([ana, bo, cy], reverse)
    removals = (
        await chapter.node.call("GET", "/api/v1/organizer/removals", headers={"Authorization": f"Bearer {bo}"})
    )[1]
    assert removals["removals"] == []
    # The members end the mandate: Bo's card no longer acts as organizer.
    revoke = {"type": "organizers", "title": "Thanks Bo", "effect": {"action": "revoke", "member": bo_id}}
    await chapter.decide([ana, bo, cy], revoke)
    message = await chapter.refused("no_mandate", "GET", "/api/v1/organizer/flags", "/api/v1/organizer/flags", card=bo)
    assert "ended" in message


async def test_retiring_a_card_by_decision(chapter: Chapter) -> None:
    ana, bo, cy = await chapter.join("Ana", "Bo", "Cy")
    roll = await chapter.ok("GET", "/api/v1/members", "/api/v1/members", card=ana)
    cy_id = next(m["id"] for m in roll["members"] if m["name"] == "Cy")
    opened = await chapter.propose(ana, {"type": "member", "title": "Cy's lost card", "threshold": "consent",
                                          "effect": {"action": "retire", "member": cy_id}})  # fmt: skip
    assert opened["summary"] == "retire the card of Cy" and opened["member_name"] == "Cy"
    for card in (ana, bo, cy):
        await chapter.vote(card, opened["id"], {"choice": "agree"})
    await chapter.settled(ana, opened["id"])
    await chapter.refused("card_invalid", "GET", "/api/v1/members/me", "/api/v1/members/me", card=cy)
    records = (await chapter.node.call("GET", "/api/v1/records?kind=decision"))[1]["records"]
    shown = {k: v for k, v in records[0].items() if k not in ("signature", "signed")}  # (random letters there)
    assert "member" not in records[0]["effect"] and "Cy" not in str(shown)  # never a member on the wire


async def test_a_ranked_choice_and_an_open_ballot(chapter: Chapter) -> None:
    cards = await chapter.join("Ana", "Bo", "Cy")
    body = {"type": "text", "title": "Which day?", "options": ["Monday", "Saturday", "Sunday"], "ballot": "open"}
    opened = await chapter.propose(cards[0], body)
    assert opened["method"] == "ranked" and opened["choices"] == []
    await chapter.refused("not_offered", "POST", f"/api/v1/proposals/{opened['id']}/ballots",
                          "/api/v1/proposals/{id}/ballots", {"choice": "agree"}, cards[0])  # fmt: skip
    await chapter.refused("not_offered", "POST", f"/api/v1/proposals/{opened['id']}/ballots",
                          "/api/v1/proposals/{id}/ballots", {"ranking": [4]}, cards[0])  # fmt: skip
    for card, ranking in zip(cards, ([3, 2], [2, 3], [3, 1]), strict=True):
        await chapter.vote(card, opened["id"], {"ranking": ranking})
    done = await chapter.settled(cards[0], opened["id"])
    assert done["result"]["winner"] == 3 and done["result"]["counts"] == {"option-1": 0, "option-2": 1,
                                                                          "option-3": 2, "abstain": 0}  # fmt: skip
    assert sorted((b["name"], tuple(b["ranking"])) for b in done["open_ballots"]) == [
        ("Ana", (3, 2)), ("Bo", (2, 3)), ("Cy", (3, 1))]  # fmt: skip
    records = (await chapter.node.call("GET", "/api/v1/records?kind=decision"))[1]["records"]
    assert records[0]["options"] == ["Monday", "Saturday", "Sunday"] and records[0]["winner"] == 3


# --- bad input: a clear error, nothing stored, the node serving ------------------------------------


async def test_bad_proposals_ballots_and_comments(chapter: Chapter) -> None:
    ana, bo = await chapter.join("Ana", "Bo")
    path = "/api/v1/proposals"
    bad_bodies: list[tuple[str, Json]] = [
        ("invalid_proposal", {"type": "nonsense", "title": "x"}),
        ("invalid_proposal", {"type": "text", "title": "x" * 121}),
        ("invalid_proposal", {"type": "text", "title": "x", "text": "y" * 4001}),
        ("invalid_proposal", {"type": "text", "title": "x", "closes_in_minutes": 0}),
        ("invalid_proposal", {"type": "text", "title": "x", "closes_in_minutes": 43201}),
        ("invalid_proposal", {"type": "text", "title": "x", "options": ["only one"]}),
        ("invalid_proposal", {"type": "categories", "title": "x"}),  # no effect
        ("invalid_proposal", {"type": "categories", "title": "x", "effect": {"action": "add", "slug": "Bad Slug",
                                                                            "name_en": "a", "name_es": "b"}}),
        ("not_applicable", {"type": "categories", "title": "x", "effect": {"action": "add", "slug": "food",
                                                                          "name_en": "a", "name_es": "b"}}),
        ("not_applicable", {"type": "categories", "title": "x", "effect": {"action": "retire", "slug": "other"}}),
        ("not_applicable", {"type": "organizers", "title": "x", "effect": {"action": "grant", "member": "0" * 32}}),
        ("not_applicable", {"type": "removal", "title": "x", "effect": {"action": "reverse", "record_id": "a" * 64}}),
        ("unknown_field", {"type": "text", "title": "x", "electorate": 1}),
    ]  # fmt: skip
    for code, body in bad_bodies:
        await chapter.refused(code, "POST", path, path, body, ana)
    assert (await chapter.ok("GET", path, path, card=ana))["proposals"] == []  # nothing stored
    opened = await chapter.propose(ana, {"type": "text", "title": "Fine", "closes_in_minutes": 1})
    ballots = f"/api/v1/proposals/{opened['id']}/ballots"
    template = "/api/v1/proposals/{id}/ballots"
    await chapter.refused("invalid_ballot", "POST", ballots, template, {"choice": "maybe"}, ana)
    await chapter.refused("invalid_ballot", "POST", ballots, template, {"choice": "agree", "ranking": [1]}, ana)
    await chapter.refused("not_offered", "POST", ballots, template, {"choice": "block"}, ana)  # not under majority
    await chapter.refused("not_found", "POST", "/api/v1/proposals/00000000/ballots", template, {"choice": "agree"}, ana)
    await chapter.refused("unauthorized", "POST", ballots, template, {"choice": "agree"})
    await chapter.refused("card_invalid", "POST", ballots, template, {"choice": "agree"}, "card-" + "0" * 25)
    (late,) = await chapter.join("Late")
    await chapter.refused("not_in_electorate", "POST", ballots, template, {"choice": "agree"}, late)
    comments = f"/api/v1/proposals/{opened['id']}/comments"
    await chapter.refused("invalid_comment", "POST", comments, "/api/v1/proposals/{id}/comments", {"text": "z" * 1001},
                          bo)  # fmt: skip
    await chapter.ok("POST", comments, "/api/v1/proposals/{id}/comments", {"text": "Good idea"}, bo)
    detail = await chapter.proposal(ana, opened["id"])
    assert detail["voted"] == 0 and [c["text"] for c in detail["comments"]] == ["Good idea"]
    assert (await chapter.node.call("GET", "/healthz"))[0] == 200


# --- closing survives a restart ------------------------------------------------------------------


async def _restart(node: RunningNode) -> AsyncIterator[RunningNode]:
    await node.stop()
    app = create_app(node.config, node.files.identity, str(node.files.database))
    runner = AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        async with aiohttp.ClientSession(base_url=url) as session:
            yield RunningNode(url, node.config, node.files, app, session, runner)
    finally:
        await runner.cleanup()


def _rewind(files: NodeFiles, seconds: int) -> None:
    """Move every open proposal's closing time back, as if the node had been off that long."""
    db = sqlite3.connect(Path(files.database).with_name(CHAPTER_FILE))
    try:
        db.execute("UPDATE proposals SET closes_at = closes_at - ?, opened_at = opened_at - ?", (seconds, seconds))
        db.commit()
    finally:
        db.close()


async def test_a_proposal_due_while_the_node_was_down_closes_when_it_starts(chapter: Chapter) -> None:
    ana, _bo = await chapter.join("Ana", "Bo")
    opened = await chapter.propose(ana, {"type": "text", "title": "Soup on Fridays", "quorum": 50})
    await chapter.vote(ana, opened["id"], {"choice": "agree"})
    await chapter.node.stop()
    await asyncio.to_thread(_rewind, chapter.node.files, 8 * 86_400)
    async for again in _restart(chapter.node):
        done = await Chapter(again).settled(ana, opened["id"])
        assert done["state"] == "closed" and done["result"]["outcome"] == "passed"
        assert done["result"]["turnout"] == 1 and done["applied"] == "none"
        records = (await again.call("GET", "/api/v1/records?kind=decision"))[1]["records"]
        assert [r["id"] for r in records] == [done["decision"]]


async def test_one_card_cannot_flood_the_chapter(chapter: Chapter) -> None:
    ana, bo = await chapter.join("Ana", "Bo")
    path = "/api/v1/proposals"
    for i in range(10):
        await chapter.propose(ana, {"type": "text", "title": f"Idea {i}"})
    await chapter.refused("too_many_proposals", "POST", path, path, {"type": "text", "title": "One more"}, ana)
    opened = await chapter.propose(bo, {"type": "text", "title": "Bo's idea"})  # another member's are theirs
    ballots, template = f"/api/v1/proposals/{opened['id']}/ballots", "/api/v1/proposals/{id}/ballots"
    status = 200
    for _ in range(40):  # changing a ballot over and over
        status, answer = await chapter.call("POST", ballots, template, {"choice": "agree"}, bo)
        if status != 200:
            break
    assert status == 429 and answer["error"]["code"] == "member_rate"
    await chapter.ok("POST", ballots, template, {"choice": "agree"}, ana)  # Ana's card is not held back
