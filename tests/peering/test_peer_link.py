# One PeerLink driven against a real peer: the peer is a whole node app served
# by aiohttp on 127.0.0.1 port 0; our side is not an app at all, only the parts
# a link is handed (a real RecordStore and AdminStore on a file in tmp_path, a
# feed, a policy, a manual clock). Waits poll with deadlines that only catch
# hangs; nothing asserts how fast anything is.

from __future__ import annotations

import asyncio
import random
import socket
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from crypto import NodeIdentity
from node.app import create_app
from node.core.clock import ManualClock
from node.core.config import NodeConfig
from node.core.datadir import NodeFiles, ensure_data_dir
from node.core.errors import AppRunner
from node.core.metrics import Metrics
from node.core.state import STORE
from node.peering.feed import RecordFeed
from node.peering.ingest import Ingestor
from node.peering.link import LinkState
from node.peering.parts import PeeringParts
from node.peering.peer_api import Pollers
from node.peering.peer_link import PeerLink
from node.peering.policy import Policy
from node.peering.spanning import Spanning
from node.peering.state import INGEST
from protocol.filters import SyncFilter
from protocol.records import Record
from storage import RecordStore
from storage.admin import AdminStore
from tests.peering.conftest import make_post

DEADLINE_S = 30.0


async def until(probe: Callable[[], Any], what: str) -> Any:
    end = time.monotonic() + DEADLINE_S
    while not (value := probe()):
        if time.monotonic() > end:
            pytest.fail(f"gave up waiting until {what}")
        await asyncio.sleep(0.02)
    return value


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Peer:
    """A real node app, started on demand on a given port."""

    files: NodeFiles
    port: int
    runner: web.AppRunner | None = None
    app: web.Application | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        config = NodeConfig(data_dir=self.files.database.parent, name="Peer pantry", listen_port=self.port, mdns=False)
        self.app = create_app(config, self.files.identity, str(self.files.database))
        self.runner = AppRunner(self.app, access_log=None)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()

    async def holds(self, record_id: bytes) -> bool:
        assert self.app is not None
        return record_id in await self.app[STORE].reads.held_ids([record_id])

    async def receive(self, record: Record) -> None:
        """As if posted there: stored, and announced on its feed."""
        assert self.app is not None
        assert await self.app[INGEST].ingest([record.raw], None) == ["accepted"]


@dataclass
class Us:
    parts: PeeringParts
    clock: ManualClock
    session: aiohttp.ClientSession
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    connected: list[PeerLink] = field(default_factory=list)

    def link(self, url: str, pinned: bytes | None = None, source: str = "config") -> PeerLink:
        async def on_connected(link: PeerLink) -> None:
            self.connected.append(link)

        link = PeerLink(self.parts, self.session, url, pinned, source, on_connected=on_connected)
        self.tasks.append(asyncio.create_task(link.run()))
        return link


@pytest.fixture
def peer_files(tmp_path: Path) -> NodeFiles:
    return ensure_data_dir(NodeConfig(data_dir=tmp_path / "peer"))


@pytest.fixture
async def peer(peer_files: NodeFiles) -> AsyncIterator[Peer]:
    running = Peer(peer_files, free_port())
    try:
        yield running
    finally:
        await running.stop()


@pytest.fixture
async def us(tmp_path: Path) -> AsyncIterator[Us]:
    clock = ManualClock(wall=int(time.time()))  # records and signatures are checked against the peer's real clock
    database = str(tmp_path / "us.db")
    store = await RecordStore.open(database)
    admin = await AdminStore.open(database)
    feed, metrics, policy = RecordFeed(), Metrics(), Policy(clock=clock)
    ingest = Ingestor(store, feed, metrics, policy, SyncFilter(), clock)
    identity = NodeIdentity.generate()
    parts = PeeringParts(
        identity=identity, store=store, admin=admin, policy=policy, feed=feed, ingest=ingest, metrics=metrics,
        pollers=Pollers(clock), spanning=Spanning(identity.public_key), serves=SyncFilter(), clock=clock,
        rng=random.Random(4),
    )  # fmt: skip
    async with aiohttp.ClientSession() as session:
        ours = Us(parts, clock, session)
        try:
            yield ours
        finally:
            await feed.close()  # ends the push loops, as at shutdown
            for task in ours.tasks:
                task.cancel()
            await asyncio.gather(*ours.tasks, return_exceptions=True)
            await admin.close()
            await store.close()


