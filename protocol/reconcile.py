"""Range-based set reconciliation (Negentropy style) of ``(timestamp, id)`` items.

Owns the ``ItemSet`` index, the reconcile message format and the ``Reconciler``
state machine for one side of one session. Pure: bytes in, bytes out.

Strategy: both sides hold items sorted by ``(timestamp, id)``. The initiator
opens with one fingerprint of its whole set, so "already in sync" costs one
small round trip. A fingerprint equal to the receiver's own for the range is
answered with SKIP; otherwise the receiver sends the ids it holds there when
they are at most ``idlist_threshold``, else it splits the range into
``branching`` fingerprinted sub-ranges of equal counts of its own items. The
responder is stateless and answers an id list with its own; only the
initiator settles ranges and computes ``have_ids`` and ``need_ids``, and it
sends nothing when its next message would be all SKIP. Prefix sums make a
range fingerprint O(1) and bisection finds a bound in O(log n), so a session
costs O(differences x log n), not O(n).

Version 2 (``docs/PROTOCOL.md`` 5.4, 5.5) adds three things to that. The
split of the whole set ends in a tail of small sub-ranges toward the newest
end, and the initiator answers a differing range of at most
``initiator_idlist_threshold`` of its items with its ids, so recent
differences settle in two round trips. When many ranges of the first split
differ (scattered differences), the initiator asks for the responder's
sketch (``protocol.sketch``, an IBLT kept by the index as items change),
subtracts its own, and peels the differences in one more round trip; if
peeling or its checks fail, it goes on by ranges from where it was. A
responder answers every message in the version it came in.

Frame limit: a reply that would pass ``max_message_bytes`` stops and covers
the rest with one fingerprint for a later round. The initiator keeps its
unsettled ranges, one per range sent, and takes such a remainder apart along
them instead of searching it again, then sends no more ranges than the peer
could answer; when its own message is full it sends SKIP and owes the rest.

The initiator trusts a reply only as an answer to what it asked: an id list
must start one of its unsettled ranges that it sent (as a fingerprint or as
ids) and stay inside it, ending early only when the cut remainder follows,
and a fingerprint other than that last remainder must lie inside one range it
sent as a fingerprint (a split). Anything else is a ``ReconcileError``: a
hostile responder can neither settle a range twice nor one it was never
asked about. Once ``max_need_ids`` ids we lack are known, the initiator ends
the session early (``complete`` is False): the caller fetches those and
reconciles again, so a peer far ahead (a new node's first sync) is caught up
in steps, and a lying peer can make us hold at most that many made-up ids.
Every other cost of a message, on either side, is bounded by the frame limit;
a responder's also by ``max_ranges_answered``, and it works ranges out only
as it writes its reply (none past a full one but the first that differs).

Fingerprint of a range: the first 16 bytes of SHA-256 over the sum of its ids,
read as little-endian 256-bit integers, modulo 2**256, written as 32 bytes
little-endian, followed by the item count as 8 bytes little-endian. A sum is
only as strong as the ids are random: ours are SHA-256 digests, so two
different ranges agree by chance with negligible probability.

Wire format, one canonical msgpack value (``protocol.codec``)::

    message = [version, [range, ...]]    version 2 (PROTOCOL_VERSION) or 1; at least one range
            | [2, [range, ...], sketch]  a sketch's size asked for (uint), or its cells (bin)
    range   = [ts, prefix, mode, payload]

A range runs from the previous range's upper bound (the first from ``(0,
b"")``) up to, excluding, its own upper bound ``(timestamp, prefix)``; upper
bounds strictly increase and the last is infinity. Item ``(t, id)`` is below
bound ``(T, P)`` iff ``(t, id) < (T, P)`` (bytes compared lexicographically);
a sender's prefix is the shortest start of the id of the first item above the
bound that tells it from the item before, empty when their timestamps differ.

- ``ts``: uint; 0 is infinity (``prefix`` then empty); otherwise the bound's
  timestamp is the previous finite bound's timestamp in this message (0 at the
  start) plus ``ts - 1``. Item timestamps are at most ``MAX_TIMESTAMP``.
- ``prefix``: bin of 0..32 bytes.
- ``mode`` 0 SKIP, ``payload`` nil: nothing to do in this range.
  ``mode`` 1 FINGERPRINT, ``payload`` bin 16: the sender's fingerprint.
  ``mode`` 2 IDLIST, ``payload`` array of bin 32: every id the sender holds in
  the range, in item order.

Example: the initiator opens with ``[2, [[0, b"", 1, <16 bytes>]]]`` (26 bytes:
``92 02 91 94 00 c4 00 01 c4 10`` then the fingerprint) and an in-sync
responder answers ``[2, [[0, b"", 0, nil]]]`` (9 bytes). A deeper reply::

    [2, [[1700000001, b"", 1, <fp>],      fingerprint below (1700000000, b"")
         [86401, b"", 1, <fp>],           fingerprint below (1700086400, b"")
         [1, b"\\x8a", 2, [<id>, <id>]],   ids below (1700086400, b"\\x8a")
         [0, b"", 0, nil]]]               nothing to do up to infinity
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from enum import Enum, IntEnum
from hashlib import sha256
from itertools import chain
from typing import Protocol

from protocol.codec import Limits, Value, decode, encode
from protocol.errors import DecodeError, LocalProtocolError, ReconcileError
from protocol.sketch import SIZES, SUBTABLES, Sketch, cells_for, estimate_differences, wire_bytes

Bound = tuple[int, bytes]
Item = tuple[int, bytes]
Payload = None | bytes | list[bytes]

PROTOCOL_VERSION = 2
VERSIONS: tuple[int, ...] = (1, 2)
"""Versions a responder answers, each in its own terms; 1 has no sketch and
splits evenly (a node before version 2 refuses a version 2 message, and the
initiator then starts again in version 1)."""
SKIP, FINGERPRINT, IDLIST = 0, 1, 2
MAX_TIMESTAMP = 2**64 - 2  # keeps ``ts`` (delta + 1) and the infinity sentinel inside uint64
ID_SIZE = 32
FINGERPRINT_SIZE = 16
MIN_BOUND: Bound = (0, b"")
INFINITY: Bound = (MAX_TIMESTAMP + 1, b"")  # above every item, so bisection lands on len()

_MOD = 2**256
_HEADER_BYTES = 7  # fixarray + version + worst-case array header of the range list
_REMAINDER_BYTES = 23  # [0, b"", FINGERPRINT, 16 bytes]: room a cut must always keep
_IDLIST_OVERHEAD = 48  # worst-case bytes of a range around its ids (bound 43, mode, header)
_ID_BYTES = 2 + ID_SIZE  # one id as msgpack bin8
_SKETCH_HEADER = 5  # msgpack bin32 header of the sketch's cells
_UNPACED = 2**62


class Items(Protocol):
    """What a Reconciler reads of a sorted item set: ``ItemSet`` here, or the
    node's ``protocol.itemtree.ItemTree`` (kept up to date as records come and go)."""

    def __len__(self) -> int: ...

    def index(self, bound: Bound) -> int:
        """Index of the first item at or above ``bound``."""

    def fingerprint(self, lo: int, hi: int) -> bytes:
        """Fingerprint of the items with index in ``[lo, hi)``."""

    def ids(self, lo: int, hi: int) -> list[bytes]:
        """Ids of the items with index in ``[lo, hi)``, in order."""

    def bound_before(self, index: int) -> Bound:
        """Shortest bound above item ``index - 1`` and at or below item ``index``."""

    def sketch(self) -> Sketch:
        """The full-size sketch (``protocol.sketch``) of every item; read only,
        so a mutable set keeps it up to date (``Sketch.add``/``remove``, O(1))."""


