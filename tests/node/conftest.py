# Fixtures for the node tests: a real node built by create_app over a data
# directory in tmp_path, served by aiohttp on 127.0.0.1 port 0, and a client
# session talking real HTTP to it. The data directory is made in a sync
# fixture: it is blocking file work and must not run on the event loop.

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from node.app import create_app
from node.core.config import NodeConfig
from node.core.datadir import NodeFiles, ensure_data_dir
from node.core.errors import AppRunner
from tests.node._cli import Running, start_running
from tests.node._support import Handler, post_counts, stored_state


@dataclass
class RunningNode:
    url: str
    config: NodeConfig
    files: NodeFiles
    app: web.Application
    session: aiohttp.ClientSession
    runner: web.AppRunner
    stopped: bool = field(default=False)

    async def call(self, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
        """One request; the status and the JSON body (or the raw text if it is not JSON)."""
        async with self.session.request(method, path, **kwargs) as response:
            text = await response.text()
            try:
                return response.status, await response.json(content_type=None)
            except ValueError:
                return response.status, text

    async def post(self, body: dict[str, Any]) -> tuple[dict[str, Any], str]:
        """Post a record that must be accepted; returns (R, manage token)."""
        status, answer = await self.call("POST", "/api/v1/records", json=body)
        assert status == 201, answer
        return answer["record"], answer["manage_token"]

    async def row_counts(self) -> tuple[int, int]:
        """(member posts, manage tokens) in the database file."""
        return await asyncio.to_thread(post_counts, self.files.database)

    async def stored(self) -> tuple[frozenset[bytes], frozenset[bytes]]:
        """Every record id and token hash in the database file."""
        return await asyncio.to_thread(stored_state, self.files.database)

    async def stop(self) -> None:
        """Shut the node down the way serve() does (the store commits and closes)."""
        if not self.stopped:
            self.stopped = True
            await self.runner.cleanup()


@pytest.fixture
def node_config(tmp_path: Path) -> NodeConfig:
    return NodeConfig(data_dir=tmp_path / "node", name="Riverside pantry", areas=("u4pr",), listen_port=0)


@pytest.fixture
def node_files(node_config: NodeConfig) -> NodeFiles:
    return ensure_data_dir(node_config)


@pytest.fixture
async def node(node_config: NodeConfig, node_files: NodeFiles) -> AsyncIterator[RunningNode]:
    app = create_app(node_config, node_files.identity, str(node_files.database))
    runner = AppRunner(app, access_log=None)
    await runner.setup()
    running: RunningNode | None = None
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        url = f"http://127.0.0.1:{runner.addresses[0][1]}"
        async with aiohttp.ClientSession(base_url=url) as session:
            running = RunningNode(url, node_config, node_files, app, session, runner)
            yield running
    finally:
        if running is None or not running.stopped:
            await runner.cleanup()


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    """One node process per test module, started through the CLI (tests/node/_cli.py)."""
    yield from start_running(tmp_path_factory.mktemp("cli"))


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[Handler], Awaitable[str]]]:
    """Start throwaway HTTP servers on 127.0.0.1 (port 0) answering with ``handler``; their URLs."""
    runners: list[web.AppRunner] = []

    async def start(handler: Handler) -> str:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", handler)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        runners.append(runner)
        return f"http://127.0.0.1:{runner.addresses[0][1]}"

    yield start
    for runner in runners:
        await runner.cleanup()
