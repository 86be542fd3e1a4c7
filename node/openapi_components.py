"""The OpenAPI document's components: its security schemes, and the schemas
of what the node answers, the record ``R`` made from the field table (each
field as the table types it, a time as an ISO 8601 string, a key in hex)."""

from __future__ import annotations

from typing import Any

from node.chapter.settings import SETTINGS
from node.members import terms
from protocol.fieldtable import Bytes, Geohash, Key, Slug, Timestamp
from protocol.records import COMMON_FIELDS, FIELDS, KINDS, POST_KINDS, STATUSES

Schema = dict[str, Any]
_STR: Schema = {"type": "string"}
_HEX64: Schema = {"type": "string", "pattern": "^[0-9a-f]{64}$"}
_TIME: Schema = {"type": "string", "format": "date-time"}
_INT: Schema = {"type": "integer", "minimum": 0}
COUNT: Schema = {"type": ["integer", "null"], "minimum": 0, "description": "rounded to 5; null: 1 to 4"}


def _record() -> Schema:
    """``R``: every field a record can carry, typed by the field table, and what
    ``node/members/render.py`` adds (the id, the signature and the signed bytes)."""
    fields: dict[str, Schema] = {}
    for row in FIELDS:
        if row.name in COMMON_FIELDS or isinstance(row.type, Bytes):  # the sealed box is never shown
            continue
        if isinstance(row.type, Timestamp):
            fields[row.name] = _TIME
        elif isinstance(row.type, Key):
            fields[row.name] = _HEX64
        else:
            fields[row.name] = row.type.json_schema()
    return {
        "type": "object",
        "required": ["id", "kind", "author", "slot", "status", "created_at", "expires_at", "signature", "signed"],
        "properties": {
            **fields,
            "id": {**_HEX64, "description": "SHA-256 of the signed bytes"},
            "kind": {"type": "string", "enum": list(KINDS)},
            "author": {**_HEX64, "description": "the signing node's Ed25519 public key"},
            "slot": _STR,
            "status": {"type": "string", "enum": list(STATUSES)},
            "created_at": _TIME,
            "expires_at": _TIME,
            "signature": {"type": "string", "pattern": "^[0-9a-f]{128}$"},
            "signed": {"type": "string", "contentEncoding": "base64", "description": "exactly the signed bytes"},
        },
    }


def security() -> dict[str, Any]:
    return {
        "manageToken": {"type": "http", "scheme": "bearer", "description": "a post's manage token"},
        "adminToken": {"type": "http", "scheme": "bearer", "description": "admin.token in the data directory"},
        "memberCard": {"type": "http", "scheme": "bearer", "description": "a member card (card-XXXXX-...)"},
        "peerSignature": {
            "type": "apiKey",
            "in": "header",
            "name": "X-Mutualaid-Signature",
            "description": "with X-Mutualaid-Key, -Time and -Nonce; see docs/PROTOCOL.md section 8",
        },
    }


def schemas() -> dict[str, Any]:
    category = {"category": {"type": "object", "additionalProperties": False, "required": ["slug", "names"],
                             "properties": {"slug": Slug().json_schema(),
                                            "names": {"type": "object", "required": ["en", "es"],
                                                      "additionalProperties": _STR}}}}  # fmt: skip
    record = _record()
    chapter_settings = {"type": "object", "additionalProperties": False, "required": [s.name for s in SETTINGS],
                        "properties": {s.name: s.schema() for s in SETTINGS}}  # fmt: skip
    node = {
        "type": "object",
        "additionalProperties": False,
        "required": ["public_key", "key", "name", "version", "areas", "records", "posts", "peers", "categories",
                     "chapter", "clock"],
        "properties": {
            "public_key": _HEX64,
            "key": {"type": "string", "description": "the same key in its ma1... text form"},
            "name": _STR,
            "version": _STR,
            "areas": {"type": "array", "items": Geohash().json_schema()},
            "records": _INT,
            "posts": {"type": "object", "additionalProperties": False, "required": list(POST_KINDS),
                      "properties": {kind: _INT for kind in POST_KINDS}},
            "peers": _INT,
            "categories": {"type": "array", "items": category["category"]},
            "chapter": {"type": "object", "additionalProperties": False, "required": ["founding", "settings"],
                        "properties": {"founding": {"type": "boolean"}, "settings": chapter_settings}},
            "clock": {"type": "object", "additionalProperties": False,
                      "required": ["offset_s", "peers", "correcting"],
                      "description": "this node's clock against its pinned peers' (PROTOCOL.md 8.1): offset_s, "
                                     "the median of their clocks minus its own; whether it dates what it signs by it",
                      "properties": {"offset_s": {"type": "integer"}, "peers": _INT,
                                     "correcting": {"type": "boolean"}}},
        },
    }  # fmt: skip
    rows = {
        name: {"type": "array", "items": {"type": "object", "additionalProperties": False,
                                          "required": [key, "needs", "offers", "fulfilled"],
                                          "properties": {key: _STR, "needs": COUNT, "offers": COUNT,
                                                         "fulfilled": COUNT}}}
        for name, key in (("by_category", "category"), ("by_area", "area"), ("by_week", "week"))
    }  # fmt: skip
    outrun = {
        name: {"type": "array", "items": {"type": "object", "additionalProperties": False,
                                          "required": [key, "needs", "offers"],
                                          "properties": {key: _STR, "needs": COUNT, "offers": COUNT}}}
        for name, key in (("outrun", "category"), ("outrun_by_area", "area"))
    }  # fmt: skip
    totals = ("needs", "offers", "fulfilled_needs", "open_needs")
    report_schema = {
        "type": "object",
        "additionalProperties": False,
        "required": ["generated_at", "weeks", "suppressed_below", "rounded_to", "totals", *rows, "fulfilment", *outrun],
        "properties": {
            "generated_at": _TIME,
            "weeks": {"type": "integer", "minimum": 1, "maximum": terms.MAX_WEEKS},
            "suppressed_below": _INT,
            "rounded_to": _INT,
            "totals": {"type": "object", "additionalProperties": False, "required": list(totals),
                       "properties": {name: COUNT for name in totals}},
            **rows,
            "fulfilment": {"type": "object", "additionalProperties": False, "required": ["fulfilled", "median_days"],
                           "properties": {"fulfilled": COUNT, "median_days": {"type": ["number", "null"]}}},
            **outrun,
        },
    }  # fmt: skip
    return {"Record": record, "Node": node, "Report": report_schema}
