"""The peer API under /peer/v1: what other nodes call. Binary msgpack bodies.

Every request is checked by ``peer_auth_middleware`` before its handler runs:
the headers' shape, then the destination (it must name this node: the local
address the connection reached, or one of the configured public URLs), then
the body (bounded by aiohttp's client_max_size), then the time window, the
replay cache, and the Ed25519 signature over method, path, destination,
nonce and body hash. Every response is signed back, so the caller knows
the node holding the key it pinned answered. Open by default: any node may
call; the caller's key is available to handlers as ``request[PEER_KEY]``.

The window and the replay cache read the system clock, never the network's
time (node.core.clock), so replay protection does not depend on what peers
say of the time. A request outside the window whose signature verifies gets
a signed 401 carrying our time: its caller learns our clock from it and
signs again in our frame.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

from aiohttp import web

from node.core.bounded import BoundedTable
from node.core.clock import SYSTEM_CLOCK, Clock, now
from node.core.errors import ApiError, Code, Handler, error_response
from node.core.hosts import is_loopback_host
from node.core.params import Param, read_params
from node.core.state import CONFIG, IDENTITY, METRICS, NODE_PROFILE, STORE
from node.peering import decisions, spanning
from node.peering.state import FEED, GOSSIP, INGEST, PEER_KEY, POLICY
from node.peering.sync import node_filter
from protocol import peerwire
from protocol.codec import Value, encode
from protocol.errors import DecodeError
from protocol.reconcile import Reconciler

routes = web.RouteTableDef()
MAX_FEED_WAIT_S = 25
FEED_BATCH = 200
FEED_PARAMS = (
    Param("after", {"type": "integer", "minimum": 0, "maximum": 2**63 - 1}, "a feed position", 0),
    # Longer waits are asked for and cut to MAX_FEED_WAIT_S, as before the parameters were declared.
    Param(
        "wait",
        {"type": "number", "minimum": 0, "maximum": 86_400},
        "seconds to wait for one (at most 25 are waited)",
        0,
    ),
    # Left out by nodes before eager and lazy links: they get records whole
    # near their origin only (decisions.whole_records).
    Param("eager", {"type": "integer", "minimum": 0, "maximum": 1}, "1: every record whole; 0: ids only"),
    # Left out by nodes before the spanning tree (node/peering/spanning.py).
    Param(
        "tree",
        {"type": "string", "pattern": spanning.QUERY_FORM.pattern},
        "the caller's advert: <root, 64 hex digits>.<hops>.<parent 0|1><settled 0|1>",
    ),
)


class ReplayCache:
    """Signatures seen within the request window; bounded, oldest evicted first."""

    def __init__(self, capacity: int = 100_000) -> None:
        # A request's stamp passes within REQUEST_WINDOW_S either side of now, so its
        # signature could come back for twice the window after we first saw it.
        self._seen: BoundedTable[bytes, None] = BoundedTable(capacity, ttl_s=2 * peerwire.REQUEST_WINDOW_S)

    def check_and_add(self, signature: bytes, now: int) -> None:
        self._seen.expire(now)
        if signature in self._seen:
            raise peerwire.PeerAuthError("this request was already received (replay)")
        if self._seen.full:
            # Evicting live entries would let a flood reopen the replay window.
            raise ApiError(Code.BUSY, "too many peer requests in the last few minutes; retry later")
        self._seen.put(signature, None, now)


REPLAY = web.AppKey("replay_cache", ReplayCache)
MAX_POLLERS = 10_000
POLLING_FOR_S = 5.0
"""A peer counts as polling our feed while a poll of its is open, and this
long after one was answered: its next poll is on its way (a round trip). One
that does not come (its link to us turned lazy, or failed) stops counting
then, and our own link to it pushes again."""


class Pollers:
    """Which peers hold a long poll on our feed: they get our records that way,
    so our own links need not push to them too (one copy per edge, not two)."""

    def __init__(self, clock: Clock = SYSTEM_CLOCK) -> None:
        self._clock = clock
        self._open: dict[bytes, int] = {}  # polls open now, by peer (bounded: MAX_POLLERS peers)
        self._ended: BoundedTable[bytes, bool] = BoundedTable(MAX_POLLERS, ttl_s=POLLING_FOR_S)

    def begin(self, key: bytes) -> None:
        """A poll of ``key``'s is open (each ``begin`` has its ``end``)."""
        if key in self._open or len(self._open) < MAX_POLLERS:  # past the bound: not counted, pushed to
            self._open[key] = self._open.get(key, 0) + 1

    def end(self, key: bytes) -> None:
        left = self._open.get(key, 0) - 1
        if left > 0:
            self._open[key] = left
        else:
            self._open.pop(key, None)
        self._ended.put(key, True, self._clock.monotonic())

    def polling(self, key: bytes) -> bool:
        return key in self._open or self._ended.get(key, self._clock.monotonic()) is not None


