"""A mutable sorted set of ``(timestamp, id)`` items with cheap range fingerprints.

``ItemSet`` (protocol.reconcile) is built from a sorted list for one session:
O(n) time and about 150 bytes of Python objects per item, every time. A node
holding a million records cannot pay that per reconciliation, so its stores
keep an ``ItemTree`` instead: built once, then changed one item at a time as
records arrive, are replaced, expire or are removed. The Reconciler reads it
through the same six calls (``len``, ``index``, ``fingerprint``, ``ids``,
``bound_before``, and ``sketch``: the IBLT of ``protocol.sketch``, kept with
the items, three cells a change).

Layout: each item is one key, the timestamp big-endian then the 32-byte
id, so byte order is item order (a bound ``(T, P)`` is the key ``T`` then
``P``, compared the same way). The timestamp takes 4 bytes while every item's
fits (36-byte keys), 8 once one does not (``_Layout``). Keys live in blocks:
one bytearray of up to ``MAX_BLOCK`` keys each (about 38 bytes per item in
all at a million, the sketch included).
Every block knows the sum of its ids; a bound is found by bisecting the
blocks' first keys, then the block. The running counts and sums over
blocks are recomputed lazily, in O(blocks), only when something changed
since the last read; a range fingerprint then costs two partial block sums
of at most half a block each. An insert or a removal moves at most one
block's bytes.

Pure: no I/O, no clock. Not thread-safe: one owner changes and reads it.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Iterator
from hashlib import sha256
from itertools import accumulate

from protocol.errors import LocalProtocolError
from protocol.reconcile import FINGERPRINT_SIZE, ID_SIZE, MAX_TIMESTAMP, Bound, Item
from protocol.sketch import Sketch

KEY_SIZE = 8 + ID_SIZE
"""The canonical key: 8-byte timestamp, then the id (what ``extend_keys`` takes)."""
TARGET_BLOCK = 128
"""Keys per block after a bulk build: a partial sum reads at most half of
one (several microseconds), and a million items make 8k blocks, whose running
counts and sums take a millisecond or two to recompute after a change. Larger
blocks cost less memory beside the keys (32 took 16 bytes an item, 64 about
8, 128 about 4: 1 to 2 MB less at a million than 64, which an idle node at a
million records needed to stay under 92 MB) and a little more time: a
reconciliation of 1,000 scattered differences at 100k took about 24 ms of
CPU, both sides, instead of 19 (``python -m bench reconcile``)."""
MAX_BLOCK = 2 * TARGET_BLOCK
MIN_BLOCK = TARGET_BLOCK // 4
"""A block this small is merged into its neighbour when that fits."""
_MOD = 2**256
_MAX_TS_BYTES = MAX_TIMESTAMP.to_bytes(8, "big")


def item_key(ts: int, id_: bytes) -> bytes:
    """The canonical 40-byte key of an item (checked: a store hands over only sane items)."""
    if type(ts) is not int or not 0 <= ts <= MAX_TIMESTAMP or type(id_) is not bytes or len(id_) != ID_SIZE:
        raise LocalProtocolError(f"item ({ts!r}, {id_!r}) is not (int in 0..MAX_TIMESTAMP, {ID_SIZE} bytes)")
    return ts.to_bytes(8, "big") + id_


class _Layout:
    """How a tree stores its keys: the timestamp in ``ts`` bytes big-endian, then the id.

    Every timestamp a node holds fits 4 bytes (records dated past 2106 are
    refused long before), so a tree starts narrow: 36-byte keys, 3.8 MB less
    at a million items than 40. An item past ``2**32 - 1`` turns it wide (8
    bytes, every key rewritten once), so any ``MAX_TIMESTAMP`` still works."""

    __slots__ = ("limit", "mask", "size", "slot_bits", "ts")

    def __init__(self, ts: int) -> None:
        self.ts = ts
        self.size = ts + ID_SIZE
        self.limit = 2 ** (8 * ts)  # timestamps below this fit
        self.slot_bits = 8 * self.size
        # Keys read as one little-endian integer past the first timestamp, ANDed
        # with this: ones over each id, zeros over the timestamp that follows it
        # (an AND costs the length of the shorter operand).
        self.mask = int.from_bytes((bytes(ts) + b"\xff" * ID_SIZE) * (MAX_BLOCK + 1), "little") >> (8 * ts)

    def key(self, ts: int, id_: bytes) -> bytes:
        return ts.to_bytes(self.ts, "big") + id_

    def bound_key(self, bound: Bound) -> bytes:
        ts, prefix = bound
        if ts >= self.limit:  # above every key held (INFINITY among them)
            return b"\xff" * (self.size + 1)
        return ts.to_bytes(self.ts, "big") + prefix

    def sum(self, block: bytearray | bytes, a: int, b: int) -> int:
        """Sum of the ids of keys ``[a, b)`` of a block, without a Python loop per key.

        The keys, read as one little-endian integer past the first timestamp and
        masked, hold id ``k`` at bit ``slot_bits * k``. Since ``2**slot_bits``
        is 1 modulo ``2**slot_bits - 1``, adding the upper half of the slots onto
        the lower half keeps the sum, and halving until one slot is left gives it
        (a block's sum stays below ``2**264``, so no slot ever carries into the
        next). Three to four times faster than summing key by key (about 3 us
        for 32)."""
        count = b - a
        if count <= 0:
            return 0
        size = self.size
        x = int.from_bytes(block[a * size + self.ts : b * size], "little") & self.mask
        while count > 1:
            half = (count + 1) // 2
            bits = self.slot_bits * half
            x = (x >> bits) + (x & ((1 << bits) - 1))
            count = half
        return x

    def first(self, block: bytearray) -> bytes | bytearray:
        """A block's first key: blocks are found by bisecting these, read in place
        (a list of them kept beside the blocks cost 1.4 MB at a million items)."""
        return block[: self.size]

    def block_before(self, blocks: list[bytearray], key: bytes) -> int:
        """Index of the last block whose first key is at or below ``key`` (-1: none)."""
        probe: bytes | bytearray = key  # compared with bytearray slices, copied nowhere
        return bisect_right(blocks, probe, key=self.first) - 1

    def find(self, block: bytearray, key: bytes) -> int:
        """Index of the first key in ``block`` at or above ``key``."""
        size = self.size
        lo, hi = 0, len(block) // size
        while lo < hi:
            mid = (lo + hi) // 2
            if block[mid * size : (mid + 1) * size] < key:
                lo = mid + 1
            else:
                hi = mid
        return lo

    def items(self, block: bytearray | bytes) -> Iterator[Item]:
        ts, size = self.ts, self.size
        for k in range(0, len(block), size):
            yield int.from_bytes(block[k : k + ts], "big"), bytes(block[k + ts : k + size])


_NARROW = _Layout(4)
_WIDE = _Layout(8)


class ItemTree:
    """Sorted unique items; ``add`` and ``discard`` in O(log n + block)."""

    __slots__ = (
        "_blocks", "_last", "_last_bound", "_layout", "_prefix", "_size", "_sketch", "_starts", "_sums", "_total"
    )  # fmt: skip

    def __init__(self, items: Iterable[Item] = ()) -> None:
        """Take items sorted by ``(timestamp, id)``, strictly increasing (checked)."""
        self._layout = _NARROW  # wide once an item needs it
        self._blocks: list[bytearray] = []
        self._sums: list[int] = []
        self._size = 0
        self._total = 0  # sum of every id: the whole set's fingerprint needs no recount
        self._starts: list[int] | None = None  # items before each block, then the total
        self._prefix: list[int] | None = None  # sum of ids before each block, then the whole sum
        self._last = (-1, 0)  # (index, sum of ids before it): the last partial sum asked
        self._last_bound: tuple[bytes, int] = (b"", -1)  # (bound key, index): the last bound looked up
        self._sketch = Sketch()  # reconciliation's IBLT of every item, kept with them (O(1) a change)
        self.extend(items)

    # -- changes -------------------------------------------------------------------

    def extend(self, items: Iterable[Item]) -> None:
        """Append items above every item held, in increasing order (a bulk build)."""
        self.extend_keys(b"".join(item_key(ts, id_) for ts, id_ in items))

    def extend_keys(self, keys: bytes) -> None:
        """Append items given as their keys end to end, increasing, above every item held.

        A build hands its items over this way, a chunk at a time, so that the
        rows it read are gone before the tree makes its few objects a block:
        made while the rows were alive, those would pin the allocator's pools
        the rows filled, about 9 MiB at a million items (docs/STORAGE.md)."""
        if len(keys) % KEY_SIZE:
            raise LocalProtocolError(f"{len(keys)} bytes of keys: not a multiple of {KEY_SIZE}")
        if not keys:
            return
        if keys[-KEY_SIZE:-ID_SIZE] > _MAX_TS_BYTES:  # increasing (checked next): the last is the latest
            raise LocalProtocolError(f"item timestamp above {MAX_TIMESTAMP}")
        previous = self._canonical(self._key_at(self._size - 1)) if self._size else b""
        for at in range(0, len(keys), KEY_SIZE):
            key = keys[at : at + KEY_SIZE]
            if key <= previous:
                ts, id_ = int.from_bytes(key[:8], "big"), key[8:]
                raise LocalProtocolError(f"items not strictly increasing at ({ts}, {id_.hex()})")
            previous = key
        if int.from_bytes(keys[-KEY_SIZE:-ID_SIZE], "big") >= self._layout.limit:
            self._widen()
        layout = self._layout
        if layout is _NARROW:  # every timestamp fits 4 bytes: the last, the latest, does
            drop = 8 - layout.ts
            keys = b"".join([keys[at + drop : at + KEY_SIZE] for at in range(0, len(keys), KEY_SIZE)])
        size = layout.size
        block = bytearray()
        if self._blocks and len(self._blocks[-1]) < TARGET_BLOCK * size:  # topped up first
            block = self._blocks.pop()
            self._total -= self._sums.pop()
        at = 0
        while at < len(keys):
            take = TARGET_BLOCK * size - len(block)
            block += keys[at : at + take]
            at += take
            total = layout.sum(block, 0, len(block) // size)
            self._push(block, total)
            self._total += total
            block = bytearray()
        self._size += len(keys) // size
        self._sketch.extend(layout.items(keys))
        self._changed()

    def _canonical(self, key: bytes) -> bytes:
        return bytes(8 - self._layout.ts) + key

    def _widen(self) -> None:
        """Rewrite every key with an 8-byte timestamp (an item past ``2**32 - 1``: never, in practice)."""
        pad = bytes(_WIDE.ts - _NARROW.ts)
        for b, block in enumerate(self._blocks):
            n = _NARROW.size
            self._blocks[b] = bytearray(b"".join(pad + block[k : k + n] for k in range(0, len(block), n)))
        self._layout = _WIDE
        self._changed()

    def _push(self, block: bytearray, total: int) -> None:
        self._blocks.append(bytearray(block))  # a copy of its exact size: a grown one holds spare room
        self._sums.append(total)

    def add(self, ts: int, id_: bytes) -> bool:
        """Insert an item; False if it was held already."""
        item_key(ts, id_)  # checks it
        if ts >= self._layout.limit:
            self._widen()
        layout = self._layout
        size = layout.size
        key = layout.key(ts, id_)
        value = int.from_bytes(id_, "little")
        if not self._blocks:
            self._push(bytearray(key), value)
            self._sketch.add(ts, id_)
            self._size, self._total = 1, value
            self._changed()
            return True
        b = max(layout.block_before(self._blocks, key), 0)
        block = self._blocks[b]
        k = layout.find(block, key)
        if block[k * size : (k + 1) * size] == key:
            return False
        block[k * size : k * size] = key
        self._sketch.add(ts, id_)
        self._sums[b] += value
        self._total += value
        self._size += 1
        if len(block) > MAX_BLOCK * size:
            self._split(b)
        self._changed()
        return True

    def discard(self, ts: int, id_: bytes) -> bool:
        """Remove an item; False if it was not held."""
        item_key(ts, id_)  # checks it
        if not self._blocks or ts >= self._layout.limit:
            return False
        layout = self._layout
        size = layout.size
        key = layout.key(ts, id_)
        b = max(layout.block_before(self._blocks, key), 0)
        block = self._blocks[b]
        k = layout.find(block, key)
        if block[k * size : (k + 1) * size] != key:
            return False
        del block[k * size : (k + 1) * size]
        self._sketch.remove(ts, id_)
        value = int.from_bytes(id_, "little")
        self._sums[b] -= value
        self._total -= value
        self._size -= 1
        if not block:
            del self._blocks[b], self._sums[b]
        else:
            self._merge(b)
        self._changed()
        return True

    def _split(self, b: int) -> None:
        block, size = self._blocks[b], self._layout.size
        half = len(block) // size // 2
        tail = block[half * size :]
        del block[half * size :]
        tail_sum = self._layout.sum(tail, 0, len(tail) // size)
        self._sums[b] -= tail_sum
        self._blocks.insert(b + 1, tail)
        self._sums.insert(b + 1, tail_sum)

    def _merge(self, b: int) -> None:
        """Fold a small block into its next (or previous) neighbour if both fit in one."""
        size = self._layout.size
        if len(self._blocks[b]) >= MIN_BLOCK * size or len(self._blocks) == 1:
            return
        a = b if b + 1 < len(self._blocks) else b - 1  # merge blocks a and a + 1
        if len(self._blocks[a]) + len(self._blocks[a + 1]) > MAX_BLOCK * size:
            return
        self._blocks[a] += self._blocks[a + 1]
        self._sums[a] += self._sums[a + 1]
        del self._blocks[a + 1], self._sums[a + 1]

    def _changed(self) -> None:
        self._starts = None
        self._prefix = None
        self._last = (-1, 0)
        self._last_bound = (b"", -1)

    # -- reads (the Reconciler's interface) -------------------------------------------

    def sketch(self) -> Sketch:
        """The sketch of every item, kept as they change: sending one costs O(cells)."""
        return self._sketch

    def __len__(self) -> int:
        return self._size

    def __contains__(self, item: object) -> bool:
        if not isinstance(item, tuple) or len(item) != 2:
            return False
        try:
            item_key(*item)
        except LocalProtocolError:
            return False
        layout = self._layout
        if not self._blocks or item[0] >= layout.limit:
            return False
        key = layout.key(*item)
        block = self._blocks[max(layout.block_before(self._blocks, key), 0)]
        k = layout.find(block, key)
        return block[k * layout.size : (k + 1) * layout.size] == key

    def _index(self) -> tuple[list[int], list[int]]:
        if self._starts is None or self._prefix is None:
            key_size = self._layout.size
            self._starts = [size // key_size for size in accumulate(map(len, self._blocks), initial=0)]
            self._prefix = list(accumulate(self._sums, initial=0))
        return self._starts, self._prefix

    def index(self, bound: Bound) -> int:
        """Index of the first item at or above ``bound``."""
        layout = self._layout
        key = layout.bound_key(bound)
        if key == self._last_bound[0]:  # neighbouring ranges share a bound
            return self._last_bound[1]
        b = layout.block_before(self._blocks, key)
        if b < 0:
            at = 0
        elif b == len(self._blocks) - 1:  # the newest block (and infinity): no recount needed
            at = self._size - len(self._blocks[b]) // layout.size + layout.find(self._blocks[b], key)
        else:
            starts, _ = self._index()
            at = starts[b] + layout.find(self._blocks[b], key)
        self._last_bound = (key, at)
        return at

    def _locate(self, index: int) -> tuple[int, int]:
        """(block, offset in it) of item ``index`` (0 <= index < len)."""
        starts, _ = self._index()
        b = bisect_right(starts, index) - 1
        return b, index - starts[b]

    def _sum_before(self, index: int) -> int:
        """Sum of the ids of the first ``index`` items (unreduced)."""
        if index == self._last[0]:
            return self._last[1]
        if index <= 0:
            return 0
        if index >= self._size:
            return self._total
        _, prefix = self._index()
        b, k = self._locate(index)
        block, layout = self._blocks[b], self._layout
        n = len(block) // layout.size
        total = prefix[b] + layout.sum(block, 0, k) if 2 * k <= n else prefix[b + 1] - layout.sum(block, k, n)
        self._last = (index, total)
        return total

    def fingerprint(self, lo: int, hi: int) -> bytes:
        """Fingerprint of the items with index in ``[lo, hi)`` (as ``ItemSet.fingerprint``)."""
        low = self._sum_before(lo)  # first: a run of neighbouring ranges reuses each end once
        acc = (self._sum_before(hi) - low) % _MOD
        data = acc.to_bytes(32, "little") + (hi - lo).to_bytes(8, "little")
        return sha256(data).digest()[:FINGERPRINT_SIZE]

    def _key_at(self, index: int) -> bytes:
        b, k = self._locate(index)
        size = self._layout.size
        return bytes(self._blocks[b][k * size : (k + 1) * size])

    def item(self, index: int) -> Item:
        key, ts = self._key_at(index), self._layout.ts
        return int.from_bytes(key[:ts], "big"), key[ts:]

    def ids(self, lo: int, hi: int) -> list[bytes]:
        """Ids of the items with index in ``[lo, hi)``, in order."""
        out: list[bytes] = []
        if lo >= hi:
            return out
        b, k = self._locate(lo)
        left = hi - lo
        ts, size = self._layout.ts, self._layout.size
        while left > 0:
            block = self._blocks[b]
            end = min(len(block) // size, k + left)
            out.extend(bytes(block[j * size + ts : (j + 1) * size]) for j in range(k, end))
            left -= end - k
            b, k = b + 1, 0
        return out

    def bound_before(self, index: int) -> Bound:
        """Shortest bound above item ``index - 1`` and at or below item ``index``."""
        prev_ts, prev_id = self.item(index - 1)
        ts, id_ = self.item(index)
        if ts != prev_ts:
            return (ts, b"")
        common = 0
        while prev_id[common] == id_[common]:
            common += 1
        return (ts, id_[: common + 1])

    def __iter__(self) -> Iterator[Item]:
        layout = self._layout
        for block in self._blocks:
            yield from layout.items(block)
