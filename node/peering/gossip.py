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
from typing import TYPE_CHECKING

import aiohttp
from aiohttp import web

from node.core.state import ADMIN, CONFIG, IDENTITY, METRICS, STORE
from node.peering.peer_api import POLLERS
from node.peering.peer_client import PeerClient, PeerUnavailable
from node.peering.peers import Candidates, usable_url
from node.peering.state import FEED, GOSSIP, INGEST, POLICY
from node.peering.sync import batches, node_filter, reconcile_with
from protocol.errors import RemoteProtocolError
from protocol.filters import SyncFilter
from protocol.peerwire import PeerAuthError
from protocol.records import Record, accept_record, parse_record
from storage import Query
from storage.admin import PeerEntry

if TYPE_CHECKING:
    from node.peering.discovery import Discovery

log = logging.getLogger("mutualaid.gossip")
FEED_WAIT_S = 20
RESYNC_INTERVAL_S = 300
MAX_BACKOFF_S = 60
MAINTAIN_INTERVAL_S = 2.0
MAX_DIALING = 4
"""Found peers being connected to at once: a LAN full of announcements
cannot make the node dial them all together."""
EXCHANGE_INTERVAL_S = 300
MAX_PROFILES_READ = 2000
MIN_RESYNC_GAP_S = 30.0
"""A peer's feed can ask for a reconciliation (it fell behind, or announced
more than its budget) at most this often."""


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
    source: str


FOUND_SOURCES = frozenset({"anchor", "mdns", "exchange"})
FOUND_HELLO_TIMEOUT_S = 5
"""A found peer that does not answer its hello by then is not worth a slot."""
FOUND_GIVE_UP_AFTER = 3
"""Failures in a row after which a found peer's link ends, freeing its slot
(a killed node's mDNS record stays cached for an hour: liveness is ours to judge)."""


