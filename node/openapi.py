"""The OpenAPI 3 description of the member API, served at /api/v1/openapi.json.

Written by hand, next to the handlers it describes; ``tests/node`` checks
that every route of the app is here and every path here is a route, and that
real responses have the documented status codes. The operator's and the
node-to-node routes are described too, so the document covers the whole
HTTP surface.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web as aioweb

from node.members import web

routes = aioweb.RouteTableDef()
_ERROR = {"$ref": "#/components/responses/Error"}
_STR = {"type": "string"}


def _post_fields(required: list[str]) -> dict[str, Any]:
    return {
        "type": "object",
        "additionalProperties": False,
        "required": required,
        "properties": {
            "kind": {"type": "string", "enum": ["need", "offer"]},
            "title": {"type": "string", "maxLength": 120},
            "category": {"type": "string", "pattern": "^[a-z0-9]+(-[a-z0-9]+)*$", "maxLength": 32},
            "area": {"type": "string", "pattern": "^[0123456789bcdefghjkmnpqrstuvwxyz]{1,5}$"},
            "details": {"type": ["string", "null"], "maxLength": 2000},
            "tags": {"type": ["array", "null"], "items": _STR, "maxItems": 10},
            "quantity": {"type": ["string", "null"], "maxLength": 40},
            "urgency": {"type": ["string", "null"], "enum": ["low", "normal", "high", "urgent", None]},
            "needed_by": {"type": ["string", "null"], "description": "ISO 8601 date or date-time"},
            "languages": {"type": ["array", "null"], "items": _STR, "maxItems": 8},
            "give_back": {"type": ["string", "null"], "maxLength": 280, "description": "needs only"},
            "expires_in_days": {"type": "integer", "minimum": 1, "maximum": 90, "default": 30},
        },
    }


def _edit_fields() -> dict[str, Any]:
    schema = _post_fields([])
    schema["properties"] = {k: v for k, v in schema["properties"].items() if k != "kind"}
    return schema


def _bearer() -> list[dict[str, list[str]]]:
    return [{"manageToken": []}]


_ID = {"name": "id", "in": "path", "required": True, "schema": {"type": "string", "pattern": "^[0-9a-f]{64}$"}}


RATE_LIMITED = {
    ("/api/v1/records", "post"),
    ("/api/v1/records/{id}", "patch"),
    ("/api/v1/records/{id}/status", "post"),
    ("/api/v1/records/{id}/replies", "post"),
    ("/api/v1/records/{id}/flags", "post"),
}
"""Member writes, limited per client address (429 ``too_many_requests``)."""


def openapi_document() -> dict[str, Any]:
    """The document, with the statuses every post endpoint shares: 404 for a
    post this node's organizers removed, 429 on the rate-limited writes."""
    document = _document()
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if path.startswith("/api/v1/records/{id}"):
                operation["responses"]["404"] = _ERROR
            if (path, method) in RATE_LIMITED:
                operation["responses"]["429"] = _ERROR
    return document


