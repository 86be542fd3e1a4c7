"""The roll over HTTP: invites, joining, the members list, one's own card.

Joining needs an invite code and a name, nothing else: no email, phone,
address, ID or income, and no field exists for one. The operator makes
invites (a sheet for the founding meeting) only during the founding period;
after it, members invite, up to the chapter's weekly quota. Members see the
roll; nobody else does, and it never leaves the node. Logs name no member.

Guessing invite codes is held back twice: each client address (an IPv6 /64
counts as one) may fail ``JOIN_FAILURES_BURST`` times, then once every
``JOIN_FAILURE_EVERY_S``; and
all failures together, from anywhere, share a budget of
``GLOBAL_FAILURES_BURST`` then one every ``GLOBAL_FAILURE_EVERY_S`` (docs/CHAPTER.md
works out what that leaves a guesser).
"""

from __future__ import annotations

import logging
import secrets
import unicodedata
from typing import Any

from aiohttp import web

from node.chapter import cards
from node.chapter.auth import Caller, bearer, is_admin_token, member_of, require_member
from node.chapter.closer import CLOSER
from node.chapter.settings import BY_NAME
from node.chapter.state import CHAPTER, CHAPTER_STORE
from node.core.auth import private
from node.core.bodies import Body, BodyField, from_table, integer
from node.core.bounded import TokenBuckets
from node.core.clock import SYSTEM_CLOCK, iso, now
from node.core.errors import ApiError, Code, read_json_object
from node.core.hosts import client_key
from node.core.params import limit_param, read_params
from node.core.state import CONFIG
from protocol.fieldtable import Text
from protocol.records import DAY
from storage.chapter import ChapterError, Member

log = logging.getLogger("mutualaid.chapter")
routes = web.RouteTableDef()

MAX_NAME_CHARS = 60
MAX_ROLL = 5000
JOIN_FAILURES_BURST, JOIN_FAILURE_EVERY_S = 10, 60.0
GLOBAL_FAILURES_BURST, GLOBAL_FAILURE_EVERY_S = 1000, 1.0

JOIN_BODY = Body(
    [
        BodyField("code", {"type": "string", "pattern": cards.INVITE_PATTERN}, str, required=True,
                  description="the invite code, as written (case, spaces and dashes do not matter)",
                  code=Code.INVALID_INVITE),
        from_table(Text(MAX_NAME_CHARS), "name", required=True,
                   description="the name you go by in the chapter (a pseudonym is fine)"),
    ],
    Code.INVALID_MEMBER,
)  # fmt: skip


_DAYS = BY_NAME["invite_days"]
INVITE_BODY = Body(
    [
        integer("count", 1, cards.MAX_INVITES, description="how many codes (default 1)"),
        integer(
            "days", _DAYS.low, _DAYS.high, description="how many days each stays valid (default: the chapter's setting)"
        ),
    ],
    Code.INVALID_INVITE_REQUEST,
)
ROLL_PARAMS = (limit_param(MAX_ROLL, MAX_ROLL),)


class JoinLimiter:
    """Failed invite redemptions, per client (an IPv6 /64 counts as one) and in
    all (see the module's comment). A try spends a token of each before the
    code is looked at, so tries sent at once cannot all pass, and gets them
    back when the code turns out good: only failures count."""

    def __init__(self) -> None:
        self._per_client: TokenBuckets[str] = TokenBuckets(1 / JOIN_FAILURE_EVERY_S, JOIN_FAILURES_BURST, 10_000)
        self._everyone: TokenBuckets[str] = TokenBuckets(1 / GLOBAL_FAILURE_EVERY_S, GLOBAL_FAILURES_BURST, 1)

    def try_once(self, remote: str | None) -> float:
        """Spend a try: 0 if allowed, else the seconds until one would be (nothing spent)."""
        moment, key = SYSTEM_CLOCK.monotonic(), client_key(remote)
        wait = max(self._per_client.wait_s(key, moment), self._everyone.wait_s("all", moment))
        if wait == 0:
            self._per_client.take(key, moment)
            self._everyone.take("all", moment)
        return wait

    def succeeded(self, remote: str | None) -> None:
        moment = SYSTEM_CLOCK.monotonic()
        self._per_client.give_back(client_key(remote), moment)
        self._everyone.give_back("all", moment)


JOIN_LIMITER = web.AppKey("join_limiter", JoinLimiter)


def member_json(member: Member, organizers: frozenset[bytes] = frozenset()) -> dict[str, Any]:
    by = None if member.invited_by is None else {"id": member.invited_by.hex(), "name": member.inviter_name}
    return {
        "id": member.id.hex(),
        "name": member.name,
        "invited_by": by,
        "joined_at": iso(member.joined_at),
        "status": "active" if member.active else member.ended,
        "organizer": member.id in organizers,
    }