class ItemSet:
    """An immutable sorted set of items with O(1) range fingerprints."""

    __slots__ = ("_items", "_sketch", "_sums")

    def __init__(self, items: Iterable[Item]) -> None:
        """Take items already sorted by ``(timestamp, id)``; check it in one pass."""
        checked: list[Item] = []
        sums = [0]  # unreduced prefix sums: a few bits over 256 is cheaper than a mod per item
        total = 0
        previous: Item = (-1, b"")
        for item in items:
            try:
                ts, id_ = item
            except (TypeError, ValueError):
                raise LocalProtocolError(f"item {item!r} is not a (timestamp, id) pair") from None
            if type(ts) is not int or not 0 <= ts <= MAX_TIMESTAMP or type(id_) is not bytes or len(id_) != ID_SIZE:
                raise LocalProtocolError(f"item {item!r} is not (int in 0..MAX_TIMESTAMP, {ID_SIZE} bytes)")
            pair = (ts, id_)
            if pair <= previous:
                raise LocalProtocolError(f"items not strictly increasing at index {len(checked)}")
            total += int.from_bytes(id_, "little")
            sums.append(total)
            checked.append(pair)
            previous = pair
        self._items = checked
        self._sums = sums
        self._sketch: Sketch | None = None

    def sketch(self) -> Sketch:
        """The full-size sketch of every item, built on first use (O(n)) and kept.

        A mutable index keeps it up to date instead (``Sketch.add``/``remove``
        on every change), so sending one costs O(cells)."""
        if self._sketch is None:
            self._sketch = Sketch.build(self._items)
        return self._sketch

    @classmethod
    def from_unsorted(cls, items: Iterable[Item]) -> ItemSet:
        """Sort first; duplicates are still refused."""
        try:
            ordered = sorted(items)
        except TypeError:
            raise LocalProtocolError("items are not comparable (timestamp, id) pairs") from None
        return cls(ordered)

    def __len__(self) -> int:
        return len(self._items)

    def index(self, bound: Bound) -> int:
        """Index of the first item at or above ``bound``."""
        return bisect_left(self._items, bound)

    def fingerprint(self, lo: int, hi: int) -> bytes:
        """Fingerprint of the items with index in ``[lo, hi)``."""
        acc = (self._sums[hi] - self._sums[lo]) % _MOD
        data = acc.to_bytes(32, "little") + (hi - lo).to_bytes(8, "little")
        return sha256(data).digest()[:FINGERPRINT_SIZE]

    def ids(self, lo: int, hi: int) -> list[bytes]:
        return [id_ for _, id_ in self._items[lo:hi]]

    def bound_before(self, index: int) -> Bound:
        """Shortest bound above item ``index - 1`` and at or below item ``index``."""
        prev_ts, prev_id = self._items[index - 1]
        ts, id_ = self._items[index]
        if ts != prev_ts:
            return (ts, b"")
        common = 0
        while prev_id[common] == id_[common]:  # ids differ: items are unique
            common += 1
        return (ts, id_[: common + 1])


