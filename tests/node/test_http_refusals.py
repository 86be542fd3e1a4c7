# What aiohttp itself refuses, before any handler runs (a URL or a header too
# long, too many headers, bytes that are not HTTP, a body over the limit, a
# method a path does not take), answers in the node's one JSON error shape,
# says the limit, and never echoes the request back. Sent over a raw socket,
# since a well-behaved client library would not send most of these.

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path

import pytest

from node.core.errors import MAX_LINE_BYTES, Code
from tests.node._support import assert_error_shape
from tests.node.conftest import RunningNode

NODE_GUIDE = Path(__file__).resolve().parents[2] / "docs" / "NODE.md"
MARK = b"qzqzqz"  # a marker that must never come back in an answer


async def raw_request(node: RunningNode, data: bytes) -> tuple[int, dict[str, str], bytes]:
    host, port = node.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(data)
        await writer.drain()
        answer = await reader.read()  # the node closes the connection after a refusal
    finally:
        writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), headers, body


CASES = [
    ("url", b"GET /api/v1/records?q=" + MARK * 2000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414, "url_too_long"),
    ("header", b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Long: " + MARK * 2000 + b"\r\n\r\n", 431, "header_too_large"),
    ("header name", b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + MARK * 2000 + b": v\r\n\r\n", 431, "header_too_large"),
    (
        "many headers",
        b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-%d: %s\r\n" % (i, MARK) for i in range(300)) + b"\r\n",
        431,
        "header_too_large",
    ),
    ("not http", MARK + b" \x00\x01\x02\r\n\r\n", 400, "bad_request"),
]


@pytest.mark.parametrize(("name", "data", "status", "code"), CASES, ids=[c[0] for c in CASES])
async def test_parser_refusals_are_json_and_never_echo(
    node: RunningNode, name: str, data: bytes, status: int, code: str
) -> None:
    got, headers, body = await raw_request(node, data)
    assert got == status, body
    assert headers["content-type"].startswith("application/json")
    answer = json.loads(body)
    assert assert_error_shape(got, answer)[0] == code
    assert MARK not in body, "the node echoed the request"
    if code in ("url_too_long", "header_too_large") and name != "many headers":
        assert str(MAX_LINE_BYTES) in answer["error"]["message"]  # it says the limit
    assert (await node.call("GET", "/healthz"))[0] == 200  # and keeps serving


async def test_a_body_over_the_limit_says_the_limit(node: RunningNode) -> None:
    limit = node.config.max_body_bytes
    body = b'{"title": "' + MARK * (limit // len(MARK) + 1) + b'"}'
    status, answer = await node.call(
        "POST", "/api/v1/records", data=io.BytesIO(body), headers={"Content-Type": "application/json"}
    )
    assert assert_error_shape(status, answer)[0] == "body_too_large"
    assert str(limit) in answer["error"]["message"] and "qzqz" not in json.dumps(answer)


async def test_a_method_a_path_does_not_take_lists_those_it_takes(node: RunningNode) -> None:
    async with node.session.request("TRACE", "/api/v1/records") as response:
        assert response.status == 405
        assert set(response.headers["Allow"].split(", ")) == {"GET", "HEAD", "POST"}
        answer = await response.json()
    assert assert_error_shape(405, answer)[0] == "method_not_allowed"


def test_every_code_has_a_status_and_a_meaning() -> None:
    codes = [member.code for member in Code]
    assert len(codes) == len(set(codes))
    for member in Code:
        assert 400 <= member.status < 600 and member.meaning, member
        assert Code.of(member.code) is member
    assert Code.of("no such code") is Code.INTERNAL


def codes_table() -> str:
    lines = ["| code | status | meaning |", "|---|---|---|"]
    lines += [f"| `{member.code}` | {member.status} | {member.meaning} |" for member in Code]
    return "\n".join(lines)


def test_the_node_guide_lists_every_error_code() -> None:
    text = NODE_GUIDE.read_text()
    start, end = "<!-- codes -->\n", "<!-- /codes -->"
    assert start in text and end in text
    shown = text.split(start, 1)[1].split(end, 1)[0].strip()
    assert shown == codes_table(), "docs/NODE.md differs; rewrite it: python -m tests.node.test_http_refusals"


def main() -> None:
    """Rewrite the table of error codes in docs/NODE.md from the registry."""
    text = NODE_GUIDE.read_text()
    head, _, rest = text.partition("<!-- codes -->\n")
    _, _, tail = rest.partition("<!-- /codes -->")
    NODE_GUIDE.write_text(f"{head}<!-- codes -->\n{codes_table()}\n<!-- /codes -->{tail}")


if __name__ == "__main__":
    main()
