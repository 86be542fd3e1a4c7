"""The clock: the one place node/ asks what time it is.

Two readings, because they answer different questions: ``wall()`` is Unix
time in whole seconds (what records, signatures and the peer table carry),
``monotonic()`` is seconds on a clock that never jumps (what timeouts, rates
and backoff measure). Code that decides something from the time receives a
``Clock`` instead of calling ``time`` itself, so a test can hand it a
``ManualClock`` and move time on by hand, without sleeping.

A node whose clock is wrong (a Pi has no real-time clock) keeps the network's
time instead: ``PeerOffsets`` holds each pinned peer's clock offset, learnt
from its signed responses, and ``NetworkClock`` is the system clock moved by
their median (its own clock voting too, so a lone peer, or a minority, never
moves it). ``now()`` and the clock the node's parts receive read that; the
peer protocol's request window alone reads the system clock (PROTOCOL.md 8.1).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from node.core.bounded import BoundedTable

log = logging.getLogger("mutualaid.clock")


class Clock(Protocol):
    def wall(self) -> int:
        """Unix time, whole seconds."""
        ...

    def monotonic(self) -> float:
        """Seconds since an arbitrary start; never goes back."""
        ...


class SystemClock:
    """The real time."""

    def wall(self) -> int:
        return int(time.time())

    def monotonic(self) -> float:
        return time.monotonic()


SYSTEM_CLOCK = SystemClock()

MAX_PEER_OFFSET_S = 24 * 3600
"""A peer's clock further than this from ours is not believed (and not counted)."""
CORRECT_FROM_S = 30
"""The node moves its time only when its peers' median is this far or further:
nearer, it is noise (whole seconds, latency) and harmless (a request window of
120 s, records 600 s)."""
WARN_FROM_S = 60
"""The log warns once when the median offset passes this."""
OFFSET_TTL_S = 3600.0
"""An offset not re-learnt for this long (monotonic) no longer counts."""
MAX_PEER_CLOCKS = 1024


@dataclass(frozen=True)
class ClockSkew:
    """What the node knows of its clock against its peers'."""

    offset_s: int
    """The median of the peers' offsets and its own (0): how far its clock is behind the network's."""
    peers: int
    """How many pinned peers' clocks were measured (in the last hour)."""
    correcting: bool
    """Whether the node dates what it signs, and judges what it receives, by ``offset_s``."""

    def as_json(self) -> dict[str, object]:
        return {"offset_s": self.offset_s, "peers": self.peers, "correcting": self.correcting}

    @classmethod
    def from_json(cls, value: Mapping[str, object]) -> ClockSkew:
        return cls(int(str(value["offset_s"])), int(str(value["peers"])), bool(value["correcting"]))

    def describe(self) -> str:
        """What ``status`` and ``doctor`` say of it, in one sentence."""
        if not self.peers:
            return "no pinned peer's clock measured yet: the node keeps its own"
        off = f"{abs(self.offset_s)} s {'behind' if self.offset_s > 0 else 'ahead of'}"
        median = f"the median of {self.peers} peers' clocks"
        if self.correcting:
            return f"this machine's clock is {off} {median}: the node signs and judges dates in the network's time"
        return f"within {abs(self.offset_s)} s of {median}: no correction"


class PeerOffsets:
    """Each pinned peer's clock minus ours, learnt from its signed responses.

    Only the peer client feeds it, and only with the time of a response whose
    signature verified against the key it pinned; an offset past
    ``MAX_PEER_OFFSET_S`` is dropped. The median counts our own clock as one
    more voice (offset 0), and of two middle values takes the one nearer ours:
    so one peer cannot move the node, nor can a minority, nor one half of the
    peers against the other."""

    def __init__(self, monotonic: Clock = SYSTEM_CLOCK, max_peers: int = MAX_PEER_CLOCKS) -> None:
        self._monotonic = monotonic
        self._offsets: BoundedTable[bytes, int] = BoundedTable(max_peers, ttl_s=OFFSET_TTL_S)
        self._warned = False

    def learn(self, key: bytes, offset: int) -> None:
        if abs(offset) > MAX_PEER_OFFSET_S:
            return
        self._offsets.put(key, offset, self._monotonic.monotonic())
        skew = self.skew()
        if not self._warned and abs(skew.offset_s) > WARN_FROM_S:
            self._warned = True
            log.warning(
                "this machine's clock is %+d s off the median of %d peers' clocks: the node dates what it signs "
                "and judges records' dates by the network's time (its clock moved %+d s); set the clock right "
                "(timedatectl set-ntp true, or a real-time clock on a Pi)",
                -skew.offset_s, skew.peers, skew.offset_s,
            )  # fmt: skip

    def skew(self) -> ClockSkew:
        at = self._monotonic.monotonic()
        offsets = [v for k in list(self._offsets) if (v := self._offsets.get(k, at)) is not None]
        voices = sorted([0, *offsets])
        low, high = voices[(len(voices) - 1) // 2], voices[len(voices) // 2]
        median = low if abs(low) <= abs(high) else high
        return ClockSkew(median, len(offsets), abs(median) >= CORRECT_FROM_S)

    def correction(self) -> int:
        skew = self.skew()
        return skew.offset_s if skew.correcting else 0


class NetworkClock:
    """The system clock moved to the network's time (``PeerOffsets``); monotonic time unchanged."""

    def __init__(self, base: Clock, offsets: PeerOffsets) -> None:
        self.base = base
        self.offsets = offsets

    def wall(self) -> int:
        return self.base.wall() + self.offsets.correction()

    def monotonic(self) -> float:
        return self.base.monotonic()


PEER_OFFSETS = PeerOffsets()
"""This process's node's peers' clocks (one node per process)."""
NETWORK_CLOCK = NetworkClock(SYSTEM_CLOCK, PEER_OFFSETS)


def now() -> int:
    """Unix time in whole seconds, for request handlers: the network's time
    (the system clock, unless most peers agree it is off)."""
    return NETWORK_CLOCK.wall()


def iso(timestamp: int) -> str:
    """A time as the API and the CLI write it: ISO 8601, UTC, whole seconds."""
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class ManualClock:
    """A clock that moves only when told to (tests, simulations)."""

    def __init__(self, wall: int = 1_700_000_000, monotonic: float = 1_000.0) -> None:
        self._wall = float(wall)
        self._monotonic = monotonic

    def wall(self) -> int:
        return int(self._wall)

    def monotonic(self) -> float:
        return self._monotonic

    def advance(self, seconds: float) -> None:
        """Both readings move on by ``seconds``."""
        if seconds < 0:
            raise ValueError("a clock does not go back")
        self._wall += seconds
        self._monotonic += seconds

    def set_wall(self, wall: int) -> None:
        """The wall clock set, back or ahead (a Pi without a real-time clock
        after boot, then NTP); monotonic time goes on unchanged."""
        self._wall = float(wall)