@dataclass(frozen=True)
class ReconcileConfig:
    """Tuning of a session; both sides should use the same frame limit."""

    branching: int = 112
    """Sub-ranges a mismatching range is split into. Wide, because each level
    of the tree costs half a round trip: 112 x 112 x 16 is about 200k, so a set
    that size reaches id lists after two splits and a few recent differences
    cost two round trips (a split is about 2.8 KB)."""
    idlist_threshold: int = 16
    """A mismatching range where we hold at most this many items is answered
    with their ids (34 bytes each) instead of a split (about 25 bytes per
    sub-range). Small, because scattered differences leave one difference per
    leaf range and the other ids in it are wasted; 16 still ends the search on
    the responder's turn for 100k items at this branching."""
    initiator_idlist_threshold: int = 64
    """Version 2: a mismatching range where the initiator holds at most this
    many items is sent as its ids (the responder answers with its own) rather
    than split, saving a round trip. Recent differences are dense: the finer
    split of the newest end leaves them in ranges this small."""
    sketch_min_ranges: int = 8
    """Version 2: when at least this many ranges of the first split differ,
    the differences are scattered and the initiator asks for the responder's
    sketch (``protocol.sketch``), sized for the differences it estimates,
    instead of splitting further; fewer, and ranges find them more cheaply."""
    max_message_bytes: int = 64 * 1024
    """Frame limit for every message, sent or accepted (at least 512)."""
    max_rounds: int = 512
    """Round trips after which the session is abandoned as a runaway peer
    (512 frames of ids is about 1M ids at the default frame limit)."""
    max_need_ids: int = 100_000
    """Most ids the initiator takes from the peer as ``need_ids`` in one
    session; on reaching it the session ends early with ``complete`` False.
    The peer's ids cannot be checked before they are fetched, so this bounds
    what a hostile responder can make us hold (about 12 MB at 100k); an honest
    peer further ahead is caught up over several sessions."""

    max_ranges_answered: int = 4096
    """Most ranges other than SKIP a responder works out per message (two
    bisections and a fingerprint, or a list of ids, each); past them it cuts
    its reply as if its frame were full, and the initiator asks again for the
    rest. Above the 2,848 fingerprints a 64 KiB frame carries, so an honest
    peer is never cut by it; what it bounds is a message of thousands of tiny
    id lists, or a frame limit set larger."""

    def __post_init__(self) -> None:
        lows = (
            ("branching", 2),
            ("idlist_threshold", 1),
            ("initiator_idlist_threshold", 1),
            ("sketch_min_ranges", 1),
            ("max_message_bytes", 512),
            ("max_rounds", 1),
            ("max_ranges_answered", 1),
        )
        for name, low in (*lows, ("max_need_ids", 0)):
            value = getattr(self, name)
            if type(value) is not int or value < low:
                raise LocalProtocolError(f"ReconcileConfig.{name} must be an int >= {low}, got {value!r}")


@dataclass
class ReconcileResult:
    """Outcome of ``reconcile_in_memory``, seen from the initiator."""

    have_ids: list[bytes]
    need_ids: list[bytes]
    round_trips: int
    bytes_sent: int
    bytes_received: int
    message_sizes: list[int] = field(default_factory=list)
    """Every message in order: initiator, responder, initiator..."""
    complete: bool = True
    """False when the session stopped at ``max_need_ids``."""

    @property
    def total_bytes(self) -> int:
        return self.bytes_sent + self.bytes_received


_Range = tuple[Bound, Bound, int, Payload]  # lower, upper, mode, payload


class _Kind(IntEnum):
    """What a range is to one side: the kind of an action (what we owe the peer
    for it) or of an initiator's unsettled span. The values only tell kinds
    apart (they are never ordered, nor sent): an IntEnum so that the hot loops
    compare plain ints."""

    DONE = 0
    """Settled, or nothing to do: sent as SKIP."""
    SPLIT = 1
    """The fingerprints differ: we owe a split (or our ids, when few)."""
    OFFER = 2
    """Our fingerprint, not compared yet."""
    ANSWER = 3
    """We owe our ids (the peer sent its own)."""
    SENT_FP = 4
    """An initiator's span sent as a fingerprint, awaiting the answer."""
    SENT_IDS = 5
    """An initiator's span sent as ids, awaiting the answer."""
    CUT = 6
    """A responder's stop at ``max_ranges_answered``: the reply is cut there."""


