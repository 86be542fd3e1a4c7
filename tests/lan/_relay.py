"""A host's delay relay: 100 ms links without netem, and a count of peer requests.

This kernel has no ``tc netem``, so latency is added in user space. One relay
runs in each host namespace of a mesh (tests/lan/_mesh.py), in front of that
host's node: it listens on the host's LAN address (where the other nodes call
it) and forwards to the node on 127.0.0.1, holding every chunk ``--delay``
seconds in each direction. Every call between two nodes passes exactly one
relay, the callee's, so each link has that one-way latency, in both
directions, and the whole exchange a round trip of twice it. A TCP proxy was
chosen over a layer-2 forwarder: it needs no raw sockets or offload tweaks,
costs one read and one write per chunk (25 of them fit on two shared cores),
and sees HTTP, so it counts requests exactly. What it does not model: the TCP
handshake itself is answered at once by the relay, and the bytes are not
paced (no bandwidth limit); the nodes reuse their connections, so the first
matters only on a (re)connect.

It counts the peer requests it forwards (an HTTP/1.1 parser that only finds
where each request ends) and their bytes, and it is also the test's hand in
the namespace (Python 3.11 cannot enter one): on its stdin it takes one JSON
command a line, on its stdout it answers one JSON line each:

- ``{"op": "post", "body": {...}}``: POST the body to the node's member API
  (``/api/v1/records``, straight to 127.0.0.1: not delayed, not counted);
  answers ``{"status": 201, "id": HEX}``.
- ``{"op": "get", "path": "/metrics"[, "token": T]}``: ``{"status": N, "text": BODY}``.
- ``{"op": "counts"}``: ``{"requests": N, "bytes_in": N, "bytes_out": N, "paths": {"POST /peer/v1/records": N, ...}}``.

Run: ``python -m tests.lan._relay --listen 10.77.0.1:8440 --node 127.0.0.1:8441``.
It prints ``{"ready": true}`` once it listens, and exits when stdin closes.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import sys
from collections import deque
from typing import Any

import aiohttp

DELAY_S = 0.1
"""One-way latency of every link (the Gossip Glomers broadcast bar's 100 ms)."""
CHUNK = 64 * 1024
MAX_HEAD = 64 * 1024


class RequestCounter:
    """Finds where each HTTP/1.1 request ends in a client's byte stream
    (Content-Length or chunked bodies), to count requests, not chunks."""

    def __init__(self) -> None:
        self.requests = 0
        self.paths: collections.Counter[str] = collections.Counter()  # requests by method and path
        self._buffer = b""
        self._body_left = 0  # bytes of a Content-Length body still to come
        self._chunked = False

    def feed(self, data: bytes) -> None:
        self._buffer += data
        while self._step():
            pass

    def _step(self) -> bool:
        """Consume one piece of the buffer; False when more bytes are needed."""
        if self._body_left:
            taken = min(self._body_left, len(self._buffer))
            self._buffer = self._buffer[taken:]
            self._body_left -= taken
            return bool(self._buffer)
        if self._chunked:
            return self._chunk()
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(self._buffer) > MAX_HEAD:
                raise ValueError("a request head over 64 KiB")
            return False
        head, self._buffer = self._buffer[:end].lower(), self._buffer[end + 4 :]
        self.requests += 1
        method, _, rest = head.split(b"\r\n", 1)[0].decode(errors="replace").partition(" ")
        self.paths[f"{method} {rest.split(' ')[0].split('?')[0]}"] += 1
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip() == b"content-length":
                self._body_left = int(value)
            elif name.strip() == b"transfer-encoding" and b"chunked" in value:
                self._chunked = True
        return bool(self._buffer)

    def _chunk(self) -> bool:
        end = self._buffer.find(b"\r\n")
        if end < 0:
            return False
        size = int(self._buffer[:end].split(b";")[0], 16)
        if size == 0:  # the last chunk, then (no trailers from aiohttp) an empty line
            if len(self._buffer) < end + 4:
                return False
            self._buffer = self._buffer[end + 4 :]
            self._chunked = False
            return bool(self._buffer)
        if len(self._buffer) < end + 2 + size + 2:
            return False
        self._buffer = self._buffer[end + 2 + size + 2 :]
        return bool(self._buffer)


class Relay:
    def __init__(self, node_host: str, node_port: int, delay: float) -> None:
        self.node_host, self.node_port, self.delay = node_host, node_port, delay
        self.counter = RequestCounter()
        self.bytes_in = 0  # toward the node
        self.bytes_out = 0  # from the node

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            node_reader, node_writer = await asyncio.open_connection(self.node_host, self.node_port)
        except OSError:
            writer.close()
            return
        await asyncio.gather(
            self._pipe(reader, node_writer, inbound=True),
            self._pipe(node_reader, writer, inbound=False),
            return_exceptions=True,
        )
        for w in (writer, node_writer):
            w.close()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, inbound: bool) -> None:
        """Copy one direction, each chunk released ``delay`` after it was read."""
        loop = asyncio.get_running_loop()
        held: deque[tuple[float, bytes]] = deque()
        arrived = asyncio.Event()
        done = False

        async def release() -> None:
            while held or not done:
                if not held:
                    arrived.clear()
                    await arrived.wait()
                    continue
                due, chunk = held.popleft()
                await asyncio.sleep(max(0.0, due - loop.time()))
                if not chunk:
                    with contextlib.suppress(OSError):
                        writer.write_eof()
                    return
                writer.write(chunk)
                await writer.drain()

        sender = asyncio.create_task(release())
        try:
            while True:
                chunk = await reader.read(CHUNK)
                held.append((loop.time() + self.delay, chunk))
                arrived.set()
                if not chunk:
                    break
                if inbound:
                    self.bytes_in += len(chunk)
                    self.counter.feed(chunk)
                else:
                    self.bytes_out += len(chunk)
        finally:
            done = True
            arrived.set()
            await asyncio.gather(sender, return_exceptions=True)


