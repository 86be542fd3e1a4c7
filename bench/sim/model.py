"""The simulated network, nodes and peer links: the real core on a virtual clock.

Strategy: one heap of ``(virtual time, sequence, callback, args)``; nothing
reads a clock or draws randomness except from the seeded ``random.Random``s
handed in, so a seed gives the same run every time. Each simulated node owns
what the real node's peering owns: a store of real signed ``Record``s (a dict
and the sorted ``(created_at, id)`` index a real store hands to
reconciliation), a real ``RecordFeed`` ring, a real ``Pollers`` table (who holds
a long poll on our feed), and one ``SimLink`` per peer it dials.

A ``SimLink`` is node/peering/peer_link.py's ``PeerLink`` written as
callbacks instead of coroutines, step for step: hello, a reconciliation,
then the pull loop (long poll the peer's feed, records whole while the link
is eager, the next poll sent before the answer is taken in, fetch the ids we
lack, maybe reconcile), the push loop (push what our feed gained whole while
the link is eager, ``PUSHES_AHEAD`` at once, unless the peer polls us) and
the resync loop (every few seconds once the link is lazy, moving what
differs ``GRAFT_WAIT_S`` after finding it); any failure ends all three, and
the link backs off and starts over. The spanning tree's adverts ride the
hello, the polls and the reconciliations and their answers, into each node's
real ``spanning.Spanning``, and the link turns eager on the tree and lazy off
it as ``PeerLink.retree`` does. Every choice is made by the real
function: ``decisions.to_push``, ``whole_records``, ``copies_in_a_row``
(prune), ``grafts``, ``resync_delay``, ``resync_after_pull``, ``spanning.choose``,
``backoff_delay``, the ``LinkRecord`` state table, ``RecordFeed.since``,
``Reconciler``/``ItemSet``; message sizes are those of the real msgpack
bodies (``wire_*`` below; the suite checks them against ``encode``). Every
simulated node takes eager and lazy links (PROTOCOL.md 8.3); the path for
peers from before them (announcements) is not modelled, nor are blocked or
banned peers (every sim peer is honest).

Where the model simplifies (the figures are no better than this):
- No processing time: a node answers the moment a message arrives; records
  are not verified (every record was signed once, up front, by the real
  ``build_record``; the ingest's signature, clock and policy checks and the
  per-peer rate limits and fetch budget are skipped: every sim peer is honest).
- A message takes the link's one-way latency (seeded per link) times a small
  jitter; a lost packet costs a TCP retransmission (an RTO) rather than the
  request, so loss shows as delay. Bandwidth is unlimited. Bytes are bodies
  only: HTTP and the signed headers (about 300 bytes a message) come on top.
- A partition drops every message across it: the caller's request times out
  (30 s, a long poll 50 s) as with a dead TCP path. A node that is down
  refuses connections at once (one round trip), and when it comes back it
  keeps its store, starts a fresh feed and redials its peers at once.
- All links are configured ones (retried for ever); peer discovery, found
  peers' slots and peer exchange are not modelled. Only new posts travel (no
  edits, expiry or node profiles).
"""

from __future__ import annotations

import heapq
import random
from bisect import insort
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from node.peering import decisions, spanning
from node.peering.feed import RecordFeed
from node.peering.gossip import MAINTAIN_INTERVAL_S
from node.peering.link import LinkEvent, LinkRecord, LinkState
from node.peering.peer_api import FEED_BATCH, MAX_FEED_WAIT_S, Pollers
from node.peering.peer_link import FEED_WAIT_S, HELLO_TIMEOUT_S, PUSH_BATCH, PUSHES_AHEAD
from node.peering.sync import MAX_SESSIONS, batches
from protocol.codec import encode
from protocol.filters import SyncFilter
from protocol.peerwire import MAX_BATCH, filter_to_wire
from protocol.reconcile import ItemSet, Reconciler
from protocol.records import Record

