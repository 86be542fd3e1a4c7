# The clock node/ reads (the real one against time, the manual one moved by
# hand) and the one loopback rule.

from __future__ import annotations

import time

import pytest

from node.core.clock import SYSTEM_CLOCK, ManualClock, now
from node.core.hosts import is_loopback_host


def test_the_system_clock_reads_the_time() -> None:
    before = int(time.time())
    assert before <= SYSTEM_CLOCK.wall() <= int(time.time())
    assert before <= now() <= int(time.time())
    first = SYSTEM_CLOCK.monotonic()
    assert SYSTEM_CLOCK.monotonic() >= first


def test_a_manual_clock_moves_only_when_told() -> None:
    clock = ManualClock(wall=1_700_000_000, monotonic=5.0)
    assert (clock.wall(), clock.monotonic()) == (1_700_000_000, 5.0)
    clock.advance(1.5)
    assert (clock.wall(), clock.monotonic()) == (1_700_000_001, 6.5)
    clock.advance(0.5)
    assert clock.wall() == 1_700_000_002  # whole seconds of the wall time moved on
    with pytest.raises(ValueError):
        clock.advance(-1)


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.8.9.10", True), ("::1", True), ("[::1]", True), ("localhost", True),
     ("LocalHost.", True), ("0.0.0.0", False),  # noqa: S104 - a string, not a bind
     ("::", False), ("10.0.0.1", False), ("192.168.1.2", False),
     ("localhost.example", False), ("example.org", False), ("", False), ("127.1", False)],
)  # fmt: skip
def test_one_rule_for_loopback(host: str, loopback: bool) -> None:
    assert is_loopback_host(host) is loopback
