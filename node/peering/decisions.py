"""What gossip decides, as pure functions: when to retry, when to give up, when
to reconcile again, what to push, when a link turns lazy or eager again, how
many found peers to dial.

Nothing here does I/O or reads a clock: the time, the randomness (a
``random.Random``) and what the node knows come in as arguments, so the
decisions are unit-tested one by one, and a simulation can run many nodes'
worth of them in one process. ``PeerLink`` and ``Gossip`` act on the answers.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence

from node.peering.feed import FeedEntry
from node.peering.peers import usable_url
from protocol.filters import SyncFilter

MAX_BACKOFF_S = 60.0
FIRST_BACKOFF_S = 0.5
"""A link's first retry waits about this long, doubled per failure up to MAX_BACKOFF_S."""
RESYNC_INTERVAL_S = 300.0
"""A connected link reconciles again about this often (jittered, see ``resync_delay``)."""
MIN_RESYNC_GAP_S = 30.0
"""A peer's feed can ask for a reconciliation (it fell behind, or announced
more than its budget) at most this often."""
MAX_DIALING = 4
"""Found peers being connected to at once: a LAN full of announcements
cannot make the node dial them all together."""
FOUND_GIVE_UP_AFTER = 3
"""Failures in a row after which a found peer's link ends, freeing its slot
(a killed node's mDNS record stays cached for an hour: liveness is ours to judge)."""


UNREACHABLE_MAX_BACKOFF_S = 5.0
"""The cap for a peer that could not be reached at all (refused, unreachable,
timed out): trying again costs it nothing, and a partition that heals, or a
peer back from a power cut, is then found within seconds, not a minute."""


def backoff_delay(failures: int, rng: random.Random, *, unreachable: bool = False) -> float:
    """Seconds before a link that failed ``failures`` times in a row retries:
    exponential, capped (lower when the last failure was ``unreachable``
    rather than an answer), and jittered down to half so links that failed
    together (a peer restarting) do not all come back at the same moment."""
    cap = UNREACHABLE_MAX_BACKOFF_S if unreachable else MAX_BACKOFF_S
    return min(cap, FIRST_BACKOFF_S * (1 << min(failures, 10))) * rng.uniform(0.5, 1.0)


def gives_up(found: bool, failures: int) -> bool:
    """Whether a link ends instead of retrying: only a found peer's, and only
    after FOUND_GIVE_UP_AFTER failures (a configured peer is retried for ever)."""
    return found and failures >= FOUND_GIVE_UP_AFTER


def resync_delay(rng: random.Random, lazy_s: float | None = None) -> float:
    """Seconds until a connected link's next periodic reconciliation (within
    20% of RESYNC_INTERVAL_S, or of a lazy link's ``lazy_s``, see
    ``lazy_interval``, so the links of one node spread out)."""
    return (RESYNC_INTERVAL_S if lazy_s is None else lazy_s) * rng.uniform(0.8, 1.2)


def resync_after_pull(behind: bool, short: bool, now: float, last: float | None) -> bool:
    """Whether the pull loop reconciles now: the peer's feed said we fell
    behind it, or it announced more than its fetch budget let us take, and
    the last such reconciliation (at monotonic ``last``) is MIN_RESYNC_GAP_S old."""
    return (behind or short) and (last is None or now - last > MIN_RESYNC_GAP_S)


WHOLE_BYTES = 64 * 1024
"""At most this much of one feed answer is records sent whole."""


def sent_whole(entry: FeedEntry) -> bool:
    """Whether a record goes whole to a neighbour that does not say how it
    wants them (a node before the eager and lazy links below): one posted here
    (no source) does, and one that came straight from the node that signed it
    (its author is the peer that sent it). A hop then costs one trip instead of
    three (an announcement, then a request for it and the answer). So close to
    its origin few nodes can hold it already, so copies barely grow; further
    out it is announced and fetched once."""
    return entry.source is None or entry.source == entry.author


def whole_records(entries: Sequence[FeedEntry], limit: int = WHOLE_BYTES, *, eager: bool | None = None) -> list[bytes]:
    """The records of ``entries`` a feed answer carries whole, in order, up to
    ``limit`` bytes; the rest are fetched by id. To an eager poller every
    record, to a lazy one none, to one that does not say those ``sent_whole``."""
    if eager is False:
        return []
    out: list[bytes] = []
    size = 0
    for entry in entries:
        if (eager or sent_whole(entry)) and size + len(entry.raw) <= limit:
            out.append(entry.raw)
            size += len(entry.raw)
    return out


# -- eager and lazy links: a spanning tree of whole records ----------------------------
#
# Flooding every record to every neighbour costs a request on each of the
# mesh's links per record, while all but one arrival at each node is a copy
# it holds already. As in Plumtree (Leitao, Pereira and Rodrigues, 2007), a
# link starts *eager*: records cross it whole, at once (a feed answer, a
# push). A batch that brings the receiving end nothing new shows the link
# closes a cycle, and after PRUNE_AFTER such batches in a row it turns
# *lazy* (a prune): nothing crosses it as it happens, and the two ends
# reconcile every few seconds instead (one round
# trip, 35 bytes, when they agree; LAZY_RESYNC_S, doubling to LAZY_MAX_S
# while nothing needs to move). A lazy link's reconciliation that moves
# anything shows the eager links no longer reach one end, and the link turns
# eager again (a graft). The eager links settle into a spanning tree: a
# record crosses each of its links once, whoever posted it, and a tree broken
# by a failure is mended within a few seconds (the failed link's node hurries
# its lazy links), by a silent fault within LAZY_MAX_S.