async def _command(relay: Relay, session: aiohttp.ClientSession, command: dict[str, Any]) -> dict[str, Any]:
    base = f"http://{relay.node_host}:{relay.node_port}"
    op = command.get("op")
    if op == "counts":
        counter = relay.counter
        return {"requests": counter.requests, "bytes_in": relay.bytes_in, "bytes_out": relay.bytes_out,
                "paths": dict(counter.paths)}  # fmt: skip
    if op == "post":
        async with session.post(base + "/api/v1/records", json=command["body"]) as response:
            body = await response.json()
            record = body.get("record") if isinstance(body, dict) else None
            return {"status": response.status, "id": record["id"] if record else None}
    if op == "get":
        token = command.get("token")  # the operator's, for the operator API
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with session.get(base + command["path"], headers=headers) as response:
            return {"status": response.status, "text": await response.text()}
    return {"error": f"unknown op {op!r}"}


async def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--listen", required=True, help="HOST:PORT the other nodes call")
    parser.add_argument("--node", required=True, help="HOST:PORT of the node behind the relay")
    parser.add_argument("--delay", type=float, default=DELAY_S, help="seconds each chunk is held, each way")
    args = parser.parse_args(argv)
    listen_host, listen_port = args.listen.rsplit(":", 1)
    node_host, node_port = args.node.rsplit(":", 1)
    relay = Relay(node_host, int(node_port), args.delay)
    server = await asyncio.start_server(relay.serve, listen_host, int(listen_port))
    loop = asyncio.get_running_loop()
    stdin = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin)
    print(json.dumps({"ready": True}), flush=True)
    async with server, aiohttp.ClientSession() as session:
        while line := await stdin.readline():
            try:
                answer = await _command(relay, session, json.loads(line))
            except (aiohttp.ClientError, OSError, ValueError, KeyError) as exc:
                answer = {"error": f"{exc.__class__.__name__}: {exc}"}
            print(json.dumps(answer), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main(sys.argv[1:])))
