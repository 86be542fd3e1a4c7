"""The operator's admin token leaves the machine only over https: a command given a
plain-http node elsewhere refuses before it connects, and no command follows a
redirect (urllib would carry the Authorization header along, even to plain http)."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest

from node.core.hosts import private_channel
from tests.node._cli import cli, cli_env, init


class _Recorder(http.server.BaseHTTPRequestHandler):
    seen: ClassVar[list[tuple[str, str | None]]] = []

    def do_GET(self) -> None:
        type(self).seen.append((self.path, self.headers.get("Authorization")))
        if self.path.startswith("/api/"):
            self.send_response(302)
            self.send_header("Location", f"http://{self.headers['Host']}/elsewhere")
            self.end_headers()
            return
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: object) -> None:
        return


@pytest.fixture
def redirecting() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Recorder.seen = []
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_which_channels_are_private() -> None:
    assert private_channel("https://pantry.example.org:8440")
    assert private_channel("http://127.0.0.1:8440") and private_channel("http://[::1]:8440")
    assert private_channel("http://localhost:8440")
    assert private_channel("http://0.0.0.0:8440")  # an address of this machine (the LAN tests use a namespace's own)
    assert not private_channel("http://192.168.1.20:8440")
    assert not private_channel("http://pantry.example.org")


def test_the_admin_token_is_not_sent_in_the_clear(tmp_path: Path) -> None:
    env = cli_env(tmp_path)
    init(env, tmp_path / "node")
    for args in (["peers", "list"], ["bundle", "export", str(tmp_path / "out.bundle")],
                 ["backup", str(tmp_path / "out.backup")]):  # fmt: skip
        result = cli(env, *args, "--data-dir", str(tmp_path / "node"), "--node", "http://192.0.2.7:8440")
        assert result.returncode != 0 and "Traceback" not in result.stderr, (args, result.stderr)
        assert "https" in result.stderr and "192.0.2.7" in result.stderr, (args, result.stderr)
        assert "cannot reach" not in result.stderr  # refused before any connection
    assert not (tmp_path / "out.bundle").exists() and not (tmp_path / "out.backup").exists()


def test_no_command_follows_a_redirect_with_the_token(tmp_path: Path, redirecting: str) -> None:
    env = cli_env(tmp_path)
    init(env, tmp_path / "node")
    result = cli(env, "peers", "list", "--data-dir", str(tmp_path / "node"), "--node", redirecting)
    assert result.returncode == 1 and "302" in result.stderr, result.stderr
    assert [path for path, _ in _Recorder.seen] == ["/api/v1/peers"]  # the redirect was not followed
    assert _Recorder.seen[0][1] is not None and _Recorder.seen[0][1].startswith("Bearer ")