def _document() -> dict[str, Any]:
    record_ref = {"$ref": "#/components/schemas/Record"}
    one_record = {"type": "object", "properties": {"record": record_ref}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "mutualaid member API", "version": "1"},
        "paths": {
            "/healthz": {"get": {"summary": "Liveness", "responses": {"200": {"description": "ok"}}}},
            "/metrics": {"get": {"summary": "Prometheus metrics", "responses": {"200": {"description": "text"}}}},
            "/api/v1/openapi.json": {"get": {"summary": "This document", "responses": {"200": {"description": "ok"}}}},
            "/api/v1/node": {
                "get": {
                    "summary": "About this node",
                    "responses": {"200": _json({"$ref": "#/components/schemas/Node"})},
                }
            },
            "/api/v1/records": {
                "get": {
                    "summary": "Search live records, newest first (or by urgency)",
                    "parameters": [
                        _query("kind", {"type": "string", "enum": ["need", "offer", "node"]}),
                        _query("category", _STR),
                        _query("area", {**_STR, "description": "geohash prefix"}),
                        _query("status", {"type": "string", "enum": ["open", "claimed", "fulfilled", "withdrawn"]}),
                        _query(
                            "urgency",
                            {**_STR, "description": "low, normal, high, urgent: repeat or comma-separate for several"},
                        ),
                        _query("language", {**_STR, "description": "a language tag; 'pt' also finds 'pt-br'"}),
                        _query("q", {**_STR, "maxLength": 200, "description": "words to search for"}),
                        _query("order", {"type": "string", "enum": ["newest", "urgency"]}),
                        _query("limit", {"type": "integer", "minimum": 1, "maximum": 500, "default": 50}),
                        _query("cursor", _STR),
                    ],
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "properties": {
                                    "records": {"type": "array", "items": record_ref},
                                    "next": {"type": ["string", "null"]},
                                },
                            }
                        ),
                        "400": _ERROR,
                    },
                },
                "post": {
                    "summary": "Post a need or an offer; no account needed",
                    "requestBody": _body(_post_fields(["kind", "title", "category", "area"])),
                    "responses": {
                        "201": _json(
                            {
                                "type": "object",
                                "properties": {
                                    "record": record_ref,
                                    "manage_token": {"type": "string", "description": "shown once"},
                                    "linked_offer": {
                                        **record_ref,
                                        "description": "a need's give_back as an offer, same token",
                                    },
                                },
                            }
                        ),
                        "400": _ERROR,
                        "413": _ERROR,
                        "415": _ERROR,
                        "422": _ERROR,
                    },
                },
            },
            "/api/v1/records/{id}": {
                "get": {
                    "summary": "One live record",
                    "parameters": [_ID],
                    "responses": {"200": _json(record_ref), "404": _ERROR},
                },
                "patch": {
                    "summary": "Edit or renew a post (null removes an optional field)",
                    "parameters": [_ID],
                    "security": _bearer(),
                    "requestBody": _body(_edit_fields()),
                    "responses": {
                        "200": _json(one_record),
                        **{code: _ERROR for code in ("400", "401", "403", "404", "409", "413", "415", "422")},
                    },
                },
            },
            "/api/v1/records/{id}/status": {
                "post": {
                    "summary": "Change a post's status",
                    "parameters": [_ID],
                    "security": _bearer(),
                    "requestBody": _body(
                        {
                            "type": "object",
                            "required": ["status"],
                            "properties": {
                                "status": {"type": "string", "enum": ["open", "claimed", "fulfilled", "withdrawn"]}
                            },
                        }
                    ),
                    "responses": {
                        "200": _json(one_record),
                        **{code: _ERROR for code in ("400", "401", "403", "404", "409", "413", "415", "422")},
                    },
                }
            },
        }
        | {
            "/api/v1/manage": {
                "get": {
                    "summary": "Every post this manage token manages here, newest first (current versions)",
                    "security": _bearer(),
                    "responses": {
                        "200": _json(
                            {"type": "object", "properties": {"posts": {"type": "array", "items": record_ref}}}
                        ),
                        **{code: _ERROR for code in ("400", "401", "403")},
                    },
                }
            }
        }
        | _community_paths(record_ref)
        | _organizer_paths(record_ref)
        | _admin_paths()
        | _peer_paths()
        | web.openapi_paths(),
        "components": {
            "securitySchemes": {
                "manageToken": {"type": "http", "scheme": "bearer", "description": "a post's manage token"},
                "adminToken": {"type": "http", "scheme": "bearer", "description": "admin.token in the data dir"},
                "peerSignature": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "X-Mutualaid-Signature",
                    "description": "with X-Mutualaid-Key and X-Mutualaid-Time; see docs/PROTOCOL.md section 8",
                },
            },
            "responses": {
                "Error": _json(
                    {
                        "type": "object",
                        "required": ["error"],
                        "properties": {
                            "error": {
                                "type": "object",
                                "required": ["code", "message"],
                                "properties": {"code": _STR, "message": _STR},
                            }
                        },
                    },
                    "An error; every error has this shape",
                )
            },
            "schemas": {
                "Node": {
                    "type": "object",
                    "properties": {
                        "public_key": _STR,
                        "name": _STR,
                        "version": _STR,
                        "records": {"type": "integer"},
                        "peers": {"type": "integer"},
                    },
                },
                "Record": {
                    "type": "object",
                    "required": ["id", "kind", "author", "status", "created_at", "expires_at", "signature", "signed"],
                    "properties": {
                        "id": {"type": "string", "description": "SHA-256 of the signed bytes, hex"},
                        "kind": _STR,
                        "author": {"type": "string", "description": "Ed25519 public key, hex"},
                        "slot": _STR,
                        "status": _STR,
                        "created_at": {"type": "string", "format": "date-time"},
                        "expires_at": {"type": "string", "format": "date-time"},
                        "needed_by": {"type": "string", "format": "date-time"},
                        "signature": {"type": "string", "description": "Ed25519 signature, hex"},
                        "signed": {"type": "string", "description": "base64 of exactly the signed bytes"},
                        **{
                            name: _STR
                            for name in ("title", "details", "category", "quantity", "urgency", "area", "give_back")
                        },
                        "tags": {"type": "array", "items": _STR},
                        "languages": {"type": "array", "items": _STR},
                    },
                },
            },
        },
    }


