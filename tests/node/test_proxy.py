"""A node behind nginx (Debian's package), as docs/OPERATING.md configures it (issue 12):
nginx runs the very server block that page gives operators (tests/node/_proxy.py reads
it), terminating TLS with a certificate from a throwaway CA. Members reach the page and
the API through it; the node trusts ``X-Forwarded-For`` from the proxy it is told about,
so the per-address write limit sees each member and not the proxy; a client's own
``X-Forwarded-For`` proves nothing, through the proxy or straight to the node;
``/metrics`` stays behind it. Members are told apart by their loopback source addresses
(127.0.0.2, 127.0.0.3): nginx sees each, and the node only through the header.

A second node peers with the first by its ``https://`` public URL, through nginx, and
records flow both ways; it verifies the certificate against the CA it is given
(``SSL_CERT_FILE``), and a third node that trusts another CA is refused, says why, and
keeps running. Peer requests are checked against the node's public URL behind the
proxy, where ``X-Forwarded-Host`` counts only from the trusted proxy; an idle long poll
of the peer feed outlasts the proxy. Pure cases of the rules: ``forwarded_client``,
``forwarded_scheme`` and ``forwarded_host`` by hand, and the middleware in process."""

from __future__ import annotations

import json
import re
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from crypto import NodeIdentity
from node.app import forwarded_middleware
from node.core.hosts import forwarded_client, forwarded_host, forwarded_scheme, networks
from node.peering.peer_api import MAX_FEED_WAIT_S
from protocol import peerwire
from tests._launch import NodeProcess
from tests._nodes import wait_until
from tests.node._cli import HANG_GUARD_S, RUN_FLAGS, cli, cli_env, init, run_node
from tests.node._proxy import Answer, Pki, call, documented_site, free_port, make_pki, nginx, signed, site_for_test

BURST = 3
NEED = {"kind": "need", "title": "Soup for two", "category": "food", "area": "u4pru"}
JSON = {"Content-Type": "application/json"}


@dataclass
class Proxied:
    """Node A behind nginx: members and peers reach it at ``https://127.0.0.1:port``."""

    port: int
    node_port: int
    tls: ssl.SSLContext
    pki: Pki
    public_key: bytes
    node: NodeProcess

    @property
    def public_url(self) -> str:
        return f"https://127.0.0.1:{self.port}"


@pytest.fixture
def behind_nginx(tmp_path: Path) -> Iterator[Proxied]:
    """A node that trusts 127.0.0.1 (nginx), limits loopback clients and is
    reached by its https:// public URL, and nginx before it with TLS."""
    pki = make_pki(tmp_path / "pki")
    env = cli_env(tmp_path)
    data_dir = tmp_path / "node"
    made = init(env, data_dir)
    port = free_port()
    with (data_dir / "config.toml").open("a") as config:
        config.write(f'trusted_proxies = ["127.0.0.1"]\nmember_write_limit_loopback = true\n'
                     f"member_write_burst = {BURST}\nmember_write_every_s = 3600\n"
                     f'public_urls = ["https://127.0.0.1:{port}"]\n')  # fmt: skip
    with run_node(env, tmp_path / "node.log", "--data-dir", str(data_dir), *RUN_FLAGS) as node:
        node_port = int(node.url.rsplit(":", 1)[1])
        with nginx(tmp_path / "nginx", site_for_test(port, node_port, pki.cert, pki.key), port):
            tls = ssl.create_default_context(cafile=str(pki.ca))
            yield Proxied(port, node_port, tls, pki, bytes.fromhex(made["public_key"]), node)
        assert node.stop(HANG_GUARD_S) == 0, node.log_text()


def _post(proxied: Proxied, source: str, headers: dict[str, str] | None = None) -> int:
    body = json.dumps(NEED).encode()
    return call(proxied.port, "POST", "/api/v1/records", source, tls=proxied.tls, body=body,
                headers=JSON | (headers or {})).status  # fmt: skip


