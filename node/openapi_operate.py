"""The OpenAPI paths of the operator's bundles and backups (``node/operate/api.py``)."""

from __future__ import annotations

from typing import Any

from node.core.errors import Code
from node.openapi_parts import ADMIN, ADMINISTERED, HEX64, INT, STR, json_answer, op
from node.operate.api import BACKUP_BODY, BUNDLE_TYPE, EXPORT_PARAMS
from protocol.bundle import MAX_BUNDLE_BYTES

_BYTES = {"type": "string", "format": "binary"}


def operate_paths() -> dict[str, Any]:
    bundle = {"description": "the bundle (docs/PROTOCOL.md section 9)", "content": {BUNDLE_TYPE: {"schema": _BYTES}}}
    archive = {"description": "the backup (docs/NODE.md, backup)", "content": {"application/gzip": {"schema": _BYTES}}}
    optional_int = {"type": ["integer", "null"], "minimum": 0}
    imported = {
        "type": "object",
        "additionalProperties": False,
        "required": ["exporter", "exporter_key", "created_at", "since", "area", "records", "accepted", "duplicate",
                     "superseded", "rejected"],
        "properties": {
            "exporter": HEX64, "exporter_key": STR, "created_at": INT, "since": optional_int,
            "area": {"type": ["string", "null"]}, "records": INT, "accepted": INT, "duplicate": INT,
            "superseded": INT, "rejected": {"type": "object", "additionalProperties": INT,
                                            "description": "records refused, by reason"},
        },
    }  # fmt: skip
    taking = op("importBundle", "Take in a bundle's records through this node's ingest, as from a peer",
                {"200": json_answer(imported)},
                (*ADMINISTERED, Code.BAD_BUNDLE, Code.UNSUPPORTED_MEDIA_TYPE, Code.BODY_TOO_LARGE, Code.CROSS_SITE),
                security=ADMIN)  # fmt: skip
    taking["requestBody"] = {
        "required": True,
        "description": f"a bundle file's bytes, at most {MAX_BUNDLE_BYTES:,}",
        "content": {BUNDLE_TYPE: {"schema": _BYTES}},
    }
    return {
        "/api/v1/bundle": {
            "get": op("exportBundle", "This node's records as a bundle signed by its key, to carry offline",
                      {"200": bundle}, (*ADMINISTERED, Code.BAD_BUNDLE), params=EXPORT_PARAMS, security=ADMIN),
            "post": taking,
        },
        "/api/v1/backup": {
            "post": op("backup", "A consistent backup of the running node, made now and streamed",
                       {"200": archive}, (*ADMINISTERED, Code.INVALID_PASSPHRASE), body=BACKUP_BODY.schema(),
                       security=ADMIN),
        },
    }  # fmt: skip