LAZY_RESYNC_S = 3.0
"""How soon a link that just turned lazy reconciles (jittered, see
``resync_delay``), and again after a link of the node failed: how long a
record can wait where the eager links broke."""
LAZY_MAX_S = 30.0
"""The longest a lazy link waits between reconciliations once they keep
finding nothing to move: on a quiet network a lazy link then costs a request
every half minute, less than an eager link's long poll (renewed every 20 s)."""


def lazy_interval(previous: float) -> float:
    """A lazy link's next interval after a reconciliation that moved nothing:
    doubled, up to LAZY_MAX_S. The tree is whole while they find nothing; a
    link of the node that fails (``PeerLink.hurry``), or the link turning lazy
    again, starts over at LAZY_RESYNC_S."""
    return min(LAZY_MAX_S, 2 * previous)


GRAFT_WAIT_S = 2.0
"""A lazy link's reconciliation moves what differs only this long after it
finds it: a record still on its way over the eager links (a few hops of
100 ms) arrives meanwhile, and is no sign of a broken tree."""

NOTHING_NEW = frozenset({"duplicate", "superseded"})


GRAFT_HOLD_S = 10.0
"""How long a grafted link off the spanning tree (node/peering/spanning.py)
stays eager before, both ends settled, it turns lazy again: long enough to
carry what the broken tree did not, short enough that the shortcuts each
fault grafts do not pile up into a flood (copies alone rarely prune a
shortcut: it brings some record first now and then)."""
PRUNE_AFTER = 3
"""Batches in a row that bring nothing new before a link turns lazy. One is
Plumtree's rule, and right for one sender; with many posting at once, a link
that one record reached second may be the only way another reaches us, and
pruning it at once cuts the tree (mended only a lazy interval later)."""


def copies_in_a_row(outcomes: Sequence[str], before: int) -> int:
    """How many batches in a row a link's records sent whole brought its
    receiver nothing new (each one held already, or older than what is
    held), after a batch with these ``outcomes``; the link turns lazy at
    PRUNE_AFTER. A batch with a new record starts the count again; one of
    refused records (rate limits, policy) says nothing about the tree."""
    if outcomes and all(outcome in NOTHING_NEW for outcome in outcomes):
        return before + 1
    return 0 if "accepted" in outcomes else before


def grafts(accepted: int, pushed_new: int) -> bool:
    """Whether a lazy link's reconciliation makes it eager again: records new
    to us came over it, or the peer still lacked some of ours, GRAFT_WAIT_S
    after the difference was found, so the eager links do not reach one of
    its ends."""
    return accepted > 0 or pushed_new > 0


def to_push(entries: Sequence[FeedEntry], peer: bytes, common: SyncFilter, *, polling: bool) -> list[FeedEntry]:
    """The feed entries worth announcing to ``peer``: none while it holds a long
    poll on our feed (that poll tells it of them already: one copy per edge),
    never one it gave us, and only those inside the filter we share."""
    if polling:
        return []
    return [e for e in entries if e.source != peer and common.admits(e.kind, e.area)]


def dial_slots(max_peers: int, found_links: int, dialing: int) -> int:
    """How many more found peers to dial now: up to ``max_peers`` found links,
    with no more than MAX_DIALING of them connecting at once."""
    return max(0, min(max_peers - found_links, MAX_DIALING - dialing))


def found_urls(urls: Iterable[str], source: str, *, own: set[str], listens_on_loopback: bool) -> list[str]:
    """The URLs of a hint worth keeping: usable for a node like ours (loopback
    only if we listen there ourselves, private addresses only from mDNS on our
    own LAN), and not one of our own."""
    out = []
    for url in (u.rstrip("/") for u in urls):
        if url not in own and usable_url(url, allow_loopback=listens_on_loopback, allow_private=source == "mdns"):
            out.append(url)
    return out


IN_FLIGHT_S = 10.0
"""How long an id asked of one peer is not asked of another: long enough for a
fetch or a push of a batch to land, short enough that a peer which never
sends it costs only a short wait before the next announce brings it."""
MAX_IN_FLIGHT = 100_000


class InFlight:
    """Ids this node has asked one peer for (a fetch after its feed named them,
    or an announce we answered "wanted"): another peer's announce of the same
    id within ``IN_FLIGHT_S`` is not answered with a second request, so a
    record arrives about once, not once per neighbour that heard of it in the
    same round trip. Pure: the caller passes the (monotonic) time."""

    def __init__(self, limit: int = MAX_IN_FLIGHT) -> None:
        self.limit = limit
        self._until: dict[bytes, float] = {}

    def claim(self, ids: Iterable[bytes], now: float) -> list[bytes]:
        """Those of ``ids`` no one is fetching now, marked as fetched from now on."""
        if len(self._until) >= self.limit:
            self._until = {i: t for i, t in self._until.items() if t > now}
        claimed = []
        for record_id in ids:
            if self._until.get(record_id, 0.0) > now:
                continue
            if len(self._until) < self.limit:
                self._until[record_id] = now + IN_FLIGHT_S
            claimed.append(record_id)
        return claimed

    def release(self, ids: Iterable[bytes]) -> None:
        """They arrived (or the request for them failed): another peer may send them."""
        for record_id in ids:
            self._until.pop(record_id, None)
