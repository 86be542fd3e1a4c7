"""Calling another node's peer API: signed requests, verified responses.

The peer's key is learnt from its first signed response and pinned; from
then on a response signed by any other key is refused (``PeerAuthError``),
so a discovery hint or a changed DNS entry cannot swap the node behind a URL.
The one exception is the hello, which reports the key that answered and the
key rotations the peer says lead to it: the link accepts the new key only if
those rotations pass the ingest (signed by the recovery key pinned for the old).
Transport failures become ``PeerUnavailable``; everything else a peer can get
wrong is a ``RemoteProtocolError`` from the core.

Requests are stamped in the peer's clock: ``offset`` (its clock minus ours)
is re-learnt from the signed time of every response, and from a signed 401
saying our request was outside its window, after which the request is signed
again once, in the peer's frame. Only a time signed by the pinned key counts
(before a key is pinned, by the key that answered: at worst a wrong frame
until the real peer's next signed refusal), and only within
``MAX_PEER_OFFSET_S``; ``on_clock`` hears only times of 200 responses signed
by the pinned key (the node's network time, node.core.clock).
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass

import aiohttp

from crypto import NodeIdentity
from node.core.clock import MAX_PEER_OFFSET_S, SYSTEM_CLOCK
from node.peering import spanning
from protocol import peerwire
from protocol.codec import Value, encode
from protocol.errors import DecodeError
from protocol.filters import SyncFilter

MAX_RESPONSE_BYTES = 16 * 1024 * 1024
PUSH_BACKOFF_S = 1.0
CONNECT_TIMEOUT_S = 5.0
"""A connection not made by then is not coming: a SYN lost to a partition is
otherwise retried by TCP for the request's whole time (up to 50 s for a feed
poll), and the link would not try again after the partition heals until then."""


async def _read_bounded(response: aiohttp.ClientResponse, url: str) -> bytes:
    """The whole body, refused as soon as it passes MAX_RESPONSE_BYTES: a peer
    chooses what it sends, so it is bounded before it is all in memory."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > MAX_RESPONSE_BYTES:
            raise PeerUnavailable(f"{url} sent a response over {MAX_RESPONSE_BYTES} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _error_code(payload: bytes) -> str:
    """The error code of a JSON error body; never the peer's free text."""
    try:
        code = json.loads(payload)["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return ""
    return f" ({code[:40]})" if isinstance(code, str) and code.isascii() and code.isprintable() else ""


def _untrusted(error: Exception) -> str:
    """Why a peer's TLS certificate was refused, in words an operator can act on."""
    reason = str(getattr(error, "verify_message", None) or error)
    unknown_ca = "issuer" in reason or "self-signed" in reason or "self signed" in reason
    hint = "; a private CA's certificate needs that CA in the node's SSL_CERT_FILE" if unknown_ca else ""
    return f"its TLS certificate is not trusted here ({reason}){hint}"


class PeerUnavailable(Exception):
    """The peer could not be reached or answered with an HTTP error."""


class PeerUnreachable(PeerUnavailable):
    """No answer at all: refused, unreachable, reset or timed out (not an HTTP
    error, nor a TLS certificate refused): the network, or a peer that is down."""


@dataclass(frozen=True)
class Hello:
    profile: bytes
    filter: SyncFilter
    feed_cursor: int
    key: bytes
    """The key that signed the answer (another than the pinned one only after a key rotation)."""
    rotations: list[bytes]
    """The key rotations the peer says lead to ``key`` (raw records, to be checked)."""
    lazy_links: bool = False
    """Whether its feed takes ``eager`` (decisions.copies_in_a_row): nodes before it do not."""


@dataclass(frozen=True)
class FeedPage:
    """A feed answer: ids accepted after the position asked, the new position,
    whether the caller fell behind, and those of the records the peer sent
    whole (decisions.whole_records)."""

    ids: list[bytes]
    cursor: int
    behind: bool
    records: list[bytes]


class PeerClient:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        identity: NodeIdentity,
        url: str,
        pinned_key: bytes | None = None,
        on_traffic: Callable[[int, int], None] | None = None,
        on_clock: Callable[[bytes, int], None] | None = None,
    ) -> None:
        self._on_traffic = on_traffic  # (bytes sent, bytes received), for metrics
        self._on_clock = on_clock  # (pinned key, its clock minus ours), from each signed response
        self.offset = 0
        """The peer's clock minus ours, in seconds: our requests are stamped in its frame."""
        self._session = session
        self._identity = identity
        self.url = url.rstrip("/")
        parts = urllib.parse.urlsplit(self.url)
        self._destination = parts.netloc.lower()
        self.key = pinned_key
        self._push_not_before = 0.0
        self.tree: spanning.Spanning | None = None
        """Where adverts of the spanning tree go and come from (node/peering/spanning.py)."""
        self.tree_peer = False
        """Whether the peer's hello carried an advert: its feed then takes ``tree``."""

    async def call(self, method: str, path: str, body: Value | None = None, *, seconds: float = 30) -> Value:
        value, _ = await self._call(method, path, body, seconds=seconds)
        return value

    async def _call(
        self, method: str, path: str, body: Value | None = None, *, seconds: float = 30, any_key: bool = False
    ) -> tuple[Value, bytes]:
        """The decoded answer and the key that signed it: the pinned key, or
        (``any_key``) whichever key answered, for the caller to judge."""
        data = b"" if body is None else encode(body)
        for attempt in (1, 2):
            signature, status, auth, payload = await self._send(method, path, data, body is not None, seconds)
            if status == 200:
                break
            # A signed refusal of our time: the peer's clock, and one more try in its frame.
            retry = attempt == 1 and status == 401 and auth is not None
            if not retry or auth is None or not self._refusal_time(auth, signature, payload, any_key):
                raise PeerUnavailable(f"{self.url} answered HTTP {status}{_error_code(payload)}")
        if auth is None:
            raise peerwire.PeerAuthError("peer responses must be signed (X-Mutualaid-Key, -Time and -Signature)")
        # Pinned on first contact, and only once the response proves the key.
        peerwire.check_response(auth.key if any_key else (self.key or auth.key), signature, auth, payload)
        if self.key is None:
            self.key = auth.key
        if self._take_time(auth) and auth.key == self.key and self._on_clock is not None:
            self._on_clock(auth.key, self.offset)
        value = peerwire.decode_body(payload)
        if self.tree is not None and isinstance(value, dict) and "tree" in value:
            self.tree.learn(auth.key, spanning.from_wire(value["tree"], auth.key), SYSTEM_CLOCK.monotonic())
        return value, auth.key

    def _advert(self) -> Value:
        assert self.tree is not None
        return self.tree.advert_for(self.key).to_wire()

    async def _send(
        self, method: str, path: str, data: bytes, has_body: bool, seconds: float
    ) -> tuple[bytes, int, peerwire.SignedHeaders | None, bytes]:
        """One signed request: (its signature, the status, the response's signed headers if any, the body)."""
        stamp = int(time.time()) + self.offset
        nonce = secrets.token_bytes(peerwire.NONCE_SIZE)
        message = peerwire.request_message(method, path, self._destination, stamp, nonce, data)
        signature = self._identity.sign_message(message)
        headers = peerwire.SignedHeaders(self._identity.public_key, stamp, signature, nonce).as_dict()
        if has_body:
            headers["Content-Type"] = "application/msgpack"
        try:
            async with self._session.request(
                method, self.url + path, data=data or None, headers=headers,
                timeout=aiohttp.ClientTimeout(total=seconds, sock_connect=CONNECT_TIMEOUT_S), allow_redirects=False,
            ) as response:  # fmt: skip
                payload = await _read_bounded(response, self.url)
                status = response.status
                try:
                    auth: peerwire.SignedHeaders | None = peerwire.parse_headers(response.headers, request=False)
                except peerwire.PeerAuthError:
                    if status == 200:
                        raise
                    auth = None  # an unsigned refusal: it says nothing of the peer's clock
        except aiohttp.ClientConnectorCertificateError as exc:
            raise PeerUnavailable(f"{self.url}: {_untrusted(exc.certificate_error)}") from None
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise PeerUnreachable(f"{self.url}: {exc.__class__.__name__}: {exc}") from None
        if self._on_traffic is not None:
            self._on_traffic(len(data), len(payload))
        return signature, status, auth, payload

    def _refusal_time(self, auth: peerwire.SignedHeaders, signature: bytes, payload: bytes, any_key: bool) -> bool:
        """Whether a refusal is signed by the pinned key (or, none pinned yet, by
        the key that answered) and its time was taken: then the retry is signed
        in the peer's frame. Any other refusal says nothing of its clock."""
        try:
            peerwire.check_response(auth.key if any_key else (self.key or auth.key), signature, auth, payload)
        except peerwire.PeerAuthError:
            return False
        return self._take_time(auth)

    def _take_time(self, auth: peerwire.SignedHeaders) -> bool:
        """The peer's clock from a verified response's time, unless past MAX_PEER_OFFSET_S."""
        offset = auth.timestamp - int(time.time())  # stamped as it answered: the latency is the error
        if abs(offset) > MAX_PEER_OFFSET_S:
            return False
        self.offset = offset
        return True

    async def hello(self, sync_filter: SyncFilter, seconds: float = 30) -> Hello:
        body: dict[str, Value] = {"filter": peerwire.filter_to_wire(sync_filter)}
        if self.tree is not None:
            body["tree"] = self._advert()  # a node before the tree ignores it
        reply, key = await self._call("POST", "/peer/v1/hello", body, seconds=seconds, any_key=True)
        if not isinstance(reply, dict) or not isinstance(reply.get("profile"), bytes):
            raise DecodeError("hello reply is the map {profile, filter, feed}")
        cursor = reply.get("feed")
        if not isinstance(cursor, int):
            raise DecodeError("hello reply: feed must be an integer")
        rotations = peerwire.byte_list(reply.get("rotations", []), "rotations")
        sync_filter = peerwire.filter_from_wire(reply.get("filter"))
        lazy = reply.get("lazy_links") is True
        self.tree_peer = "tree" in reply
        return Hello(reply["profile"], sync_filter, cursor, key, rotations, lazy)  # type: ignore[arg-type]

    async def push(self, raws: list[bytes]) -> list[str]:
        """Send records unasked; one outcome each. After a reply saying some
        were over the peer's rate, the next push waits PUSH_BACKOFF_S: the
        peer counts a push that does not wait against our score."""
        wait = self._push_not_before - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        reply = await self.call("POST", "/peer/v1/records", list(raws))
        outcomes = reply.get("outcomes") if isinstance(reply, dict) else None
        if not isinstance(outcomes, list):
            raise DecodeError("push reply is the map {outcomes}")
        result = [str(o) for o in outcomes]
        if "rejected:rate_limited" in result:
            self._push_not_before = time.monotonic() + PUSH_BACKOFF_S
        return result

    async def fetch(self, ids: list[bytes]) -> list[bytes]:
        reply = await self.call("POST", "/peer/v1/fetch", list(ids))
        return peerwire.byte_list(reply.get("records") if isinstance(reply, dict) else None, "records")

    async def reconcile(self, sync_filter: SyncFilter, message: bytes) -> bytes:
        body: dict[str, Value] = {"filter": peerwire.filter_to_wire(sync_filter), "message": message}
        if self.tree is not None and self.tree_peer:
            body["tree"] = self._advert()
        reply = await self.call("POST", "/peer/v1/reconcile", body)
        if not isinstance(reply, dict) or not isinstance(reply.get("message"), bytes):
            raise DecodeError("reconcile reply is the map {message}")
        return reply["message"]  # type: ignore[return-value]

    async def feed(self, after: int, wait: float, eager: bool | None = None) -> FeedPage:
        """What the peer accepted after ``after``: with every record whole if
        ``eager``, none if not, those near their origin if None (a peer before
        eager and lazy links)."""
        mode = "" if eager is None else f"&eager={int(eager)}"
        if self.tree is not None and self.tree_peer:
            assert self.key is not None
            mode += f"&tree={self.tree.advert_for(self.key).to_query()}"
        reply = await self.call("GET", f"/peer/v1/feed?after={after}&wait={wait:g}{mode}", seconds=wait + 30)
        if not isinstance(reply, dict) or not isinstance(reply.get("cursor"), int):
            raise DecodeError("feed reply is the map {ids, cursor, behind, records}")
        ids = peerwire.byte_list(reply.get("ids"), "ids", 32)
        records = peerwire.byte_list(reply.get("records", []), "records")  # absent from nodes before it
        return FeedPage(ids, reply["cursor"], bool(reply.get("behind")), records)  # type: ignore[arg-type]

    async def announce(self, ids: list[bytes]) -> list[bytes]:
        """Offer ids; the peer answers with those it lacks."""
        reply = await self.call("POST", "/peer/v1/announce", list(ids))
        return peerwire.byte_list(reply.get("wanted") if isinstance(reply, dict) else None, "wanted", 32)
