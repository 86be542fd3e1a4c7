"""The clock: the one place node/ asks what time it is.

Two readings, because they answer different questions: ``wall()`` is Unix
time in whole seconds (what records, signatures and the peer table carry),
``monotonic()`` is seconds on a clock that never jumps (what timeouts, rates
and backoff measure). Code that decides something from the time receives a
``Clock`` instead of calling ``time`` itself, so a test can hand it a
``ManualClock`` and move time on by hand, without sleeping.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Protocol


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


def now() -> int:
    """Unix time in whole seconds, for request handlers (the system clock)."""
    return SYSTEM_CLOCK.wall()


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