POLLERS = web.AppKey("pollers", Pollers)
SPANNING = web.AppKey("spanning", spanning.Spanning)


def _learn_advert(request: web.Request, advert: spanning.Advert | None) -> None:
    if advert is not None and SPANNING in request.app:
        request.app[SPANNING].learn(request[PEER_KEY], advert, SYSTEM_CLOCK.monotonic())


def _with_advert(request: web.Request, answer: dict[str, Value]) -> dict[str, Value]:
    """The answer with our advert for the caller in it (a node before the tree ignores it)."""
    if SPANNING in request.app:
        answer["tree"] = request.app[SPANNING].advert_for(request[PEER_KEY]).to_wire()
    return answer


PUBLIC_HOSTS: web.AppKey[frozenset[str]] = web.AppKey("public_hosts")


@web.middleware
async def peer_auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if not request.path.startswith("/peer/"):
        return await handler(request)
    moment = SYSTEM_CLOCK.wall()  # our own frame: the one callers learn from our signed time
    auth = peerwire.parse_headers(request.headers)
    destination = request.host.lower()
    if destination not in _own_destinations(request):
        raise peerwire.PeerAuthError(f"this request is addressed to {destination[:80]!r}, which is not this node")
    # A refused key is turned away before its body is read or its signature
    # checked, so a banned flooder costs almost nothing (one that only claims
    # the key is refused too, which can hurt nobody but the banned key).
    refusal = request.app[POLICY].refusal(auth.key)
    if refusal is not None:
        raise ApiError(Code.FORBIDDEN, refusal)
    if request.app[STORE].keys.retired(auth.key):
        raise ApiError(Code.FORBIDDEN, "this key was retired by its chapter's key rotation")
    body = await request.read()
    started = time.thread_time()  # CPU time: this runs on the event loop's thread
    try:
        peerwire.check_request(auth, request.method, request.path_qs, destination, body, moment)
    except peerwire.RequestOutOfWindow as exc:
        # Verified all the same (as a request in the window would be): only a
        # genuine caller learns our time, and we sign nothing for a stranger.
        peerwire.check_signature(auth, request.method, request.path_qs, destination, body)
        return _signed(request, auth, error_response(ApiError(Code.UNAUTHORIZED, str(exc))))
    finally:
        verify_us = int((time.thread_time() - started) * 1e6)
        request.app[METRICS].count("signature_verify_microseconds_total", verify_us)
    request.app[REPLAY].check_and_add(auth.signature, moment)
    request[PEER_KEY] = auth.key
    request.app[METRICS].count("peer_bytes_in_total", len(body))
    response = await handler(request)
    if isinstance(response, web.Response) and response.body is not None:
        request.app[METRICS].count("peer_bytes_out_total", len(bytes(response.body)))  # type: ignore[arg-type]
        _signed(request, auth, response)
    return response


def _signed(request: web.Request, auth: peerwire.SignedHeaders, response: web.Response) -> web.Response:
    """``response`` with our key, our system clock's time and our signature over both and its body."""
    payload = bytes(response.body)  # type: ignore[arg-type]
    stamp = SYSTEM_CLOCK.wall()
    signature = request.app[IDENTITY].sign_message(peerwire.response_message(auth.signature, stamp, payload))
    response.headers.update(peerwire.SignedHeaders(request.app[IDENTITY].public_key, stamp, signature).as_dict())
    return response


def _own_destinations(request: web.Request) -> set[str]:
    """The host:port names this node answers to: the local address this
    connection reached, localhost for loopback, and the configured public URLs."""
    hosts: frozenset[str] = request.app[PUBLIC_HOSTS]
    own = set(hosts)
    sockname = request.transport.get_extra_info("sockname") if request.transport else None
    if sockname:
        host, port = str(sockname[0]), int(sockname[1])
        own.add(f"[{host}]:{port}" if ":" in host else f"{host}:{port}")
        if is_loopback_host(host):
            own.add(f"localhost:{port}")
    return own


def _msgpack(value: object) -> web.Response:
    return web.Response(body=encode(value), content_type="application/msgpack")  # type: ignore[arg-type]


async def _body(request: web.Request) -> Value:
    if request.content_type != "application/msgpack":
        raise ApiError(Code.UNSUPPORTED_MEDIA_TYPE, "peer bodies are application/msgpack")
    return peerwire.decode_body(await request.read())


