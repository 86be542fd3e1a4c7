"""A long poll on the feed answers only with records for the caller: the
records a peer gave us do not end its own poll with an empty answer (which
cost it a round trip and another request each time, measured in the mesh
bench, bench/bench_mesh.py)."""

from __future__ import annotations

import asyncio
import time

import aiohttp

from crypto import NodeIdentity
from node.peering.peer_client import PeerClient
from protocol.records import DAY, build_record
from tests.node.conftest import RunningNode


async def test_a_poll_is_not_woken_by_the_callers_own_records(node: RunningNode) -> None:
    now = int(time.time())
    body = {"kind": "offer", "slot": "s1", "created_at": now, "expires_at": now + DAY, "status": "open",
            "title": "Pushed by the poller", "category": "food", "area": "u4pru"}  # fmt: skip
    record = build_record(NodeIdentity.generate(), body)
    async with aiohttp.ClientSession() as session:
        peer = PeerClient(session, NodeIdentity.generate(), node.url)
        _, start, _ = await peer.feed(0, 0)
        poll = asyncio.create_task(peer.feed(start, 30))
        assert await peer.push([record.raw]) == ["accepted"]  # on the feed, from the poller itself
        posted, _ = await node.post({"kind": "need", "title": "Posted here", "category": "food", "area": "u4pru"})
        ids, cursor, behind = await poll
    assert ids == [bytes.fromhex(posted["id"])]
    assert cursor == start + 2 and not behind
