"""Larger member API answers are gzipped for clients that accept it."""

from __future__ import annotations

import gzip
import json

from tests.node._support import need
from tests.node.conftest import RunningNode


async def _raw(node: RunningNode, path: str, encoding: str) -> tuple[str | None, bytes]:
    headers = {"Accept-Encoding": encoding}
    async with node.session.get(path, headers=headers, auto_decompress=False) as response:
        assert response.status == 200
        return response.headers.get("Content-Encoding"), await response.read()


async def test_a_page_of_results_is_gzipped_when_the_client_accepts_it(node: RunningNode) -> None:
    for i in range(10):
        await node.post(need(title=f"Warm coat number {i}", details="Any size is welcome " * 10))
    encoding, body = await _raw(node, "/api/v1/records", "gzip, deflate")
    assert encoding == "gzip"
    plain = gzip.decompress(body)
    assert len(body) * 2 < len(plain)
    assert len(json.loads(plain)["records"]) == 10
    # A client that does not ask for it gets plain JSON; small answers are never compressed.
    encoding, body = await _raw(node, "/api/v1/records", "identity")
    assert encoding is None and body == plain
    encoding, body = await _raw(node, "/healthz", "gzip")
    assert encoding is None


async def test_answers_to_requests_with_a_token_are_never_compressed(node: RunningNode) -> None:
    record, token = await node.post(need(details="Any size is welcome " * 60))
    headers = {"Accept-Encoding": "gzip", "Authorization": f"Bearer {token}"}
    async with node.session.get("/api/v1/manage", headers=headers, auto_decompress=False) as response:
        assert response.status == 200
        body = await response.read()
        assert len(body) >= 1024 and response.headers.get("Content-Encoding") is None
        assert json.loads(body)["posts"][0]["id"] == record["id"]
