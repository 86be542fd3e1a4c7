"""The life of one peer link as a state machine: states, events, one table.

Rules (the table below is the whole of them; anything else is a bug of ours
and raises ``LinkTransitionError``):

- A link starts ``connecting``: it says hello to the peer.
- The hello answered with the peer's own valid profile: ``syncing`` (the
  first reconciliation). It finished: ``connected`` (pull, push and resync
  loops run). Only then does the failure count start again from zero, and
  an old error is forgotten (a connected peer shows no stale error).
- Any failure of a live link (``connecting``, ``syncing`` or ``connected``)
  sends it to ``backoff``; our own policy refusing the peer (blocked, not on
  the allow list, banned) sends it to ``blocked``. Both retry after a delay
  (``node/peering/decisions.py``), back to ``connecting``.
- A found peer (mDNS, exchange, anchor) that does not prove, at its hello, the
  key it was advertised with is ``refused``: that link ends for good.

The state's value is what the outside sees: the operator API's peer ``state``
and the ``mutualaid_peers{state=...}`` metric. Pure: no I/O, no clock;
``PeerLink`` (node/peering/peer_link.py) fires the events.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType

MAX_ERROR_CHARS = 300


class LinkState(StrEnum):
    CONNECTING = "connecting"
    SYNCING = "syncing"
    CONNECTED = "connected"
    BACKOFF = "backoff"
    BLOCKED = "blocked"
    REFUSED = "refused"


class LinkEvent(StrEnum):
    GREETED = "greeted"
    """The peer answered our hello with its own valid profile."""
    SYNCED = "synced"
    """The first reconciliation after the hello finished."""
    FAILED = "failed"
    """The peer could not be reached, broke the protocol, or we hit a fault."""
    BARRED = "barred"
    """Our own policy refuses the peer (blocked, not allowed, or banned)."""
    DISPROVED = "disproved"
    """A found peer answered its hello with another key than it was advertised with."""
    RETRIED = "retried"
    """The backoff is over (or the peer is back): dial again."""


S, E = LinkState, LinkEvent
TRANSITIONS: Mapping[tuple[LinkState, LinkEvent], LinkState] = MappingProxyType(
    {
        (S.CONNECTING, E.GREETED): S.SYNCING,
        (S.SYNCING, E.SYNCED): S.CONNECTED,
        (S.CONNECTING, E.FAILED): S.BACKOFF,
        (S.SYNCING, E.FAILED): S.BACKOFF,
        (S.CONNECTED, E.FAILED): S.BACKOFF,
        (S.CONNECTING, E.BARRED): S.BLOCKED,
        (S.SYNCING, E.BARRED): S.BLOCKED,
        (S.CONNECTED, E.BARRED): S.BLOCKED,
        (S.CONNECTING, E.DISPROVED): S.REFUSED,
        (S.BACKOFF, E.RETRIED): S.CONNECTING,
        (S.BLOCKED, E.RETRIED): S.CONNECTING,
    }
)
del S, E

WAKEABLE = frozenset({LinkState.CONNECTING, LinkState.BACKOFF})
"""States in which news that the peer is alive (it called us, mDNS announced
it again) makes the link retry at once instead of at the end of its backoff."""


class LinkTransitionError(Exception):
    """An event the link's state has no transition for: a bug of ours."""

    def __init__(self, state: LinkState, event: LinkEvent) -> None:
        super().__init__(f"a peer link in state {state.value!r} cannot take the event {event.value!r}")
        self.state = state
        self.event = event


def next_state(state: LinkState, event: LinkEvent) -> LinkState:
    try:
        return TRANSITIONS[(state, event)]
    except KeyError:
        raise LinkTransitionError(state, event) from None


@dataclass
class LinkRecord:
    """What the outside knows of a link: its state, failures in a row, the last
    error and the time of the last finished reconciliation."""

    state: LinkState = LinkState.CONNECTING
    failures: int = 0
    last_error: str | None = None
    last_sync: int | None = None

    def fire(self, event: LinkEvent, error: str | None = None) -> LinkState:
        """Move to the state the table gives; ``error`` (for FAILED, BARRED and
        DISPROVED) is kept, shortened, as the last error."""
        self.state = next_state(self.state, event)
        if event in (LinkEvent.FAILED, LinkEvent.BARRED):
            self.failures += 1
        if error is not None:
            self.last_error = error[:MAX_ERROR_CHARS]
        if event is LinkEvent.SYNCED:
            self.failures = 0
            self.last_error = None
        return self.state
