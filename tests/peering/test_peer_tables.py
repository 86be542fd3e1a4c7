# The peer API's bounded tables with a hand-turned clock: the replay cache
# (refuses a replay, forgets after twice the window, refuses new requests
# rather than evict live ones), the pollers, and the one-entry item-set cache.

from __future__ import annotations

import pytest

from node.core.clock import ManualClock
from node.core.errors import ApiError
from node.peering.peer_api import POLLING_FOR_S, Pollers, ReplayCache
from protocol.peerwire import REQUEST_WINDOW_S, PeerAuthError


def test_a_signature_is_refused_twice_within_twice_the_window() -> None:
    cache = ReplayCache(capacity=10)
    cache.check_and_add(b"sig", 1000)
    with pytest.raises(PeerAuthError):
        cache.check_and_add(b"sig", 1000 + 2 * REQUEST_WINDOW_S - 1)
    cache.check_and_add(b"sig", 1000 + 2 * REQUEST_WINDOW_S)  # long enough: the stamp check refuses it now


def test_a_full_replay_cache_refuses_rather_than_forgets_a_live_signature() -> None:
    cache = ReplayCache(capacity=2)
    cache.check_and_add(b"a", 1000)
    cache.check_and_add(b"b", 1001)
    with pytest.raises(ApiError):
        cache.check_and_add(b"c", 1002)
    with pytest.raises(PeerAuthError):
        cache.check_and_add(b"a", 1002)  # still remembered
    cache.check_and_add(b"c", 1000 + 2 * REQUEST_WINDOW_S)  # "a" expired: room again


def test_a_peer_counts_as_polling_while_its_poll_is_open_and_a_moment_after() -> None:
    clock = ManualClock()
    pollers = Pollers(clock)
    assert not pollers.polling(b"k")
    pollers.begin(b"k")
    pollers.begin(b"k")  # two polls at once (a link dialled twice)
    clock.advance(10 * POLLING_FOR_S)  # a long poll held open
    assert pollers.polling(b"k")
    pollers.end(b"k")
    clock.advance(10 * POLLING_FOR_S)
    assert pollers.polling(b"k")  # the other is still open
    pollers.end(b"k")
    clock.advance(POLLING_FOR_S - 1)
    assert pollers.polling(b"k")  # its next poll is on its way
    clock.advance(1)
    assert not pollers.polling(b"k")  # none came (its link to us turned lazy): push to it again
