"""Private replies through the member API: sealed at once, opened only by the poster.

``POST /api/v1/records/{id}/replies`` takes a member's message and how to reach
them, seals both to the X25519 key in the post's author node's signed profile
(held in the store), and signs the result as a ``reply`` record
(``protocol.replies``). The clear text lives only in this request; nothing
stores or logs it. The reply is stored here and published to the feed, so
gossip carries it like any record (every node keeps the ciphertext; only the
recipient can open it); when the recipient lists URLs in its profile, a
background task also pushes it straight there, pinned to the recipient's key.
The answer says ``direct`` when that push was accepted within a few seconds,
``network`` otherwise (the push may still finish, and gossip carries it anyway).
A reply to a post of this node itself is stored only.

``GET /api/v1/records/{id}/replies`` with the post's manage token opens the
replies sealed to this node about any version of the post, on read.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import secrets
import urllib.parse
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

from crypto import NodeIdentity, SealError
from node.core.bodies import Body, BodyField, from_table
from node.core.bounded import BoundedTable
from node.core.clock import now
from node.core.errors import ApiError, Code
from node.core.hosts import is_loopback_host
from node.core.state import COMMUNITY, CONFIG, IDENTITY, METRICS, STORE
from node.members.api import authorised, post_or_404, private, read_body
from node.members.ratelimit import WRITE_LIMITER
from node.members.render import iso
from node.peering.ingest import MAX_REPLIES_PER_SENDER
from node.peering.peer_client import PeerClient
from node.peering.peers import usable_url
from node.peering.state import FEED, INGEST
from protocol.errors import ProtocolError, RecordInvalid
from protocol.fieldtable import Text
from protocol.records import NODE_PROFILE_SLOT, TOMBSTONE_STATUSES, Record
from protocol.replies import MAX_CONTACT_CHARS, MAX_MESSAGE_CHARS, ReplyText, build_reply, open_reply
from storage.community import CommunityStore

log = logging.getLogger("mutualaid.replies")
routes = web.RouteTableDef()
DIRECT_WAIT_S = 5.0
"""How long a member waits for the direct push before hearing ``network``."""
MAX_IN_FLIGHT = 32
"""Direct pushes running at once; past it, a reply goes by gossip only."""
PUSH_TIMEOUT_S = 20.0
MAX_REPLIES_PER_POST = MAX_REPLIES_PER_SENDER
"""Live replies this node sends about one post (all its versions that this
node knows): a flood through one node stops here instead of filling every
node's store; other nodes keep no more than this from one node either."""