def _community_paths(record_ref: dict[str, Any]) -> dict[str, Any]:
    """Replies, matches, flags and the report (node/members/replies.py, matches.py, organizer.py, report.py)."""
    errors = {code: _ERROR for code in ("400", "404", "409", "413", "415", "422")}
    count = {"type": ["integer", "null"], "description": "null: fewer than 5"}
    rows = {
        name: {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {key: _STR, "needs": count, "offers": count, "fulfilled": count},
            },
        }
        for name, key in (("by_category", "category"), ("by_area", "area"), ("by_week", "week"))
    }
    report = {
        "type": "object",
        "properties": {
            "generated_at": {"type": "string", "format": "date-time"},
            "weeks": {"type": "integer"},
            "suppressed_below": {"type": "integer"},
            "rounded_to": {"type": "integer"},
            "totals": {
                "type": "object",
                "properties": {k: count for k in ("needs", "offers", "fulfilled_needs", "open_needs")},
            },
            **rows,
            "fulfilment": {
                "type": "object",
                "properties": {"fulfilled": count, "median_days": {"type": ["number", "null"]}},
            },
            "outrun": {
                "type": "array",
                "items": {"type": "object", "properties": {"category": _STR, "needs": count, "offers": count}},
            },
            "outrun_by_area": {
                "type": "array",
                "items": {"type": "object", "properties": {"area": _STR, "needs": count, "offers": count}},
            },
        },
    }
    weeks = _query("weeks", {"type": "integer", "minimum": 1, "maximum": 13, "default": 12})
    return {
        "/api/v1/records/{id}/replies": {
            "post": {
                "summary": "Reply privately to a post: sealed at once to the poster's node",
                "parameters": [_ID],
                "requestBody": _body(
                    {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["message"],
                        "properties": {
                            "message": {"type": "string", "minLength": 1, "maxLength": 2000},
                            "contact": {"type": ["string", "null"], "maxLength": 500},
                        },
                    }
                ),
                "responses": {
                    "202": _json(
                        {
                            "type": "object",
                            "properties": {
                                "reply": {
                                    "type": "object",
                                    "properties": {
                                        "id": _STR,
                                        "delivered": {"type": "string", "enum": ["direct", "network"]},
                                    },
                                }
                            },
                        }
                    ),
                    "429": _ERROR,
                    **errors,
                },
            },
            "get": {
                "summary": "Read the replies to a post (opened here, with its manage token)",
                "parameters": [_ID],
                "security": _bearer(),
                "responses": {
                    "200": _json(
                        {
                            "type": "object",
                            "properties": {
                                "replies": {
                                    "type": "array",
                                    "items": {
                                        "type": "object",
                                        "properties": {
                                            "id": _STR,
                                            "message": _STR,
                                            "contact": _STR,
                                            "sent_at": {"type": "string", "format": "date-time"},
                                        },
                                    },
                                }
                            },
                        }
                    ),
                    **{code: _ERROR for code in ("401", "403", "404")},
                },
            },
        },
        "/api/v1/records/{id}/matches": {
            "get": {
                "summary": "Open posts of the other kind that fit this one, best first",
                "parameters": [_ID, _query("limit", {"type": "integer", "minimum": 1, "maximum": 50, "default": 10})],
                "responses": {
                    "200": _json({"type": "object", "properties": {"records": {"type": "array", "items": record_ref}}}),
                    "400": _ERROR,
                    "404": _ERROR,
                },
            }
        },
        "/api/v1/records/{id}/flags": {
            "post": {
                "summary": "Flag a post for this node's organizers",
                "parameters": [_ID],
                "requestBody": _body(
                    {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["reason"],
                        "properties": {
                            "reason": {"type": "string", "enum": ["spam", "abuse", "personal_info", "other"]},
                            "note": {"type": ["string", "null"], "maxLength": 500},
                        },
                    }
                ),
                "responses": {
                    "201": _json({"type": "object", "properties": {"flagged": {"type": "boolean"}}}),
                    "429": _ERROR,
                    **errors,
                },
            }
        },
        "/api/v1/report": {
            "get": {
                "summary": "The community needs report (counts rounded to 5; 1 to 4 are null)",
                "parameters": [weeks],
                "responses": {"200": _json(report), "400": _ERROR},
            }
        },
        "/api/v1/report.csv": {
            "get": {
                "summary": "The community needs report as CSV (counts rounded to 5; 1 to 4 are <5)",
                "parameters": [weeks],
                "responses": {"200": {"description": "ok", "content": {"text/csv": {}}}, "400": _ERROR},
            }
        },
    }


