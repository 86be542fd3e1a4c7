"""A node behind nginx (Debian's package), as docs/OPERATING.md configures it (issue 12,
part): members reach the page and the API through the proxy; the node trusts
``X-Forwarded-For`` from the proxy it is told about, so the per-address write limit
sees each member and not the proxy; a client's own ``X-Forwarded-For`` proves
nothing, through the proxy or straight to the node; ``/metrics`` stays behind it.
Members are told apart by their loopback source addresses (127.0.0.2, 127.0.0.3):
nginx sees each, and the node only through the header. Pure cases of the rule:
``forwarded_client`` by hand."""

from __future__ import annotations

import http.client
import json
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from node.core.hosts import forwarded_client, networks
from tests.node._cli import HANG_GUARD_S, RUN_FLAGS, cli_env, init, run_node

NGINX_CONF = """\
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    server {{
        listen 127.0.0.1:{port};
        location = /metrics {{
            allow 127.0.0.1;
            deny all;
            proxy_pass http://127.0.0.1:{node_port};
        }}
        location / {{
            proxy_pass http://127.0.0.1:{node_port};
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
        }}
    }}
}}
"""
BURST = 3


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _call(port: int, method: str, path: str, source: str, body: Any = None,
          headers: dict[str, str] | None = None) -> tuple[int, Any]:  # fmt: skip
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=HANG_GUARD_S, source_address=(source, 0))
    try:
        data = None if body is None else json.dumps(body).encode()
        sent = {"Content-Type": "application/json"} if body is not None else {}
        conn.request(method, path, data, sent | (headers or {}))
        response = conn.getresponse()
        raw = response.read()
        kind = response.getheader("Content-Type", "")
        return response.status, json.loads(raw) if "json" in kind else raw.decode(errors="replace")
    finally:
        conn.close()


def _post(port: int, source: str, headers: dict[str, str] | None = None) -> int:
    need = {"kind": "need", "title": "Soup for two", "category": "food", "area": "u4pru"}
    return _call(port, "POST", "/api/v1/records", source, need, headers)[0]


@pytest.fixture
def behind_nginx(tmp_path: Path) -> Iterator[tuple[int, int]]:
    """A node that trusts 127.0.0.1 (nginx) and limits loopback clients, and nginx before it."""
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(nginx).exists():
        pytest.fail("nginx is missing: make test installs it (.ci/system-deps)")
    env = cli_env(tmp_path)
    data_dir = tmp_path / "node"
    init(env, data_dir)
    with (data_dir / "config.toml").open("a") as config:
        config.write(f'trusted_proxies = ["127.0.0.1"]\nmember_write_limit_loopback = true\n'
                     f"member_write_burst = {BURST}\nmember_write_every_s = 3600\n")  # fmt: skip
    with run_node(env, tmp_path / "node.log", "--data-dir", str(data_dir), *RUN_FLAGS) as node:
        node_port = int(node.url.rsplit(":", 1)[1])
        port, conf = _free_port(), tmp_path / "nginx" / "nginx.conf"
        conf.parent.mkdir()
        conf.write_text(NGINX_CONF.format(dir=conf.parent, port=port, node_port=node_port))
        log = conf.parent / "stderr.log"
        with log.open("wb") as stderr:
            proxy = subprocess.Popen([nginx, "-c", str(conf), "-p", str(conf.parent), "-g", "daemon off;"],
                                     stdout=subprocess.DEVNULL, stderr=stderr)  # fmt: skip
        try:
            deadline = time.monotonic() + HANG_GUARD_S
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    assert proxy.poll() is None, log.read_text()
                    assert time.monotonic() < deadline, "nginx did not listen"
                    time.sleep(0.05)
            yield port, node_port
        finally:
            proxy.terminate()
            proxy.wait(HANG_GUARD_S)
        assert node.stop(HANG_GUARD_S) == 0, node.log_text()


def test_each_member_behind_the_proxy_has_their_own_limit(behind_nginx: tuple[int, int]) -> None:
    port, node_port = behind_nginx
    status, page = _call(port, "GET", "/", "127.0.0.2")
    assert status == 200 and "<html" in page.lower()
    assert _call(port, "GET", "/api/v1/records", "127.0.0.2")[0] == 200
    # One member spends their burst, then is held back...
    assert [_post(port, "127.0.0.2") for _ in range(BURST + 1)] == [201] * BURST + [429]
    # ...claiming to be someone else, through the proxy, changes nothing (nginx appends the real address)...
    assert _post(port, "127.0.0.2", {"X-Forwarded-For": "198.51.100.7"}) == 429
    # ...while a neighbour behind the same proxy still posts.
    assert _post(port, "127.0.0.3") == 201
    # Straight to the node, from an address it does not trust, the header is ignored:
    # 127.0.0.4 is limited as itself, whoever it says it forwards.
    spoofed = [_post(node_port, "127.0.0.4", {"X-Forwarded-For": f"203.0.113.{i}"}) for i in range(BURST + 1)]
    assert spoofed == [201] * BURST + [429]
    # /metrics answers the proxy's own machine only.
    assert _call(port, "GET", "/metrics", "127.0.0.2")[0] == 403
    assert _call(port, "GET", "/metrics", "127.0.0.1")[0] == 200


PROXIES = networks(["127.0.0.1", "10.0.0.0/8"])


@pytest.mark.parametrize(
    ("peer", "header", "client"),
    [
        ("127.0.0.1", ["192.0.2.9"], "192.0.2.9"),  # one proxy, one member
        ("127.0.0.1", ["198.51.100.1, 192.0.2.9"], "192.0.2.9"),  # the member wrote a first hop: ignored
        ("127.0.0.1", ["192.0.2.9, 10.1.2.3"], "192.0.2.9"),  # two trusted proxies in a row
        ("127.0.0.1", ["192.0.2.9", "10.1.2.3"], "192.0.2.9"),  # the header given twice
        ("127.0.0.1", ["not-an-address, 10.1.2.3"], "10.1.2.3"),  # garbage stops at the last trusted hop
        ("127.0.0.1", [], "127.0.0.1"),  # no header: the proxy itself
        ("127.0.0.1", ["[2001:db8::1]:443"], "127.0.0.1"),  # not a bare address: not believed
        ("::ffff:127.0.0.1", ["2001:db8::1"], "2001:db8::1"),  # the proxy on a dual-stack socket
        ("192.0.2.50", ["10.9.9.9"], "192.0.2.50"),  # not a proxy: the header is the client's own words
        (None, ["192.0.2.9"], None),
    ],
)
def test_the_client_behind_trusted_proxies(peer: str | None, header: list[str], client: str | None) -> None:
    assert forwarded_client(peer, header, PROXIES) == client
