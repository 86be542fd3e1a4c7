"""Who is asking: a member (their card), an organizer (a card with a live mandate), the operator.

Every credential travels as ``Authorization: Bearer``: a member card
(``card-...``), or the operator's admin token. Organizer powers come from a
mandate that a decision granted; during the founding period (before the
chapter's first ``organizers`` decision) the admin token stands in for an
organizer, and the page says so. After it, the admin token keeps only the
operator's work (peers, policy) and an organizer action with it is refused.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from aiohttp import web

from node.chapter import cards
from node.chapter.state import CHAPTER, CHAPTER_STORE
from node.core.bounded import TokenBuckets
from node.core.clock import SYSTEM_CLOCK, iso, now
from node.core.errors import ApiError, Code
from node.core.state import ADMIN_TOKEN
from storage.chapter import Member


@dataclass(frozen=True)
class Caller:
    """A member, with the card they used (needed again for their receipts)."""

    member: Member
    card: str


@dataclass(frozen=True)
class Organizer:
    """Who acts as organizer: a member with a mandate, or (founding period) the operator."""

    member: Member | None

    @property
    def id(self) -> bytes | None:
        return None if self.member is None else self.member.id


def bearer(request: web.Request) -> str:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(Code.UNAUTHORIZED, "send your member card as 'Authorization: Bearer card-...'")
    return token.strip()


def is_admin_token(request: web.Request, token: str) -> bool:
    expected = request.app[ADMIN_TOKEN]
    return bool(expected) and hmac.compare_digest(token.encode(), expected.encode())


async def member_of(request: web.Request, token: str) -> Caller:
    if is_admin_token(request, token):
        raise ApiError(Code.CARD_INVALID, "this is the node's admin token, not a member card")
    hashed = cards.card_hash(token)
    member = None if hashed is None else await request.app[CHAPTER_STORE].roll.by_card(hashed)
    if member is None:
        raise ApiError(
            Code.CARD_INVALID, "this member card is not valid here: mistyped, replaced, retired, or its holder left"
        )
    return Caller(member, token)


class MemberLimiter:
    """Changes made with one card (proposals, ballots, comments, a new card,
    leaving; invites have their weekly quota): a token bucket per member, so
    one card cannot keep the chapter's file busy.
    Per member, not per address: a meeting behind one router votes at once."""

    BURST, EVERY_S = 30, 2.0

    def __init__(self) -> None:
        self._buckets: TokenBuckets[bytes] = TokenBuckets(1 / self.EVERY_S, self.BURST, 10_000)

    def take(self, member: bytes) -> float:
        """0 if allowed, else the seconds until it would be."""
        moment = SYSTEM_CLOCK.monotonic()
        return 0.0 if self._buckets.take(member, moment) else self._buckets.wait_s(member, moment)


MEMBER_LIMITER = web.AppKey("member_limiter", MemberLimiter)
_CHANGES = frozenset({"POST", "PATCH", "PUT", "DELETE"})


async def require_member(request: web.Request) -> Caller:
    caller = await member_of(request, bearer(request))
    if request.method in _CHANGES:
        wait = request.app[MEMBER_LIMITER].take(caller.member.id)
        if wait > 0:
            raise ApiError.retry_later(Code.MEMBER_RATE, "too many changes with this card", wait)
    return caller


async def require_organizer(request: web.Request) -> Organizer:
    """An organizer with a live mandate, or the operator in the founding period."""
    token = bearer(request)
    if is_admin_token(request, token):
        if request.app[CHAPTER].state.founding:
            return Organizer(None)
        raise ApiError(
            Code.NO_MANDATE,
            "the founding period is over: organizers act with a member card holding a mandate the members granted",
        )
    if not cards.looks_like_card(token):
        if not request.app[ADMIN_TOKEN]:
            raise ApiError(Code.ADMIN_OFF, "this node has no admin token; organizers act with their member card")
        raise ApiError(Code.FORBIDDEN, "neither the admin token nor a member card")
    caller = await member_of(request, token)
    moment = now()
    mandates = request.app[CHAPTER_STORE].mandates
    if await mandates.live(caller.member.id, moment) is not None:
        return Organizer(caller.member)
    latest = await mandates.latest(caller.member.id)
    if latest is None:
        raise ApiError(Code.NO_MANDATE, "organizer actions need a mandate from the members; you hold none")
    ended = latest.ends_at if latest.revoked_at is None else latest.revoked_at
    raise ApiError(Code.NO_MANDATE, f"your organizer mandate ended on {iso(ended)}")