def test_each_member_behind_the_proxy_has_their_own_limit(behind_nginx: Proxied) -> None:
    proxied = behind_nginx
    page = call(proxied.port, "GET", "/", "127.0.0.2", tls=proxied.tls)
    assert page.status == 200 and "<html" in page.body.lower()
    assert call(proxied.port, "GET", "/api/v1/records", "127.0.0.2", tls=proxied.tls).status == 200
    # One member spends their burst, then is held back...
    assert [_post(proxied, "127.0.0.2") for _ in range(BURST + 1)] == [201] * BURST + [429]
    # ...claiming to be someone else, through the proxy, changes nothing (nginx appends the real address)...
    assert _post(proxied, "127.0.0.2", {"X-Forwarded-For": "198.51.100.7"}) == 429
    # ...while a neighbour behind the same proxy still posts.
    assert _post(proxied, "127.0.0.3") == 201
    # Straight to the node, from an address it does not trust, the header is ignored:
    # 127.0.0.4 is limited as itself, whoever it says it forwards.
    body = json.dumps(NEED).encode()
    spoofed = []
    for i in range(BURST + 1):
        claim = JSON | {"X-Forwarded-For": f"203.0.113.{i}"}
        spoofed.append(call(proxied.node_port, "POST", "/api/v1/records", "127.0.0.4", body=body, headers=claim).status)
    assert spoofed == [201] * BURST + [429]
    # /metrics answers the proxy's own machine only.
    assert call(proxied.port, "GET", "/metrics", "127.0.0.2", tls=proxied.tls).status == 403
    assert call(proxied.port, "GET", "/metrics", "127.0.0.1", tls=proxied.tls).status == 200


def _feed(proxied: Proxied, identity: NodeIdentity, destination: str, *, after: int = 0, wait: int = 0,
          direct_from: str | None = None, headers: dict[str, str] | None = None) -> Answer:  # fmt: skip
    """A signed GET of A's peer feed: through nginx over TLS, or straight to the
    node from ``direct_from``."""
    path = f"/peer/v1/feed?after={after}&wait={wait}"
    sent = signed(identity, "GET", path, destination) | (headers or {})
    if direct_from is None:
        return call(proxied.port, "GET", path, "127.0.0.1", tls=proxied.tls, headers=sent)
    return call(proxied.node_port, "GET", path, direct_from, headers=sent)


def test_peer_requests_are_checked_against_the_public_url_behind_the_proxy(behind_nginx: Proxied) -> None:
    proxied, caller = behind_nginx, NodeIdentity.generate()
    public, local = f"127.0.0.1:{proxied.port}", f"127.0.0.1:{proxied.node_port}"
    # Through nginx, a request signed for the public URL passes; one signed for
    # any other address (here the node's own listening one) does not.
    assert _feed(proxied, caller, public).status == 200
    refused = _feed(proxied, caller, local)
    assert (refused.status, refused.body["error"]["code"]) == (401, "unauthorized")
    # A proxy that rewrites Host says the original in X-Forwarded-Host: believed from the trusted proxy...
    assert _feed(proxied, caller, public, direct_from="127.0.0.1", headers={"X-Forwarded-Host": public}).status == 200
    # ...and from anyone else only their own words: the request is checked against the Host it
    # reached, so a request signed for the public URL does not verify, and one signed for the
    # address it reached passes whatever the header says.
    spoofed = _feed(proxied, caller, public, direct_from="127.0.0.4", headers={"X-Forwarded-Host": public})
    assert (spoofed.status, spoofed.body["error"]["code"]) == (401, "unauthorized")
    ignored = _feed(proxied, caller, local, direct_from="127.0.0.4", headers={"X-Forwarded-Host": "x.example"})
    assert ignored.status == 200
    # The trusted proxy naming a host that is not this node's: refused before the signature.
    elsewhere = _feed(proxied, caller, local, direct_from="127.0.0.1", headers={"X-Forwarded-Host": "x.example"})
    assert elsewhere.status == 401 and "not this node" in elsewhere.body["error"]["message"]


