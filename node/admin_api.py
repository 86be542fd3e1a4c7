"""Peer administration under /api/v1: the node operator's endpoints.

Guarded by the admin token made at init (``admin.token`` in the data
directory, mode 0600), sent as ``Authorization: Bearer``. The CLI on the same
machine reads it from there. Members never need it: posting stays open.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from aiohttp import web

from crypto import InvalidKey, public_key_from_text, public_key_to_text
from node.core.auth import require_admin
from node.core.errors import ApiError, Code, read_json_object
from node.core.metrics import Series
from node.core.state import ADMIN, METRICS, STORE
from node.peering.state import GOSSIP, POLICY
from protocol import fields
from protocol.errors import RecordInvalid

routes = web.RouteTableDef()


def _url(body: dict[str, Any], request: web.Request) -> str:
    url = body.get("url", request.query.get("url"))
    try:
        return fields.url("url", url).rstrip("/")
    except RecordInvalid as exc:
        raise ApiError(Code.BAD_URL, str(exc)) from None


@routes.get("/api/v1/peers")
async def list_peers(request: web.Request) -> web.Response:
    require_admin(request)
    return web.json_response({"peers": [vars(status) for status in request.app[GOSSIP].statuses()]})


@routes.post("/api/v1/peers")
async def add_peer(request: web.Request) -> web.Response:
    require_admin(request)
    url = _url(await read_json_object(request), request)
    added = await request.app[ADMIN].add_peer(url, int(time.time()), "admin")
    await request.app[GOSSIP].add(url)
    return web.json_response({"url": url, "added": added}, status=201 if added else 200)


@routes.delete("/api/v1/peers")
async def remove_peer(request: web.Request) -> web.Response:
    require_admin(request)
    body = await read_json_object(request) if request.can_read_body else {}
    url = _url(body, request)
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
    subject, action, key_text = body.get("subject"), body.get("action"), body.get("key")
    if subject not in ("peer", "author") or action not in ("block", "allow", "clear"):
        raise ApiError(Code.BAD_POLICY, "subject is peer or author; action is block, allow or clear")
    if subject == "author" and action == "allow":
        raise ApiError(Code.BAD_POLICY, "authors are allowed unless blocked; there is no author allow list")
    try:
        key = public_key_from_text(str(key_text))
    except InvalidKey as exc:
        raise ApiError(Code.BAD_KEY, str(exc)) from None
    await request.app[ADMIN].set_policy(subject, key, None if action == "clear" else action)  # type: ignore[arg-type]
    request.app[POLICY].load(await request.app[ADMIN].policy())
    return web.json_response({"subject": subject, "key": key.hex(), "action": action})


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    counts = await request.app[STORE].reads.counts(int(time.time()))
    gauges: Series = {}
    for (kind, status), n in counts.items():
        gauges[("mutualaid_records", (("kind", kind), ("status", status)))] = n
    gossip = request.app[GOSSIP]
    states = Counter(peer.state for peer in gossip.statuses())
    for state in ("connecting", "syncing", "connected", "backoff", "blocked", "refused"):
        gauges[("mutualaid_peers", (("state", state),))] = states.get(state, 0)
    gauges[("mutualaid_found_peer_links", ())] = sum(1 for link in gossip.links.values() if link.found)
    gauges[("mutualaid_peer_candidates", ())] = len(gossip.candidates)
    if gossip.discovery is not None:
        gauges[("mutualaid_mdns_dropped_total", ())] = gossip.discovery.dropped
        gauges[("mutualaid_mdns_announcements_total", ())] = gossip.discovery.heard
    return web.Response(text=request.app[METRICS].render(gauges), content_type="text/plain", charset="utf-8")
