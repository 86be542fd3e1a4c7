"""Records as members see them: the ``R`` JSON object of the member API.

``R`` carries every public field plus what anyone needs to check the record
without trusting this node: ``signature`` (hex) and ``signed`` (base64 of
exactly the bytes the signature covers). Times are ISO 8601 UTC.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

from node.core.clock import iso as iso  # noqa: PLC0414 - the members' modules read it here
from protocol.fieldtable import Bytes, Key, ListOf, Timestamp
from protocol.records import COMMON_FIELDS, FIELDS, POST_KINDS, Record

_OWN = [row for row in FIELDS if row.name not in COMMON_FIELDS and row.name != "status"]
_AS_IS = [row for row in _OWN if not isinstance(row.type, Timestamp | Key | Bytes)]
_PUBLIC_POST_FIELDS = tuple(row.name for row in _AS_IS if row.kinds & set(POST_KINDS))
"""A post's fields shown as they are (title, details...); ``needed_by`` is shown as a time."""
_PUBLIC_NODE_FIELDS = tuple(row.name for row in _AS_IS if "node" in row.kinds)
"""A node profile's (name, areas, urls, kinds); ``seal_key`` is shown in hex."""
_TABLE_KINDS = ("decision", "finding", "event")
"""Kinds shown field by field as the table types them: keys and digests in hex, times in ISO 8601."""


def parse_iso(value: str) -> int:
    """An ISO 8601 date or date-time (UTC unless it says otherwise) as seconds."""
    text = value.strip().replace("Z", "+00:00")
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())


def render(record: Record) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": record.id.hex(),
        "kind": record.kind,
        "author": record.author.hex(),
        "slot": record.slot,
        "status": record.status,
        "created_at": iso(record.created_at),
        "expires_at": iso(record.expires_at),
    }
    if record.kind in _TABLE_KINDS:
        return out | _by_table(record) | _signed(record)
    names = _PUBLIC_NODE_FIELDS if record.kind == "node" else _PUBLIC_POST_FIELDS
    for name in names:
        if name in record.fields:
            out[name] = record.fields[name]
    if record.kind != "node":
        out.setdefault("urgency", "normal")
    if "needed_by" in record.fields:
        out["needed_by"] = iso(int(record.get("needed_by")))
    if record.kind == "node":
        out["seal_key"] = bytes(record.get("seal_key")).hex()
    return out | _signed(record)


def _signed(record: Record) -> dict[str, str]:
    return {"signature": record.signature.hex(), "signed": base64.b64encode(record.message).decode()}


def _by_table(record: Record) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for row in _OWN:
        if record.kind not in row.kinds or row.name not in record.fields:
            continue
        value: Any = record.fields[row.name]
        if isinstance(row.type, Key):
            value = bytes(value).hex()
        elif isinstance(row.type, ListOf) and isinstance(row.type.item, Key):
            value = [bytes(item).hex() for item in value]
        elif isinstance(row.type, Timestamp):
            value = iso(int(value))
        out[row.name] = value
    return out
