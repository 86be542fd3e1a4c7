"""One link to one peer: the task that drives the state machine of
node/peering/link.py over HTTP.

A link says hello (pinning the peer's key), reconciles, then runs three
loops until one fails: *pull* holds a long poll on the peer's feed (so a node
behind NAT, which nobody can call, still hears of new records within about a
second), *push* sends the peer every record our own feed gains that did not
come from it (unless the peer polls our feed itself), and *resync* reconciles
again now and then. A link starts *eager*: records cross it whole both ways
as they arrive. When three batches in a row bring one end nothing new, the
link turns *lazy* (decisions.copies_in_a_row): neither loop sends anything
over it (a long poll already open runs out), and it reconciles every 3 to
30 s instead, until a reconciliation moves a record and it turns eager again
(decisions.grafts). The eager links settle into a
spanning tree, so a record crosses each link about once: the links of the tree
the nodes agree on (node/peering/spanning.py, rooted at the lowest key) are
eager and never pruned, the others turn lazy once both ends' parent links
carry records (``retree``). A peer from before
eager and lazy links (its hello does not say ``lazy_links``) is served as it
was: records near their origin whole, the others announced and fetched. On any failure the link backs off
exponentially (with jitter) and starts over with a hello and a
reconciliation, so a peer that comes back catches up. The peer's key is
pinned at the first hello and kept in the peer table: a different key behind
the same URL later is refused.

Every decision (how long to back off, whether to give up, when to reconcile
again, what to push) is a pure function of node/peering/decisions.py; the
node's parts come in a ``PeeringParts``, the time from its clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp

from node.peering import decisions
from node.peering.feed import FeedEntry
from node.peering.link import LinkEvent, LinkRecord, LinkState
from node.peering.parts import PeeringParts
from node.peering.peer_client import FeedPage, Hello, PeerClient, PeerUnavailable, PeerUnreachable
from node.peering.sync import SyncResult, batches, reconcile_with
from protocol.errors import RemoteProtocolError
from protocol.filters import SyncFilter
from protocol.peerwire import PeerAuthError
from protocol.records import accept_record
from protocol.rotation import MAX_ROTATIONS

log = logging.getLogger("mutualaid.gossip")
FEED_WAIT_S = 20
FOUND_SOURCES = frozenset({"anchor", "mdns", "exchange"})
HELLO_TIMEOUT_S = 30
FOUND_HELLO_TIMEOUT_S = 5
"""A found peer that does not answer its hello by then is not worth a slot."""
PUSH_BATCH = 500
PUSHES_AHEAD = 2
"""Pushes over an eager link in flight at once: records that come while one is
on its way leave in the next, not after its answer (a round trip and the
peer's commit later)."""


class PeerRefused(PeerUnavailable):
    """Our own policy refuses this peer (blocked, not allowed, or banned)."""


@dataclass
class PeerStatus:
    url: str
    public_key: str | None
    state: LinkState
    failures: int
    last_error: str | None
    last_sync: int | None
    source: str
    eager: bool


class PeerLink:
    def __init__(
        self,
        parts: PeeringParts,
        session: aiohttp.ClientSession,
        url: str,
        pinned: bytes | None = None,
        source: str = "config",
        *,
        on_connected: Callable[[PeerLink], Awaitable[None]] | None = None,
        on_ended: Callable[[PeerLink, float], None] | None = None,
    ) -> None:
        """``on_connected`` is awaited once the first reconciliation is done;
        ``on_ended`` is told how many seconds a connected link stayed up."""
        self.parts = parts
        self.source = source
        self.found = source in FOUND_SOURCES
        self.record = LinkRecord()
        self.connected_at: float | None = None
        self._on_connected = on_connected
        self._on_ended = on_ended
        self._wake = asyncio.Event()
        self._last_resync: float | None = None
        self._pin_saved = False
        self._unreachable = False  # the last failure: no answer at all (a shorter backoff)
        self._tree = False  # the peer takes eager and lazy links (its hello said so)
        self._eager = asyncio.Event()  # set: eager; clear: lazy (see decisions.copies_in_a_row)
        self._pruned = asyncio.Event()  # wakes the resync loop into the lazy interval
        self._copies = 0  # batches in a row that brought the receiver nothing new
        self._reconciled_to = 0  # our feed's position when the last reconciliation began
        self._lazy_s = decisions.LAZY_RESYNC_S  # the lazy interval (decisions.lazy_interval)
        self._grafted: float | None = None  # when a reconciliation grafted it (decisions.GRAFT_HOLD_S)
        metrics = parts.metrics

        def traffic(sent: int, received: int) -> None:
            metrics.count("peer_bytes_out_total", sent)
            metrics.count("peer_bytes_in_total", received)

        on_clock = parts.peer_clocks.learn if parts.peer_clocks is not None else None
        self.client = PeerClient(session, parts.identity, url, pinned, traffic, on_clock)
        self.client.tree = parts.spanning

    @property
    def state(self) -> LinkState:
        return self.record.state

    def status(self) -> PeerStatus:
        key = self.client.key.hex() if self.client.key else None
        r = self.record
        return PeerStatus(self.client.url, key, r.state, r.failures, r.last_error, r.last_sync, self.source, self.eager)

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
                if self.found and self.state is LinkState.CONNECTING:  # not the key it was announced with
                    self.record.fire(LinkEvent.DISPROVED, str(exc))
                    log.warning(
                        "peer %s: refused: it did not prove the key it was advertised with (%s): %s",
                        self.client.url, self.client.key.hex() if self.client.key else "?", exc,
                    )  # fmt: skip
                    return
                self.record.fire(LinkEvent.FAILED, str(exc))
            except PeerRefused as exc:
                self.record.fire(LinkEvent.BARRED, str(exc))
            except (PeerUnavailable, RemoteProtocolError) as exc:
                self.record.fire(LinkEvent.FAILED, str(exc))
                self._unreachable = isinstance(exc, PeerUnreachable)
            except Exception as exc:  # a fault of ours: keep the link alive, and say so loudly
                current = asyncio.current_task()
                if current is not None and current.cancelling():
                    raise asyncio.CancelledError from exc  # being stopped: never back off instead
                log.exception("peer %s: link failed", self.client.url)
                self.record.fire(LinkEvent.FAILED, f"internal error: {exc.__class__.__name__}")
            else:
                return  # the node is shutting down
            finally:
                self._disconnected()
            if decisions.gives_up(self.found, self.record.failures):
                log.info("peer %s: gone (%s); its slot goes to another", self.client.url, self.record.last_error)
                return
            await self._back_off()
            self.record.fire(LinkEvent.RETRIED)

    async def _back_off(self) -> None:
        delay = decisions.backoff_delay(self.record.failures, self.parts.rng, unreachable=self._unreachable)
        self._unreachable = False
        log.warning("peer %s: %s; retrying in %.1f s", self.client.url, self.record.last_error, delay)
        self._wake.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(delay):  # not wait_for: see RecordFeed.wait
                await self._wake.wait()

    def _disconnected(self) -> None:
        self._eager.set()  # the next connection starts eager (and the status says so meanwhile)
        if self.connected_at is not None:
            seconds = self.parts.clock.monotonic() - self.connected_at
            self.connected_at = None
            if self._on_ended is not None:
                self._on_ended(self, seconds)

    async def _connect_and_exchange(self) -> None:
        parts = self.parts
        if self.client.key is not None and (refusal := parts.policy.refusal(self.client.key)):
            raise PeerRefused(f"not connecting: {refusal}")
        push_from = parts.feed.head - 1  # nothing accepted from here on is missed
        hello = await self.client.hello(parts.serves, FOUND_HELLO_TIMEOUT_S if self.found else HELLO_TIMEOUT_S)
        if self.client.key is not None and hello.key != self.client.key:
            await self._follow_rotation(hello)
        if parts.store.keys.retired(hello.key):
            raise PeerAuthError("the peer answers with a key its chapter retired (a key rotation)")
        if refusal := parts.policy.refusal(hello.key):
            parts.spanning.forget(hello.key)  # its advert came with its hello: not a way to the root
            raise PeerRefused(f"not connecting: {refusal}")
        # Judged, not stored, and in the peer's frame when that is later: a node
        # that signed its profile before it knew the network's time still peers.
        profile = accept_record(hello.profile, max(parts.clock.wall(), int(time.time()) + self.client.offset))
        if profile.kind != "node" or profile.author != self.client.key:
            raise RemoteProtocolError(f"{self.client.url} sent a profile that is not its own")
        if self.client.key is not None and not self._pin_saved:
            await parts.admin.pin_key(self.client.url, self.client.key)  # no-op if already pinned
            self._pin_saved = True
            log.info("peer %s pinned to key %s", self.client.url, self.client.key.hex())
        self.record.fire(LinkEvent.GREETED)
        common = parts.serves.intersect(hello.filter)
        self._tree = hello.lazy_links
        self._eager.set()  # every connection starts eager: the tree is found again
        self._copies = 0
        self._grafted = None
        self._lazy_s = decisions.LAZY_RESYNC_S
        self._pruned.clear()  # a prune or a hurry of the last connection
        await self._sync(common)
        self.record.fire(LinkEvent.SYNCED)
        self.connected_at = parts.clock.monotonic()
        self.retree()
        if self._on_connected is not None:
            await self._on_connected(self)
        await self._exchange(hello.feed_cursor, push_from, common)

    async def _follow_rotation(self, hello: Hello) -> None:
        """Another key than the pinned one answered: only a key rotation signed
        by the old key's recovery key (checked by the ingest, like any record)
        lets the link move to it; anything else is refused as before."""
        pinned = self.client.key
        assert pinned is not None
        if hello.rotations:
            await self.parts.ingest.ingest(hello.rotations[:MAX_ROTATIONS], pinned, solicited=True)
        if self.parts.store.keys.current(pinned) != hello.key:
            raise PeerAuthError("the response is signed by another key than the one we pinned, with no key rotation")
        self.client.key = hello.key  # the ingest's rotation hook has moved the pins already

    async def _exchange(self, pull_from: int, push_from: int, common: SyncFilter) -> None:
        """Run the three loops until one fails (its error is raised) or the node stops."""
        url = self.client.url
        loops = [
            asyncio.create_task(self._pull(pull_from, common), name=f"pull {url}"),
            asyncio.create_task(self._push(push_from, common), name=f"push {url}"),
            asyncio.create_task(self._resync(common), name=f"resync {url}"),
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

    async def _sync(self, common: SyncFilter) -> SyncResult:
        parts = self.parts
        settle = 0.0 if self.eager else decisions.GRAFT_WAIT_S
        self._reconciled_to = parts.feed.head - 1  # the store it reads holds at least this much of the feed
        result = await reconcile_with(
            self.client, common, store=parts.store, ingest=parts.ingest, metrics=parts.metrics,
            clock=parts.clock, progress=parts.progress, settle_s=settle,
        )  # fmt: skip
        if not result.complete:  # it gave up on some (the peer's rate, or the session cap): push them again
            self._reconciled_to = 0
        self.record.last_sync = parts.clock.wall()
        return result

    @property
    def eager(self) -> bool:
        """Whether records cross this link whole as they arrive (always, with a
        peer from before eager and lazy links)."""
        return not self._tree or self._eager.is_set()

    def _prune(self, outcomes: list[str]) -> None:
        if not self._tree or not self._eager.is_set():
            return
        if self._on_tree():  # the spanning tree's links are never pruned
            self._copies = 0
            return
        self._copies = decisions.copies_in_a_row(outcomes, self._copies)
        if self._copies >= decisions.PRUNE_AFTER:
            self._turn_lazy("prune")
            log.debug("peer %s: link lazy (it brought only copies)", self.client.url)

    def _on_tree(self) -> bool:
        key = self.client.key
        return self.client.tree_peer and key is not None and self.parts.spanning.tree_link(key)

    def _turn_lazy(self, change: str) -> None:
        self._eager.clear()
        self._grafted = None
        self._lazy_s = decisions.LAZY_RESYNC_S
        self._pruned.set()
        self.parts.metrics.count("gossip_link_changes_total", change=change)

    def _turn_eager(self, change: str) -> None:
        self._eager.set()
        self._copies = 0
        self.parts.metrics.count("gossip_link_changes_total", change=change)

    def retree(self) -> None:
        """The spanning tree changed (node/peering/spanning.py): a link on it
        turns eager; a link off it turns lazy once both ends are settled (their
        parent links carry records), a grafted one GRAFT_HOLD_S after the graft."""
        key, tree = self.client.key, self.parts.spanning
        if not self._tree or not self.client.tree_peer or key is None or self.connected_at is None:
            return
        if tree.tree_link(key):
            self._grafted = None  # on the tree now: it stays eager as long as it is
            if not self._eager.is_set():
                self._turn_eager("tree")
                log.debug("peer %s: link eager (on the spanning tree)", self.client.url)
            return
        held = self._grafted is not None and self.parts.clock.monotonic() - self._grafted < decisions.GRAFT_HOLD_S
        if self._eager.is_set() and not held and tree.settled() and tree.peer_settled(key):
            self._turn_lazy("untree")
            log.debug("peer %s: link lazy (off the spanning tree)", self.client.url)

    def hurry(self) -> None:
        """Another link of this node failed: the tree may be cut here, so a lazy
        link reconciles within LAZY_RESYNC_S again."""
        if not self.eager:
            self._lazy_s = decisions.LAZY_RESYNC_S
            self._pruned.set()  # the resync loop brings its next reconciliation forward

    def _graft(self, result: SyncResult) -> None:
        if self._tree and not self._eager.is_set() and decisions.grafts(result.accepted, result.pushed_new):
            self._turn_eager("graft")
            self._grafted = self.parts.clock.monotonic()
            log.debug("peer %s: link eager again (its reconciliation moved records)", self.client.url)

    async def _pull(self, cursor: int, common: SyncFilter) -> None:
        catching_up = False
        ahead: asyncio.Future[FeedPage] | None = None  # the next eager poll, sent before this page is taken in
        try:
            while True:
                if ahead is None and not self.eager:
                    await self._eager.wait()
                    catching_up = True  # what the feed gained while lazy: ids only, at once
                mode = (not catching_up) if self._tree else None
                if ahead is not None:
                    page, ahead = await ahead, None
                else:
                    page = await self.client.feed(cursor, 0 if catching_up else FEED_WAIT_S, mode)
                ids, cursor, behind = page.ids, page.cursor, page.behind
                catching_up = catching_up and bool(ids)
                if mode and not behind and self.eager:
                    # An eager poll goes back at once: storing this page (a commit)
                    # is not added to the time the peer's next records wait for it.
                    ahead = asyncio.ensure_future(self.client.feed(cursor, FEED_WAIT_S, True))
                await self._take_page(page, common)
        finally:
            if ahead is not None:
                ahead.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await ahead

    async def _take_page(self, page: FeedPage, common: SyncFilter) -> None:
        """A feed answer: its whole records taken in, the ids we lack fetched,
        and a reconciliation if the peer says we fell behind."""
        parts, key, ids, behind = self.parts, self.client.key, page.ids, page.behind
        assert key is not None
        if refusal := parts.policy.refusal(key):
            raise PeerRefused(f"stopped: {refusal}")  # blocked or banned meanwhile
        if page.records:  # sent whole (decisions.whole_records), not asked for: its push limits apply
            self._prune(await parts.ingest.ingest(page.records, key))
        short = False
        if ids:
            held = await parts.store.reads.held_ids(ids)
            # What another peer is sending already is not asked for twice.
            inflight = parts.ingest.inflight
            missing = inflight.claim([i for i in ids if i not in held], parts.clock.monotonic())
            # Announced records come out of the peer's push budget: a peer
            # we dial cannot make us fetch and verify without limit.
            allowed = parts.policy.fetch_budget(key, len(missing))
            short = allowed < len(missing)
            try:
                if allowed:
                    records = await self.client.fetch(missing[:allowed])
                    await parts.ingest.ingest(records, key, solicited=True)
            finally:
                inflight.release(missing)  # arrived, or failed: free for another peer
        now = parts.clock.monotonic()
        if decisions.resync_after_pull(behind, short, now, self._last_resync):
            self._last_resync = now  # what was left out comes with the reconciliation
            await self._sync(common)

    async def _push(self, cursor: int, common: SyncFilter) -> None:
        """Ends (without error) only when the feed closes, i.e. at shutdown."""
        parts, key = self.parts, self.client.key
        assert key is not None
        sent: list[asyncio.Future[list[str]]] = []  # pushes over an eager link not answered yet, oldest first

        async def answered(wait: bool) -> None:
            while sent and (wait or sent[0].done()):
                self._prune(await sent.pop(0))  # a push's failure ends the link here

        try:
            while not parts.feed.closed:  # closed: the node is shutting down
                if not self.eager:
                    await answered(wait=True)
                    await self._eager.wait()
                    # The grafting reconciliation moved what the feed held when it
                    # began; what came after goes now, whole (the feed wait returns at once).
                    cursor = max(cursor, self._reconciled_to)
                await self._feed_or_answer(cursor, sent)
                await answered(wait=False)
                before = cursor
                entries, cursor, behind = parts.feed.since(cursor, key, PUSH_BATCH)
                if behind:
                    await self._sync(common)
                if not self.eager:  # turned lazy meanwhile: these wait for the graft, as the rest
                    cursor = before
                    continue
                offered = decisions.to_push(entries, key, common, polling=parts.pollers.polling(key))
                if self._tree:  # an eager link: all of them whole, never asked first
                    for batch in batches([e.raw for e in offered]):
                        if len(sent) >= PUSHES_AHEAD:
                            self._prune(await sent.pop(0))
                        sent.append(asyncio.ensure_future(self.client.push(batch)))
                    continue
                await self._push_to_older(offered)
        finally:
            for push in sent:
                push.cancel()
            await asyncio.gather(*sent, return_exceptions=True)

    async def _push_to_older(self, offered: list[FeedEntry]) -> None:
        """A peer from before eager and lazy links: records near their origin
        whole, the others announced and pushed if it wants them."""
        for batch in batches([e.raw for e in offered if decisions.sent_whole(e)]):
            await self.client.push(batch)  # near its origin: the peer is unlikely to hold it
        announced = [e for e in offered if not decisions.sent_whole(e)]
        if announced:
            wanted = set(await self.client.announce([entry.id for entry in announced]))
            for batch in batches([e.raw for e in announced if e.id in wanted]):
                await self.client.push(batch)

    async def _feed_or_answer(self, cursor: int, sent: list[asyncio.Future[list[str]]]) -> None:
        """Until our feed passes ``cursor`` (or FEED_WAIT_S), or the oldest push
        in flight is answered (its failure is then seen at once)."""
        waiting = asyncio.ensure_future(self.parts.feed.wait(cursor, FEED_WAIT_S))
        either: list[asyncio.Future[Any]] = [waiting, *sent[:1]]
        try:
            await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await waiting

    async def _resync(self, common: SyncFilter) -> None:
        parts, key, loop = self.parts, self.client.key, asyncio.get_running_loop()
        assert key is not None
        due = loop.time() + decisions.resync_delay(parts.rng)
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(0.0, due - loop.time())):
                    await self._pruned.wait()
            if self._pruned.is_set():  # turned lazy, or hurried: due within a lazy interval
                self._pruned.clear()
                due = min(due, loop.time() + decisions.resync_delay(parts.rng, self._lazy_s))
                continue
            if refusal := parts.policy.refusal(key):
                raise PeerRefused(f"stopped: {refusal}")  # blocked or banned meanwhile (a lazy link never polls)
            lazy = not self.eager
            result = await self._sync(common)
            if lazy:
                self._graft(result)
                if not self.eager and not self._pruned.is_set():  # nothing to move, and not hurried meanwhile
                    # A peer still looking for its parent in the tree (perhaps us)
                    # hears from us again soon: only our requests carry its answer.
                    settling = self.client.tree_peer and not parts.spanning.peer_settled(key)
                    self._lazy_s = decisions.LAZY_RESYNC_S if settling else decisions.lazy_interval(self._lazy_s)
            due = loop.time() + decisions.resync_delay(parts.rng, None if self.eager else self._lazy_s)