def _organizer_paths(record_ref: dict[str, Any]) -> dict[str, Any]:
    admin: list[dict[str, list[str]]] = [{"adminToken": []}]
    errors = {code: _ERROR for code in ("400", "401", "403")}
    limit = _query("limit", {"type": "integer", "minimum": 1, "maximum": 500, "default": 100})
    unanswered = {
        "allOf": [
            record_ref,
            {"type": "object", "properties": {"days_open": {"type": "integer"}, "replies": {"type": "integer"}}},
        ]
    }
    flag = {
        "type": "object",
        "properties": {
            "record": {"oneOf": [record_ref, {"type": "null"}]},
            "record_id": _STR,
            "reason": _STR,
            "note": _STR,
            "flagged_at": {"type": "string", "format": "date-time"},
            "count": {"type": "integer"},
        },
    }
    removal = {
        "type": "object",
        "properties": {
            "record_id": _STR,
            "author": _STR,
            "kind": _STR,
            "slot": _STR,
            "reason": _STR,
            "removed_at": {"type": "string", "format": "date-time"},
        },
    }
    return {
        "/api/v1/organizer/unanswered": {
            "get": {
                "summary": "Open needs nobody has answered, most urgent then longest open first",
                "security": admin,
                "parameters": [limit],
                "responses": {
                    "200": _json({"type": "object", "properties": {"records": {"type": "array", "items": unanswered}}}),
                    **errors,
                },
            }
        },
        "/api/v1/organizer/flags": {
            "get": {
                "summary": "Flags members raised, newest first",
                "security": admin,
                "parameters": [limit],
                "responses": {
                    "200": _json({"type": "object", "properties": {"flags": {"type": "array", "items": flag}}}),
                    **errors,
                },
            }
        },
        "/api/v1/organizer/flags/{record_id}": {
            "delete": {
                "summary": "Dismiss every flag on a post (named by any of its flagged ids)",
                "security": admin,
                "parameters": [
                    {
                        "name": "record_id",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
                    }
                ],
                "responses": {
                    "200": _json({"type": "object", "properties": {"dismissed": {"type": "integer"}}}),
                    "404": _ERROR,
                    **errors,
                },
            }
        },
        "/api/v1/organizer/removals": {
            "get": {
                "summary": "Posts removed from this node, with the reasons",
                "security": admin,
                "parameters": [limit],
                "responses": {
                    "200": _json({"type": "object", "properties": {"removals": {"type": "array", "items": removal}}}),
                    **errors,
                },
            },
            "post": {
                "summary": "Remove a post from this node (hidden from searches and peers, for good)",
                "security": admin,
                "requestBody": _body(
                    {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["id", "reason"],
                        "properties": {"id": _STR, "reason": {"type": "string", "minLength": 1, "maxLength": 300}},
                    }
                ),
                "responses": {
                    "201": _json({"type": "object", "properties": {"removal": removal}}),
                    "404": _ERROR,
                    **{code: _ERROR for code in ("413", "415", "422")},
                    **errors,
                },
            },
        },
    }