async def test_a_link_connects_syncs_pins_the_key_and_then_pulls_and_pushes(us: Us, peer: Peer) -> None:
    await peer.start()
    theirs, ours = make_post(NodeIdentity.generate(), "Their spare tent"), make_post(us.parts.identity, "Our soup")
    await peer.receive(theirs)
    assert await us.parts.ingest.ingest([ours.raw], None) == ["accepted"]
    await us.parts.admin.add_peer(peer.url, us.clock.wall(), "config")

    link = us.link(peer.url)
    await until(lambda: link.state is LinkState.CONNECTED, "the link connects")
    assert us.connected == [link]
    assert link.client.key == peer.files.identity.public_key
    status = link.status()
    assert (status.state, status.failures, status.last_error) == ("connected", 0, None)
    assert status.last_sync == us.clock.wall()  # the link's time is its clock's
    assert theirs.id in await us.parts.store.reads.held_ids([theirs.id])  # fetched in the reconciliation
    assert await peer.holds(ours.id)  # pushed in the reconciliation
    pinned = {entry.url: entry.public_key for entry in await us.parts.admin.peers()}
    assert pinned[peer.url] == peer.files.identity.public_key

    # Connected: a record posted on the peer comes by the pull loop, one of ours by the push loop.
    later = make_post(NodeIdentity.generate(), "Their bicycle pump")
    await peer.receive(later)
    mine = make_post(us.parts.identity, "Our ladder")
    assert await us.parts.ingest.ingest([mine.raw], None) == ["accepted"]

    async def crossed() -> bool:
        return later.id in await us.parts.store.reads.held_ids([later.id]) and await peer.holds(mine.id)

    end = time.monotonic() + DEADLINE_S
    while not await crossed():
        assert time.monotonic() < end, "gave up waiting until the records cross while connected"
        await asyncio.sleep(0.05)


async def test_a_link_that_connects_after_failing_clears_its_stale_error(us: Us, peer: Peer) -> None:
    link = us.link(peer.url)  # nobody listens there yet
    await until(lambda: link.state is LinkState.BACKOFF, "the first dial fails")
    assert link.record.failures == 1 and link.record.last_error and peer.url in link.record.last_error
    await peer.start()
    link.wake()  # the peer is back: no need to wait out the backoff
    await until(lambda: link.state is LinkState.CONNECTED, "the link connects")
    assert link.status().failures == 0
    assert link.status().last_error is None


async def test_a_peer_our_policy_blocks_is_not_even_dialled(us: Us, peer: Peer) -> None:
    await peer.start()
    key = peer.files.identity.public_key
    us.parts.policy.load([("peer", key, "block")])
    link = us.link(peer.url, pinned=key)
    await until(lambda: link.state is LinkState.BLOCKED, "the link is blocked")
    assert link.record.last_error == "not connecting: this node has blocked your key"
    sent = [line for line in us.parts.metrics.render({}).splitlines() if line.startswith("mutualaid_peer_bytes_out")]
    assert sent == []  # no request went out
    link.wake()
    await until(lambda: link.record.failures >= 2, "it is retried, and refused again")
    us.parts.policy.load([])  # unblocked
    link.wake()
    await until(lambda: link.state is LinkState.CONNECTED, "the link connects once unblocked")


async def test_a_found_peer_that_proves_another_key_is_refused_for_good(us: Us, peer: Peer) -> None:
    await peer.start()
    link = us.link(peer.url, pinned=NodeIdentity.generate().public_key, source="mdns")
    await until(us.tasks[-1].done, "the link ends by itself")
    assert link.state is LinkState.REFUSED and link.record.failures == 0
    assert link.record.last_error
    assert us.tasks[-1].exception() is None
