"""Recently accepted records, for peers that hold a long poll open.

A node behind NAT cannot be pushed to, so it asks its peers "anything after
N?" and waits. The feed is a bounded ring of (sequence, id, raw bytes, source
key): a caller is never told of a record it gave us, and one that has fallen
behind the ring's start is told to reconcile instead. Callers get ids, and
fetch only those they lack, so a record's body crosses to a node about once
however many neighbours announce it.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections import deque
from dataclasses import dataclass

from protocol.records import Record


@dataclass(frozen=True)
class FeedEntry:
    seq: int
    id: bytes
    raw: bytes
    kind: str
    area: str | None  # kind and area: enough to apply a sync filter without parsing raw
    source: bytes | None  # the peer key it came from; None: posted here
    author: bytes | None = None  # the key that signed it (the node it was posted on, for members' posts)


class RecordFeed:
    def __init__(self, capacity: int = 10_000) -> None:
        self._entries: deque[FeedEntry] = deque(maxlen=capacity)
        self._next = 1
        self._changed = asyncio.Condition()
        self._closed = False

    async def close(self) -> None:
        """Wake every long poll now (shutdown must not wait out their timeouts)."""
        self._closed = True
        async with self._changed:
            self._changed.notify_all()

    @property
    def head(self) -> int:
        """The sequence number the next entry will get."""
        return self._next

    async def publish(self, records: list[Record], source: bytes | None) -> None:
        if not records:
            return
        self.append(records, source)
        async with self._changed:
            self._changed.notify_all()

    def append(self, records: list[Record], source: bytes | None) -> None:
        """Add entries without waking anyone: ``publish`` does both; the
        simulation (bench/sim) wakes its own simulated polls."""
        for record in records:
            entry = FeedEntry(self._next, record.id, record.raw, record.kind, record.area, source, record.author)
            self._entries.append(entry)
            self._next += 1

    def since(self, after: int, caller: bytes, limit: int) -> tuple[list[FeedEntry], int, bool]:
        """Entries after ``after`` not from ``caller``: (entries, new cursor, fell_behind)."""
        oldest = self._entries[0].seq if self._entries else self._next
        fell_behind = after + 1 < oldest
        out: list[FeedEntry] = []
        cursor = max(after, oldest - 1)
        # Sequence numbers are consecutive, so the first entry after ``after``
        # is at a known index: skip to it in C rather than look at the whole
        # ring (up to 10k entries) on every poll of every peer.
        for entry in itertools.islice(self._entries, max(0, after + 1 - oldest), None):
            if len(out) >= limit:
                break
            cursor = entry.seq
            if entry.source != caller:
                out.append(entry)
        if not out and not fell_behind:
            cursor = max(cursor, self._next - 1)
        return out, cursor, fell_behind

    @property
    def closed(self) -> bool:
        return self._closed

    async def wait(self, after: int, max_wait: float) -> None:
        """Return once something newer than ``after`` exists, the feed is closed,
        or ``max_wait`` seconds have passed."""
        # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a
        # cancellation that arrives as the inner wait completes, and a link
        # being stopped must see its cancellation.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(max_wait), self._changed:
                await self._changed.wait_for(lambda: self._closed or self._next - 1 > after)
