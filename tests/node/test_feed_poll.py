"""The feed's long poll, as the mesh bench (bench/bench_mesh.py) found it
should be: the records a peer gave us do not end its own poll with an empty
answer (which cost it a round trip and another request each time), and the
node's own posts (and those it got straight from their author's node) travel
whole in the answer: one trip a hop instead of three, where few other nodes
can hold them yet."""

from __future__ import annotations

import asyncio
import time

import aiohttp

from crypto import NodeIdentity
from node.peering.decisions import whole_records
from node.peering.feed import FeedEntry
from node.peering.peer_client import PeerClient
from protocol.records import DAY, Record, build_record, parse_record
from tests.node.conftest import RunningNode


def _offer(slot: str, title: str) -> Record:
    """An offer signed by a key the node has never seen (as a peer relays it)."""
    now = int(time.time())
    body = {"kind": "offer", "slot": slot, "created_at": now, "expires_at": now + DAY, "status": "open",
            "title": title, "category": "food", "area": "u4pru"}  # fmt: skip
    return build_record(NodeIdentity.generate(), body)


async def test_a_poll_is_not_woken_by_the_callers_own_records(node: RunningNode) -> None:
    record = _offer("s1", "Pushed by the poller")
    async with aiohttp.ClientSession() as session:
        peer = PeerClient(session, NodeIdentity.generate(), node.url)
        start = (await peer.feed(0, 0)).cursor
        poll = asyncio.create_task(peer.feed(start, 30))
        assert await peer.push([record.raw]) == ["accepted"]  # on the feed, from the poller itself
        posted, _ = await node.post({"kind": "need", "title": "Posted here", "category": "food", "area": "u4pru"})
        page = await poll
    assert page.ids == [bytes.fromhex(posted["id"])]
    assert page.cursor == start + 2 and not page.behind


async def test_the_nodes_own_posts_come_whole_in_the_answer_and_nothing_else_does(node: RunningNode) -> None:
    relayed = _offer("s2", "Relayed from elsewhere")
    async with aiohttp.ClientSession() as session:
        other = PeerClient(session, NodeIdentity.generate(), node.url)
        poller = PeerClient(session, NodeIdentity.generate(), node.url)
        start = (await poller.feed(0, 0)).cursor
        assert await other.push([relayed.raw]) == ["accepted"]
        posted, _ = await node.post({"kind": "need", "title": "Posted here", "category": "food", "area": "u4pru"})
        page = await poller.feed(start, 0)
    assert page.ids == [relayed.id, bytes.fromhex(posted["id"])]
    assert [parse_record(raw).id.hex() for raw in page.records] == [posted["id"]]


def test_records_go_whole_near_their_origin_only_and_bounded_in_bytes() -> None:
    def entry(seq: int, source: bytes | None, author: bytes = b"a" * 32) -> FeedEntry:
        return FeedEntry(seq, bytes([seq]) * 32, bytes([seq]) * 100, "offer", "u4pru", source, author)

    relayed, straight = entry(2, b"k" * 32), entry(3, b"k" * 32, author=b"k" * 32)
    entries = [entry(1, None), relayed, straight, entry(4, None)]
    assert whole_records(entries, limit=250) == [entries[0].raw, straight.raw]  # the fourth would pass 250
    assert whole_records(entries, limit=99) == []
