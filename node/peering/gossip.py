"""Gossip: the set of peer links, configured and found.

``Gossip`` owns the links (node/peering/peer_link.py, one task each): it
starts them with the app and cancels and awaits them on shutdown. It keeps
the found links (mDNS answers, node profiles relayed by peers, anchors from
the peer table) at ``max_peers``, a few dialed at a time, and learns peers
from the node profiles that reach the feed (peer exchange). Which peers to
dial is node/peering/peers.py's choice; how many, and which found URLs are
usable, node/peering/decisions.py's. The node's parts come in a
``PeeringParts``, the settings in the ``NodeConfig``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

import aiohttp

from node.core.clock import SYSTEM_CLOCK
from node.core.config import NodeConfig
from node.core.hosts import is_loopback_host
from node.peering import decisions
from node.peering.link import WAKEABLE, LinkState
from node.peering.parts import PeeringParts
from node.peering.peer_link import FOUND_SOURCES, PeerLink, PeerStatus
from node.peering.peers import Candidates
from protocol.records import Record, parse_record
from storage import Query
from storage.admin import PeerEntry

if TYPE_CHECKING:
    from node.peering.discovery import Discovery

log = logging.getLogger("mutualaid.gossip")
MAINTAIN_INTERVAL_S = 2.0
EXCHANGE_INTERVAL_S = 300
MAX_PROFILES_READ = 2000


class Gossip:
    """The set of peer links, owned by the app's cleanup context.

    Configured peers (settings, ``--peer``, the operator API) are linked for
    as long as they are listed. Found peers (mDNS answers, node profiles
    relayed by peers, anchors from the peer table) fill up to ``max_peers``
    further links, chosen by node/peering/peers.py; a found link that ends (its peer
    stopped answering, or proved another key) frees its slot for the next.
    """

    def __init__(self, config: NodeConfig, parts: PeeringParts) -> None:
        self.config = config
        self.parts = parts
        self.links: dict[str, PeerLink] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._session: aiohttp.ClientSession | None = None
        self.candidates = Candidates(rng=parts.rng)  # ties among candidates broken by the parts' Random
        self._own_urls: set[str] = set()
        self._changed = asyncio.Event()
        self._loops: list[asyncio.Task[None]] = []
        self._writes: set[asyncio.Task[None]] = set()
        self.discovery: Discovery | None = None  # started by start_discovery when mDNS is on
        parts.spanning.on_change = self._retree
        parts.spanning.set_settled_check(self._carries_records)

    async def start(self) -> None:
        self._session = aiohttp.ClientSession()
        admin, config = self.parts.admin, self.config
        now = self.parts.clock.wall()
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
        anchors = self.config.anchors
        found.sort(key=lambda e: (e.last_connected is None, -e.connected_s))
        now = self.parts.clock.monotonic()
        for rank, entry in enumerate(found):
            if entry.public_key is None or entry.public_key == self.parts.identity.public_key:
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

        self.discovery = Discovery(self.parts.identity.public_key, port, addresses, interfaces, self.found)
        await self.discovery.start()

    def set_own_urls(self, urls: list[str]) -> None:
        self._own_urls = set(urls)

    def found(self, key: bytes, urls: list[str], source: str = "mdns") -> None:
        """A hint that ``key`` answers at ``urls``; proved or refused by the link."""
        if key == self.parts.identity.public_key:
            return
        loopback = is_loopback_host(self.config.listen_host)
        urls = decisions.found_urls(urls, source, own=self._own_urls, listens_on_loopback=loopback)
        if not urls:
            return
        busy = {link.client.key for link in self.links.values() if link.client.key is not None}
        candidate = self.candidates.hear(key, urls, source, self.parts.clock.monotonic(), busy=busy)
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
            if link.client.key == key and link.state in WAKEABLE:
                link.wake()

    def _start_link(self, url: str, pinned: bytes | None, source: str = "config") -> None:
        assert self._session is not None
        link = PeerLink(
            self.parts, self._session, url, pinned, source, on_connected=self.link_connected, on_ended=self.link_ended
        )
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
            if link.state is LinkState.REFUSED:
                self.candidates.refused(key, url)
            else:
                self.candidates.failed(key, self.parts.clock.monotonic())
        self._changed.set()

    async def link_connected(self, link: PeerLink) -> None:
        if not link.found or link.client.key is None:
            return
        self.candidates.proved(link.client.key, link.client.url)
        await self.parts.admin.found_peer(link.client.url, link.client.key, link.source, self.parts.clock.wall())

    def _retree(self) -> None:
        """Our place in the spanning tree, or a neighbour's, changed: each link
        sees whether it is on the tree now (node/peering/spanning.py)."""
        for link in list(self.links.values()):
            link.retree()

    def _carries_records(self, parent: bytes) -> bool:
        """Whether records reach us over the link to ``parent``: ours to it is
        eager, or it holds a long poll on our feed (only eager links poll)."""
        if self.parts.pollers.polling(parent):
            return True
        return any(link.client.key == parent and link.connected_at is not None and link.eager
                   for link in self.links.values())  # fmt: skip

    def link_ended(self, link: PeerLink, seconds: float) -> None:
        """A link that was connected for ``seconds`` is down: the gossip tree
        may be cut here, so the lazy links reconcile soon; and for choosing
        anchors, remember how long it was up."""
        if link.client.key is not None:
            self.parts.spanning.forget(link.client.key)  # not a way to the root while down
        for other in self.links.values():
            if other is not link:
                other.hurry()
        if not link.found or link.client.key is None:
            return
        candidate = self.candidates.get(link.client.key)
        if candidate is not None:
            candidate.connected_s += seconds
        write = asyncio.get_running_loop().create_task(
            self.parts.admin.add_connected_time(link.client.url, link.client.key, seconds)
        )
        self._writes.add(write)
        write.add_done_callback(self._writes.discard)

    async def _maintain(self) -> None:
        """Keep the found links at ``max_peers``, dialing a few at a time."""
        while True:
            self._changed.clear()
            # Adverts of neighbours gone quiet; the clock both sides learn them by (peer_api, PeerClient).
            self.parts.spanning.expire(SYSTEM_CLOCK.monotonic())
            self._retree()  # and whether each end is settled now: no advert says when a parent link starts to carry
            try:
                self._fill_slots()
            except Exception:  # a fault of ours: say so, and keep maintaining
                log.exception("choosing found peers failed")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(MAINTAIN_INTERVAL_S):
                    await self._changed.wait()

    def _fill_slots(self) -> None:
        found = [link for link in self.links.values() if link.found]
        dialing = sum(1 for link in found if link.state is LinkState.CONNECTING)
        slots = decisions.dial_slots(self.config.max_peers, len(found), dialing)
        linked = {link.client.key: url for url, link in self.links.items() if link.client.key is not None}
        now = self.parts.clock.monotonic()
        for candidate, url in self.candidates.choose(slots, linked, now):
            if url in self.links:  # that URL is linked already (configured, or under another key)
                candidate.failed(now)
                continue
            self._start_link(url, candidate.key, candidate.source)

    async def _exchange(self) -> None:
        """Learn peers from node profiles: each one as it arrives, and all we
        hold at start and every few minutes."""
        feed, clock = self.parts.feed, self.parts.clock
        cursor = feed.head - 1
        next_full: float | None = None
        while not feed.closed:
            try:
                if next_full is None or clock.monotonic() >= next_full:
                    next_full = clock.monotonic() + EXCHANGE_INTERVAL_S
                    await self._read_profiles()
                await feed.wait(cursor, EXCHANGE_INTERVAL_S)
                entries, cursor, _ = feed.since(cursor, b"", 500)  # from anyone
                for entry in entries:
                    if entry.kind == "node":
                        self._learn_from(parse_record(entry.raw, validate=False), clock.wall())
            except Exception:  # a fault of ours: say so, and keep exchanging
                log.exception("peer exchange failed")
                await asyncio.sleep(EXCHANGE_INTERVAL_S)

    def _learn_from(self, profile: Record, now: int) -> None:
        urls = profile.get("urls") or []
        if profile.expires_at > now and isinstance(urls, list):
            self.found(profile.author, [str(u) for u in urls], "exchange")

    async def _read_profiles(self) -> None:
        now = self.parts.clock.wall()
        cursor: str | None = None
        seen = 0
        while seen < MAX_PROFILES_READ:
            query = Query(kinds=("node",), statuses=("open",), limit=200, cursor=cursor)
            page = await self.parts.store.reads.query(query, now)
            for record in page.records:
                self._learn_from(record, now)
            seen += len(page.records)
            if page.next is None:
                break
            cursor = page.next

    async def rekey(self, old: bytes, new: bytes) -> None:
        """A chapter's key rotation: links pinned to ``old`` expect ``new`` from
        now on (here and in the peer table), and retry at once."""
        for url, link in list(self.links.items()):  # a link may be added meanwhile
            if link.client.key == old:
                link.client.key = new
                await self.parts.admin.repin(url, new)
                log.info("peer %s now pinned to key %s (key rotation)", url, new.hex())
                link.wake()
        for entry in await self.parts.admin.peers():
            if entry.public_key == old:
                await self.parts.admin.repin(entry.url, new)
        self.candidates.forget(old)

    async def add(self, url: str, pinned: bytes | None = None, source: str = "admin") -> None:
        """Link to ``url`` (``pinned``: only a node holding this key may answer there)."""
        if url not in self.links:
            self._start_link(url, pinned, source)

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
        return sum(1 for link in self.links.values() if link.state is LinkState.CONNECTED)

    def statuses(self) -> list[PeerStatus]:
        return [link.status() for link in self.links.values()]