def _admin_paths() -> dict[str, Any]:
    admin: list[dict[str, list[str]]] = [{"adminToken": []}]
    url_body = _body({"type": "object", "required": ["url"], "properties": {"url": _STR}})
    errors = {code: _ERROR for code in ("400", "401", "403", "413", "415", "422")}
    peer = {
        "type": "object",
        "properties": {
            "url": _STR,
            "public_key": {"type": ["string", "null"]},
            "state": {"type": "string", "enum": ["connecting", "syncing", "connected", "backoff", "blocked"]},
            "failures": {"type": "integer"},
            "last_error": {"type": ["string", "null"]},
            "last_sync": {"type": ["integer", "null"]},
        },
    }
    return {
        "/api/v1/peers": {
            "get": {
                "summary": "Peers and their state",
                "security": admin,
                "responses": {
                    "200": _json({"type": "object", "properties": {"peers": {"type": "array", "items": peer}}}),
                    **errors,
                },
            },
            "post": {
                "summary": "Add a peer",
                "security": admin,
                "requestBody": url_body,
                "responses": {"200": _json({}), "201": _json({}), **errors},
            },
            "delete": {
                "summary": "Remove a peer (URL in the body or ?url=)",
                "security": admin,
                "responses": {"200": _json({}), "404": _ERROR, **errors},
            },
        },
        "/api/v1/policy": {
            "get": {
                "summary": "Local block and allow rules",
                "security": admin,
                "responses": {"200": _json({}), **errors},
            },
            "post": {
                "summary": "Block, allow or clear a peer or an author",
                "security": admin,
                "requestBody": _body(
                    {
                        "type": "object",
                        "required": ["subject", "key", "action"],
                        "properties": {
                            "subject": {"type": "string", "enum": ["peer", "author"]},
                            "key": {"type": "string", "description": "hex or ma1 text form"},
                            "action": {"type": "string", "enum": ["block", "allow", "clear"]},
                        },
                    }
                ),
                "responses": {"200": _json({}), **errors},
            },
        },
    }


def _peer_paths() -> dict[str, Any]:
    """The node-to-node API: signed requests, msgpack bodies (docs/PROTOCOL.md section 8)."""
    signed: list[dict[str, list[str]]] = [{"peerSignature": []}]
    msgpack = {"description": "ok", "content": {"application/msgpack": {}}}
    errors = {code: _ERROR for code in ("400", "401", "403", "413", "415")}
    body = {"required": True, "content": {"application/msgpack": {}}}
    paths: dict[str, Any] = {
        f"/peer/v1/{name}": {
            "post": {
                "summary": summary,
                "security": signed,
                "requestBody": body,
                "responses": {"200": msgpack, **errors},
            }
        }
        for name, summary in (
            ("hello", "Exchange profiles, filters and feed positions"),
            ("records", "Push records"),
            ("fetch", "Fetch records by id"),
            ("reconcile", "One round of range-based set reconciliation"),
            ("announce", "Offer record ids; the answer lists those wanted"),
        )
    }
    paths["/peer/v1/feed"] = {
        "get": {
            "summary": "Long poll for the ids of records accepted after a position",
            "security": signed,
            "parameters": [_query("after", {"type": "integer"}), _query("wait", {"type": "number", "maximum": 25})],
            "responses": {"200": msgpack, **errors},
        }
    }
    return paths


def _json(schema: dict[str, Any], description: str = "ok") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def _query(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema}


@routes.get("/api/v1/openapi.json")
async def serve_document(request: aioweb.Request) -> aioweb.Response:
    return aioweb.json_response(openapi_document())
