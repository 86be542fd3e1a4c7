# Member writes limited per client address: the bucket itself with a hand-turned
# clock (burst, refill, IPv6 /64, loopback exemption, the bounded table), then a
# real node over HTTP with loopback limited: past the burst every member write
# (post, edit, status, reply, flag) answers 429 too_many_requests with
# Retry-After in the one error shape, stores nothing, and reads still work.

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from node.app import create_app
from node.core.clock import ManualClock
from node.core.config import ConfigError, NodeConfig
from node.core.datadir import NodeFiles, ensure_data_dir
from node.core.errors import AppRunner
from node.members.ratelimit import WriteLimiter
from node.members.replies import MAX_REPLIES_PER_CLIENT
from node.openapi import RATE_LIMITED, openapi_document
from tests.node._support import assert_error_shape, need, post_counts


def test_a_bucket_allows_its_burst_then_one_write_per_interval() -> None:
    clock = ManualClock()
    limiter = WriteLimiter(3, 10, clock=clock)
    assert [limiter.take("203.0.113.5") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.take("203.0.113.5") == pytest.approx(10.0)
    assert limiter.take("203.0.113.6") == 0.0  # another address has its own bucket
    clock.advance(9.0)
    assert limiter.take("203.0.113.5") == pytest.approx(1.0)
    clock.advance(1.0)
    assert limiter.take("203.0.113.5") == 0.0
    assert limiter.take("203.0.113.5") > 0


def test_ipv6_hosts_share_their_64_and_loopback_is_exempt_unless_asked() -> None:
    limiter = WriteLimiter(1, 60, clock=ManualClock())
    assert limiter.take("2001:db8:1:2::1") == 0.0
    assert limiter.take("2001:db8:1:2:ffff::9") > 0  # same /64
    assert limiter.take("2001:db8:1:3::1") == 0.0
    assert limiter.take("::ffff:198.51.100.7") == 0.0
    assert limiter.take("198.51.100.7") > 0  # an IPv4-mapped address is the IPv4 one
    assert all(limiter.take("127.0.0.1") == 0.0 for _ in range(5))
    assert all(limiter.take("::1") == 0.0 for _ in range(5))
    strict = WriteLimiter(1, 60, limit_loopback=True, clock=ManualClock())
    assert strict.take("127.0.0.1") == 0.0 and strict.take("127.0.0.1") > 0


def test_the_table_forgets_the_least_recently_used_addresses() -> None:
    limiter = WriteLimiter(1, 60, max_clients=3, clock=ManualClock())
    for n in range(10):
        limiter.take(f"192.0.2.{n}")
    assert len(limiter) == 3
    assert limiter.take("192.0.2.9") > 0  # still remembered
    assert limiter.take("192.0.2.0") == 0.0  # forgotten: a full bucket again


@pytest.mark.parametrize(("name", "value"), [("member_write_burst", 0), ("member_write_every_s", 0)])
def test_limits_out_of_range_are_config_errors(tmp_path: Path, name: str, value: int) -> None:
    with pytest.raises(ConfigError, match=name):
        NodeConfig(data_dir=tmp_path, **{name: value})  # type: ignore[arg-type]


@pytest.fixture
def strict_files(tmp_path: Path) -> tuple[NodeConfig, NodeFiles]:
    """A node that limits loopback too (made here: blocking file work, off the event loop)."""
    config = NodeConfig(
        data_dir=tmp_path / "node",
        listen_port=0,
        member_write_burst=3,
        member_write_every_s=3600,
        member_write_limit_loopback=True,
    )
    return config, ensure_data_dir(config)


@contextlib.asynccontextmanager
async def serving(config: NodeConfig, files: NodeFiles) -> AsyncIterator[aiohttp.ClientSession]:
    """The node's app on 127.0.0.1, and a session to it."""
    runner = AppRunner(create_app(config, files.identity, str(files.database)), access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        async with aiohttp.ClientSession(base_url=f"http://127.0.0.1:{runner.addresses[0][1]}") as session:
            yield session
    finally:
        await runner.cleanup()


@pytest.fixture
async def strict_node(strict_files: tuple[NodeConfig, NodeFiles]) -> AsyncIterator[tuple[aiohttp.ClientSession, Path]]:
    config, files = strict_files
    async with serving(config, files) as session:
        yield session, files.database


async def test_past_the_burst_every_member_write_is_refused(
    strict_node: tuple[aiohttp.ClientSession, Path],
) -> None:
    session, database = strict_node
    async with session.post("/api/v1/records", json=need()) as response:
        assert response.status == 201
        answer = await response.json()
    record_id, auth = answer["record"]["id"], {"Authorization": f"Bearer {answer['manage_token']}"}
    async with session.post("/api/v1/records", json={"kind": "bad"}) as response:
        assert response.status == 422  # a refused write spends a token too
    async with session.post(f"/api/v1/records/{record_id}/flags", json={"reason": "spam"}) as response:
        assert response.status == 201
    before = await asyncio.to_thread(post_counts, database)
    for method, path, body in (
        ("POST", "/api/v1/records", need()),
        ("PATCH", f"/api/v1/records/{record_id}", {"title": "Coats"}),
        ("POST", f"/api/v1/records/{record_id}/status", {"status": "claimed"}),
        ("POST", f"/api/v1/records/{record_id}/replies", {"message": "I have coats"}),
        ("POST", f"/api/v1/records/{record_id}/flags", {"reason": "spam"}),
    ):
        async with session.request(method, path, json=body, headers=auth) as response:
            code, message = assert_error_shape(response.status, await response.json())
            assert (response.status, code) == (429, "too_many_requests"), path
            assert int(response.headers["Retry-After"]) == 3600
            assert "3600 seconds" in message
    assert await asyncio.to_thread(post_counts, database) == before
    async with session.get(f"/api/v1/records/{record_id}") as response:
        assert response.status == 200  # reading is not limited
    async with session.get("/api/v1/report") as response:
        assert response.status == 200


def test_the_document_names_429_on_every_member_write() -> None:
    paths = openapi_document()["paths"]
    for path, method in RATE_LIMITED:
        assert "429" in paths[path][method]["responses"], (method, path)
    assert {
        (p, m) for p, item in paths.items() for m in item if m in ("post", "patch") and p.startswith("/api/v1/records")
    } == RATE_LIMITED


async def test_one_client_cannot_use_up_the_replies_to_a_post(tmp_path: Path) -> None:
    config = NodeConfig(data_dir=tmp_path / "node", listen_port=0, member_write_limit_loopback=True)
    files = await asyncio.to_thread(ensure_data_dir, config)
    async with serving(config, files) as session:
        ids = []
        for _ in range(2):
            async with session.post("/api/v1/records", json=need()) as response:
                ids.append((await response.json())["record"]["id"])
        for _ in range(MAX_REPLIES_PER_CLIENT):
            async with session.post(f"/api/v1/records/{ids[0]}/replies", json={"message": "I can help"}) as r:
                assert r.status == 202
        async with session.post(f"/api/v1/records/{ids[0]}/replies", json={"message": "again"}) as response:
            code, _ = assert_error_shape(response.status, await response.json())
            assert (response.status, code) == (429, "client_reply_limit")
        async with session.post(f"/api/v1/records/{ids[1]}/replies", json={"message": "I can help"}) as r:
            assert r.status == 202  # another post: its own quota
