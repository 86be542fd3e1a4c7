# Shared by the node tests: request bodies, the one error shape, reading the
# node's SQLite file and data directory from outside, and checking a record
# with nothing but `cryptography` and `msgpack` (never the node's own code).

from __future__ import annotations

import base64
import contextlib
import hashlib
import re
import sqlite3
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgpack
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

# docs/PROTOCOL.md: a record's signature covers this prefix followed by the payload.
RECORD_PREFIX = b"mutualaid/v1/record\x00"
ISO_Z = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z\Z")
HEX64 = re.compile(r"[0-9a-f]{64}\Z")
DAY = 86_400


def need(**fields: Any) -> dict[str, Any]:
    """A plain need; keyword arguments add or replace fields (None is sent as null)."""
    return {"kind": "need", "title": "Winter coats for two children", "category": "clothing", "area": "u4pru"} | fields


def offer(**fields: Any) -> dict[str, Any]:
    return need(kind="offer", title="Spare bicycle, needs a new chain", category="transport") | fields


def assert_error_shape(status: int, body: object) -> tuple[str, str]:
    """The one error shape, exactly: {"error": {"code": str, "message": str, "field"?: str, "reason"?: str}},
    with the status the registry gives the code; returns (code, message)."""
    from node.core.errors import Code  # noqa: PLC0415 - the registry the node answers from

    assert 400 <= status < 500, f"expected a 4xx, got {status}: {body!r}"
    assert isinstance(body, dict) and set(body) == {"error"}, body
    error = body["error"]
    assert isinstance(error, dict) and {"code", "message"} <= set(error) <= {"code", "message", "field", "reason"}, body
    assert all(isinstance(value, str) and value for value in error.values()), body
    assert Code.of(error["code"]).status == status, f"{error['code']} answered with {status}"
    return error["code"], error["message"]


def parse_iso_z(text: str) -> int:
    assert ISO_Z.match(text), f"{text!r} is not ISO 8601 UTC with Z"
    return int(datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp())


def check_signed(r: dict[str, Any]) -> dict[str, Any]:
    """Verify R as an outsider would, and return the payload fields it signs."""
    signed = base64.b64decode(r["signed"], validate=True)
    Ed25519PublicKey.from_public_bytes(bytes.fromhex(r["author"])).verify(bytes.fromhex(r["signature"]), signed)
    assert hashlib.sha256(signed).hexdigest() == r["id"]
    assert signed.startswith(RECORD_PREFIX)
    payload = msgpack.unpackb(signed[len(RECORD_PREFIX) :], raw=False)
    assert isinstance(payload, dict)
    assert payload["author"] == bytes.fromhex(r["author"])
    # What the node shows is what it signed.
    for name in ("kind", "slot", "status"):
        assert payload[name] == r[name], name
    assert payload["created_at"] == parse_iso_z(r["created_at"])
    assert payload["expires_at"] == parse_iso_z(r["expires_at"])
    for name in ("title", "details", "category", "tags", "quantity", "area", "languages", "give_back"):
        assert payload.get(name) == r.get(name), name
    assert payload.get("urgency", "normal") == r["urgency"]
    if "needed_by" in payload or "needed_by" in r:
        assert payload["needed_by"] == parse_iso_z(r["needed_by"])
    return payload


def sql_rows(database: Path, statement: str) -> list[tuple[Any, ...]]:
    """Read the node's database with plain sqlite3, beside the node (WAL lets both run)."""
    with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as db:
        return [tuple(row) for row in db.execute(statement)]


def stored_state(database: Path) -> tuple[frozenset[bytes], frozenset[bytes]]:
    """Every record id and every manage-token hash in the file: equal snapshots, nothing stored."""
    ids = sql_rows(database, "SELECT id FROM records")
    tokens = sql_rows(database, "SELECT token_hash FROM manage_tokens")
    return frozenset(bytes(r[0]) for r in ids), frozenset(bytes(r[0]) for r in tokens)


def post_counts(database: Path) -> tuple[int, int]:
    """(member posts, manage tokens) held; the node's own profile record is not a post."""
    posts = sql_rows(database, "SELECT count(*) FROM records WHERE kind IN ('need', 'offer')")[0][0]
    tokens = sql_rows(database, "SELECT count(*) FROM manage_tokens")[0][0]
    return int(posts), int(tokens)


def files_containing(directory: Path, needle: bytes) -> list[Path]:
    """Every file under ``directory`` whose bytes contain ``needle``."""
    return sorted(p for p in directory.rglob("*") if p.is_file() and needle in p.read_bytes())


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
"""An aiohttp handler, as the ``serve`` fixture takes one."""