def _peer(tmp_path: Path, name: str, ca: Path, url: str) -> tuple[NodeProcess, dict[str, str], Path]:
    """A node that trusts only ``ca`` for TLS, with ``url`` as its one peer."""
    env = cli_env(tmp_path, SSL_CERT_FILE=str(ca))
    data_dir = tmp_path / name
    init(env, data_dir)
    node = run_node(env, tmp_path / f"{name}.log", "--data-dir", str(data_dir), *RUN_FLAGS, "--peer", url)
    return node, env, data_dir


def _has(port: int, record_id: str, tls: ssl.SSLContext | None = None) -> bool:
    return call(port, "GET", f"/api/v1/records/{record_id}", "127.0.0.1", tls=tls).status == 200


def _peers(env: dict[str, str], data_dir: Path, url: str) -> list[dict[str, Any]]:
    listed = cli(env, "peers", "list", "--json", "--data-dir", str(data_dir), "--node", url)
    assert listed.returncode == 0, listed.stderr
    peers: list[dict[str, Any]] = json.loads(listed.stdout)["peers"]
    return peers


@pytest.mark.slow  # the idle long poll is held the whole MAX_FEED_WAIT_S
def test_a_peer_reaches_the_node_by_its_https_url(behind_nginx: Proxied, tmp_path: Path) -> None:
    proxied = behind_nginx
    # An idle long poll of the feed through nginx, held for the whole wait the node
    # allows (nothing is ever after this cursor), alongside everything below.
    idle: list[Answer | Exception] = []
    far = 2**62
    poller = NodeIdentity.generate()

    def hold() -> None:
        try:
            idle.append(_feed(proxied, poller, f"127.0.0.1:{proxied.port}", after=far, wait=MAX_FEED_WAIT_S))
        except Exception as exc:  # reported by the assertion below, not as a stray thread's error
            idle.append(exc)

    holder = threading.Thread(target=hold)
    holder.start()

    b, b_env, b_dir = _peer(tmp_path, "b", proxied.pki.ca, proxied.public_url)
    c, c_env, c_dir = _peer(tmp_path, "c", proxied.pki.other_ca, proxied.public_url)
    with b, c:
        b_port, c_port = (int(n.url.rsplit(":", 1)[1]) for n in (b, c))
        # A member posts on A through nginx; B gets it by pulling A's feed through nginx...
        posted = call(proxied.port, "POST", "/api/v1/records", "127.0.0.2", tls=proxied.tls,
                      body=json.dumps(NEED).encode(), headers=JSON)  # fmt: skip
        assert posted.status == 201, posted.body
        on_a = posted.body["record"]["id"]
        wait_until(lambda: _has(b_port, on_a), "B has the record posted on A")
        # ...and what a member posts on B, B pushes to A through nginx.
        bread = json.dumps(NEED | {"title": "Bread"}).encode()
        other = call(b_port, "POST", "/api/v1/records", "127.0.0.1", body=bread, headers=JSON)
        assert other.status == 201, other.body
        on_b = other.body["record"]["id"]
        wait_until(lambda: _has(proxied.port, on_b, proxied.tls), "A has the record posted on B")
        [link] = _peers(b_env, b_dir, b.url)
        assert link["url"] == proxied.public_url and link["public_key"] and link["last_error"] is None, link

        # C trusts another CA: A's certificate is refused, the log and the peer list
        # say why, and C goes on serving its members (and never got A's record).
        refusal = "its TLS certificate is not trusted here (unable to get local issuer certificate)"
        wait_until(lambda: refusal in c.log_text(100_000), "C logs why it cannot reach A")
        said = [line for line in c.log_text(100_000).splitlines() if refusal in line]
        assert re.search(rf"peer {re.escape(proxied.public_url)}: .*{re.escape(refusal)}.*; retrying in", said[0]), said
        [failed] = _peers(c_env, c_dir, c.url)
        assert refusal in failed["last_error"] and failed["public_key"] is None, failed
        assert call(c_port, "GET", "/healthz", "127.0.0.1").status == 200
        assert not _has(c_port, on_a)
        assert b.stop(HANG_GUARD_S) == 0, b.log_text()
        assert c.stop(HANG_GUARD_S) == 0, c.log_text()

    holder.join(MAX_FEED_WAIT_S + HANG_GUARD_S)
    [answer] = idle
    assert isinstance(answer, Answer) and answer.status == 200, answer
    assert peerwire.decode_body(answer.raw) == {"ids": [], "cursor": far, "behind": False}