class PeerLink:
    def __init__(
        self,
        app: web.Application,
        session: aiohttp.ClientSession,
        url: str,
        pinned: bytes | None = None,
        source: str = "config",
    ) -> None:
        self.app = app
        self.source = source
        self.found = source in FOUND_SOURCES
        self.connected_at: float | None = None
        self._wake = asyncio.Event()
        self._hello_done = False
        self._last_resync = 0.0
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
        status = self.state, self.failures, self.last_error, self.last_sync
        return PeerStatus(self.client.url, key, *status, self.source)

    def wake(self) -> None:
        """Retry now instead of at the end of the backoff (the peer is back)."""
        self._wake.set()

    async def run(self) -> None:
        """Until the node stops; a found peer's link also ends when the peer
        proves to hold another key than advertised, or stops answering."""
        while True:
            try:
                await self._connect_and_exchange()
            except PeerAuthError as exc:
                if self.found and not self._hello_done:  # the key it was announced with is not its key
                    self.state = "refused"
                    self.last_error = str(exc)[:300]
                    log.warning(
                        "peer %s: refused: it did not prove the key it was advertised with (%s): %s",
                        self.client.url, self.client.key.hex() if self.client.key else "?", exc,
                    )  # fmt: skip
                    return
                self._failed(str(exc))
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
            finally:
                self._disconnected()
            if self.found and self.failures >= FOUND_GIVE_UP_AFTER:
                log.info("peer %s: gone (%s); its slot goes to another", self.client.url, self.last_error)
                return
            delay = min(MAX_BACKOFF_S, 0.5 * 2 ** min(self.failures, 10)) * random.uniform(0.5, 1.0)
            log.warning("peer %s: %s; retrying in %.1f s", self.client.url, self.last_error, delay)
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):  # not wait_for: see RecordFeed.wait
                    await self._wake.wait()

    def _disconnected(self) -> None:
        if self.connected_at is not None:
            seconds = time.monotonic() - self.connected_at
            self.connected_at = None
            on_end = self.app[GOSSIP].link_ended if GOSSIP in self.app else None
            if on_end is not None:
                on_end(self, seconds)

    def _failed(self, error: str, state: str = "backoff") -> None:
        self.failures += 1
        self.state = state
        self.last_error = error[:300]

    async def _connect_and_exchange(self) -> None:
        if self.client.key is not None and (refusal := self.app[POLICY].refusal(self.client.key)):
            raise PeerRefused(f"not connecting: {refusal}")
        self.state = "connecting"
        self._hello_done = False
        push_from = self.app[FEED].head - 1  # nothing accepted from here on is missed
        ours = node_filter(self.app)
        hello = await self.client.hello(ours, FOUND_HELLO_TIMEOUT_S if self.found else 30)
        self._hello_done = True
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
        self.connected_at = time.monotonic()
        await self.app[GOSSIP].link_connected(self)
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
            skipped = False
            if ids:
                held = await self.app[STORE].reads.held_ids(ids)
                missing = [i for i in ids if i not in held]
                # Announced records come out of the peer's push budget: a peer
                # we dial cannot make us fetch and verify without limit.
                allowed = self.app[POLICY].fetch_budget(self.client.key, len(missing))
                skipped = allowed < len(missing)
                if allowed:
                    records = await self.client.fetch(missing[:allowed])
                    await self.app[INGEST].ingest(records, self.client.key, solicited=True)
            if (behind or skipped) and time.monotonic() - self._last_resync > MIN_RESYNC_GAP_S:
                self._last_resync = time.monotonic()  # what was left out comes with the reconciliation
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
    """The set of peer links, owned by the app's cleanup context.

    Configured peers (settings, ``--peer``, the operator API) are linked for
    as long as they are listed. Found peers (mDNS answers, node profiles
    relayed by peers, anchors from the peer table) fill up to ``max_peers``
    further links, chosen by node/peering/peers.py; a found link that ends (its peer
    stopped answering, or proved another key) frees its slot for the next.
    """

    def __init__(self, app: web.Application) -> None:
        self.app = app
        self.links: dict[str, PeerLink] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._session: aiohttp.ClientSession | None = None
        self.candidates = Candidates()
        self._own_urls: set[str] = set()
        self._changed = asyncio.Event()
        self._loops: list[asyncio.Task[None]] = []
        self._writes: set[asyncio.Task[None]] = set()
        self.discovery: Discovery | None = None  # started by start_discovery when mDNS is on

    async def start(self) -> None:
        self._session = aiohttp.ClientSession()
        admin, config = self.app[ADMIN], self.app[CONFIG]
        now = int(time.time())
        for url in config.peers:
            await admin.add_peer(url.rstrip("/"), now, "config")
        found: list[PeerEntry] = []
        enabled = {"mdns"} if config.mdns else set()
        if config.peer_exchange:
            enabled.add("exchange")
        for entry in await admin.peers():
            if entry.source not in FOUND_SOURCES:
                self._start_link(entry.url, entry.public_key, entry.source)
            elif entry.source in enabled:  # with discovery off, remembered finds stay unused
                found.append(entry)
        self._seed_anchors(found)
        self._loops.append(asyncio.create_task(self._maintain(), name="found peers"))
        if config.peer_exchange:
            self._loops.append(asyncio.create_task(self._exchange(), name="peer exchange"))

    def _seed_anchors(self, found: list[PeerEntry]) -> None:
        """Found peers from earlier runs become candidates; the longest
        connected (up to ``anchors``) are linked at once, before any
        discovery answer can fill the slots."""
        anchors = self.app[CONFIG].anchors
        found.sort(key=lambda e: (e.last_connected is None, -e.connected_s))
        now = time.monotonic()
        for rank, entry in enumerate(found):
            if entry.public_key is None or entry.public_key == self.app[IDENTITY].public_key:
                continue
            is_anchor = rank < anchors and entry.last_connected is not None
            source = "anchor" if is_anchor else entry.source
            candidate = self.candidates.hear(entry.public_key, [entry.url], source, now)
            if candidate is None:
                continue
            candidate.connected_s = entry.connected_s
            self.candidates.proved(entry.public_key, entry.url)  # it answered there before
            if is_anchor:
                self._start_link(entry.url, entry.public_key, "anchor")

    async def start_discovery(self, port: int, addresses: list[str], interfaces: tuple[str, ...]) -> None:
        """Advertise and browse on the LAN (once the listening port is known)."""
        from node.peering.discovery import Discovery  # noqa: PLC0415 - zeroconf costs ~4 MB: only loaded when used

        self.discovery = Discovery(self.app[IDENTITY].public_key, port, addresses, interfaces, self.found)
        await self.discovery.start()

    def set_own_urls(self, urls: list[str]) -> None:
        self._own_urls = set(urls)

    def found(self, key: bytes, urls: list[str], source: str = "mdns") -> None:
        """A hint that ``key`` answers at ``urls``; proved or refused by the link."""
        if key == self.app[IDENTITY].public_key:
            return
        loopback = self._listens_on_loopback()
        urls = [u.rstrip("/") for u in urls]
        urls = [u for u in urls if usable_url(u, allow_loopback=loopback, allow_private=source == "mdns")]
        urls = [u for u in urls if u not in self._own_urls]
        if not urls:
            return
        busy = {link.client.key for link in self.links.values() if link.client.key is not None}
        candidate = self.candidates.hear(key, urls, source, time.monotonic(), busy=busy)
        if candidate is None:
            return
        if source == "mdns" and candidate.connected_s > 0:
            candidate.rest_until = 0.0  # a peer we were connected to, announced again: it may be back
            self._wake_link(key)
        self._changed.set()

    def heard_from(self, key: bytes) -> None:
        """A peer called us (a signed hello): it is alive, so a link of ours
        to it that is backing off retries now."""
        candidate = self.candidates.get(key)
        if candidate is not None:
            candidate.rest_until = 0.0
            self._changed.set()
        self._wake_link(key)

    def _wake_link(self, key: bytes) -> None:
        for link in self.links.values():
            if link.client.key == key and link.state in ("backoff", "connecting"):
                link.wake()

    def _listens_on_loopback(self) -> bool:
        host = self.app[CONFIG].listen_host
        return host in ("127.0.0.1", "::1", "localhost")

    def _start_link(self, url: str, pinned: bytes | None, source: str = "config") -> None:
        assert self._session is not None
        link = PeerLink(self.app, self._session, url, pinned, source)
        self.links[url] = link
        task = asyncio.create_task(link.run(), name=f"peer {url}")
        self._tasks[url] = task
        if link.found:
            task.add_done_callback(lambda _: self._found_link_done(url, link))

    def _found_link_done(self, url: str, link: PeerLink) -> None:
        if self.links.get(url) is not link:
            return
        self.links.pop(url, None)
        self._tasks.pop(url, None)
        key = link.client.key
        if key is not None:
            if link.state == "refused":
                self.candidates.refused(key, url)
            else:
                self.candidates.failed(key, time.monotonic())
        self._changed.set()

    async def link_connected(self, link: PeerLink) -> None:
        if not link.found or link.client.key is None:
            return
        self.candidates.proved(link.client.key, link.client.url)
        await self.app[ADMIN].found_peer(link.client.url, link.client.key, link.source, int(time.time()))

    def link_ended(self, link: PeerLink, seconds: float) -> None:
        """A link that was connected for ``seconds`` is down: remember how long,
        for choosing anchors."""
        if not link.found or link.client.key is None:
            return
        candidate = self.candidates.get(link.client.key)
        if candidate is not None:
            candidate.connected_s += seconds
        write = asyncio.get_running_loop().create_task(
            self.app[ADMIN].add_connected_time(link.client.url, link.client.key, seconds)
        )
        self._writes.add(write)
        write.add_done_callback(self._writes.discard)

    async def _maintain(self) -> None:
        """Keep the found links at ``max_peers``, dialing a few at a time."""
        while True:
            self._changed.clear()
            try:
                self._fill_slots()
            except Exception:  # a fault of ours: say so, and keep maintaining
                log.exception("choosing found peers failed")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(MAINTAIN_INTERVAL_S):
                    await self._changed.wait()

    def _fill_slots(self) -> None:
        found = [link for link in self.links.values() if link.found]
        dialing = sum(1 for link in found if link.state == "connecting")
        slots = min(self.app[CONFIG].max_peers - len(found), MAX_DIALING - dialing)
        linked = {link.client.key: url for url, link in self.links.items() if link.client.key is not None}
        for candidate, url in self.candidates.choose(slots, linked, time.monotonic()):
            if url in self.links:  # that URL is linked already (configured, or under another key)
                candidate.failed(time.monotonic())
                continue
            self._start_link(url, candidate.key, candidate.source)

    async def _exchange(self) -> None:
        """Learn peers from node profiles: each one as it arrives, and all we
        hold at start and every few minutes."""
        feed = self.app[FEED]
        cursor = feed.head - 1
        next_full = 0.0
        while not feed.closed:
            try:
                if time.monotonic() >= next_full:
                    next_full = time.monotonic() + EXCHANGE_INTERVAL_S
                    await self._read_profiles()
                await feed.wait(cursor, EXCHANGE_INTERVAL_S)
                entries, cursor, _ = feed.since(cursor, b"", 500)  # from anyone
                for entry in entries:
                    if entry.kind == "node":
                        self._learn_from(parse_record(entry.raw, validate=False))
            except Exception:  # a fault of ours: say so, and keep exchanging
                log.exception("peer exchange failed")
                await asyncio.sleep(EXCHANGE_INTERVAL_S)

    def _learn_from(self, profile: Record) -> None:
        urls = profile.get("urls") or []
        if profile.expires_at > time.time() and isinstance(urls, list):
            self.found(profile.author, [str(u) for u in urls], "exchange")

    async def _read_profiles(self) -> None:
        now = int(time.time())
        cursor: str | None = None
        seen = 0
        while seen < MAX_PROFILES_READ:
            query = Query(kinds=("node",), statuses=("open",), limit=200, cursor=cursor)
            page = await self.app[STORE].reads.query(query, now)
            for record in page.records:
                self._learn_from(record)
            seen += len(page.records)
            if page.next is None:
                break
            cursor = page.next

    async def add(self, url: str) -> None:
        if url not in self.links:
            self._start_link(url, None, "admin")

    async def remove(self, url: str) -> bool:
        """End the link to ``url``; a found peer is forgotten too, until it
        is announced again (block its key to keep it away)."""
        task = self._tasks.pop(url, None)
        link = self.links.pop(url, None)
        if link is not None and link.found and link.client.key is not None:
            self.candidates.forget(link.client.key)
        if task is None:
            return False
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        return True

    async def stop(self) -> None:
        for task in self._loops:
            task.cancel()
        await asyncio.gather(*self._loops, return_exceptions=True)
        if self.discovery is not None:
            try:
                await self.discovery.stop()
            except Exception:  # the links below must still be stopped
                log.exception("stopping mDNS failed")
        for url in list(self._tasks):
            await self.remove(url)
        if self._writes:
            await asyncio.gather(*self._writes, return_exceptions=True)
        if self._session is not None:
            await self._session.close()

    def connected(self) -> int:
        return sum(1 for link in self.links.values() if link.state == "connected")

    def statuses(self) -> list[PeerStatus]:
        return [link.status() for link in self.links.values()]