CALL_TIMEOUT_S = 30.0
"""PeerClient.call's default: a request unanswered by then fails the link."""
FEED_TIMEOUT_S = FEED_WAIT_S + 30.0
"""PeerClient.feed's: the long poll's wait plus the same margin."""
MIN_RTO_S = 0.2
"""Linux's minimum TCP retransmission timeout: what a lost packet costs at least."""
EVERYTHING = SyncFilter()
"""Every node serves every kind and area, so the common filter is this."""
_FILTER_BYTES = len(encode(filter_to_wire(EVERYTHING)))
_ADVERT_BYTES = len(encode(spanning.Advert(bytes(32), 3, False, True).to_wire()))

Callback = Callable[..., None]
Answer = Callable[[int, Any], None]
Serve = Callable[["SimNode", Answer], None]


def _array_header(n: int) -> int:
    return 1 if n < 16 else 3 if n < 65536 else 5


def _bin(n: int) -> int:
    return n + (2 if n < 256 else 3 if n < 65536 else 5)


def _str(n: int) -> int:
    return n + (1 if n < 32 else 2)


def wire_list(sizes: list[int]) -> int:
    """Bytes of a msgpack array of byte strings of these sizes (ids, raw records)."""
    return _array_header(len(sizes)) + sum(_bin(n) for n in sizes)


def wire_map(**fields: int) -> int:
    """Bytes of a small msgpack map whose values encode to these many bytes."""
    return 1 + sum(_str(len(name)) + size for name, size in fields.items())


def wire_int(value: int) -> int:
    return 1 if 0 <= value < 128 else 2 if value < 256 else 3 if value < 65536 else 5 if value < 2**32 else 9


def wire_strs(values: list[str]) -> int:
    return _array_header(len(values)) + sum(_str(len(v)) for v in values)


class Loop:
    """The virtual clock and its event heap."""

    def __init__(self) -> None:
        self.now = 0.0
        self.events = 0
        self._heap: list[tuple[float, int, Callback, tuple[Any, ...]]] = []
        self._seq = 0

    def at(self, when: float, fn: Callback, *args: Any) -> None:
        heapq.heappush(self._heap, (when, self._seq, fn, args))
        self._seq += 1

    def after(self, delay: float, fn: Callback, *args: Any) -> None:
        self.at(self.now + delay, fn, *args)

    def run_until(self, end: float) -> None:
        heap, pop = self._heap, heapq.heappop
        while heap and heap[0][0] <= end:
            when, _, fn, args = pop(heap)
            self.now = when
            self.events += 1
            fn(*args)
        self.now = max(self.now, end)


class LoopClock:
    """The virtual clock as a node's ``Clock`` (node/core/clock.py), for the real tables that read one."""

    def __init__(self, loop: Loop) -> None:
        self.loop = loop

    def wall(self) -> int:
        return int(self.loop.now)

    def monotonic(self) -> float:
        return self.loop.now


class Net:
    """Links' latencies, packet loss, and which nodes a partition cuts off."""

    def __init__(self, rng: random.Random, loss: float) -> None:
        self.rng = rng
        self.loss = loss
        self.latency: dict[tuple[int, int], float] = {}
        self.cut: frozenset[int] = frozenset()

    def severed(self, a: int, b: int) -> bool:
        cut = self.cut
        return bool(cut) and ((a in cut) != (b in cut))

    def delay(self, a: int, b: int) -> float:
        base = self.latency[(a, b) if a < b else (b, a)]
        rng = self.rng
        delay = base * rng.uniform(1.0, 1.1)
        while rng.random() < self.loss:  # a lost segment: resent after an RTO
            delay += max(MIN_RTO_S, 3 * base)
        return delay


@dataclass
class Traffic:
    """Messages and body bytes by kind (a request and its reply are two messages)."""

    messages: dict[str, int] = field(default_factory=dict)
    bytes: dict[str, int] = field(default_factory=dict)

    def count(self, kind: str, size: int) -> None:
        self.messages[kind] = self.messages.get(kind, 0) + 1
        self.bytes[kind] = self.bytes.get(kind, 0) + size


