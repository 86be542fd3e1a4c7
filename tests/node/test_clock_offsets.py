"""A peer's clock is learnt only from a time signed by its pinned key, within
bounds, and the node's own time moves only when most of its peers agree
(node.core.clock, node/peering/peer_client.py; PROTOCOL.md 8.1)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import aiohttp
import pytest
from aiohttp import web
from hypothesis import given
from hypothesis import strategies as st

from crypto import NodeIdentity
from node.core.clock import CORRECT_FROM_S, MAX_PEER_OFFSET_S, ManualClock, NetworkClock, PeerOffsets
from node.peering.peer_client import PeerClient, PeerUnavailable
from protocol import peerwire
from tests.node._support import Handler

HOUR = 3600


def refusal(signer: NodeIdentity | None, request: web.Request, stamp: int, key: bytes | None = None) -> web.Response:
    """A 401 saying the request's time is out of the window, signed by ``signer`` (or not signed)."""
    body = b'{"error": {"code": "unauthorized", "message": "request time"}}'
    headers = {}
    if signer is not None:
        request_signature = bytes.fromhex(request.headers[peerwire.HEADER_SIGNATURE])
        signature = signer.sign_message(peerwire.response_message(request_signature, stamp, body))
        headers = peerwire.SignedHeaders(key or signer.public_key, stamp, signature).as_dict()
    return web.Response(status=401, body=body, headers=headers, content_type="application/json")


@pytest.mark.parametrize("forgery", ["unsigned", "wrong key", "claimed key", "beyond bound"])
async def test_a_forged_time_is_not_adopted(serve: Callable[[Handler], Awaitable[str]], forgery: str) -> None:
    pinned, impostor = NodeIdentity.generate(), NodeIdentity.generate()
    stamps: list[int] = []

    async def forged(request: web.Request) -> web.Response:
        stamps.append(int(request.headers[peerwire.HEADER_TIME]))
        stamp = int(time.time()) + (MAX_PEER_OFFSET_S + HOUR if forgery == "beyond bound" else HOUR)
        signer = {"unsigned": None, "wrong key": impostor, "claimed key": impostor, "beyond bound": pinned}[forgery]
        return refusal(signer, request, stamp, pinned.public_key if forgery == "claimed key" else None)

    url = await serve(forged)
    heard: list[tuple[bytes, int]] = []
    async with aiohttp.ClientSession() as session:
        client = PeerClient(
            session, NodeIdentity.generate(), url, pinned.public_key, on_clock=lambda k, o: heard.append((k, o))
        )
        with pytest.raises(PeerUnavailable, match="401"):
            await client.call("GET", "/peer/v1/feed?after=0&wait=0")
    assert client.offset == 0 and heard == []
    assert len(stamps) == 1  # not signed again in a frame nobody proved


async def test_a_signed_refusal_teaches_the_peers_clock_and_the_retry_is_in_its_frame(
    serve: Callable[[Handler], Awaitable[str]],
) -> None:
    peer = NodeIdentity.generate()
    stamps: list[int] = []

    async def ahead(request: web.Request) -> web.Response:
        stamp = int(request.headers[peerwire.HEADER_TIME])
        stamps.append(stamp)
        theirs = int(time.time()) + HOUR
        if abs(stamp - theirs) > peerwire.REQUEST_WINDOW_S:
            return refusal(peer, request, theirs)
        body = b"\x80"
        request_signature = bytes.fromhex(request.headers[peerwire.HEADER_SIGNATURE])
        signature = peer.sign_message(peerwire.response_message(request_signature, theirs, body))
        headers = peerwire.SignedHeaders(peer.public_key, theirs, signature).as_dict()
        return web.Response(body=body, headers=headers, content_type="application/msgpack")

    url = await serve(ahead)
    heard: list[tuple[bytes, int]] = []
    async with aiohttp.ClientSession() as session:
        client = PeerClient(session, NodeIdentity.generate(), url, on_clock=lambda k, o: heard.append((k, o)))
        assert await client.call("GET", "/peer/v1/feed?after=0&wait=0") == {}
        assert await client.call("GET", "/peer/v1/feed?after=0&wait=0") == {}
    assert len(stamps) == 3  # refused once, then every request in the peer's frame
    assert abs(stamps[1] - stamps[0] - HOUR) <= 2 and abs(stamps[2] - stamps[0] - HOUR) <= 2
    assert client.key == peer.public_key
    assert [k for k, _ in heard] == [peer.public_key] * 2 and all(abs(o - HOUR) <= 2 for _, o in heard)


def offsets(*values: int) -> PeerOffsets:
    table = PeerOffsets(ManualClock())
    for i, value in enumerate(values):
        table.learn(bytes([i]) * 32, value)
    return table


def test_the_node_moves_only_when_most_peers_agree() -> None:
    assert offsets().skew().peers == 0 and offsets().correction() == 0
    assert offsets(HOUR).correction() == 0  # one peer against us: who knows which is right
    assert offsets(HOUR, 0).correction() == 0  # a minority
    assert offsets(HOUR, HOUR + 1).correction() == HOUR  # both peers agree
    assert offsets(-300, -301, -299, 5).correction() == -299
    assert offsets(-300, -301, 5).correction() == 0  # two voices (ours and one peer) against two
    assert offsets(HOUR, HOUR, 0, 0).correction() == 0  # half against half: our own clock
    assert offsets(CORRECT_FROM_S - 1, CORRECT_FROM_S - 1).correction() == 0  # noise
    assert offsets(MAX_PEER_OFFSET_S + 1, MAX_PEER_OFFSET_S + 1).skew().peers == 0  # absurd: not counted


def test_an_offset_not_heard_again_stops_counting() -> None:
    clock = ManualClock()
    table = PeerOffsets(clock)
    table.learn(b"a" * 32, HOUR)
    table.learn(b"b" * 32, HOUR)
    network = NetworkClock(clock, table)
    assert network.wall() == clock.wall() + HOUR
    clock.advance(2 * HOUR)
    assert network.wall() == clock.wall() and table.skew().peers == 0


@given(st.lists(st.integers(-MAX_PEER_OFFSET_S, MAX_PEER_OFFSET_S), max_size=9))
def test_a_minority_never_moves_the_node(values: list[int]) -> None:
    """The correction lies between the voices (ours included), and moves only
    in a direction more than half the voices (ours included) are on."""
    moved = offsets(*values).correction()
    voices = [0, *values]
    assert min(voices) <= moved <= max(voices)
    if moved > 0:
        assert sum(v >= moved for v in voices) * 2 > len(voices)
    if moved < 0:
        assert sum(v <= moved for v in voices) * 2 > len(voices)
