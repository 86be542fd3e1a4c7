"""The peer client against servers that misbehave, on real HTTP (127.0.0.1, port 0)."""

from __future__ import annotations

import socket
from collections.abc import Awaitable, Callable

import aiohttp
import pytest
from aiohttp import web

from crypto import NodeIdentity
from node.core.errors import ApiError
from node.peering.peer_api import ReplayCache
from node.peering.peer_client import MAX_RESPONSE_BYTES, PeerClient, PeerUnavailable, PeerUnreachable
from protocol.peerwire import PeerAuthError
from tests.node._support import Handler


async def test_an_oversized_response_is_refused_before_it_is_all_read(
    serve: Callable[[Handler], Awaitable[str]],
) -> None:
    async def flood(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        await response.prepare(request)
        chunk = b"x" * (1024 * 1024)
        try:
            for _ in range(MAX_RESPONSE_BYTES // len(chunk) + 2):
                await response.write(chunk)
        except (ConnectionResetError, aiohttp.ClientConnectionResetError):
            pass  # the client gave up, as it should
        return response

    url = await serve(flood)
    async with aiohttp.ClientSession() as session:
        client = PeerClient(session, NodeIdentity.generate(), url)
        with pytest.raises(PeerUnavailable, match="over"):
            await client.call("POST", "/peer/v1/hello", {"filter": None})


async def test_a_key_is_pinned_only_once_a_response_proves_it(serve: Callable[[Handler], Awaitable[str]]) -> None:
    impostor = NodeIdentity.generate()

    async def badly_signed(request: web.Request) -> web.Response:
        headers = {
            "X-Mutualaid-Key": impostor.public_key.hex(),
            "X-Mutualaid-Time": "1",
            "X-Mutualaid-Signature": "00" * 64,
        }
        return web.Response(body=b"\x80", headers=headers, content_type="application/msgpack")

    url = await serve(badly_signed)
    async with aiohttp.ClientSession() as session:
        client = PeerClient(session, NodeIdentity.generate(), url)
        with pytest.raises(PeerAuthError):
            await client.call("GET", "/peer/v1/feed?after=0&wait=0")
        assert client.key is None  # nothing pinned: the next genuine answer can still pin


async def test_a_peer_error_is_reported_by_its_code_never_its_text(
    serve: Callable[[Handler], Awaitable[str]],
) -> None:
    async def refuse(request: web.Request) -> web.Response:
        body = {"error": {"code": "forbidden", "message": "call Marisol at 555-0134"}}
        return web.json_response(body, status=403)

    url = await serve(refuse)
    async with aiohttp.ClientSession() as session:
        client = PeerClient(session, NodeIdentity.generate(), url)
        with pytest.raises(PeerUnavailable) as info:
            await client.call("GET", "/peer/v1/feed?after=0&wait=0")
    assert "403" in str(info.value) and "forbidden" in str(info.value)
    assert "Marisol" not in str(info.value)
    assert not isinstance(info.value, PeerUnreachable)  # it answered: backed off as long as ever


async def test_no_answer_at_all_is_told_apart_from_an_error_answer() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.close()  # nothing listens there now: refused
    async with aiohttp.ClientSession() as session:
        client = PeerClient(session, NodeIdentity.generate(), f"http://127.0.0.1:{port}")
        with pytest.raises(PeerUnreachable):
            await client.call("GET", "/peer/v1/feed?after=0&wait=0")


def test_a_full_replay_cache_refuses_rather_than_forgets() -> None:
    cache = ReplayCache(capacity=2)
    cache.check_and_add(b"a" * 64, now=1000)
    cache.check_and_add(b"b" * 64, now=1000)
    with pytest.raises(ApiError) as info:
        cache.check_and_add(b"c" * 64, now=1001)
    assert info.value.status == 503
    with pytest.raises(PeerAuthError):
        cache.check_and_add(b"a" * 64, now=1001)  # still remembered: a replay
    cache.check_and_add(b"c" * 64, now=1000 + 10_000)  # once the old ones expired, room again
