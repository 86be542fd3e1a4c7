# Fixtures for the peering tests: real node processes started through the
# CLI (`mutualaid run`), each on 127.0.0.1 port 0 with its own data directory
# and SQLite file in tmp_path, talked to over real HTTP. Everything here is
# synchronous (subprocess, http.client, sqlite3), so nothing ever runs on an
# event loop and blockbuster has nothing to guard.
#
# Waits poll with generous deadlines that only catch hangs; no assertion here
# depends on how fast anything is.

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import secrets
import socket
import sqlite3
import subprocess
import time
import urllib.parse
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from crypto import NodeIdentity
from protocol import peerwire
from protocol.records import DAY, Record, build_record
from tests._launch import CONSOLE_SCRIPT, NodeProcess, NodeStartError, run_args
from tests._nodes import wait_until as wait_until  # noqa: PLC0414 - re-exported to the tests beside it

START_DEADLINE_S = 30.0
"""A node that has not printed its listening line by then is hung."""
STOP_DEADLINE_S = 10.0
"""A node that has not exited this long after SIGTERM is hung: a clean stop
takes about 0.1 s (long polls are woken at shutdown), and 10 s is when
`docker stop` gives up and sends SIGKILL."""
SYNC_DEADLINE_S = 30.0
"""How long a record may take to travel before we call the network stuck."""


# -- node processes -------------------------------------------------------------