def test_the_documented_block_holds_the_feed_open_and_unbuffered() -> None:
    """The node answers a feed poll within MAX_FEED_WAIT_S: the documented
    block must wait longer for it, and pass it on unbuffered."""
    feed = re.search(r"location = /peer/v1/feed \{(.*?)\}", documented_site(), re.S)
    assert feed is not None
    assert "proxy_buffering off;" in feed.group(1)
    timeout = re.search(r"proxy_read_timeout (\d+)s;", feed.group(1))
    assert timeout is not None and int(timeout.group(1)) > MAX_FEED_WAIT_S


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


@pytest.mark.parametrize(
    ("header", "scheme"),
    [(["https"], "https"), (["HTTP"], "http"), (["http, https"], "https"), (["https", "http"], "http"),
     ([], None), (["ftp"], None), ([""], None), (["https "], "https")],
)  # fmt: skip
def test_the_scheme_the_nearest_proxy_saw(header: list[str], scheme: str | None) -> None:
    assert forwarded_scheme(header) == scheme


@pytest.mark.parametrize(
    ("header", "host"),
    [
        (["pantry.example.org"], "pantry.example.org"),
        (["Pantry.Example.org:8443"], "pantry.example.org:8443"),
        (["evil.example, pantry.example.org"], "pantry.example.org"),  # the nearest proxy's value
        (["127.0.0.1:8443"], "127.0.0.1:8443"),
        (["[2001:db8::1]:443"], "[2001:db8::1]:443"),
        (["[2001:db8::1]"], "[2001:db8::1]"),
        ([], None),
        (["2001:db8::1"], None),  # IPv6 without brackets
        (["[not-v6]:443"], None),
        (["pantry.example.org:0"], None),
        (["pantry.example.org:99999"], None),
        (["pantry.example.org:"], None),
        (["user@pantry.example.org"], None),
        (["pantry.example.org/path"], None),
        (["-pantry.example.org"], None),
        (["a" * 64 + ".example.org"], None),
        (["pantry.example.org:８４４３"], None),  # non-ASCII digits
    ],
)
def test_the_host_the_nearest_proxy_saw(header: list[str], host: str | None) -> None:
    assert forwarded_host(header) == host


@pytest.mark.parametrize(
    ("proxies", "seen"),
    [
        (["127.0.0.1"], {"remote": "192.0.2.9", "scheme": "https", "host": "pantry.example.org"}),
        (["10.0.0.0/8"], {"remote": "127.0.0.1", "scheme": "http", "host": None}),  # not a proxy of ours
    ],
)
async def test_only_a_trusted_proxy_says_who_what_and_where(proxies: list[str], seen: dict[str, Any]) -> None:
    async def echo(request: web.Request) -> web.Response:
        return web.json_response({"remote": request.remote, "scheme": request.scheme, "host": request.host})

    app = web.Application(middlewares=[forwarded_middleware(networks(proxies))])
    app.router.add_get("/", echo)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        headers = {"X-Forwarded-For": "192.0.2.9", "X-Forwarded-Proto": "https",
                   "X-Forwarded-Host": "pantry.example.org"}  # fmt: skip
        response = await client.get("/", headers=headers)
        got = await response.json()
        reached = f"127.0.0.1:{client.port}"
    assert got == seen | {"host": seen["host"] or reached}