@routes.post("/peer/v1/hello")
async def hello(request: web.Request) -> web.Response:
    body = await _body(request)
    if not isinstance(body, dict) or "filter" not in body:
        raise DecodeError("hello is the map {filter, ...}")
    peerwire.filter_from_wire(body["filter"])
    if "tree" in body:
        _learn_advert(request, spanning.from_wire(body["tree"], request[PEER_KEY]))
    if GOSSIP in request.app:
        request.app[GOSSIP].heard_from(request[PEER_KEY])  # it is alive: a link of ours to it retries now
    answer: dict[str, Value] = {
        "profile": request.app[NODE_PROFILE].current.raw,
        "filter": peerwire.filter_to_wire(node_filter(request.app[CONFIG])),
        "feed": request.app[FEED].head - 1,
        # How a peer that pinned an earlier key of ours learns this one.
        "rotations": list(await request.app[STORE].keys.rotations_to(request.app[IDENTITY].public_key)),
        # Our feed takes ``eager``: a peer that sees this may prune and graft its link to us.
        "lazy_links": True,
    }
    return _msgpack(_with_advert(request, answer))  # with "tree": our feed takes ``tree`` too


@routes.post("/peer/v1/records")
async def receive_records(request: web.Request) -> web.Response:
    raws = peerwire.byte_list(await _body(request), "records")
    outcomes = await request.app[INGEST].ingest(raws, request[PEER_KEY])
    return _msgpack({"outcomes": outcomes})


@routes.post("/peer/v1/fetch")
async def fetch(request: web.Request) -> web.Response:
    ids = peerwire.byte_list(await _body(request), "ids", 32)
    raws = await request.app[STORE].reads.get_raw_many(ids, now())
    return _msgpack({"records": raws})


@routes.post("/peer/v1/reconcile")
async def reconcile(request: web.Request) -> web.Response:
    body = await _body(request)
    message = body.get("message") if isinstance(body, dict) else None
    if not isinstance(body, dict) or not isinstance(message, bytes):
        raise DecodeError("reconcile is the map {filter, message}")
    theirs = peerwire.filter_from_wire(body.get("filter"))
    if "tree" in body:
        _learn_advert(request, spanning.from_wire(body["tree"], request[PEER_KEY]))
    common = node_filter(request.app[CONFIG]).intersect(theirs)
    # The store keeps each filter's live set (storage/syncindex.py): no rebuild per session.
    items = await request.app[STORE].sync.items(common, now())
    return _msgpack(_with_advert(request, {"message": Reconciler(items).respond(message)}))  # a ReconcileError is a 400


@routes.post("/peer/v1/announce")
async def announce(request: web.Request) -> web.Response:
    """The caller has these ids for us; we answer with the ones we lack."""
    ids = peerwire.byte_list(await _body(request), "ids", 32)
    held = await request.app[STORE].reads.held_ids(ids)
    ingest = request.app[INGEST]
    # Not those another peer is sending us already: its copy is on its way.
    wanted = ingest.inflight.claim([i for i in ids if i not in held], ingest.clock.monotonic())
    return _msgpack({"wanted": wanted})


@routes.get("/peer/v1/feed")
async def feed(request: web.Request) -> web.Response:
    """Long poll: ids of records accepted after ``after``, waiting up to ``wait``
    seconds for one; with them the records themselves, all of them for an
    ``eager`` poller, none for a lazy one (decisions.whole_records)."""
    params = read_params(request.query, FEED_PARAMS)
    after, wait = params["after"], min(params["wait"], MAX_FEED_WAIT_S)
    feed, caller, pollers = request.app[FEED], request[PEER_KEY], request.app[POLLERS]
    if params["tree"] is not None:
        _learn_advert(request, spanning.from_query(params["tree"], caller))
    entries, cursor, behind = feed.since(after, caller, FEED_BATCH)
    # Records the caller gave us wake the wait but are not for it: keep waiting,
    # rather than answer nothing and have it ask again (a wasted round trip each).
    pollers.begin(caller)
    try:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(wait):
                while not entries and not behind and wait > 0 and not feed.closed:
                    await feed.wait(cursor, wait)
                    entries, cursor, behind = feed.since(after, caller, FEED_BATCH)
    finally:
        pollers.end(caller)
    answer: dict[str, Value] = {"ids": [entry.id for entry in entries], "cursor": cursor, "behind": behind}
    eager = None if params["eager"] is None else params["eager"] == 1
    if whole := decisions.whole_records(entries, eager=eager):
        answer["records"] = list(whole)  # left out when empty: the answer most polls get stays as it was
    return _msgpack(_with_advert(request, answer) if params["tree"] is not None else answer)