class Sim:
    """What every node and link shares: the clock, the network, the counters."""

    def __init__(self, seed: int, loss: float, profile_bytes: int) -> None:
        self.loop = Loop()
        self.net = Net(random.Random(seed * 7 + 1), loss)
        self.traffic = Traffic()
        self.nodes: list[SimNode] = []
        self.profile_bytes = profile_bytes
        """Size of a node's signed profile, which its hello answer carries."""
        self.holders: dict[bytes, int] = {}
        """Record id -> how many nodes hold it."""
        self.full_at: dict[bytes, float] = {}
        """Record id -> virtual time the last node got it."""
        self.posted_at: dict[bytes, float] = {}
        self.copies = 0
        self.copies_by: dict[str, int] = {}
        """Full copies received, by how: poll fetch, push, sync fetch, sync push."""
        self.sessions = 0
        self.link_failures = 0
        self.prunes = 0
        self.grafts = 0
        self.tree_changes = 0  # links turned eager or lazy by the spanning tree

    def held_by_one_more(self, record_id: bytes) -> None:
        count = self.holders.get(record_id, 0) + 1
        self.holders[record_id] = count
        if count == len(self.nodes):
            self.full_at[record_id] = self.loop.now


@dataclass
class _Poll:
    link: SimLink
    epoch: int
    after: int
    answer: Answer
    eager: bool = True


