# The progress bar of a long initial sync, seen on a real terminal (a pty):
# `mutualaid run` draws it on stderr when stderr is a terminal, and stays
# silent otherwise.

from __future__ import annotations

import os
import pty
import signal
import subprocess
import threading

from crypto import NodeIdentity
from protocol.codec import Value, encode
from tests.peering.conftest import MUTUALAID, NodeFactory, http_call, make_post, signed_headers, wait_until

RECORDS = "/peer/v1/records"


def fill(authority: str, count: int) -> None:
    """Push ``count`` records, spread over authors and pushers so no rate limit bites."""
    authors = [NodeIdentity.generate() for _ in range(count // 400 + 1)]
    posts = [make_post(authors[i % len(authors)], f"Item number {i}").raw for i in range(count)]
    for start in range(0, count, 500):
        pusher = NodeIdentity.generate()
        body = encode(list[Value](posts[start : start + 500]))
        headers = signed_headers(pusher, "POST", RECORDS, authority, body)
        status, _, answer = http_call(authority, "POST", RECORDS, body, headers)
        assert status == 200, answer


def test_a_big_initial_sync_draws_a_progress_bar_on_a_terminal(nodes: NodeFactory) -> None:
    peer = nodes.start("peer")
    fill(peer.authority, 2500)
    controller, terminal = pty.openpty()
    argv = [str(MUTUALAID), "run", "--data-dir", str(nodes.root / "new"), "--listen", "127.0.0.1:0",
            "--no-mdns", "--peer", peer.url]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("MUTUALAID_")}
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=terminal, stdin=subprocess.DEVNULL, env=env)
    os.close(terminal)
    seen = bytearray()

    def read() -> None:
        while True:
            try:
                chunk = os.read(controller, 4096)
            except OSError:  # the terminal closed with the process
                return
            if not chunk:
                return
            seen.extend(chunk)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        wait_until(lambda: b"2,501/2,501" in seen or None, "the bar reaches the end")
        text = seen.decode(errors="replace")
        assert f"syncing from {peer.url} [" in text and "#" * 30 in text
        assert text.count("\r") >= 2  # redrawn in place, batch after batch
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
        reader.join(timeout=5)
        os.close(controller)
