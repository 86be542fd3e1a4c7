"""Keeping in touch with peers: one ``PeerLink`` task per configured peer.

A link says hello (pinning the peer's key), reconciles, then runs three
loops until one fails: *pull* holds a long poll on the peer's feed and
fetches the announced ids it lacks (so a node behind NAT, which nobody can
call, still hears of new records within about a second), *push* announces to
the peer every record our own feed gains that did not come from it and sends
those it lacks (unless the peer polls our feed itself), and *resync*
reconciles again now and then. On any failure the
link backs off exponentially (with jitter) and starts over with a hello and a
reconciliation, so a peer that comes back catches up. The peer's key is pinned
at the first hello and kept in the peer table: a different key behind the
same URL later is refused.

``Gossip`` owns the links: it starts them with the app and cancels and awaits
them on shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from dataclasses import dataclass

import aiohttp
from aiohttp import web

from node.peer_api import POLLERS
from node.peer_client import PeerClient, PeerUnavailable
from node.state import ADMIN, CONFIG, FEED, IDENTITY, INGEST, METRICS, POLICY, STORE
from node.sync import batches, node_filter, reconcile_with
from protocol.errors import RemoteProtocolError
from protocol.filters import SyncFilter
from protocol.records import accept_record

log = logging.getLogger("mutualaid.gossip")
FEED_WAIT_S = 20
RESYNC_INTERVAL_S = 300
MAX_BACKOFF_S = 60


class PeerRefused(PeerUnavailable):
    """Our own policy refuses this peer (blocked, not allowed, or banned)."""


@dataclass
class PeerStatus:
    url: str
    public_key: str | None
    state: str
    failures: int
    last_error: str | None
    last_sync: int | None


class PeerLink:
    def __init__(
        self, app: web.Application, session: aiohttp.ClientSession, url: str, pinned: bytes | None = None
    ) -> None:
        self.app = app
        metrics = app[METRICS]

        def traffic(sent: int, received: int) -> None:
            metrics.count("peer_bytes_out_total", sent)
            metrics.count("peer_bytes_in_total", received)

        self.client = PeerClient(session, app[IDENTITY], url, pinned, traffic)
        self._pin_saved = False
        self.state = "connecting"
        self.failures = 0
        self.last_error: str | None = None
        self.last_sync: int | None = None

    def status(self) -> PeerStatus:
        key = self.client.key.hex() if self.client.key else None
        return PeerStatus(self.client.url, key, self.state, self.failures, self.last_error, self.last_sync)

    async def run(self) -> None:
        while True:
            try:
                await self._connect_and_exchange()
            except (PeerUnavailable, RemoteProtocolError) as exc:
                self._failed(str(exc), "blocked" if isinstance(exc, PeerRefused) else "backoff")
            except Exception as exc:  # a fault of ours: keep the link alive, and say so loudly
                current = asyncio.current_task()
                if current is not None and current.cancelling():
                    raise asyncio.CancelledError from exc  # being stopped: never back off instead
                log.exception("peer %s: link failed", self.client.url)
                self._failed(f"internal error: {exc.__class__.__name__}")
            else:
                return  # the node is shutting down
            delay = min(MAX_BACKOFF_S, 0.5 * 2 ** min(self.failures, 10)) * random.uniform(0.5, 1.0)
            log.warning("peer %s: %s; retrying in %.1f s", self.client.url, self.last_error, delay)
            await asyncio.sleep(delay)

    def _failed(self, error: str, state: str = "backoff") -> None:
        self.failures += 1
        self.state = state
        self.last_error = error[:300]

    async def _connect_and_exchange(self) -> None:
        if self.client.key is not None and (refusal := self.app[POLICY].refusal(self.client.key)):
            raise PeerRefused(f"not connecting: {refusal}")
        self.state = "connecting"
        push_from = self.app[FEED].head - 1  # nothing accepted from here on is missed
        ours = node_filter(self.app)
        hello = await self.client.hello(ours)
        profile = accept_record(hello.profile, int(time.time()))
        if profile.kind != "node" or profile.author != self.client.key:
            raise RemoteProtocolError(f"{self.client.url} sent a profile that is not its own")
        if self.client.key is not None and not self._pin_saved:
            await self.app[ADMIN].pin_key(self.client.url, self.client.key)  # no-op if already pinned
            self._pin_saved = True
            log.info("peer %s pinned to key %s", self.client.url, self.client.key.hex())
        common = ours.intersect(hello.filter)
        self.state = "syncing"
        await self._sync(common)
        self.state = "connected"
        self.failures = 0
        loops = [
            asyncio.create_task(self._pull(hello.feed_cursor, common), name=f"pull {self.client.url}"),
            asyncio.create_task(self._push(push_from, common), name=f"push {self.client.url}"),
            asyncio.create_task(self._resync(common), name=f"resync {self.client.url}"),
        ]
        try:
            done, _ = await asyncio.wait(loops, return_when=asyncio.FIRST_EXCEPTION)
            for task in done:
                task.result()  # raises the failure that ended the exchange
        finally:
            for task in loops:
                task.cancel()
            # gather, not await-each: a loop's own error or cancellation is
            # collected here, while a cancellation of this task still propagates.
            await asyncio.gather(*loops, return_exceptions=True)

    async def _sync(self, common: SyncFilter) -> None:
        await reconcile_with(self.app, self.client, common)
        self.last_sync = int(time.time())

    async def _pull(self, cursor: int, common: SyncFilter) -> None:
        assert self.client.key is not None
        while True:
            ids, cursor, behind = await self.client.feed(cursor, FEED_WAIT_S)
            if refusal := self.app[POLICY].refusal(self.client.key):
                raise PeerRefused(f"stopped: {refusal}")  # blocked or banned meanwhile
            if ids:
                held = await self.app[STORE].held_ids(ids)
                missing = [i for i in ids if i not in held]
                if missing:  # we chose to fetch these: no push rate limit (invalid ones still cost)
                    records = await self.client.fetch(missing)
                    await self.app[INGEST].ingest(records, self.client.key, solicited=True)
            if behind:
                await self._sync(common)

    async def _push(self, cursor: int, common: SyncFilter) -> None:
        """Ends (without error) only when the feed closes, i.e. at shutdown."""
        feed = self.app[FEED]
        assert self.client.key is not None
        while not feed.closed:  # closed: the node is shutting down
            await feed.wait(cursor, FEED_WAIT_S)
            entries, cursor, behind = feed.since(cursor, self.client.key, 500)
            if behind:
                await self._sync(common)
            if not entries or self.app[POLLERS].polling(self.client.key):
                continue  # its long poll on our feed tells it of these already
            wanted = set(await self.client.announce([entry.id for entry in entries]))
            raws = [e.raw for e in entries if e.id in wanted and common.admits(e.kind, e.area)]
            for batch in batches(raws):
                await self.client.push(batch)

    async def _resync(self, common: SyncFilter) -> None:
        while True:
            await asyncio.sleep(RESYNC_INTERVAL_S * random.uniform(0.8, 1.2))
            await self._sync(common)


class Gossip:
    """The set of peer links; owned by the app's cleanup context."""

    def __init__(self, app: web.Application) -> None:
        self.app = app
        self.links: dict[str, PeerLink] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        self._session = aiohttp.ClientSession()
        admin = self.app[ADMIN]
        now = int(time.time())
        for url in self.app[CONFIG].peers:
            await admin.add_peer(url.rstrip("/"), now, "config")
        for entry in await admin.peers():
            self._start_link(entry.url, entry.public_key)

    def _start_link(self, url: str, pinned: bytes | None) -> None:
        assert self._session is not None
        link = PeerLink(self.app, self._session, url, pinned)
        self.links[url] = link
        self._tasks[url] = asyncio.create_task(link.run(), name=f"peer {url}")

    async def add(self, url: str) -> None:
        if url not in self.links:
            self._start_link(url, None)

    async def remove(self, url: str) -> bool:
        task = self._tasks.pop(url, None)
        self.links.pop(url, None)
        if task is None:
            return False
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        return True

    async def stop(self) -> None:
        for url in list(self._tasks):
            await self.remove(url)
        if self._session is not None:
            await self._session.close()

    def connected(self) -> int:
        return sum(1 for link in self.links.values() if link.state == "connected")

    def statuses(self) -> list[PeerStatus]:
        return [link.status() for link in self.links.values()]
