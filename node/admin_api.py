"""Peer administration under /api/v1: the node operator's endpoints.

Guarded by the admin token made at init (``admin.token`` in the data
directory, mode 0600), sent as ``Authorization: Bearer``. The CLI on the same
machine reads it from there. Members never need it: posting stays open.
"""

from __future__ import annotations

from collections import Counter

from aiohttp import web

from crypto import InvalidKey, public_key_from_text, public_key_to_text
from node.core.auth import require_admin
from node.core.bodies import Body, BodyField, choice, from_table
from node.core.clock import now
from node.core.errors import ApiError, Code, read_json_object
from node.core.metrics import Series
from node.core.params import Param, read_params
from node.core.state import ADMIN, METRICS, STORE
from node.members.render import iso
from node.operate.api import BACKUPS
from node.peering.link import LinkState
from node.peering.state import GOSSIP, POLICY
from protocol.fieldtable import Url

routes = web.RouteTableDef()


PEER_BODY = Body([from_table(Url(), "url", required=True, description="the peer node's URL")], Code.BAD_URL)
PEER_PARAMS = (Param("url", Url().json_schema(), "the peer node's URL", required=True),)


def _key(value: str) -> bytes:
    try:
        return public_key_from_text(value)
    except InvalidKey as exc:
        raise ApiError(Code.BAD_KEY, str(exc)) from None


KEY_FIELD = BodyField(
    "key",
    {"type": "string", "pattern": "^[0-9a-fA-F]{64}$"},
    _key,
    required=True,
    description="the peer's or author's public key: 64 hex digits (the ma1... text form, checksum and all, also works)",
    code=Code.BAD_KEY,
)
POLICY_BODIES = {
    "peer": Body(
        [
            choice("subject", ("peer",), required=True),
            KEY_FIELD,
            choice("action", ("block", "allow", "clear"), required=True),
        ],
        Code.BAD_POLICY,
    ),
    "author": Body(
        [choice("subject", ("author",), required=True), KEY_FIELD, choice("action", ("block", "clear"), required=True)],
        Code.BAD_POLICY,
    ),
}
"""Block, allow or clear a peer; block or clear an author (authors are allowed unless blocked)."""


@routes.get("/api/v1/peers")
async def list_peers(request: web.Request) -> web.Response:
    require_admin(request)
    peers = [vars(status) for status in request.app[GOSSIP].statuses()]
    for peer in peers:  # times in ISO 8601, like every other time the API answers with
        peer["last_sync"] = None if peer["last_sync"] is None else iso(peer["last_sync"])
    return web.json_response({"peers": peers})


@routes.post("/api/v1/peers")
async def add_peer(request: web.Request) -> web.Response:
    require_admin(request)
    url = PEER_BODY.read(await read_json_object(request))["url"].rstrip("/")
    added = await request.app[ADMIN].add_peer(url, now(), "admin")
    await request.app[GOSSIP].add(url)
    return web.json_response({"url": url, "added": added}, status=201 if added else 200)


@routes.delete("/api/v1/peers")
async def remove_peer(request: web.Request) -> web.Response:
    require_admin(request)
    try:
        url = read_params(request.query, PEER_PARAMS)["url"].rstrip("/")
    except ApiError as exc:
        if exc.field != "url":
            raise  # an unknown parameter: bad_query
        raise ApiError(Code.BAD_URL, str(exc), field="url") from None
    removed = await request.app[ADMIN].remove_peer(url)
    stopped = await request.app[GOSSIP].remove(url)
    if not removed and not stopped:
        raise ApiError(Code.NOT_FOUND, f"{url} is not a peer of this node")
    return web.json_response({"url": url, "removed": True})


@routes.get("/api/v1/policy")
async def get_policy(request: web.Request) -> web.Response:
    require_admin(request)
    rules = await request.app[ADMIN].policy()
    return web.json_response(
        {"rules": [{"subject": s, "key": k.hex(), "key_text": public_key_to_text(k), "action": a} for s, k, a in rules]}
    )


@routes.post("/api/v1/policy")
async def set_policy(request: web.Request) -> web.Response:
    """{"subject": "peer"|"author", "key": hex or ma1..., "action": "block"|"allow"|"clear"}"""
    require_admin(request)
    body = await read_json_object(request)
    subject = body.get("subject")
    if not isinstance(subject, str) or subject not in POLICY_BODIES:
        raise ApiError(Code.BAD_POLICY, "subject is peer or author", field="subject")
    values = POLICY_BODIES[subject].read(body)
    action, key = values["action"], values["key"]
    await request.app[ADMIN].set_policy(subject, key, None if action == "clear" else action)  # type: ignore[arg-type]
    request.app[POLICY].load(await request.app[ADMIN].policy())
    return web.json_response({"subject": subject, "key": key.hex(), "action": action})


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    counts = await request.app[STORE].reads.counts(now())
    gauges: Series = {}
    for (kind, status), n in counts.items():
        gauges[("mutualaid_records", (("kind", kind), ("status", status)))] = n
    gossip = request.app[GOSSIP]
    states = Counter(peer.state for peer in gossip.statuses())
    for state in LinkState:
        gauges[("mutualaid_peers", (("state", state.value),))] = states.get(state, 0)
    gauges[("mutualaid_found_peer_links", ())] = sum(1 for link in gossip.links.values() if link.found)
    gauges[("mutualaid_peer_candidates", ())] = len(gossip.candidates)
    gauges |= request.app[BACKUPS].gauges()
    if gossip.discovery is not None:
        gauges[("mutualaid_mdns_dropped_total", ())] = gossip.discovery.dropped
        gauges[("mutualaid_mdns_announcements_total", ())] = gossip.discovery.heard
    return web.Response(text=request.app[METRICS].render(gauges), content_type="text/plain", charset="utf-8")