class SimNode:
    """One node: its store, feed, pollers table, and the links it dials."""

    def __init__(self, sim: Sim, index: int, key: bytes, rng: random.Random) -> None:
        self.sim = sim
        self.index = index
        self.key = key
        self.rng = rng  # the node's own Random: PeeringParts.rng
        self.up = True
        self.held: dict[bytes, Record] = {}
        self._index: list[tuple[int, bytes]] = []
        self._itemset: ItemSet | None = None
        self.feed = RecordFeed()
        self.pollers = Pollers(LoopClock(sim.loop))
        self._polls: dict[int, _Poll] = {}
        self._next_poll = 0
        self._idle_pushes: dict[int, tuple[SimLink, int]] = {}
        self.links: list[SimLink] = []
        self.copies: dict[bytes, int] = {}
        """Record id -> full copies of it this node received from peers."""
        self.inflight = decisions.InFlight()
        """Ids asked of one peer: the ingest's, not asked of another meanwhile."""
        self.spanning = spanning.Spanning(key)
        """Its place in the tree of eager links (Gossip wires it the same way)."""
        self.spanning.on_change = self._retree
        self.spanning.set_settled_check(self._carries_records)

    # -- the spanning tree (Gossip._retree, _carries_records, _maintain's expiry) ----------

    def _retree(self) -> None:
        for link in self.links:
            link.retree()

    def _carries_records(self, parent: bytes) -> bool:
        if self.pollers.polling(parent):
            return True
        return any(link.peer.key == parent and link.connected and link.eager for link in self.links)

    def advert_for(self, peer: bytes) -> spanning.Advert:
        return self.spanning.advert_for(peer)

    def learn(self, peer: bytes, advert: spanning.Advert) -> None:
        if self.up:
            self.spanning.learn(peer, advert, self.sim.loop.now)

    def expire_adverts(self) -> None:
        """Gossip._maintain's, every MAINTAIN_INTERVAL_S while up: expiry, then each link looks again."""
        if self.up:
            self.spanning.expire(self.sim.loop.now)
            self._retree()
        self.sim.loop.after(MAINTAIN_INTERVAL_S, self.expire_adverts)

    # -- the store and the ingest ---------------------------------------------------------

    def itemset(self) -> ItemSet:
        """The sync index as reconciliation sees it; rebuilt only after a change."""
        if self._itemset is None:
            self._itemset = ItemSet(self._index)
        return self._itemset

    def post(self, record: Record) -> None:
        self.sim.posted_at[record.id] = self.sim.loop.now
        self._store([record], None)

    def ingest(self, records: list[Record], source: bytes, channel: str) -> list[str]:
        """Every received copy counts (by ``channel``); those we lack are stored and fed on."""
        copies = self.copies
        by_channel = self.sim.copies_by
        by_channel[channel] = by_channel.get(channel, 0) + len(records)
        fresh: list[Record] = []
        outcomes: list[str] = []
        self.inflight.release(r.id for r in records)  # Ingestor.ingest: here now
        for record in records:
            copies[record.id] = copies.get(record.id, 0) + 1
            if record.id in self.held or any(r.id == record.id for r in fresh):
                outcomes.append("duplicate")
            else:
                fresh.append(record)
                outcomes.append("accepted")
        self.sim.copies += len(records)
        self._store(fresh, source)
        return outcomes

    def _store(self, records: list[Record], source: bytes | None) -> None:
        if not records:
            return
        for record in records:
            self.held[record.id] = record
            insort(self._index, (record.created_at, record.id))
            self.sim.held_by_one_more(record.id)
        self._itemset = None
        self.feed.append(records, source)
        self._feed_changed()

    def _feed_changed(self) -> None:
        """RecordFeed.publish's notify: long polls answer, idle push loops run."""
        polls, self._polls = self._polls, {}
        for poll in polls.values():
            self._answer_poll(poll)
        pushes, self._idle_pushes = self._idle_pushes, {}
        for link, epoch in pushes.values():
            self.sim.loop.after(0.0, link.push_step, epoch)

    def push_idle(self, link: SimLink, epoch: int) -> None:
        """The link's push loop waits on our feed (RecordFeed.wait)."""
        self._idle_pushes[id(link)] = (link, epoch)

    # -- the peer API (node/peering/peer_api.py) ------------------------------------------

    def serve_feed(self, link: SimLink, after: int, answer: Answer, *, eager: bool, wait: bool) -> None:
        key = link.node.key
        self.pollers.begin(key)
        entries, _, behind = self.feed.since(after, link.node.key, FEED_BATCH)
        poll = _Poll(link, link.epoch, after, answer, eager)
        if entries or behind or not wait:
            self._answer_poll(poll)
            return
        token = self._next_poll
        self._next_poll += 1
        self._polls[token] = poll
        self.sim.loop.after(min(FEED_WAIT_S, MAX_FEED_WAIT_S), self._poll_timeout, token)

    def _poll_timeout(self, token: int) -> None:
        poll = self._polls.pop(token, None)
        if poll is not None:
            self._answer_poll(poll)

    def _answer_poll(self, poll: _Poll) -> None:
        self.pollers.end(poll.link.node.key)
        entries, cursor, behind = self.feed.since(poll.after, poll.link.node.key, FEED_BATCH)
        ids = [e.id for e in entries]
        whole = decisions.whole_records(entries, eager=poll.eager)
        size = wire_map(ids=wire_list([32] * len(ids)), cursor=wire_int(cursor), behind=1, tree=_ADVERT_BYTES)
        if whole:
            size += wire_map(records=wire_list([len(raw) for raw in whole])) - 1
        by_raw = {e.raw: e.id for e in entries}
        advert = self.advert_for(poll.link.node.key)
        poll.answer(size, (ids, cursor, behind, [self.held[by_raw[raw]] for raw in whole], advert))

    def polled_by(self, key: bytes) -> bool:
        """Whether the peer holds a long poll on our feed (the real ``Pollers``, on the virtual clock)."""
        return self.pollers.polling(key)

    def go_down(self) -> None:
        """The process stops: its links end, long polls on it are reset, what it
        heard of the tree goes with it."""
        self.up = False
        self.spanning = spanning.Spanning(self.key)
        self.spanning.on_change = self._retree
        self.spanning.set_settled_check(self._carries_records)
        for link in self.links:
            link.stop()
        polls, self._polls = self._polls, {}
        for poll in polls.values():
            poll.link.reset_by_peer(poll.epoch)
        self._idle_pushes = {}

    def come_up(self) -> None:
        """A restart: the store is kept; the feed and the pollers table are new."""
        self.up = True
        self.feed = RecordFeed()
        self.pollers = Pollers(LoopClock(self.sim.loop))
        for link in self.links:
            link.start()


