"""Bounded tables: every table a peer or a client can grow, in one shape.

A ``BoundedTable`` is a dict that keeps at most ``max_size`` entries and,
past that, forgets the one put least recently (LRU: putting a key again makes
it the most recent; reading does not). Each entry remembers the time it was
last put (whatever clock the caller reads), and with ``ttl_s`` an entry that
old is gone for ``get`` and for ``expire``. The table never reads a clock
itself: callers pass ``now``, so tests need no sleeping.

``TokenBuckets`` are rate limits by key on top of one: a bucket holds up to
``burst`` tokens and gains ``rate`` per second; keys past ``max_keys`` are
forgotten least recently used first (a forgotten key starts again full).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class BoundedTable(Generic[K, V]):
    def __init__(self, max_size: int, ttl_s: float | None = None) -> None:
        if max_size < 1:
            raise ValueError("a bounded table holds at least one entry")
        self.max_size = max_size
        self.ttl_s = ttl_s
        self._entries: OrderedDict[K, tuple[V, float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        """Whether ``key`` is held, however old (see ``get`` for the TTL)."""
        return key in self._entries

    def __iter__(self) -> Iterator[K]:
        return iter(self._entries)

    @property
    def full(self) -> bool:
        return len(self._entries) >= self.max_size

    def put(self, key: K, value: V, now: float = 0.0) -> None:
        """Hold ``value`` under ``key``, stamped ``now``, as the most recent entry."""
        self._entries.pop(key, None)
        self._entries[key] = (value, now)
        while len(self._entries) > self.max_size:
            self._entries.popitem(last=False)

    def get(self, key: K, now: float | None = None) -> V | None:
        """The value under ``key``; None if absent or (with a TTL) older than ``ttl_s`` at ``now``."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        if self.ttl_s is not None:
            if now is None:
                raise TypeError("a table with a TTL is read at a time: pass now")
            if now - entry[1] >= self.ttl_s:
                return None
        return entry[0]

    def entry(self, key: K) -> tuple[V, float] | None:
        """The value under ``key`` and the time it was put, however old."""
        return self._entries.get(key)

    def pop(self, key: K) -> tuple[V, float] | None:
        """Remove ``key``; its value and time, or None."""
        return self._entries.pop(key, None)

    def expire(self, now: float) -> int:
        """Forget entries older than ``ttl_s``, from the least recent on, stopping
        at the first fresh one (entries put in time order expire in that order)."""
        if self.ttl_s is None:
            return 0
        dropped = 0
        while self._entries:
            _, (_, at) = next(iter(self._entries.items()))
            if now - at < self.ttl_s:
                break
            self._entries.popitem(last=False)
            dropped += 1
        return dropped

    def discard_where(self, stale: Callable[[V], bool]) -> None:
        """Forget every entry whose value is ``stale`` (one pass over the table)."""
        for key in [k for k, (value, _) in self._entries.items() if stale(value)]:
            del self._entries[key]

    def clear(self) -> None:
        self._entries.clear()


class TokenBuckets(Generic[K]):
    def __init__(self, rate: float, burst: float, max_keys: int) -> None:
        if rate <= 0 or burst <= 0:
            raise ValueError("a token bucket needs a positive rate and burst")
        self.rate = rate
        self.burst = burst
        self._tokens: BoundedTable[K, float] = BoundedTable(max_keys)  # stamped when last updated

    def __len__(self) -> int:
        return len(self._tokens)

    def _level(self, key: K, now: float) -> float:
        entry = self._tokens.entry(key)
        if entry is None:
            return self.burst
        tokens, updated = entry
        return min(self.burst, tokens + (now - updated) * self.rate)

    def take(self, key: K, now: float, cost: float = 1.0) -> bool:
        """Spend ``cost`` tokens if the bucket holds them (all or nothing)."""
        tokens = self._level(key, now)
        spent = cost if tokens >= cost else 0.0
        self._tokens.put(key, tokens - spent, now)
        return spent == cost

    def take_up_to(self, key: K, now: float, wanted: int) -> int:
        """Spend as many whole tokens as are there, up to ``wanted``; returns how many."""
        tokens = self._level(key, now)
        spent = max(0, min(wanted, int(tokens)))
        self._tokens.put(key, tokens - spent, now)
        return spent

    def give_back(self, key: K, now: float, tokens: float = 1.0) -> None:
        """Return tokens spent on something that turned out not to count (never past the burst)."""
        self._tokens.put(key, min(self.burst, self._level(key, now) + tokens), now)

    def wait_s(self, key: K, now: float, cost: float = 1.0) -> float:
        """Seconds until the bucket holds ``cost`` tokens (0 if it does now); spends nothing."""
        return max(0.0, (cost - self._level(key, now)) / self.rate)