class _Role(Enum):
    UNUSED = "unused"
    INITIATOR = "initiator"
    RESPONDER = "responder"


# Module names for the kinds: the hot paths read a global, not a class attribute.
_DONE, _SPLIT, _OFFER, _ANSWER, _CUT = _Kind.DONE, _Kind.SPLIT, _Kind.OFFER, _Kind.ANSWER, _Kind.CUT
_SENT_FP, _SENT_IDS = _Kind.SENT_FP, _Kind.SENT_IDS
_AWAITING = frozenset({_SENT_FP, _SENT_IDS})
"""Spans we sent and the peer has not answered yet: only these take ids or a split."""
_OWES_IDS = frozenset({_SENT_IDS, _ANSWER})
"""Spans whose remainder past a cut we answer with ids (the peer sent ids there)."""
_Action = tuple[Bound, Bound, int, int, _Kind]  # lower, upper, first index, end index, kind
_Span = tuple[Bound, Bound, _Kind]  # lower, upper, kind


class _Writer:
    """Encodes ranges in order and cuts the message at the frame budget."""

    __slots__ = ("cut", "lo", "open", "prev_ts", "ranges", "room", "window")

    def __init__(self, max_bytes: int, window: int) -> None:
        self.ranges: list[Value] = []
        self.lo = MIN_BOUND
        self.room = max_bytes - _HEADER_BYTES - _REMAINDER_BYTES
        self.prev_ts = 0
        self.cut: Bound | None = None
        self.open: list[_Span] = []  # the non-SKIP ranges written
        self.window = window  # most non-SKIP ranges worth sending at once

    def put(self, hi: Bound, mode: int, payload: Value) -> bool:
        if self.cut is not None:
            return False
        ts = 0 if hi == INFINITY else hi[0] - self.prev_ts + 1
        rng: Value = [ts, hi[1], mode, payload]
        size = len(encode(rng))
        if size > self.room or (mode != SKIP and len(self.open) >= self.window):
            self.cut = self.lo
            return False
        self.room -= size
        self.ranges.append(rng)
        if mode != SKIP:
            self.open.append((self.lo, hi, _SENT_IDS if mode == IDLIST else _SENT_FP))
        self.lo = hi
        self.prev_ts = hi[0] if ts else self.prev_ts
        return True

    def id_room(self) -> int:
        return (self.room - _IDLIST_OVERHEAD) // _ID_BYTES


