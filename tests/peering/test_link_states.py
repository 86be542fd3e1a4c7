# The peer link's state machine (node/peering/link.py), pure: every (state,
# event) pair either goes where the table says or raises a clear error; the
# record a link shows (failures, last error) follows the rules in the docstring.

from __future__ import annotations

import itertools
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from node.peering.link import (
    MAX_ERROR_CHARS,
    TRANSITIONS,
    WAKEABLE,
    LinkEvent,
    LinkRecord,
    LinkState,
    LinkTransitionError,
    next_state,
)

S, E = LinkState, LinkEvent
EXPECTED = {
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


def shown(link: LinkRecord) -> tuple[LinkState, int, str | None]:
    return link.state, link.failures, link.last_error


def test_the_states_are_the_names_the_operator_api_and_metrics_show() -> None:
    assert [s.value for s in LinkState] == ["connecting", "syncing", "connected", "backoff", "blocked", "refused"]
    assert json.dumps({"state": LinkState.CONNECTED}) == '{"state": "connected"}'  # a str: JSON takes it as is


@pytest.mark.parametrize(("state", "event"), list(itertools.product(LinkState, LinkEvent)))
def test_every_state_and_event(state: LinkState, event: LinkEvent) -> None:
    if (state, event) in EXPECTED:
        assert next_state(state, event) is EXPECTED[(state, event)]
    else:
        with pytest.raises(LinkTransitionError) as info:
            next_state(state, event)
        assert (info.value.state, info.value.event) == (state, event)
        assert f"state {state.value!r}" in str(info.value) and f"event {event.value!r}" in str(info.value)


def test_the_table_is_exactly_the_rules_and_read_only() -> None:
    assert dict(TRANSITIONS) == EXPECTED
    with pytest.raises(TypeError):
        TRANSITIONS[(S.REFUSED, E.RETRIED)] = S.CONNECTING  # type: ignore[index]


def test_refused_is_final_and_every_other_state_can_be_left() -> None:
    leaving = {state for state, _ in TRANSITIONS}
    assert leaving == set(LinkState) - {S.REFUSED}
    reached = set(TRANSITIONS.values()) | {S.CONNECTING}
    assert reached == set(LinkState)


def test_only_a_link_waiting_to_dial_is_woken() -> None:
    assert frozenset({S.CONNECTING, S.BACKOFF}) == WAKEABLE


def test_a_link_that_connects_forgets_its_failures_and_its_stale_error() -> None:
    link = LinkRecord()
    link.fire(E.FAILED, "http://10.0.0.2:8440: ClientConnectorError")
    link.fire(E.RETRIED)
    link.fire(E.BARRED, "not connecting: this node has blocked your key")
    assert (link.state, link.failures) == (S.BLOCKED, 2)
    assert link.last_error == "not connecting: this node has blocked your key"
    link.fire(E.RETRIED)
    link.fire(E.GREETED)
    assert shown(link) == (S.SYNCING, 2, "not connecting: this node has blocked your key")  # not yet
    link.fire(E.SYNCED)
    assert shown(link) == (S.CONNECTED, 0, None)


def test_an_error_is_kept_short_and_a_disproved_peer_is_refused_without_a_failure() -> None:
    link = LinkRecord()
    link.fire(E.DISPROVED, "x" * 1000)
    assert shown(link) == (S.REFUSED, 0, "x" * MAX_ERROR_CHARS)
    with pytest.raises(LinkTransitionError):
        link.fire(E.RETRIED)
    assert link.state is S.REFUSED  # a refused transition changes nothing


@given(st.lists(st.sampled_from(list(LinkEvent)), max_size=40))
def test_any_event_sequence_keeps_the_record_consistent(events: list[LinkEvent]) -> None:
    """Whatever is fired, the record only ever takes the table's steps, and a
    failure count of zero after a step means it just connected or never failed."""
    link = LinkRecord()
    for event in events:
        before = link.state
        try:
            after = link.fire(event)
        except LinkTransitionError:
            assert (before, event) not in TRANSITIONS and link.state is before
            continue
        assert after is TRANSITIONS[(before, event)] is link.state
        if event is E.SYNCED:
            assert link.failures == 0 and link.last_error is None