@routes.post("/api/v1/invites")
async def make_invites(request: web.Request) -> web.Response:
    """Invite codes: a member's (within the weekly quota), or the operator's
    founding sheet (admin token, founding period only)."""
    token = bearer(request)
    state = request.app[CHAPTER].state
    operator = is_admin_token(request, token)
    if operator and not state.founding:
        raise ApiError(Code.FOUNDING_OVER, "the founding period is over: members invite each other now")
    caller = None if operator else await member_of(request, token)
    values = INVITE_BODY.read(await read_json_object(request))
    count = values.get("count") or 1
    days = values.get("days") or state.int_setting("invite_days")
    codes = [cards.new_invite() for _ in range(count)]
    hashes = [cards.invite_hash(code) for code in codes]
    moment = now()
    quota = None if caller is None else state.int_setting("invite_quota")
    await request.app[CHAPTER_STORE].roll.make_invites(
        [h for h in hashes if h is not None], None if caller is None else caller.member.id, moment,
        moment + days * DAY, quota,
    )  # fmt: skip
    log.info("%d invites made by %s", count, "the operator" if caller is None else "a member")
    expires = iso(moment + days * DAY)
    return private(web.json_response({"invites": [{"code": c, "expires_at": expires} for c in codes]}, status=201))


@routes.post("/api/v1/members")
async def join(request: web.Request) -> web.Response:
    """Redeem an invite: the answer holds the new member's card, once."""
    limiter = request.app[JOIN_LIMITER]
    wait = limiter.try_once(request.remote)
    if wait > 0:
        raise ApiError.retry_later(Code.TOO_MANY_ATTEMPTS, "too many invite codes tried", wait)
    values = JOIN_BODY.read(await read_json_object(request))
    name = unicodedata.normalize("NFC", " ".join(values["name"].split()))
    code_hash = cards.invite_hash(values["code"])
    card = cards.new_card()
    card_hash = cards.card_hash(card)
    assert card_hash is not None
    if code_hash is None:
        raise ApiError(Code.INVALID_INVITE, f"an invite code is {cards.INVITE_CHARS} letters and digits", field="code")
    try:
        member = await request.app[CHAPTER_STORE].roll.join(code_hash, secrets.token_bytes(16), name, card_hash, now())
    except ChapterError as exc:
        if exc.code != "invalid_invite":
            limiter.succeeded(request.remote)  # a good code (a taken name): not a guess
        raise
    limiter.succeeded(request.remote)
    log.info("a member joined")
    return private(web.json_response({"card": card, "member": member_json(member)}, status=201))


@routes.get("/api/v1/members")
async def roll(request: web.Request) -> web.Response:
    await require_member(request)
    limit = read_params(request.query, ROLL_PARAMS)["limit"]
    chapter = request.app[CHAPTER_STORE]
    organizers = frozenset(m.member for m in await chapter.mandates.all_live(now()))
    members = await chapter.roll.members(limit)
    state = request.app[CHAPTER].state
    return private(
        web.json_response({"members": [member_json(m, organizers) for m in members], "founding": state.founding})
    )


async def _me(request: web.Request, caller: Caller) -> dict[str, Any]:
    chapter, state, moment = request.app[CHAPTER_STORE], request.app[CHAPTER].state, now()
    mandate = await chapter.mandates.live(caller.member.id, moment)
    organizers = frozenset({caller.member.id}) if mandate else frozenset()
    return {
        "member": member_json(caller.member, organizers),
        "mandate": None
        if mandate is None
        else {"granted_at": iso(mandate.granted_at), "ends_at": iso(mandate.ends_at)},
        "invites_left": await chapter.roll.invites_left(caller.member.id, state.int_setting("invite_quota"), moment),
        "founding": state.founding,
    }


@routes.get("/api/v1/members/me")
async def me(request: web.Request) -> web.Response:
    read_params(request.query, ())
    caller = await require_member(request)
    return private(web.json_response(await _me(request, caller)))


@routes.delete("/api/v1/members/me")
async def leave(request: web.Request) -> web.Response:
    """Leave the chapter: the card stops working; the name stays on the roll as having left."""
    read_params(request.query, ())
    caller = await require_member(request)
    await request.app[CHAPTER_STORE].roll.end(caller.member.id, "left", now())
    request.app[CLOSER].wake()  # the proposals they had not voted on no longer wait for them
    log.info("a member left")
    return private(web.json_response({"left": True}))


@routes.post("/api/v1/members/me/card")
async def replace_card(request: web.Request) -> web.Response:
    """Retire this card and get a new one (a card someone else has seen); shown once."""
    caller = await require_member(request)
    card = cards.new_card()
    card_hash = cards.card_hash(card)
    assert card_hash is not None
    await request.app[CHAPTER_STORE].roll.replace_card(caller.member.id, card_hash)
    return private(web.json_response({"card": card}, status=201))


@routes.get("/api/v1/members/me/qr")
async def card_qr(request: web.Request) -> web.Response:
    """The card as a QR code (SVG) of the page's address that signs it in on another device."""
    read_params(request.query, ())
    caller = await require_member(request)
    # The node's public address if it has one (behind a TLS proxy the request
    # itself says http); else the address this page was reached at.
    public = request.app[CONFIG].public_urls
    base = public[0] if public else f"{request.scheme}://{request.host}"
    svg = cards.qr_svg(cards.card_link(base, caller.card))
    return private(web.Response(text=svg, content_type="image/svg+xml"))