class Reconciler:
    """One side of one session: ``initiate`` then ``receive`` until None, or ``respond``."""

    def __init__(
        self, items: Items, config: ReconcileConfig = ReconcileConfig(), version: int = PROTOCOL_VERSION
    ) -> None:
        """``version`` is what an initiator speaks (1 to a node that refused 2);
        a responder answers each message in the version it came in."""
        if version not in VERSIONS:
            raise LocalProtocolError(f"reconcile version {version!r} is not one of {VERSIONS}")
        self._items = items
        self._config = config
        self._version = version
        # Slack over our frame for a peer that counts a little differently; depth:
        # message > range list > range > id list. A bin is at most a sketch
        # (prefixes are checked to 32 bytes, fingerprints to 16, ids to 32).
        size = config.max_message_bytes + 1024
        self._limits = Limits(max_size=size, max_str=0, max_bin=size, max_array=size, max_map=0, max_depth=4)
        self._role = _Role.UNUSED
        self._asked: int | None = None  # initiator: the sketch size asked for, awaiting it
        self._sketched = False  # initiator: a sketch was asked for in this session (once)
        self._open: list[_Span] = []  # initiator: unsettled ranges, sorted
        self._window = _UNPACED  # initiator: non-SKIP ranges the peer can answer in one reply
        self._have_seen: set[bytes] = set()
        self._need_seen: set[bytes] = set()
        self.have_ids: list[bytes] = []
        """Ids we hold and the peer lacks (initiator only), each once."""
        self.need_ids: list[bytes] = []
        """Ids the peer holds and we lack (initiator only), each once."""
        self.rounds = 0
        self.bytes_sent = 0
        self.bytes_received = 0
        self.done = False
        self.complete = True
        """False when the session ended early at ``max_need_ids``: reconcile again."""

    def initiate(self) -> bytes:
        """First message: one fingerprint of the whole set, cheapest when in sync."""
        if self._role is not _Role.UNUSED:
            raise LocalProtocolError(f"initiate() on a Reconciler already used as the {self._role.value}")
        self._role = _Role.INITIATOR
        whole = self._items.fingerprint(0, len(self._items))
        message = encode([self._version, [[0, b"", FINGERPRINT, whole]]])
        self._open = [(MIN_BOUND, INFINITY, _SENT_FP)]
        self.bytes_sent += len(message)
        return message

    def respond(self, message: bytes) -> bytes:
        """Answer one initiator message; nothing is kept between messages."""
        if self._role is _Role.INITIATOR:
            raise LocalProtocolError("respond() on the initiator of a session")
        self._role = _Role.RESPONDER
        items = self._items
        version, ranges, asked = self._accept(message)
        self._version = version
        cells = b""
        if asked is not None:
            if type(asked) is not int or asked not in SIZES or not self._sketch_fits(asked):
                shown = asked if type(asked) is int else type(asked).__name__
                raise ReconcileError(f"a sketch of {shown} cells per subtable: not a size that fits the frame")
            cells = items.sketch().fold(asked).encode()
        reply, _ = self._write(self._answers(ranges), defer=False, sketch=cells if asked is not None else None)
        self.bytes_sent += len(reply)
        return reply

    def _answers(self, ranges: list[_Range]) -> Iterator[_Action]:
        """What each of the peer's ranges asks of us, neighbouring settled ones
        merged, worked out only as the reply is written: once the frame is
        full, the ranges past the cut cost nothing more than finding the first
        that differs (the remainder is then sent as one fingerprint)."""
        items = self._items
        budget = self._config.max_ranges_answered
        done: _Action | None = None  # settled ranges not yielded yet
        for lo, hi, mode, payload in ranges:
            if mode == SKIP:  # nothing to look up
                kind, i, j = _DONE, 0, 0
            elif budget == 0:  # cut here: the rest is asked again
                kind, i, j = _CUT, 0, 0
            else:
                budget -= 1
                i, j = items.index(lo), items.index(hi)
                kind = _ANSWER if mode == IDLIST else _DONE if payload == items.fingerprint(i, j) else _SPLIT
            if kind == _DONE:
                done = (done[0] if done else lo, hi, 0, 0, _DONE)
                continue
            if done is not None:
                yield done
                done = None
            yield (lo, hi, i, j, kind)
            if kind == _CUT:
                return
        if done is not None:
            yield done

    def _sketch_fits(self, size: int) -> bool:
        """A sketch of ``size`` leaves room in our frame for a range list (the remainder at least)."""
        room = self._config.max_message_bytes - _HEADER_BYTES - _REMAINDER_BYTES - _SKETCH_HEADER
        return wire_bytes(size) <= room

    def receive(self, message: bytes) -> bytes | None:
        """Take the responder's reply; return the next message, or None when done."""
        if self._role is not _Role.INITIATOR or self.done:
            raise LocalProtocolError("receive() before initiate() or after the session ended")
        version, ranges, cells = self._accept(message)
        if version != self._version:
            raise ReconcileError(f"a version {version} reply in a version {self._version} session")
        asked, self._asked = self._asked, None
        if asked is not None:
            if not isinstance(cells, bytes) or len(cells) != wire_bytes(asked):
                raise ReconcileError(f"the reply lacks the sketch of {asked} cells per subtable asked for")
            if self._use_sketch(Sketch.decode(cells, asked)):
                self.done = True
                return None
        elif cells is not None:
            raise ReconcileError("a sketch we did not ask for")
        self._check_answers(ranges)
        self._pace(ranges[-1])
        actions: list[_Action] = []
        for lo, hi, _mode, payload in ranges:
            if isinstance(payload, list):  # their ids: this range is settled now
                self._settle(self._items.index(lo), self._items.index(hi), payload)
                _add(actions, (lo, hi, 0, 0, _DONE))
            else:
                self._route(actions, lo, hi, payload)
        if not self.complete:  # max_need_ids reached: fetch those, then sync again
            self.done = True
            return None
        size = self._plan_sketch(ranges) if self.rounds == 1 and self._version >= 2 else None
        if size is not None:  # everything waits for the sketch; if it fails to peel, ranges go on
            self._sketched, self._asked = True, size
            self._open = [(lo, hi, kind) for lo, hi, _, _, kind in actions if kind != _DONE]
            request = encode([self._version, [[0, b"", SKIP, None]], size])
            self.bytes_sent += len(request)
            return request
        reply, self._open = self._write(actions, defer=True)
        if not self._open:  # all settled: the next message would be all SKIP
            self.done = True
            return None
        self.bytes_sent += len(reply)
        return reply

    def _accept(self, message: bytes) -> tuple[int, list[_Range], Value | None]:
        if self.rounds >= self._config.max_rounds:
            raise ReconcileError(f"session exceeded {self._config.max_rounds} rounds")
        self.rounds += 1
        self.bytes_received += len(message) if isinstance(message, (bytes, bytearray, memoryview)) else 0
        return _parse(message, self._limits)

    def _plan_sketch(self, ranges: list[_Range]) -> int | None:
        """After the first split: the sketch size to ask for, or None to go on by ranges.

        Asked for when at least ``sketch_min_ranges`` ranges differ (scattered
        differences: splitting them all costs a split per range per level) and
        the estimated differences fit the largest sketch our frame carries;
        the largest when every range of the bigger half differs (the estimate
        is then only a lower bound)."""
        items = self._items
        seen: list[tuple[int, bool]] = []
        for lo, hi, mode, payload in ranges:
            if mode == FINGERPRINT:
                i, j = items.index(lo), items.index(hi)
                seen.append((j - i, payload != items.fingerprint(i, j)))
        if sum(differs for _, differs in seen) < self._config.sketch_min_ranges:
            return None
        estimate = estimate_differences(seen, len(items))
        largest = max(size for size in SIZES if self._sketch_fits(size))
        if estimate > SUBTABLES * largest:  # it would not peel: ranges catch up in steps
            return None
        big = sorted(count for count, _ in seen)[len(seen) // 2]
        if all(differs for count, differs in seen if count >= big):  # saturated: a lower bound only
            return largest
        return min(cells_for(int(estimate) + 1), largest)

    def _use_sketch(self, theirs: Sketch) -> bool:
        """Peel our sketch minus theirs; True if it gave every difference, checked.

        A have id must be an item we hold (found by its stamp as timestamp), a
        need id one we do not; anything else, or a table that does not peel,
        and the session goes on by ranges from where it was."""
        peeled = self._items.sketch().fold(theirs.size).subtract(theirs).peel()
        if peeled is None:
            return False
        ours, missing = peeled
        if not all(self._holds(stamp, id_) for stamp, id_ in ours):
            return False
        if any(self._holds(stamp, id_) for stamp, id_ in missing):
            return False
        for _, id_ in ours:
            if id_ not in self._have_seen:
                self._have_seen.add(id_)
                self.have_ids.append(id_)
        for _, id_ in missing:
            if id_ not in self._need_seen:
                if len(self.need_ids) >= self._config.max_need_ids:
                    self.complete = False
                    break
                self._need_seen.add(id_)
                self.need_ids.append(id_)
        return True

    def _holds(self, stamp: int, id_: bytes) -> bool:
        """Whether we hold ``id_`` at timestamp ``stamp`` (a stamp is the low 32 bits:
        an item dated past 2106 is not found, and its sketch falls back to ranges)."""
        i = self._items.index((stamp, id_))
        return i < len(self._items) and self._items.ids(i, i + 1) == [id_]

    def _check_answers(self, ranges: list[_Range]) -> None:
        """Refuse ids or a split for anything but our unsettled ranges as we sent them.

        A responder answers our ranges in order: SKIP where it matched, a split
        inside a range we sent as a fingerprint, its ids for the whole of a
        range we sent (or their head, then the cut), and at the cut one
        FINGERPRINT from there to infinity, which ``_route`` takes apart. Every
        range of ours is answered once, so a settled one is not open any more.
        """
        last = len(ranges) - 1
        for k, (lo, hi, mode, _) in enumerate(ranges):
            if mode == SKIP or (mode == FINGERPRINT and k == last):
                continue
            at = bisect_right(self._open, lo, key=lambda span: span[1])
            span_lo, span_hi, kind = self._open[at] if at < len(self._open) else (INFINITY, INFINITY, _DONE)
            if not (span_lo <= lo and hi <= span_hi and kind in _AWAITING):
                raise ReconcileError(f"{'ids' if mode == IDLIST else 'a split'} for a range we did not leave open")
            if mode == FINGERPRINT and kind != _SENT_FP:
                raise ReconcileError("a split of a range we sent as ids")
            if mode == IDLIST and lo != span_lo:
                raise ReconcileError("ids for part of an open range")
            if mode == IDLIST and hi < span_hi and not (k == last - 1 and ranges[last][2] == FINGERPRINT):
                raise ReconcileError("ids cut short without the remainder after them")

    def _pace(self, last: _Range) -> None:
        """A reply cut short ends in a fingerprint spanning several of our ranges."""
        lo, _, mode, _ = last
        tail = self._open[-1:]
        if mode == FINGERPRINT and not (tail and tail[0][0] <= lo and tail[0][1] == INFINITY):
            # What we send beyond what the peer answered would only be sent again.
            answered = bisect_right(self._open, lo, key=lambda span: span[1])
            self._window = max(answered, self._config.branching)
        else:
            self._window = min(2 * self._window, _UNPACED)

    def _route(self, actions: list[_Action], lo: Bound, hi: Bound, theirs: bytes | None) -> None:
        """Decide what a SKIP or FINGERPRINT range from the peer asks of us."""
        items = self._items
        k = bisect_right(self._open, lo, key=lambda span: span[1])
        spans: list[_Span] = []
        while k < len(self._open) and self._open[k][0] < hi:
            spans.append(self._open[k])
            k += 1
        if theirs is not None and len(spans) == 1 and spans[0][0] <= lo and hi <= spans[0][1]:
            # No difference is recorded inside one unsettled range, so the
            # fingerprints are comparable.
            i, j = items.index(lo), items.index(hi)
            _add(actions, (lo, hi, i, j, _DONE if theirs == items.fingerprint(i, j) else _SPLIT))
            return
        # A cut remainder (or the echo of our own deferral): take our unsettled
        # ranges under it one by one, as we knew them.
        cursor = lo
        for span_lo, span_hi, span_kind in spans:
            a, b = max(span_lo, lo), min(span_hi, hi)
            if span_kind in _AWAITING and theirs is None:
                kind = _DONE  # the peer matched our fingerprint (it answers ids with ids)
            elif span_kind in _OWES_IDS:
                kind = _ANSWER
            elif span_kind == _SENT_FP or (a, b) != (span_lo, span_hi):
                kind = _OFFER
            else:
                kind = span_kind
            if a > cursor:
                _add(actions, (cursor, a, 0, 0, _DONE))
            _add(actions, (a, b, items.index(a), items.index(b), kind))
            cursor = b
        if cursor < hi:
            _add(actions, (cursor, hi, 0, 0, _DONE))

    def _settle(self, i: int, j: int, theirs: list[bytes]) -> None:
        """Both sides' ids of one range are known: record the differences once."""
        mine = self._items.ids(i, j)
        their_set, my_set = set(theirs), set(mine)
        for id_ in mine:
            if id_ not in their_set and id_ not in self._have_seen:
                self._have_seen.add(id_)
                self.have_ids.append(id_)
        cap = self._config.max_need_ids
        for id_ in theirs:
            if id_ not in my_set and id_ not in self._need_seen:
                if len(self.need_ids) >= cap:
                    self.complete = False
                    return
                self._need_seen.add(id_)
                self.need_ids.append(id_)

    def _write(
        self, actions: Iterable[_Action], *, defer: bool, sketch: bytes | None = None
    ) -> tuple[bytes, list[_Span]]:
        """Encode actions within the frame (and the sketch, if any); return the
        message and its unsettled ranges."""
        room = self._config.max_message_bytes - (0 if sketch is None else len(sketch) + _SKETCH_HEADER)
        writer = _Writer(room, self._window if defer else _UNPACED)
        pending = iter(actions)
        for action in pending:
            if not self._emit(writer, action):
                pending = chain([action], pending)  # from the one cut short on
                break
        spans = writer.open
        if writer.cut is not None:
            cut = writer.cut
            rest = ((max(lo, cut), hi, kind) for lo, hi, _, _, kind in pending if kind != _DONE and hi > cut)
            if defer:  # the initiator keeps what it owes
                spans = spans + list(rest)
                writer.ranges.append([0, b"", SKIP, None])
            elif next(rest, None) is not None:  # the responder: is anything left to settle?
                whole = self._items.fingerprint(self._items.index(cut), len(self._items))
                writer.ranges.append([0, b"", FINGERPRINT, whole])
            else:
                writer.ranges.append([0, b"", SKIP, None])
        if sketch is not None:
            return encode([self._version, writer.ranges, sketch]), spans
        return encode([self._version, writer.ranges]), spans

    def _emit(self, writer: _Writer, action: _Action) -> bool:
        _, hi, i, j, kind = action
        items, config = self._items, self._config
        if kind == _DONE:
            return writer.put(hi, SKIP, None)
        if kind == _CUT:
            writer.cut = writer.lo
            return False
        if kind == _OFFER:
            return writer.put(hi, FINGERPRINT, items.fingerprint(i, j))
        threshold = config.idlist_threshold
        if self._version >= 2 and self._role is _Role.INITIATOR:
            threshold = max(threshold, config.initiator_idlist_threshold)
        if kind == _ANSWER or j - i <= threshold:
            return self._emit_ids(writer, hi, i, j)
        start = i
        for end in self._split_ends(i, j, hi):
            if end > start:
                if not writer.put(items.bound_before(end), FINGERPRINT, items.fingerprint(start, end)):
                    return False
                start = end
        return writer.put(hi, FINGERPRINT, items.fingerprint(start, j))

    def _split_ends(self, i: int, j: int, hi: Bound) -> list[int]:
        """Where a split of items ``[i, j)`` ends its sub-ranges, but for the last.

        Equal counts; in version 2 the whole set (the reply to the opener)
        ends instead in a tail of sub-ranges of ``idlist_threshold``,
        the same again, then doubling (16, 16, 32, 64 newest first), each at
        most ``initiator_idlist_threshold``, at most ``branching // 4`` of them
        and half the range: recent differences, the common case, land in small
        ranges the initiator answers with ids at once. (Bigger tail ranges
        would estimate scattered differences better, but their splits, of a
        few dozen items each, cost a fingerprint an item when ranges go on.)"""
        config = self._config
        initiator_ids = max(config.idlist_threshold, config.initiator_idlist_threshold)
        tail: list[int] = []
        if self._version >= 2 and i == 0 and j == len(self._items) and hi == INFINITY:
            size, total = config.idlist_threshold, 0
            while size <= initiator_ids and len(tail) < config.branching // 4 and total + size <= (j - i) // 2:
                tail.append(size)
                total += size
                size = size * 2 if len(tail) > 1 else size
        parts = config.branching - len(tail)
        body = j - i - sum(tail)
        ends = [i + body * step // parts for step in range(1, parts + (1 if tail else 0))]
        for size in reversed(tail[1:]):
            ends.append(ends[-1] + size)
        return ends

    def _emit_ids(self, writer: _Writer, hi: Bound, i: int, j: int) -> bool:
        fit = writer.id_room()
        if j - i <= fit:
            ids: list[Value] = [*self._items.ids(i, j)]
            return writer.put(hi, IDLIST, ids)
        if fit >= 1:  # send what fits; the rest goes past the cut
            head: list[Value] = [*self._items.ids(i, i + fit)]
            writer.put(self._items.bound_before(i + fit), IDLIST, head)
        writer.cut = writer.lo
        return False


def _add(actions: list[_Action], action: _Action) -> None:
    """Append, merging neighbouring settled ranges into one SKIP."""
    if action[4] == _DONE and actions and actions[-1][4] == _DONE:
        actions[-1] = (actions[-1][0], action[1], 0, 0, _DONE)
    else:
        actions.append(action)


def _parse(message: bytes, limits: Limits) -> tuple[int, list[_Range], Value | None]:
    """Decode and check a message: (version, ranges, the sketch or its size if
    any, checked by the caller); every flaw is a ``ReconcileError``."""
    try:
        value = decode(message, limits)
    except DecodeError as exc:
        raise ReconcileError(f"undecodable reconcile message: {exc}") from None
    if not isinstance(value, list) or len(value) not in (2, 3):
        raise ReconcileError("a reconcile message is [version, ranges] or [version, ranges, sketch]")
    version, raw_ranges, *extra = value
    if type(version) is not int or version not in VERSIONS:
        raise ReconcileError(f"unsupported reconcile protocol version {version!r}")
    if extra and version < 2:
        raise ReconcileError("a version 1 message is [version, ranges]")
    if not isinstance(raw_ranges, list) or not raw_ranges:
        raise ReconcileError("the range list is empty or not a list")
    ranges: list[_Range] = []
    lo, prev_ts = MIN_BOUND, 0
    for raw in raw_ranges:
        if not isinstance(raw, list) or len(raw) != 4:
            raise ReconcileError("a range is [ts, prefix, mode, payload]")
        ts, prefix, mode, payload = raw
        hi, prev_ts = _bound(ts, prefix, prev_ts)
        if hi <= lo:
            raise ReconcileError(f"range bounds not strictly increasing at {hi!r}")
        ranges.append((lo, hi, *_payload(mode, payload)))
        lo = hi
    if lo != INFINITY:
        raise ReconcileError("the ranges do not end at infinity")
    return version, ranges, extra[0] if extra else None


def _bound(ts: Value, prefix: Value, prev_ts: int) -> tuple[Bound, int]:
    """A range's upper bound from its delta-coded timestamp; and the timestamp the next one counts from."""
    if type(ts) is not int or ts < 0 or not isinstance(prefix, bytes) or len(prefix) > ID_SIZE:
        raise ReconcileError(f"a bound is a uint and a byte string of at most {ID_SIZE} bytes")
    if ts == 0:
        if prefix:
            raise ReconcileError("the infinity bound carries an id prefix")
        return INFINITY, prev_ts
    prev_ts += ts - 1
    if prev_ts > MAX_TIMESTAMP:
        raise ReconcileError("bound timestamp out of range")
    return (prev_ts, prefix), prev_ts


def _payload(mode: Value, payload: Value) -> tuple[int, Payload]:
    if type(mode) is not int:
        raise ReconcileError(f"mode {mode!r} is not an int")
    if mode == SKIP and payload is None:
        return SKIP, None
    if mode == FINGERPRINT and isinstance(payload, bytes):
        if len(payload) != FINGERPRINT_SIZE:
            raise ReconcileError(f"fingerprint of {len(payload)} bytes")
        return FINGERPRINT, payload
    if mode == IDLIST and isinstance(payload, list):
        ids = [id_ for id_ in payload if isinstance(id_, bytes) and len(id_) == ID_SIZE]
        if len(ids) != len(payload):
            raise ReconcileError(f"an id list entry is not {ID_SIZE} bytes")
        return IDLIST, ids
    raise ReconcileError(f"unknown mode {mode!r} or a payload of the wrong type")


def reconcile_in_memory(
    a: Items, b: Items, config: ReconcileConfig = ReconcileConfig(), version: int = PROTOCOL_VERSION
) -> ReconcileResult:
    """Run a whole session between two in-memory sides; ``a`` initiates in ``version``."""
    initiator, responder = Reconciler(a, config, version), Reconciler(b, config)
    sizes: list[int] = []
    message: bytes | None = initiator.initiate()
    while message is not None:
        sizes.append(len(message))
        reply = responder.respond(message)
        sizes.append(len(reply))
        message = initiator.receive(reply)
    return ReconcileResult(
        have_ids=initiator.have_ids,
        need_ids=initiator.need_ids,
        round_trips=initiator.rounds,
        bytes_sent=initiator.bytes_sent,
        bytes_received=initiator.bytes_received,
        message_sizes=sizes,
        complete=initiator.complete,
    )
