# The progress bar of a long initial sync, seen on a real terminal (a pty):
# `mutualaid run` draws it on stderr when stderr is a terminal, and stays
# silent otherwise.

from __future__ import annotations

import os
import pty
import threading

from crypto import NodeIdentity
from protocol.codec import Value, encode
from tests._launch import CONSOLE_SCRIPT, NodeProcess, run_args
from tests.peering.conftest import NodeFactory, http_call, make_post, signed_headers, wait_until

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
    args = run_args(nodes.root / "new", peers=[peer.url])
    process = NodeProcess(args, program=CONSOLE_SCRIPT, log=terminal)  # its stderr is the terminal
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
        assert process.stop(30) == 0
        reader.join(timeout=5)
        os.close(controller)
