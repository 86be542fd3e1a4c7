"""Local policy: who may talk to this node, and how much.

Open by default: any node may peer and any author may be relayed. An
operator can block peers and authors, or switch to an allow list of peers
(any peer on the list turns the list on). Records a peer pushes unasked are
rate limited per peer and per author with token buckets, checked before any
signature work, so a flooding peer costs little CPU; records we fetched
ourselves during reconciliation are not limited (we asked for them). A peer
that sends invalid records loses score; below the threshold it is refused for
a while. Every table here is bounded.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from node.core.bounded import BoundedTable, TokenBuckets
from node.core.clock import SYSTEM_CLOCK, Clock

MAX_TRACKED = 10_000
IGNORED_WITHIN_S = 0.5


@dataclass(frozen=True)
class Limits:
    peer_rate: float = 100.0
    """Records per second one peer may push unasked (sustained)."""
    peer_burst: float = 2000.0
    """...and in one burst (a reconnecting node pushes what it holds)."""
    author_rate: float = 20.0
    """Records per second from one author, whoever relays them."""
    author_burst: float = 500.0
    peer_bytes_rate: float = 2 * 1024 * 1024
    """Bytes of records per second one peer may push unasked (volume)..."""
    peer_bytes_burst: float = 32 * 1024 * 1024
    penalty_limit: float = 50.0
    """Invalid records tolerated before a peer is refused for ``ban_seconds``."""
    penalty_recovery_per_s: float = 1 / 60
    ban_seconds: float = 600.0


class Policy:
    def __init__(self, limits: Limits | None = None, clock: Clock = SYSTEM_CLOCK) -> None:
        """``clock``'s monotonic time is the ``now`` of every check not handed one."""
        self.limits = limits or Limits()
        self._clock = clock
        self.blocked_peers: set[bytes] = set()
        self.allowed_peers: set[bytes] = set()
        self.blocked_authors: set[bytes] = set()
        limits = self.limits
        self._peer_buckets: TokenBuckets[bytes] = TokenBuckets(limits.peer_rate, limits.peer_burst, MAX_TRACKED)
        self._author_buckets: TokenBuckets[bytes] = TokenBuckets(limits.author_rate, limits.author_burst, MAX_TRACKED)
        self._byte_buckets: TokenBuckets[bytes] = TokenBuckets(
            limits.peer_bytes_rate, limits.peer_bytes_burst, MAX_TRACKED
        )
        self._dirty: set[bytes] = set()
        self._limited_at: BoundedTable[bytes, None] = BoundedTable(MAX_TRACKED)  # stamped when last told
        self._penalties: BoundedTable[bytes, float] = BoundedTable(MAX_TRACKED)  # points, stamped when counted
        self._banned_until: BoundedTable[bytes, float] = BoundedTable(MAX_TRACKED)

    def load(self, rules: Iterable[tuple[str, bytes, str]]) -> None:
        self.blocked_peers.clear()
        self.allowed_peers.clear()
        self.blocked_authors.clear()
        for subject, key, action in rules:
            if subject == "peer" and action == "block":
                self.blocked_peers.add(key)
            elif subject == "peer" and action == "allow":
                self.allowed_peers.add(key)
            elif subject == "author" and action == "block":
                self.blocked_authors.add(key)

    def refusal(self, peer: bytes, now: float | None = None) -> str | None:
        """Why this peer may not talk to us right now, or None."""
        now = self._clock.monotonic() if now is None else now
        if peer in self.blocked_peers:
            return "this node has blocked your key"
        if self.allowed_peers and peer not in self.allowed_peers:
            return "this node only peers with the nodes on its allow list"
        until = self._banned_until.get(peer)
        if until is not None:
            if until > now:
                return f"too many invalid or over-rate records; try again in {int(until - now)} s"
            self._banned_until.pop(peer)
        return None

    def admit_pushed(self, peer: bytes, author: bytes, size: int = 0, now: float | None = None) -> str | None:
        """Rate and volume limits for a record of ``size`` bytes a peer pushed
        unasked; None means go ahead. The author's budget is kept per peer:
        the author is not verified yet, so records forged in an honest
        author's name by one peer cannot spend what another relays."""
        now = self._clock.monotonic() if now is None else now
        if not self._peer_buckets.take(peer, now) or not self._author_buckets.take(peer + author, now):
            return "rate_limited"
        if size and not self._byte_buckets.take(peer, now, size):
            return "rate_limited"
        return None

    def fetch_budget(self, peer: bytes, wanted: int, now: float | None = None) -> int:
        """How many of ``wanted`` records announced by a peer we may fetch now
        (its push budget: announcing is pushing by another route)."""
        now = self._clock.monotonic() if now is None else now
        return self._peer_buckets.take_up_to(peer, now, wanted)

    def ignored_limit(self, peer: bytes, now: float | None = None) -> bool:
        """Note that a peer's push was over its rate; True if it was already
        told so within the last IGNORED_WITHIN_S (an honest node waits a
        second after being told, see PeerClient.push; a flooder does not)."""
        now = self._clock.monotonic() if now is None else now
        last = self._limited_at.entry(peer)
        self._limited_at.put(peer, None, now)
        return last is not None and now - last[1] < IGNORED_WITHIN_S

    def penalise(self, peer: bytes, invalid: float, now: float | None = None) -> None:
        """Cost a peer ``invalid`` points (one per invalid record; a little for
        expired or over-rate ones, see node/peering/ingest.py)."""
        if invalid <= 0:
            return
        now = self._clock.monotonic() if now is None else now
        self._dirty.add(peer)
        points, at = self._penalties.entry(peer) or (0.0, now)
        points = max(0.0, points - (now - at) * self.limits.penalty_recovery_per_s) + invalid
        self._penalties.put(peer, points, now)
        if points >= self.limits.penalty_limit:
            if self._banned_until.full:  # make room from bans that ran out before any live one goes
                self._banned_until.discard_where(lambda until: until <= now)
            self._banned_until.put(peer, now + self.limits.ban_seconds, now)
            self._penalties.pop(peer)

    def penalty(self, peer: bytes) -> float:
        return self._penalties.get(peer) or 0.0

    def dirty_scores(self, now: float, wall: float) -> list[tuple[bytes, float, int, int]]:
        """Scores changed since the last call, as (key, points, updated, banned
        until) in wall-clock seconds, for saving: they outlive reconnects and restarts."""
        out = []
        for key in self._dirty:
            points, at = self._penalties.entry(key) or (0.0, now)
            until = self._banned_until.get(key) or 0.0
            banned = int(wall + (until - now)) if until > now else 0
            out.append((key, points, int(wall - (now - at)), banned))
        self._dirty.clear()
        return out

    def restore_scores(self, rows: Iterable[tuple[bytes, float, int, int]], now: float, wall: float) -> None:
        for key, points, updated, banned_until in rows:
            if points > 0:
                self._penalties.put(key, points, now - max(0.0, wall - updated))
            if banned_until > wall:
                self._banned_until.put(key, now + (banned_until - wall), now)
