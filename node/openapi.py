"""The OpenAPI 3.1 description of the node's HTTP surface, served at /api/v1/openapi.json.

Made, not written: request bodies and query parameters come from the same
declarations the handlers read requests with (``Body``, ``Param``, the field
table), and every error response from the code registry (``Code``): an
operation lists the codes it can answer, and each status it documents says
exactly which codes come with it. So the document allows what the node
takes, no more and no less, and a client (or a fuzzer such as schemathesis)
validating against it meets no surprise. Links say how the answer of one
operation feeds the next (a new post's id and manage token), so a stateful
test can reach the records it made. ``tests/node/test_openapi.py`` checks
routes against paths and real answers against the document.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from node import openapi_components as components
from node.admin_api import KEY_FIELD, PEER_BODY, PEER_PARAMS, POLICY_BODIES
from node.chapter.categories import Categories
from node.chapter.state import CHAPTER
from node.core.errors import Code
from node.core.params import Param, openapi_params
from node.members import api, matches, organizer, replies, report
from node.members import web as page
from node.openapi_chapter import chapter_paths
from node.openapi_findings import findings_paths
from node.openapi_operate import operate_paths
from node.openapi_parts import (
    ADMIN,
    ADMINISTERED,
    HEX64,
    INT,
    MANAGE,
    MANAGED,
    MEMBER_WRITE,
    ORGANIZER,
    ORGANIZING,
    PEER,
    POST_PATH,
    STR,
    TIME,
    json_answer,
    link,
    op,
    path_id,
)
from node.peering.link import LinkState
from node.peering.peer_api import FEED_PARAMS
from protocol.records import POST_KINDS

routes = web.RouteTableDef()
RATE_LIMITED = {
    ("/api/v1/records", "post"),
    ("/api/v1/records/{id}", "patch"),
    ("/api/v1/records/{id}/status", "post"),
    ("/api/v1/records/{id}/replies", "post"),
    ("/api/v1/records/{id}/flags", "post"),
    ("/api/v1/records/{id}/answers", "post"),
    ("/api/v1/records/{id}/attend", "post"),
}
"""Member writes, limited per client address (429 ``too_many_requests``)."""


def openapi_document(categories: Categories | None = None) -> dict[str, Any]:
    """The document for a node with these categories (the default list if None)."""
    cats = categories or Categories()
    paths = _member_paths(cats) | _community_paths() | _organizer_paths() | _operator_paths() | _peer_paths()
    paths |= _page_paths() | chapter_paths() | findings_paths() | operate_paths()
    for path, item in paths.items():
        for method, operation in item.items():
            if (path, method) in RATE_LIMITED:
                assert "429" in operation["responses"], (path, method)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "mutualaid node",
            "version": "1",
            "description": "The member API, the organizers' and the operator's endpoints, and the peer API "
            "(docs/NODE.md, docs/PROTOCOL.md). Every error has one shape; `code` says which error it is.",
        },
        "paths": paths,
        "components": {"securitySchemes": components.security(), "schemas": components.schemas()},
    }


@routes.get("/api/v1/openapi.json")
async def serve_document(request: web.Request) -> web.Response:
    return web.json_response(openapi_document(request.app[CHAPTER].state.categories))


_RECORD = {"$ref": "#/components/schemas/Record"}
_NEW_ID = "$response.body#/record/id"
_NEW_TOKEN = "Bearer {$response.body#/manage_token}"  # noqa: S105 - an expression naming where the token is


def _post_links(new_id: str, auth: str) -> dict[str, Any]:
    """What can be done next with a post just made or changed."""
    return {
        "GetRecord": link("getRecord", path__id=new_id),
        "EditRecord": link("editRecord", path__id=new_id, header__Authorization=auth),
        "ChangeStatus": link("changeStatus", path__id=new_id, header__Authorization=auth),
        "ReadReplies": link("readReplies", path__id=new_id, header__Authorization=auth),
        "SendReply": link("sendReply", path__id=new_id),
        "Matches": link("getMatches", path__id=new_id),
        "Flag": link("flagRecord", path__id=new_id),
        "Manage": link("managedPosts", header__Authorization=auth),
        "DismissFlags": link("dismissFlags", path__record_id=new_id),
    }


# --- the member API ----------------------------------------------------------------------------


def _member_paths(categories: Categories) -> dict[str, Any]:
    examples = {
        "need": {"kind": "need", "title": "Winter coat, child size 8", "category": "clothing", "area": "u4pru",
                 "languages": ["en", "es"], "give_back": "I can mend clothes", "needed_by": "2031-12-24"},
        "offer": {"kind": "offer", "title": "Spare bicycle", "category": "transport", "area": "u4pr",
                  "details": "Needs a new chain", "urgency": "low", "expires_in_days": 10},
    }  # fmt: skip
    new_post = {"oneOf": [api.post_body(categories, kind).schema(examples=[examples[kind]]) for kind in POST_KINDS]}
    posted = {
        "type": "object",
        "additionalProperties": False,
        "required": ["record", "manage_token"],
        "properties": {
            "record": _RECORD,
            "manage_token": {"type": "string", "description": "shown once: keep it private"},
            "linked_offer": {**_RECORD, "description": "a need's give_back as an offer, managed with the same token"},
        },
    }
    one = {"type": "object", "additionalProperties": False, "required": ["record"], "properties": {"record": _RECORD}}
    page_of = {
        "type": "object",
        "additionalProperties": False,
        "required": ["records", "next"],
        "properties": {"records": {"type": "array", "items": _RECORD}, "next": {"type": ["string", "null"]}},
    }
    search_links = {
        "GetRecord": link("getRecord", path__id="$response.body#/records/0/id"),
        "SendReply": link("sendReply", path__id="$response.body#/records/0/id"),
        "Matches": link("getMatches", path__id="$response.body#/records/0/id"),
        "Remove": {
            "operationId": "removeRecord",
            "requestBody": {"id": "$response.body#/records/0/id", "reason": "spam"},
        },
    }
    changed = _post_links(_NEW_ID, "$request.header.Authorization")
    write = (*POST_PATH, *MANAGED, *MEMBER_WRITE, Code.INVALID_RECORD, Code.CLOSED, Code.CONFLICT)
    return {
        "/api/v1/node": {
            "get": op("nodeInfo", "About this node: its name, key, areas, categories and counts",
                       {"200": json_answer({"$ref": "#/components/schemas/Node"})}),
        },
        "/api/v1/records": {
            "get": op("searchRecords", "Search live records, newest first (or most urgent first)",
                       {"200": json_answer(page_of, links=search_links)}, params=api.SEARCH_PARAMS),
            "post": op("postRecord", "Post a need or an offer; no account needed",
                        {"201": json_answer(posted, "posted", links=_post_links(_NEW_ID, _NEW_TOKEN))},
                        (Code.INVALID_RECORD, *MEMBER_WRITE), body=new_post),
        },
        "/api/v1/records/{id}": {
            "get": op("getRecord", "One live record (an earlier id of a post made here names its current version)",
                       {"200": json_answer(_RECORD)}, POST_PATH, path=[path_id()]),
            "patch": op("editRecord", "Edit or renew a post (null removes an optional field)",
                         {"200": json_answer(one, links=changed)}, (*write, Code.WRONG_KIND), path=[path_id()],
                         body=api.edit_body(categories).schema(), security=MANAGE),
        },
        "/api/v1/records/{id}/status": {
            "post": op("changeStatus", "Change a post's status (fulfilled and withdrawn are final)",
                        {"200": json_answer(one, links=changed)}, write, path=[path_id()],
                        body=api.STATUS_BODY.schema(), security=MANAGE),
        },
        "/api/v1/manage": {
            "get": op("managedPosts", "Every post this manage token manages here, newest first",
                       {"200": json_answer({"type": "object", "additionalProperties": False, "required": ["posts"],
                                      "properties": {"posts": {"type": "array", "items": _RECORD}}})},
                       (Code.UNAUTHORIZED, Code.FORBIDDEN), params=(), security=MANAGE),
        },
    }  # fmt: skip


def _community_paths() -> dict[str, Any]:
    sent = {
        "type": "object",
        "additionalProperties": False,
        "required": ["reply"],
        "properties": {
            "reply": {
                "type": "object",
                "additionalProperties": False,
                "required": ["id", "delivered"],
                "properties": {"id": HEX64, "delivered": {"type": "string", "enum": ["direct", "network"]}},
            }
        },
    }
    reply = {
        "type": "object",
        "additionalProperties": False,
        "required": ["id", "message", "contact", "sent_at"],
        "properties": {"id": HEX64, "message": STR, "contact": STR, "sent_at": TIME},
    }
    read = {"type": "object", "additionalProperties": False, "required": ["replies"],
            "properties": {"replies": {"type": "array", "items": reply}}}  # fmt: skip
    found = {"type": "object", "additionalProperties": False, "required": ["records"],
             "properties": {"records": {"type": "array", "items": _RECORD}}}  # fmt: skip
    flagged = {"type": "object", "additionalProperties": False, "required": ["flagged"],
               "properties": {"flagged": {"const": True}}}  # fmt: skip
    reply_errors = (*POST_PATH, *MEMBER_WRITE, Code.INVALID_REPLY, Code.CLOSED, Code.NO_PROFILE, Code.NOT_STORED,
                    Code.TOO_MANY_REPLIES, Code.CLIENT_REPLY_LIMIT)  # fmt: skip
    csv_ok = {"200": {"description": "the report as CSV (counts rounded to 5; 1 to 4 are <5)",
                      "content": {"text/csv": {"schema": STR}}}}  # fmt: skip
    return {
        "/api/v1/records/{id}/replies": {
            "post": op("sendReply", "Reply privately to a post: sealed at once to the poster's node",
                        {"202": json_answer(sent, "sealed and sent")}, reply_errors, path=[path_id()],
                        body=replies.REPLY_BODY.schema(examples=[{"message": "I have one", "contact": "Sat 10:00"}])),
            "get": op("readReplies", "Read the replies to a post (opened here, with its manage token)",
                       {"200": json_answer(read)}, (*POST_PATH, *MANAGED), path=[path_id()], security=MANAGE),
        },
        "/api/v1/records/{id}/matches": {
            "get": op("getMatches", "Open posts of the other kind that fit this one, best first",
                       {"200": json_answer(found)}, POST_PATH, path=[path_id()], params=matches.PARAMS),
        },
        "/api/v1/records/{id}/flags": {
            "post": op("flagRecord", "Flag a post for this node's organizers",
                        {"201": json_answer(flagged, "flagged")},
                        (*POST_PATH, *MEMBER_WRITE, Code.INVALID_FLAG, Code.INVALID_NOTE, Code.TOO_MANY_FLAGS),
                        path=[path_id()], body=organizer.FLAG_BODY.schema()),
        },
        "/api/v1/report": {
            "get": op("getReport", "The community needs report (counts rounded to 5; 1 to 4 are null)",
                       {"200": json_answer({"$ref": "#/components/schemas/Report"})}, params=report.PARAMS),
        },
        "/api/v1/report.csv": {
            "get": op("getReportCsv", "The community needs report as CSV", csv_ok, params=report.PARAMS),
        },
    }  # fmt: skip


def _organizer_paths() -> dict[str, Any]:
    unanswered = {
        "allOf": [
            _RECORD,
            {
                "type": "object",
                "required": ["days_open", "replies"],
                "properties": {"days_open": INT, "replies": INT},
            },
        ]
    }
    flag = {
        "type": "object",
        "additionalProperties": False,
        "required": ["record", "record_id", "reason", "note", "flagged_at", "count"],
        "properties": {
            "record": {"oneOf": [_RECORD, {"type": "null"}]},
            "record_id": HEX64,
            "reason": {"type": "string", "enum": list(organizer.FLAG_REASONS)},
            "note": STR,
            "flagged_at": TIME,
            "count": INT,
        },
    }
    removal = {
        "type": "object",
        "additionalProperties": False,
        "required": ["record_id", "author", "kind", "slot", "reason", "removed_at"],
        "properties": {"record_id": HEX64, "author": HEX64, "kind": {"type": "string", "enum": list(POST_KINDS)},
                       "slot": STR, "reason": STR, "removed_at": TIME},
    }  # fmt: skip
    made = {
        "type": "object",
        "additionalProperties": False,
        "required": ["removal"],
        "properties": {
            "removal": {
                "type": "object",
                "additionalProperties": False,
                "required": ["record_id", "reason", "removed_at"],
                "properties": {"record_id": HEX64, "reason": STR, "removed_at": TIME},
            }
        },
    }
    listed = {
        name: {"type": "object", "additionalProperties": False, "required": [name],
               "properties": {name: {"type": "array", "items": item}}}
        for name, item in (("records", unanswered), ("flags", flag), ("removals", removal))
    }  # fmt: skip
    dismissed = {"type": "object", "additionalProperties": False, "required": ["dismissed"],
                 "properties": {"dismissed": {"type": "integer", "minimum": 1}}}  # fmt: skip
    flag_id = path_id("record_id", "an id the post was flagged under (any of its versions)", HEX64)
    return {
        "/api/v1/organizer/unanswered": {
            "get": op("unansweredNeeds", "Open needs nobody has answered, most urgent then longest open first",
                       {"200": json_answer(listed["records"])}, ORGANIZING, params=organizer.LIMIT, security=ORGANIZER),
        },
        "/api/v1/organizer/flags": {
            "get": op("listFlags", "Flags members raised, newest first", {"200": json_answer(listed["flags"])},
                       ORGANIZING, params=organizer.LIMIT, security=ORGANIZER),
        },
        "/api/v1/organizer/flags/{record_id}": {
            "delete": op("dismissFlags", "Dismiss every flag on a post", {"200": json_answer(dismissed)},
                          (*ORGANIZING, Code.NOT_FOUND, Code.CROSS_SITE), path=[flag_id],
                         params=organizer.DISMISS_PARAMS, security=ORGANIZER),
        },
        "/api/v1/organizer/removals": {
            "get": op("listRemovals", "Posts removed from this node, with the reasons",
                      {"200": json_answer(listed["removals"])}, ORGANIZING, params=organizer.LIMIT,
                      security=ORGANIZER),
            "post": op("removeRecord", "Remove a post from this node (hidden from searches and peers, for good)",
                        {"201": json_answer(made, "removed")},
                        (*ORGANIZING, Code.NOT_FOUND, Code.REMOVED, Code.INVALID_ID, Code.INVALID_REASON),
                        body=organizer.REMOVAL_BODY.schema(), security=ORGANIZER),
        },
    }  # fmt: skip


def _operator_paths() -> dict[str, Any]:
    peer = {
        "type": "object",
        "additionalProperties": False,
        "required": ["url", "public_key", "state", "failures", "last_error", "last_sync", "source", "eager"],
        "properties": {
            "url": STR,
            "public_key": {"type": ["string", "null"]},
            "state": {"type": "string", "enum": [state.value for state in LinkState]},
            "failures": INT,
            "last_error": {"type": ["string", "null"]},
            "last_sync": {"type": ["string", "null"], "format": "date-time"},
            "source": STR,
            "eager": {"type": "boolean"},
        },
    }
    peers = {"type": "object", "additionalProperties": False, "required": ["peers"],
             "properties": {"peers": {"type": "array", "items": peer}}}  # fmt: skip
    added = {"type": "object", "additionalProperties": False, "required": ["url", "added"],
             "properties": {"url": STR, "added": {"type": "boolean"}}}  # fmt: skip
    removed = {"type": "object", "additionalProperties": False, "required": ["url", "removed"],
               "properties": {"url": STR, "removed": {"const": True}}}  # fmt: skip
    rule = {"type": "object", "additionalProperties": False, "required": ["subject", "key", "key_text", "action"],
            "properties": {"subject": {"enum": ["peer", "author"]}, "key": HEX64, "key_text": STR,
                           "action": {"enum": ["block", "allow"]}}}  # fmt: skip
    rules = {"type": "object", "additionalProperties": False, "required": ["rules"],
             "properties": {"rules": {"type": "array", "items": rule}}}  # fmt: skip
    set_rule = {"type": "object", "additionalProperties": False, "required": ["subject", "key", "action"],
                "properties": {"subject": {"enum": ["peer", "author"]}, "key": HEX64,
                               "action": {"enum": ["block", "allow", "clear"]}}}  # fmt: skip
    policy = {"oneOf": [body.schema() for body in POLICY_BODIES.values()]}
    text = {"description": "Prometheus text", "content": {"text/plain": {"schema": STR}}}
    return {
        "/healthz": {"get": op("healthz", "Liveness", {"200": json_answer({"type": "object", "required": ["status"],
                                                                      "properties": {"status": {"const": "ok"}}})})},
        "/metrics": {"get": op("metrics", "Prometheus metrics (keep it off the open LAN)", {"200": text})},
        "/api/v1/openapi.json": {"get": op("openapi", "This document", {"200": json_answer({"type": "object"})})},
        "/api/v1/peers": {
            "get": op("listPeers", "Peers and their state", {"200": json_answer(peers)}, ADMINISTERED, security=ADMIN),
            "post": op("addPeer", "Add a peer by URL", {"200": json_answer(added, "already a peer"),
                                                          "201": json_answer(added, "added")},
                        (*ADMINISTERED, Code.BAD_URL), body=PEER_BODY.schema(), security=ADMIN),
            "delete": op("removePeer", "Remove a peer (?url=)", {"200": json_answer(removed)},
                          (*ADMINISTERED, Code.NOT_FOUND, Code.BAD_URL, Code.CROSS_SITE), params=PEER_PARAMS,
                          security=ADMIN),
        },
        "/api/v1/policy": {
            "get": op("getPolicy", "Local block and allow rules", {"200": json_answer(rules)}, ADMINISTERED,
                      security=ADMIN),
            "post": op("setPolicy", "Block, allow or clear a peer; block or clear an author",
                       {"200": json_answer(set_rule)},
                       (*ADMINISTERED, Code.BAD_POLICY, KEY_FIELD.code or Code.BAD_KEY), body=policy, security=ADMIN),
        },
    }  # fmt: skip


def _peer_paths() -> dict[str, Any]:
    """The node-to-node API: signed requests, msgpack bodies (docs/PROTOCOL.md section 8)."""
    msgpack = {"200": {"description": "ok", "content": {"application/msgpack": {}}}}
    errors = (Code.UNAUTHORIZED, Code.FORBIDDEN, Code.DECODE_ERROR, Code.BAD_INPUT, Code.UNSUPPORTED_MEDIA_TYPE,
              Code.BODY_TOO_LARGE, Code.BUSY, Code.INVALID_RECORD)  # fmt: skip
    # invalid_record: a sync filter whose areas are not geohashes (hello, reconcile).
    body = {"required": True, "content": {"application/msgpack": {}}}
    paths: dict[str, Any] = {}
    for name, operation_id, summary in (
        ("hello", "peerHello", "Exchange profiles, filters and feed positions"),
        ("records", "peerPush", "Push records"),
        ("fetch", "peerFetch", "Fetch records by id"),
        ("reconcile", "peerReconcile", "One round of range-based set reconciliation"),
        ("announce", "peerAnnounce", "Offer record ids; the answer lists those wanted"),
    ):
        extra = (Code.BAD_RECONCILE_MESSAGE,) if name == "reconcile" else ()
        operation = op(operation_id, summary, msgpack, (*errors, *extra), security=PEER)
        operation["requestBody"] = body
        paths[f"/peer/v1/{name}"] = {"post": operation}
    paths["/peer/v1/feed"] = {
        "get": op("peerFeed", "Long poll for the ids of records accepted after a position", msgpack, errors,
                   params=FEED_PARAMS, security=PEER)
    }  # fmt: skip
    return paths


def _page_paths() -> dict[str, Any]:
    """The member web page (node/members/web.py)."""
    html = {"description": "the page", "content": {"text/html": {"schema": STR}}}
    name = {"name": "name", "in": "path", "required": True, "schema": {"type": "string", "enum": list(page.FILES[1:])}}
    version = Param("v", {"type": "string"}, "the files' version: cacheable for a year when current")
    index = op("page", "The member web page (docs/WEB.md)", {"200": html, "304": {"description": "not modified"}})
    static = op("staticFile", "A file of the web page (an allow-list)",
                 {"200": {"description": "the file"}, "304": {"description": "not modified"}}, (Code.NOT_FOUND,),
                 path=[name])  # fmt: skip
    static["parameters"].extend(openapi_params((version,)))
    return {"/": {"get": index}, "/static/{name}": {"get": static}}
