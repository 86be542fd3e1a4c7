"""Match suggestions: on a need, the open offers that could meet it; on an offer,
the open needs it could meet.

Candidates come from ordinary member searches (so removed posts never show),
never a post managed by the same token (a need's own give-back offer):
the other kind, open, in the same coarse area (the first 3 geohash characters,
~150 km), either in the same category or sharing a word of the title. Each is
scored: same category 3, each shared title word 2, each further geohash
character in common 1; best first, newest first among equals.
"""

from __future__ import annotations

import re

from aiohttp import web

from node.core.clock import now
from node.core.params import limit_param, read_params
from node.core.state import STORE
from node.members.api import post_or_404
from node.members.render import render
from protocol.records import Record
from storage import Query

routes = web.RouteTableDef()
MAX_MATCHES = 50
PARAMS = (limit_param(10, MAX_MATCHES),)
CANDIDATES_PER_SEARCH = 100
MAX_WORDS = 4
AREA_PREFIX = 3
_WORD = re.compile(r"\w{3,}", re.UNICODE)
# Words too common in posts to say anything about a match (English and Spanish).
_COMMON = frozenset(
    {
        *("the", "and", "for", "with", "from", "need", "needs", "offer", "offers", "can", "any", "some", "have"),
        *("has", "our", "your", "para", "con", "los", "las", "una", "uno", "del", "por", "que", "necesito"),
        "ofrezco",
    }
)


def words(record: Record) -> set[str]:
    return {w for w in _WORD.findall(str(record.get("title", "")).lower()) if w not in _COMMON}


def score(post: Record, candidate: Record, post_words: set[str]) -> int:
    points = 3 if candidate.get("category") == post.get("category") else 0
    points += 2 * len(post_words & words(candidate))
    mine, theirs = str(post.get("area", "")), str(candidate.get("area", ""))
    common = 0
    while common < min(len(mine), len(theirs)) and mine[common] == theirs[common]:
        common += 1
    return points + max(0, common - AREA_PREFIX)


@routes.get("/api/v1/records/{id}/matches")
async def matches(request: web.Request) -> web.Response:
    limit = read_params(request.query, PARAMS)["limit"]
    post = await post_or_404(request, "matches")
    other = "offer" if post.kind == "need" else "need"
    area = str(post.get("area"))[:AREA_PREFIX]
    post_words = words(post)
    moment = now()
    store = request.app[STORE]
    base = {"kinds": (other,), "statuses": ("open",), "area": area, "limit": CANDIDATES_PER_SEARCH}
    searches = [Query(category=str(post.get("category")), **base)]  # type: ignore[arg-type]
    for word in sorted(post_words, key=len, reverse=True)[:MAX_WORDS]:
        searches.append(Query(text=word, **base))  # type: ignore[arg-type]
    # Never the member's own other post (a need's give-back offer shares its token).
    token_hash = await store.own.manage_token_hash(*post.address)
    same_poster = {r.address for r in await store.own.managed_by(token_hash, moment)} if token_hash else set()
    found: dict[bytes, Record] = {}
    for query in searches:
        for record in (await store.reads.query(query, moment)).records:
            if record.address not in same_poster:
                found[record.id] = record
    ranked = sorted(found.values(), key=lambda r: (score(post, r, post_words), r.created_at), reverse=True)
    return web.json_response({"records": [render(r) for r in ranked[:limit]]})