class SimLink:
    """PeerLink, as callbacks: ``node`` dials ``peer``. ``epoch`` changes when
    the link fails or stops, which drops every callback of the old connection."""

    def __init__(self, node: SimNode, peer: SimNode) -> None:
        self.sim = node.sim
        self.node = node
        self.peer = peer
        self.record = LinkRecord()
        self.epoch = 0
        self._push_cursor = 0
        self._last_resync: float | None = None
        self.eager = True
        self._copies = 0
        self._reconciled_to = 0
        self._on_graft: list[Callable[[], None]] = []
        """The pull and push loops, parked while the link is lazy."""
        self._resync_token = 0
        self._resync_due = 0.0
        self._lazy_s = decisions.LAZY_RESYNC_S
        self._grafted: float | None = None
        self._pushing = 0  # pushes in flight (PeerLink._push's ``sent``)

    # -- the exchange of one request and its reply ----------------------------------------

    def _call(self, kind: str, size: int, serve: Serve, on_reply: Callback, timeout: float = CALL_TIMEOUT_S) -> None:
        sim, a, b, epoch = self.sim, self.node.index, self.peer.index, self.epoch
        sim.traffic.count(kind, size)
        start = sim.loop.now
        if not self.peer.up:  # connection refused
            sim.loop.after(2 * sim.net.delay(a, b), self._failed, epoch, "connection refused")
        elif sim.net.severed(a, b):
            sim.loop.at(start + timeout, self._failed, epoch, "timed out (partition)")
        else:
            sim.loop.after(sim.net.delay(a, b), self._arrive, epoch, kind, serve, on_reply, start, timeout)

    def _arrive(self, epoch: int, kind: str, serve: Serve, on_reply: Callback, start: float, timeout: float) -> None:
        sim, peer = self.sim, self.peer
        if not peer.up:
            sim.loop.after(sim.net.delay(peer.index, self.node.index), self._failed, epoch, "connection reset")
            return

        def answer(size: int, value: Any) -> None:
            sim.traffic.count(kind + " reply", size)
            if sim.net.severed(peer.index, self.node.index):
                sim.loop.at(max(sim.loop.now, start + timeout), self._failed, epoch, "timed out (partition)")
            else:
                sim.loop.after(sim.net.delay(peer.index, self.node.index), self._deliver, epoch, on_reply, value)

        serve(peer, answer)

    def _deliver(self, epoch: int, on_reply: Callback, value: Any) -> None:
        if epoch == self.epoch and self.node.up:
            on_reply(value)

    def _failed(self, epoch: int, reason: str) -> None:
        if epoch == self.epoch and self.node.up:
            self.fail(reason)

    def reset_by_peer(self, epoch: int) -> None:
        """The peer went down while holding our long poll."""
        self.sim.loop.after(self.sim.net.delay(self.peer.index, self.node.index), self._failed, epoch, "reset")

    # -- the life of the link (PeerLink.run) ----------------------------------------------

    def start(self) -> None:
        self.record = LinkRecord()
        self.epoch += 1
        self._last_resync = None
        self._connect(self.epoch)

    def _reset_tree(self) -> None:
        """Every connection starts eager (PeerLink._connect_and_exchange)."""
        self.eager = True
        self._copies = 0
        self._grafted = None
        self._on_graft = []

    def stop(self) -> None:
        self.epoch += 1

    def fail(self, reason: str) -> None:
        was_connected = self.connected
        self.record.fire(LinkEvent.FAILED, reason)
        self.sim.link_failures += 1
        self.epoch += 1
        delay = decisions.backoff_delay(self.record.failures, self.node.rng)
        self.sim.loop.after(delay, self._retry, self.epoch)
        if was_connected:  # Gossip.link_ended
            self.node.spanning.forget(self.peer.key)
            for other in self.node.links:
                if other is not self:
                    other.hurry()

    def _retry(self, epoch: int) -> None:
        if epoch == self.epoch and self.node.up:
            self.record.fire(LinkEvent.RETRIED)
            self._connect(epoch)

    def _connect(self, epoch: int) -> None:
        push_from = self.node.feed.head - 1  # nothing accepted from here on is missed

        mine = self.node.advert_for(self.peer.key)

        def serve(server: SimNode, answer: Answer) -> None:
            server.learn(self.node.key, mine)
            cursor = server.feed.head - 1
            size = wire_map(
                profile=_bin(self.sim.profile_bytes), filter=_FILTER_BYTES, feed=wire_int(cursor), rotations=1,
                lazy_links=1, tree=_ADVERT_BYTES,
            )  # fmt: skip
            answer(size, (cursor, server.advert_for(self.node.key)))

        def greeted(reply: tuple[int, spanning.Advert]) -> None:
            peer_cursor, theirs = reply
            self.record.fire(LinkEvent.GREETED)
            self.node.learn(self.peer.key, theirs)
            self._reset_tree()
            self.sync(epoch, lambda: self._synced(epoch, push_from, peer_cursor))

        hello = wire_map(filter=_FILTER_BYTES, tree=_ADVERT_BYTES)
        self._call("hello", hello, serve, greeted, HELLO_TIMEOUT_S)

    def _synced(self, epoch: int, push_from: int, peer_cursor: int) -> None:
        self.record.fire(LinkEvent.SYNCED)
        self.retree()
        self._push_cursor = push_from
        self._pushing = 0
        self._poll(epoch, peer_cursor)
        self.push_step(epoch)
        self._schedule_resync(epoch)

    def _schedule_resync(self, epoch: int, *, sooner: bool = False) -> None:
        """PeerLink._resync's wait; ``sooner`` (a prune, a hurry): due within a
        lazy interval, if not due before that already."""
        delay = decisions.resync_delay(self.node.rng, None if self.eager else self._lazy_s)
        due = self.sim.loop.now + delay
        if sooner and due >= self._resync_due:
            return
        self._resync_token += 1
        self._resync_due = due
        self.sim.loop.at(due, self._resync, epoch, self._resync_token)

    # -- eager and lazy (PeerLink._prune, _graft) -----------------------------------------

    def _prune(self, epoch: int, outcomes: list[str]) -> None:
        if epoch != self.epoch or not self.eager:
            return
        if self.node.spanning.tree_link(self.peer.key):  # never pruned
            self._copies = 0
            return
        self._copies = decisions.copies_in_a_row(outcomes, self._copies)
        if self._copies >= decisions.PRUNE_AFTER:
            self._turn_lazy(epoch)
            self.sim.prunes += 1

    def _turn_lazy(self, epoch: int) -> None:
        self.eager = False
        self._grafted = None
        self._lazy_s = decisions.LAZY_RESYNC_S
        self._schedule_resync(epoch, sooner=True)

    def _turn_eager(self) -> None:
        self.eager = True
        self._copies = 0
        waiting, self._on_graft = self._on_graft, []
        for resume in waiting:
            resume()

    def retree(self) -> None:
        """PeerLink.retree: on the tree, eager; off it, lazy once both ends are
        settled, a grafted one GRAFT_HOLD_S after the graft."""
        if not self.connected:
            return
        tree, key = self.node.spanning, self.peer.key
        if tree.tree_link(key):
            self._grafted = None
            if not self.eager:
                self._turn_eager()
                self.sim.tree_changes += 1
            return
        held = self._grafted is not None and self.sim.loop.now - self._grafted < decisions.GRAFT_HOLD_S
        if self.eager and not held and tree.settled() and tree.peer_settled(key):
            self._turn_lazy(self.epoch)
            self.sim.tree_changes += 1

    def hurry(self) -> None:
        """PeerLink.hurry: another link of the node failed."""
        if self.connected and not self.eager:
            self._lazy_s = decisions.LAZY_RESYNC_S
            self._schedule_resync(self.epoch, sooner=True)

    def _graft(self, epoch: int, accepted: int, pushed_new: int) -> None:
        if epoch != self.epoch or self.eager or not decisions.grafts(accepted, pushed_new):
            return
        self._turn_eager()
        self._grafted = self.sim.loop.now
        self.sim.grafts += 1

    @property
    def connected(self) -> bool:
        return self.record.state is LinkState.CONNECTED

    # -- reconciliation (node/peering/sync.py's reconcile_with) ---------------------------

    def sync(
        self,
        epoch: int,
        done: Callable[[], None],
        sessions: int = 0,
        moved: list[int] | None = None,
        *,
        lazy: bool | None = None,
    ) -> None:
        """``moved``: records new to us, and pushed ones new to the peer, so far
        (for ``grafts``); ``lazy``: the link was lazy when the reconciliation
        began (it waits GRAFT_WAIT_S before moving, as ``PeerLink._sync``)."""
        if epoch != self.epoch:
            return
        if lazy is None:
            lazy = not self.eager
        if sessions == 0:
            self._reconciled_to = self.node.feed.head - 1
        self.sim.sessions += 1
        session = Reconciler(self.node.itemset())
        self._reconcile_round(epoch, session, session.initiate(), sessions, done, moved or [0, 0], lazy)

    def _reconcile_round(
        self,
        epoch: int,
        session: Reconciler,
        message: bytes,
        sessions: int,
        done: Callable[[], None],
        moved: list[int],
        lazy: bool,
    ) -> None:
        mine = self.node.advert_for(self.peer.key)

        def serve(server: SimNode, answer: Answer) -> None:
            server.learn(self.node.key, mine)
            reply = Reconciler(server.itemset()).respond(message)
            answer(wire_map(message=_bin(len(reply)), tree=_ADVERT_BYTES), (reply, server.advert_for(self.node.key)))

        def on_reply(answer: tuple[bytes, spanning.Advert]) -> None:
            reply, theirs = answer
            self.node.learn(self.peer.key, theirs)
            following = session.receive(reply)
            if following is not None:
                self._reconcile_round(epoch, session, following, sessions, done, moved, lazy)
                return

            def pushed() -> None:
                if session.complete or sessions + 1 >= MAX_SESSIONS:
                    done()
                else:
                    self.sync(epoch, done, sessions + 1, moved, lazy=lazy)

            need, have = list(session.need_ids), list(session.have_ids)

            def move() -> None:
                if epoch != self.epoch:
                    return
                still = [i for i in need if i not in self.node.held]
                self._fetch(still, "sync fetch", lambda: self._push_held(have, pushed, moved), moved)

            if lazy and (need or have):  # reconcile_with's settle_s
                self.sim.loop.after(decisions.GRAFT_WAIT_S, move)
            else:
                move()

        body = wire_map(filter=_FILTER_BYTES, message=_bin(len(message)), tree=_ADVERT_BYTES)
        self._call("reconcile", body, serve, on_reply)

    def _fetch(self, ids: list[bytes], channel: str, then: Callable[[], None], moved: list[int] | None = None) -> None:
        """Fetch in chunks of MAX_BATCH ids, one after another, ingesting each."""
        if not ids:
            then()
            return
        chunk, rest = ids[:MAX_BATCH], ids[MAX_BATCH:]

        def serve(server: SimNode, answer: Answer) -> None:
            records = [server.held[i] for i in chunk if i in server.held]
            answer(wire_map(records=wire_list([len(r.raw) for r in records])), records)

        def got(records: list[Record]) -> None:
            outcomes = self.node.ingest(records, self.peer.key, channel)
            if moved is not None:
                moved[0] += outcomes.count("accepted")
            self._fetch(rest, channel, then, moved)

        self._call("fetch", wire_list([32] * len(chunk)), serve, got)

    def _push_held(self, ids: list[bytes], then: Callable[[], None], moved: list[int]) -> None:
        records = [self.node.held[i] for i in ids if i in self.node.held]

        def counted(outcomes: list[str]) -> None:
            moved[1] += outcomes.count("accepted")

        self._push(records, "sync push", then, counted)

    def _push(
        self,
        records: list[Record],
        channel: str,
        then: Callable[[], None],
        outcomes: Callable[[list[str]], None] | None = None,
    ) -> None:
        """Push records in batches (node/peering/sync.py's ``batches``), one after another."""
        by_raw = {r.raw: r for r in records}
        chunks = [[by_raw[raw] for raw in batch] for batch in batches([r.raw for r in records])]

        def next_batch(left: list[list[Record]]) -> None:
            if not left:
                then()
                return
            batch = left[0]

            def serve(server: SimNode, answer: Answer) -> None:
                result = server.ingest(batch, self.node.key, channel)
                answer(wire_map(outcomes=wire_strs(result)), result)

            def answered(result: list[str]) -> None:
                if outcomes is not None:
                    outcomes(result)
                next_batch(left[1:])

            self._call("records", wire_list([len(r.raw) for r in batch]), serve, answered)

        next_batch(chunks)

    # -- the three loops ------------------------------------------------------------------

    def _poll(self, epoch: int, cursor: int, catching_up: bool = False) -> None:
        """PeerLink._pull: long poll (records whole while eager), fetch what we
        lack, maybe reconcile, again; parked while lazy, then the ids the feed
        gained meanwhile, at once."""
        if epoch != self.epoch:
            return
        if not self.eager:
            self._on_graft.append(lambda: self._poll(epoch, cursor, catching_up=True))
            return

        mine = self.node.advert_for(self.peer.key)

        def serve(server: SimNode, answer: Answer) -> None:
            server.learn(self.node.key, mine)
            server.serve_feed(self, cursor, answer, eager=not catching_up, wait=not catching_up)

        def polled(reply: tuple[list[bytes], int, bool, list[Record], spanning.Advert]) -> None:
            ids, new_cursor, behind, whole, theirs = reply
            self.node.learn(self.peer.key, theirs)
            ahead = not catching_up and not behind and self.eager
            if ahead:  # PeerLink._pull: the next eager poll leaves before this answer is taken in
                self._poll(epoch, new_cursor)
            if whole:
                self._prune(epoch, self.node.ingest(whole, self.peer.key, "poll whole"))
            again = catching_up and bool(ids)
            inflight = self.node.inflight
            missing = inflight.claim([i for i in ids if i not in self.node.held], self.sim.loop.now)
            short = False  # every sim peer is within its fetch budget

            def fetched() -> None:
                inflight.release(missing)  # PeerLink._pull's finally
                if ahead:
                    return  # (never behind, and a sim peer is never over its fetch budget: no resync)
                now = self.sim.loop.now
                if decisions.resync_after_pull(behind, short, now, self._last_resync):
                    self._last_resync = now
                    self.sync(epoch, lambda: self._poll(epoch, new_cursor, again))
                else:
                    self._poll(epoch, new_cursor, again)

            self._fetch(missing, "poll fetch", fetched)

        self._call("feed", len(mine.to_query()) + 6, serve, polled, FEED_TIMEOUT_S)  # "&tree=" in the query

    def push_step(self, epoch: int) -> None:
        """PeerLink._push: what our feed gained since the cursor, pushed whole;
        parked while the link is lazy, then on from where the grafting
        reconciliation began."""
        if epoch != self.epoch or not self.node.up:
            return
        if not self.eager:

            def resume() -> None:
                self._push_cursor = max(self._push_cursor, self._reconciled_to)
                self.push_step(epoch)

            self._on_graft.append(resume)
            return
        if self._pushing >= PUSHES_AHEAD:
            return  # the first answer calls us again
        feed = self.node.feed
        entries, self._push_cursor, behind = feed.since(self._push_cursor, self.peer.key, PUSH_BATCH)
        if behind:
            self.sync(epoch, lambda: self._push_entries(epoch, entries))
        else:
            self._push_entries(epoch, entries)

    def _push_entries(self, epoch: int, entries: list[Any]) -> None:
        offered = decisions.to_push(entries, self.peer.key, EVERYTHING, polling=self.node.polled_by(self.peer.key))
        if not offered:
            if self.node.feed.head - 1 > self._push_cursor:
                self.push_step(epoch)
            else:
                self.node.push_idle(self, epoch)
            return
        records = [self.node.held[e.id] for e in offered]
        self._pushing += 1

        def answered() -> None:
            self._pushing -= 1
            self.push_step(epoch)

        self._push(records, "push", answered, lambda outcomes: self._prune(epoch, outcomes))
        self.node.push_idle(self, epoch)  # PUSHES_AHEAD: what the feed gains meanwhile leaves in the next

    def _resync(self, epoch: int, token: int) -> None:
        if epoch == self.epoch and token == self._resync_token:
            lazy, moved = not self.eager, [0, 0]
            self.sync(epoch, lambda: self._after_resync(epoch, lazy, moved), moved=moved, lazy=lazy)

    def _after_resync(self, epoch: int, lazy: bool, moved: list[int]) -> None:
        """PeerLink._resync after its reconciliation: a lazy link's may graft;
        one that found nothing to move waits longer next time."""
        if lazy:
            self._graft(epoch, moved[0], moved[1])
            if not self.eager:  # a peer still settling in the tree hears from us again soon
                settling = not self.node.spanning.peer_settled(self.peer.key)
                self._lazy_s = decisions.LAZY_RESYNC_S if settling else decisions.lazy_interval(self._lazy_s)
        self._schedule_resync(epoch)
