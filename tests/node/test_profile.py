"""The node's own signed profile: published at start, renewed before it expires."""

from __future__ import annotations

import time

from node.app import PROFILE_RENEW_BEFORE_S, renew_profile_if_due
from node.core.state import NODE_PROFILE, STORE
from protocol.records import accept_record
from tests.node.conftest import RunningNode


async def test_the_profile_is_renewed_a_week_before_it_expires(node: RunningNode) -> None:
    first = node.app[NODE_PROFILE].current
    assert first.kind == "node" and first.get("name") == "Riverside pantry" and first.get("areas") == ["u4pr"]
    assert not await renew_profile_if_due(node.app, time.time())  # a fresh profile is left alone
    due = first.expires_at - PROFILE_RENEW_BEFORE_S + 1
    assert await renew_profile_if_due(node.app, due)
    renewed = node.app[NODE_PROFILE].current
    assert renewed.id != first.id and renewed.expires_at >= first.expires_at
    accept_record(renewed.raw, int(time.time()))  # what peers will check
    stored = await node.app[STORE].reads.get_by_address(*first.address, int(time.time()))
    assert stored is not None and stored.id == renewed.id