class Delivery:
    """Background pushes of replies straight to their recipient node; owns its tasks."""

    def __init__(self, identity: NodeIdentity) -> None:
        self._identity = identity
        self._session: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task[bool]] = set()

    async def start(self) -> None:
        self._session = aiohttp.ClientSession()

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._session is not None:
            await self._session.close()

    def push(self, reply: Record, key: bytes, urls: list[str]) -> asyncio.Task[bool] | None:
        """Start pushing ``reply`` to the node holding ``key`` at ``urls``; None if busy."""
        if self._session is None or len(self._tasks) >= MAX_IN_FLIGHT or not urls:
            return None
        task = asyncio.create_task(self._push(reply, key, urls), name=f"reply push {reply.id.hex()[:16]}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _push(self, reply: Record, key: bytes, urls: list[str]) -> bool:
        assert self._session is not None
        for url in urls:
            client = PeerClient(self._session, self._identity, url, pinned_key=key)
            try:
                async with asyncio.timeout(PUSH_TIMEOUT_S):
                    outcomes = await client.push([reply.raw])
            except Exception as exc:  # any failure: gossip still carries the reply
                # The error names the URL and the failure's class, never the reply.
                log.warning("direct reply push id=%s to %s failed: %s", reply.id.hex(), url, exc.__class__.__name__)
                continue
            if outcomes and outcomes[0] in ("accepted", "duplicate"):
                log.info("reply id=%s delivered directly to %s", reply.id.hex(), url)
                return True
            log.warning("direct reply push id=%s to %s: %s", reply.id.hex(), url, (outcomes or ["none"])[0][:60])
        return False


COMMUNITY_DATABASE = web.AppKey("community_database", str)
DELIVERY = web.AppKey("delivery", Delivery)


async def community_ctx(app: web.Application) -> AsyncIterator[None]:
    """Opens after the record store (which creates the schema), closes before it."""
    app[COMMUNITY] = await CommunityStore.open(app[COMMUNITY_DATABASE])
    app[INGEST].own_key = app[IDENTITY].public_key
    app[DELIVERY] = Delivery(app[IDENTITY])
    await app[DELIVERY].start()
    try:
        yield
    finally:
        await app[DELIVERY].stop()
        await app[COMMUNITY].close()


async def _recipient(request: web.Request, post: Record, moment: int) -> tuple[bytes, list[str]]:
    """The post's author node's sealing key and URLs, from its signed profile."""
    identity = request.app[IDENTITY]
    if post.author == identity.public_key:
        return identity.seal_public_key, []
    profile = await request.app[STORE].reads.get_by_address(post.author, "node", NODE_PROFILE_SLOT, moment)
    if profile is None:
        raise ApiError(
            Code.NO_PROFILE, "this node does not hold the poster's node profile yet, so it cannot seal; try later"
        )
    # The same rule as peer exchange: a profile is anyone's signed claim, so its
    # URLs must not aim this node's requests at loopback (unless this node
    # itself listens there, as nodes sharing one machine do) or private addresses.
    # Only addresses written as IP literals: a host name could resolve to
    # anything, and this is a request any profile's author can make us send
    # (a node known by name still gets its replies, through the network).
    loopback = is_loopback_host(request.app[CONFIG].listen_host)
    urls = [str(url) for url in profile.get("urls", [])]
    return bytes(profile.get("seal_key")), [
        u for u in urls if usable_url(u, allow_loopback=loopback, allow_private=False) and _ip_literal(u)
    ]


def _ip_literal(url: str) -> bool:
    try:
        ipaddress.ip_address(urllib.parse.urlsplit(url).hostname or "")
    except ValueError:
        return False
    return True


MAX_REPLIES_PER_CLIENT = 10
"""Replies one client address may send to one post (beside the node's cap of
MAX_REPLIES_PER_POST), remembered for the ``MAX_QUOTA_KEYS`` most recent
(client, post) pairs. Everyone behind one address (a household's router, a
shared computer, a library) shares it: ten lets a household or a busy shared
computer answer one post several times, while one address still cannot use up
the post's replies through this node (that takes five). Loopback clients
(the CLI, a reverse proxy on the machine) are not counted, as for the write limit."""
MAX_QUOTA_KEYS = 10_000


class ReplyQuota:
    """How many replies each client sent to each post: bounded, least
    recently used forgotten (a restart forgets too; the node cap remains)."""

    def __init__(self, limit: int = MAX_REPLIES_PER_CLIENT, max_keys: int = MAX_QUOTA_KEYS) -> None:
        self.limit = limit
        self.max_keys = max_keys
        self._sent: BoundedTable[tuple[object, ...], int] = BoundedTable(max_keys)

    def allows(self, key: tuple[object, ...]) -> bool:
        """Whether this client may send one more reply to this post (checked
        before any sealing or signing work)."""
        return (self._sent.get(key) or 0) < self.limit

    def count(self, key: tuple[object, ...]) -> None:
        """One more reply stored for this client and post."""
        self._sent.put(key, (self._sent.get(key) or 0) + 1)

    def take(self, key: tuple[object, ...]) -> bool:
        """``allows`` and ``count`` in one step (True if it was allowed)."""
        allowed = self.allows(key)
        if allowed:
            self.count(key)
        return allowed


REPLY_QUOTA = web.AppKey("reply_quota", ReplyQuota)
REPLY_LOCK = web.AppKey("reply_lock", asyncio.Lock)
"""Held while a reply is counted against the caps and stored, so two replies
sent at once cannot both pass the last place (replies are rare: one lock)."""


REPLY_BODY = Body(
    [
        from_table(Text(MAX_MESSAGE_CHARS, multiline=True), "message", required=True, description="the reply"),
        BodyField(
            "contact",
            {"anyOf": [{"type": "string", "maxLength": 0}, Text(MAX_CONTACT_CHARS, multiline=True).json_schema()]},
            lambda value: Text(MAX_CONTACT_CHARS, multiline=True).check("contact", value) if value != "" else "",
            nullable=True,
            description="how the poster can reach you (only they read it); may be empty",
        ),
    ],
    Code.INVALID_REPLY,
)


@routes.post("/api/v1/records/{id}/replies")
async def send_reply(request: web.Request) -> web.Response:
    post = await post_or_404(request, "replies")
    values = await read_body(request, REPLY_BODY)
    if post.status in TOMBSTONE_STATUSES:
        raise ApiError(Code.CLOSED, f"this post is {post.status}; it takes no more replies")
    message, contact = values["message"], values.get("contact") or ""
    moment = now()
    client = request.app[WRITE_LIMITER].key(request.remote)
    quota_key = (client, *post.address)
    # The cheap refusals first: no sealing or signing for a reply that cannot be sent.
    if client is not None and not request.app[REPLY_QUOTA].allows(quota_key):
        raise _client_limit()
    await _check_post_cap(request, post, moment)
    seal_key, urls = await _recipient(request, post, moment)
    try:
        text = ReplyText(message, contact, moment)
        reply = build_reply(request.app[IDENTITY], post, seal_key, text, moment, slot=secrets.token_hex(8))
    except RecordInvalid as exc:
        raise ApiError(Code.INVALID_REPLY, str(exc), field=exc.field, reason=exc.reason) from None
    async with request.app[REPLY_LOCK]:  # checked again and stored as one step
        if client is not None and not request.app[REPLY_QUOTA].allows(quota_key):
            raise _client_limit()
        await _check_post_cap(request, post, moment)
        outcome = await request.app[STORE].writer.put(reply, moment)
        if outcome.status != "accepted":  # pragma: no cover - a fresh slot cannot collide
            raise ApiError(Code.NOT_STORED, f"the reply was not stored ({outcome.status})")
        if client is not None:
            request.app[REPLY_QUOTA].count(quota_key)
    request.app[METRICS].count("replies_sent_total")
    delivered = "direct"
    if post.author != request.app[IDENTITY].public_key:
        await request.app[FEED].publish([reply], None)
        delivered = "network"
        task = request.app[DELIVERY].push(reply, post.author, urls)
        if task is not None:
            # asyncio.wait never cancels what it waits for: a member who hangs up
            # does not stop the push, and a slow push just means "network".
            await asyncio.wait({task}, timeout=DIRECT_WAIT_S)
            if task.done() and not task.cancelled() and task.exception() is None and task.result():
                delivered = "direct"
    log.info("reply id=%s about=%s delivered=%s", reply.id.hex(), post.id.hex(), delivered)
    return web.json_response({"reply": {"id": reply.id.hex(), "delivered": delivered}}, status=202)


def _client_limit() -> ApiError:
    # One address must not use up the node's replies to a post and silence it.
    return ApiError(
        Code.CLIENT_REPLY_LIMIT,
        f"{MAX_REPLIES_PER_CLIENT} replies to this post were sent from your network address already, so this "
        "one was not sent; everyone sharing the connection (a household, a shared computer) shares that limit",
    )


async def _check_post_cap(request: web.Request, post: Record, moment: int) -> None:
    sent = await request.app[STORE].own.replies_from(request.app[IDENTITY].public_key, post.id, moment)
    if sent >= MAX_REPLIES_PER_POST:
        message = f"this post has had {MAX_REPLIES_PER_POST} replies through this node, as many as it takes"
        raise ApiError(Code.TOO_MANY_REPLIES, message)


def _open_all(identity: NodeIdentity, records: list[Record]) -> tuple[list[dict[str, str]], int]:
    """The replies as the poster reads them, and how many could not be opened.
    A sealed box seen before (the same bytes lifted into another reply) is
    shown once."""
    replies = []
    unreadable = 0
    boxes: set[bytes] = set()
    for record in records:
        box = bytes(record.get("sealed", b""))
        if box in boxes:
            continue
        boxes.add(box)
        try:
            text = open_reply(identity, record)
        except (SealError, ProtocolError):
            unreadable += 1
            continue
        replies.append(
            {"id": record.id.hex(), "message": text.message, "contact": text.contact, "sent_at": iso(text.sent_at)}
        )
    return replies, unreadable


@routes.get("/api/v1/records/{id}/replies")
async def read_replies(request: web.Request) -> web.Response:
    post = await authorised(request)
    identity = request.app[IDENTITY]
    records = await request.app[COMMUNITY].replies_about(identity.public_key, post, now())
    # Up to 500 key agreements and decryptions: off the event loop.
    replies, unreadable = await asyncio.to_thread(_open_all, identity, records)
    if unreadable:
        log.warning("%d replies about id=%s could not be opened", unreadable, post.id.hex())
    return private(web.json_response({"replies": replies}))