@dataclass
class Node:
    """One `mutualaid run` process and the files it keeps."""

    name: str
    data_dir: Path
    launched: NodeProcess
    url: str
    stderr_path: Path

    @property
    def process(self) -> subprocess.Popen[bytes]:
        return self.launched.popen

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    @property
    def authority(self) -> str:
        """The ``host:port`` a peer request to this node is signed for."""
        return urllib.parse.urlsplit(self.url).netloc

    @property
    def database(self) -> Path:
        return self.data_dir / "records.db"

    def running(self) -> bool:
        return self.process.poll() is None

    def log(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def stop(self) -> int:
        """SIGTERM, wait for the exit, and insist on a clean one."""
        code = self.launched.stop(STOP_DEADLINE_S)
        if code is None:
            pytest.fail(f"node {self.name} still running {STOP_DEADLINE_S:.0f} s after SIGTERM:\n{self.log()[-3000:]}")
        assert code == 0, f"node {self.name} exited with {code} after SIGTERM:\n{self.log()[-3000:]}"
        return code

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs."""
        self.launched.kill()

    # -- member API (JSON) --

    def api(self, method: str, path: str, body: Any = None, *, token: str | None = None) -> tuple[int, Any]:
        headers = {}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        status, _, payload = http_call(self.authority, method, path, data, headers)
        return status, json.loads(payload) if payload else None

    def post(self, title: str, kind: str = "need", **fields: Any) -> tuple[dict[str, Any], str]:
        """Post a record that must be accepted; returns (R, manage token)."""
        body = {"kind": kind, "title": title, "category": "clothing", "area": "u4pru"} | fields
        status, answer = self.api("POST", "/api/v1/records", body)
        assert status == 201, answer
        return answer["record"], answer["manage_token"]

    def search(self, text: str, **params: str) -> list[dict[str, Any]]:
        """Records matching ``text`` (open and claimed ones unless ``status`` says otherwise)."""
        return self.records(q=text, limit="100", **params)

    def records(self, **params: str) -> list[dict[str, Any]]:
        """A member search with these query parameters."""
        status, answer = self.api("GET", f"/api/v1/records?{urllib.parse.urlencode(params)}")
        assert status == 200, answer
        records: list[dict[str, Any]] = answer["records"]
        return records

    def get(self, record_id: str) -> dict[str, Any] | None:
        status, answer = self.api("GET", f"/api/v1/records/{record_id}")
        if status == 404:
            return None
        assert status == 200, answer
        result: dict[str, Any] = answer
        return result

    def info(self) -> dict[str, Any]:
        status, answer = self.api("GET", "/api/v1/node")
        assert status == 200, answer
        result: dict[str, Any] = answer
        return result

    def connected_peers(self) -> int:
        return int(self.info()["peers"])

    def admin_token(self) -> str:
        return (self.data_dir / "admin.token").read_text().strip()


@dataclass
class NodeFactory:
    """Starts nodes for one test and makes sure none outlives it."""

    root: Path
    started: list[Node] = field(default_factory=list)

    def start(
        self,
        name: str,
        peers: Sequence[str] = (),
        port: int = 0,
        *,
        extra: Sequence[str] = (),
        settings: Mapping[str, str] | None = None,
        program: Sequence[str] = CONSOLE_SCRIPT,
        env: Mapping[str, str] | None = None,
    ) -> Node:
        """Run a node on 127.0.0.1 (port 0: any free one) with data in root/name,
        more ``extra`` flags and ``settings`` as MUTUALAID_* variables (``program``:
        another command line than ``mutualaid`` taking the same arguments; ``env``:
        the process environment, by default ours without MUTUALAID_* variables);
        returns once it prints its listening line."""
        data_dir = self.root / name
        runs = sum(1 for node in self.started if node.name == name)
        stderr_path = self.root / f"{name}.{runs}.log"
        args = [*run_args(data_dir, f"127.0.0.1:{port}", peers), *extra]
        launched = NodeProcess(args, program=program, log=stderr_path, env=env, settings=settings or {})
        node = Node(name, data_dir, launched, "", stderr_path)
        self.started.append(node)
        try:
            node.url = launched.wait_ready(START_DEADLINE_S)
        except NodeStartError as exc:
            pytest.fail(f"node {name}: {exc}")
        assert node.url.startswith("http://127.0.0.1:")
        if port:
            assert node.port == port
        return node

    def cleanup(self) -> None:
        for node in self.started:
            node.launched.kill()


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (for a node that must publish its URL)."""
    with contextlib.closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def nodes(tmp_path: Path) -> Iterator[NodeFactory]:
    factory = NodeFactory(tmp_path)
    try:
        yield factory
    finally:
        factory.cleanup()
        # Shown by pytest only when the test failed.
        for node in factory.started:
            print(f"----- {node.stderr_path.name} -----\n{node.log()[-4000:]}")


# -- raw HTTP and signed peer requests -------------------------------------------


def http_call(
    authority: str, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    """One request over a fresh connection to ``authority`` (host:port). A ``Host``
    entry in ``headers`` is sent as given instead of the real address."""
    host, port = authority.rsplit(":", 1)
    connection = http.client.HTTPConnection(host, int(port), timeout=60)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def signed_headers(
    identity: NodeIdentity,
    method: str,
    path: str,
    destination: str,
    body: bytes,
    *,
    timestamp: int | None = None,
    key: bytes | None = None,
) -> dict[str, str]:
    """The four auth headers of a peer request, signed by ``identity`` (``key``
    replaces the key announced in the header)."""
    stamp = int(time.time()) if timestamp is None else timestamp
    nonce = secrets.token_bytes(peerwire.NONCE_SIZE)
    signature = identity.sign_message(peerwire.request_message(method, path, destination, stamp, nonce, body))
    headers = peerwire.SignedHeaders(key or identity.public_key, stamp, signature, nonce).as_dict()
    if body:
        headers["Content-Type"] = "application/msgpack"
    return headers


# -- records made outside any node ------------------------------------------------


def make_post(
    author: NodeIdentity, title: str, *, created_at: int | None = None, ttl_s: int = 7 * DAY, kind: str = "offer"
) -> Record:
    """A valid signed post by ``author``, built with the protocol code (as another
    implementation's node would build it)."""
    created = int(time.time()) if created_at is None else created_at
    slot = hashlib.sha256(f"{title}/{created}".encode()).hexdigest()[:16]
    body = {
        "kind": kind,
        "slot": slot,
        "created_at": created,
        "expires_at": created + ttl_s,
        "status": "open",
        "title": title,
        "category": "food",
        "area": "u4pru",
    }
    return build_record(author, body)


# -- reading a node's SQLite file from outside -----------------------------------


def read_db(database: Path, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
    """A read-only query on a node's database file, beside the node (WAL allows it)."""
    with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=30)) as db:
        return [tuple(row) for row in db.execute(sql, params).fetchall()]


def post_ids(database: Path) -> set[bytes]:
    """Ids of the needs and offers held in a node's database file."""
    return {bytes(row[0]) for row in read_db(database, "SELECT id FROM records WHERE kind IN ('need', 'offer')")}


def integrity(database: Path) -> str:
    return "; ".join(str(row[0]) for row in read_db(database, "PRAGMA integrity_check"))
