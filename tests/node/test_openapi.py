# The OpenAPI document against the app it describes: every route the app
# registers is documented with its method and every documented operation is
# a real route; the document served over HTTP is the one in the code; real
# responses carry status codes the document lists for their operation; and
# every field a documented request body allows is one the node accepts.

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
from aiohttp import web

from crypto import NodeIdentity
from node.app import create_app
from node.core.config import NodeConfig
from node.openapi import openapi_document
from tests.node._support import need
from tests.node.conftest import RunningNode

METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
UNDOCUMENTED_METHODS = {"HEAD", "OPTIONS"}  # aiohttp adds HEAD beside every GET


def app_operations(tmp_path: Path) -> set[tuple[str, str]]:
    """(path template, method) of every route of a freshly built (never started) app."""
    app = create_app(NodeConfig(data_dir=tmp_path), NodeIdentity.generate(), str(tmp_path / "unused.db"))
    out = set()
    for route in app.router.routes():
        if route.method in UNDOCUMENTED_METHODS or isinstance(route.resource, web.StaticResource):
            continue
        assert route.resource is not None
        out.add((route.resource.canonical, route.method.lower()))
    return out


def documented_operations() -> set[tuple[str, str]]:
    paths = openapi_document()["paths"]
    return {(path, method) for path, item in paths.items() for method in item if method in METHODS}


def test_every_route_is_documented(tmp_path: Path) -> None:
    missing = sorted(app_operations(tmp_path) - documented_operations())
    assert missing == [], f"routes the document does not describe: {missing}"


def test_every_documented_operation_is_a_route(tmp_path: Path) -> None:
    extra = sorted(documented_operations() - app_operations(tmp_path))
    assert extra == [], f"documented operations no route serves: {extra}"


def test_the_document_is_well_formed() -> None:
    doc = openapi_document()
    assert doc["openapi"].startswith("3.")
    json.dumps(doc)  # serialisable as it is served
    refs = {"#/components/schemas/" + name for name in doc["components"]["schemas"]}
    schemes = set(doc["components"]["securitySchemes"])
    for path, item in doc["paths"].items():
        assert path.startswith("/"), path
        for method, operation in item.items():
            assert method in METHODS, (path, method)
            codes = set(operation["responses"])
            assert any(code.startswith("2") for code in codes), (path, method)
            assert all(code.isdigit() and len(code) == 3 for code in codes), (path, method)
            for requirement in operation.get("security", []):
                assert set(requirement) <= schemes, (path, method)
            params = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
            assert params == set(re.findall(r"\{([^}]+)\}", path)), (path, method)
    for ref in _refs(doc):
        assert ref in refs, ref


def _refs(value: Any) -> list[str]:
    if isinstance(value, dict):
        found = [value["$ref"]] if isinstance(value.get("$ref"), str) else []
        return found + [ref for child in value.values() for ref in _refs(child)]
    if isinstance(value, list):
        return [ref for child in value for ref in _refs(child)]
    return []


async def test_the_served_document_is_the_one_in_the_code(node: RunningNode) -> None:
    status, served = await node.call("GET", "/api/v1/openapi.json")
    assert status == 200
    assert served == json.loads(json.dumps(openapi_document()))


def inline(value: Any, doc: dict[str, Any]) -> Any:
    """A schema with its $refs replaced by what they name (so it validates alone)."""
    if isinstance(value, dict):
        ref = value.get("$ref")
        if isinstance(ref, str):
            target = doc
            for part in ref.removeprefix("#/").split("/"):
                target = target[part]
            rest = {k: v for k, v in value.items() if k != "$ref"}
            return inline({**target, **rest}, doc)
        return {k: inline(v, doc) for k, v in value.items()}
    if isinstance(value, list):
        return [inline(v, doc) for v in value]
    return value


def check_against_document(operation: str, method: str, status: int, body: Any) -> None:
    """The answer's status is documented for the operation, and a JSON answer fits its schema."""
    doc = openapi_document()
    documented = doc["paths"][operation][method]["responses"]
    what = f"{method.upper()} {operation}"
    assert str(status) in documented, f"{what} answered {status}; documented: {sorted(documented)}"
    content = documented[str(status)].get("content", {})
    if "application/json" in content:
        schema = inline(content["application/json"]["schema"], doc)
        errors = [e.message for e in jsonschema_rs.validator_for(schema).iter_errors(body)]
        assert errors == [], f"{method.upper()} {operation} {status}: {errors[:3]} in {body!r:.300}"


# --- real responses against the documented status codes --------------------------------------------------

MSGPACK = "application/msgpack"
BIG = json.dumps(need(details="x" * (1024 * 1024))).encode()

# (operation path, method, concrete path ({id} is a live post), request options, the status this request gets)
RESPONSES: list[tuple[str, str, str, dict[str, Any], int]] = [
    ("/healthz", "get", "/healthz", {}, 200),
    ("/metrics", "get", "/metrics", {}, 200),
    ("/api/v1/openapi.json", "get", "/api/v1/openapi.json", {}, 200),
    ("/api/v1/node", "get", "/api/v1/node", {}, 200),
    ("/api/v1/records", "get", "/api/v1/records?kind=need&area=u4", {}, 200),
    ("/api/v1/records", "get", "/api/v1/records?limit=0", {}, 400),
    ("/api/v1/records", "post", "/api/v1/records", {"json": need()}, 201),
    ("/api/v1/records", "post", "/api/v1/records", {"json": need(colour="red")}, 400),
    ("/api/v1/records", "post", "/api/v1/records", {"json": need(area="u4pruu")}, 422),
    ("/api/v1/records", "post", "/api/v1/records", {"data": b"{}", "headers": {"Content-Type": "text/plain"}}, 415),
    ("/api/v1/records", "post", "/api/v1/records", {"big": True}, 413),
    ("/api/v1/records/{id}", "get", "/api/v1/records/{id}", {}, 200),
    ("/api/v1/records/{id}", "get", "/api/v1/records/" + "0" * 64, {}, 404),
    ("/api/v1/records/{id}", "patch", "/api/v1/records/{id}", {"json": {"title": "x"}, "auth": True}, 200),
    ("/api/v1/records/{id}", "patch", "/api/v1/records/{id}", {"json": {"title": "x"}}, 401),
    ("/api/v1/records/{id}", "patch", "/api/v1/records/{id}", {"json": {"title": "x"}, "auth": "wrong"}, 403),
    ("/api/v1/records/{id}", "patch", "/api/v1/records/" + "0" * 64, {"json": {"title": "x"}, "auth": True}, 404),
    ("/api/v1/records/{id}", "patch", "/api/v1/records/{id}", {"json": {"status": "x"}, "auth": True}, 400),
    ("/api/v1/records/{id}", "patch", "/api/v1/records/{id}", {"json": {}, "auth": True}, 422),
    ("/api/v1/records/{id}", "patch", "/api/v1/records/{id}", {"data": b"{}", "auth": True}, 415),
    ("/api/v1/records/{id}", "patch", "/api/v1/records/{id}", {"big": True, "auth": True}, 413),
    ("/api/v1/records/{id}/status", "post", "/api/v1/records/{id}/status",
     {"json": {"status": "claimed"}, "auth": True}, 200),
    ("/api/v1/records/{id}/status", "post", "/api/v1/records/{id}/status", {"json": {"status": "claimed"}}, 401),
    ("/api/v1/records/{id}/status", "post", "/api/v1/records/{id}/status",
     {"json": {"status": "claimed"}, "auth": "wrong"}, 403),
    ("/api/v1/records/{id}/status", "post", "/api/v1/records/{id}/status",
     {"json": {"status": "done"}, "auth": True}, 422),
    ("/api/v1/records/{id}/status", "post", "/api/v1/records/{id}/status", {"data": b"{}", "auth": True}, 415),
    ("/api/v1/records/{id}/status", "post", "/api/v1/records/{id}/status", {"big": True, "auth": True}, 413),
    ("/api/v1/peers", "get", "/api/v1/peers", {}, 401),
    ("/api/v1/peers", "get", "/api/v1/peers", {"auth": "admin"}, 200),
    ("/api/v1/peers", "delete", "/api/v1/peers?url=http://peer.example:8440&y=1", {"auth": "admin"}, 400),
    ("/api/v1/peers", "delete", "/api/v1/peers?url=nope", {"auth": "admin"}, 422),
    ("/api/v1/peers", "delete", "/api/v1/peers?url=http://peer.example:8440", {"auth": "admin"}, 404),
    ("/api/v1/peers", "post", "/api/v1/peers", {"big": True, "auth": "admin"}, 413),
    ("/api/v1/policy", "post", "/api/v1/policy", {"big": True, "auth": "admin"}, 413),
    ("/peer/v1/hello", "post", "/peer/v1/hello", {"data": b"", "headers": {"Content-Type": MSGPACK}}, 401),
    ("/api/v1/records/{id}/replies", "post", "/api/v1/records/{id}/replies", {"json": {"message": "hi"}}, 202),
    ("/api/v1/records/{id}/replies", "post", "/api/v1/records/{id}/replies", {"json": {"message": ""}}, 422),
    ("/api/v1/records/{id}/replies", "post", "/api/v1/records/{id}/replies", {"json": {"text": "hi"}}, 400),
    ("/api/v1/records/{id}/replies", "post", "/api/v1/records/" + "0" * 64 + "/replies",
     {"json": {"message": "hi"}}, 404),
    ("/api/v1/records/{id}/replies", "post", "/api/v1/records/{id}/replies", {"data": b"{}"}, 415),
    ("/api/v1/records/{id}/replies", "post", "/api/v1/records/{id}/replies", {"big": True}, 413),
    ("/api/v1/records/{id}/replies", "get", "/api/v1/records/{id}/replies", {"auth": True}, 200),
    ("/api/v1/records/{id}/replies", "get", "/api/v1/records/{id}/replies", {}, 401),
    ("/api/v1/records/{id}/replies", "get", "/api/v1/records/{id}/replies", {"auth": "wrong"}, 403),
    ("/api/v1/records/{id}/matches", "get", "/api/v1/records/{id}/matches", {}, 200),
    ("/api/v1/records/{id}/matches", "get", "/api/v1/records/{id}/matches?limit=0", {}, 400),
    ("/api/v1/records/{id}/matches", "get", "/api/v1/records/" + "0" * 64 + "/matches", {}, 404),
    ("/api/v1/records/{id}/flags", "post", "/api/v1/records/{id}/flags", {"json": {"reason": "spam"}}, 201),
    ("/api/v1/records/{id}/flags", "post", "/api/v1/records/{id}/flags", {"json": {"reason": "meh"}}, 422),
    ("/api/v1/report", "get", "/api/v1/report", {}, 200),
    ("/api/v1/report", "get", "/api/v1/report?weeks=53", {}, 400),
    ("/api/v1/report.csv", "get", "/api/v1/report.csv?weeks=4", {}, 200),
    ("/api/v1/report.csv", "get", "/api/v1/report.csv?weeks=x", {}, 400),
    ("/api/v1/organizer/unanswered", "get", "/api/v1/organizer/unanswered", {"auth": "admin"}, 200),
    ("/api/v1/organizer/unanswered", "get", "/api/v1/organizer/unanswered", {}, 401),
    ("/api/v1/organizer/flags", "get", "/api/v1/organizer/flags", {"auth": "admin"}, 200),
    ("/api/v1/organizer/flags", "get", "/api/v1/organizer/flags", {"auth": "wrong"}, 403),
    ("/api/v1/organizer/removals", "get", "/api/v1/organizer/removals", {"auth": "admin"}, 200),
    ("/api/v1/organizer/removals", "post", "/api/v1/organizer/removals",
     {"json": {"id": "0" * 64, "reason": "spam"}, "auth": "admin"}, 404),
    ("/api/v1/organizer/removals", "post", "/api/v1/organizer/removals",
     {"json": {"id": "0" * 64, "reason": ""}, "auth": "admin"}, 422),
    ("/api/v1/organizer/removals", "post", "/api/v1/organizer/removals",
     {"json": {"id": "0" * 64, "reason": "spam"}}, 401),
    ("/api/v1/manage", "get", "/api/v1/manage", {"auth": True}, 200),
    ("/api/v1/manage", "get", "/api/v1/manage", {}, 401),
    ("/api/v1/manage", "get", "/api/v1/manage", {"auth": "wrong"}, 403),
    ("/api/v1/manage", "get", "/api/v1/manage?x=1", {"auth": True}, 400),
    ("/api/v1/bundle", "get", "/api/v1/bundle", {}, 401),
    ("/api/v1/bundle", "get", "/api/v1/bundle?area=u4pruu", {"auth": "admin"}, 400),
    ("/api/v1/bundle", "post", "/api/v1/bundle",
     {"data": b"not a bundle", "headers": {"Content-Type": "application/octet-stream"}, "auth": "admin"}, 400),
    ("/api/v1/bundle", "post", "/api/v1/bundle", {"json": {}, "auth": "admin"}, 415),
    ("/api/v1/bundle", "post", "/api/v1/bundle", {"data": b"x", "auth": "wrong"}, 403),
    ("/api/v1/backup", "post", "/api/v1/backup", {"json": {"passphrase": "short"}, "auth": "admin"}, 422),
    ("/api/v1/backup", "post", "/api/v1/backup", {"json": {"colour": "blue"}, "auth": "admin"}, 400),
    ("/api/v1/backup", "post", "/api/v1/backup", {"json": {}}, 401),
    ("/api/v1/organizer/flags/{record_id}", "delete", "/api/v1/organizer/flags/{id}", {"auth": "admin"}, 404),
    ("/api/v1/organizer/flags/{record_id}", "delete", "/api/v1/organizer/flags/{id}", {}, 401),
    ("/api/v1/organizer/flags/{record_id}", "delete", "/api/v1/organizer/flags/{id}", {"auth": "wrong"}, 403),
]  # fmt: skip


@pytest.mark.parametrize(
    ("operation", "method", "path", "options", "expected"),
    RESPONSES,
    ids=[f"{m}-{p}-{e}" for _, m, p, _, e in RESPONSES],
)
async def test_real_responses_have_documented_status_codes(
    node: RunningNode, operation: str, method: str, path: str, options: dict[str, Any], expected: int
) -> None:
    record, token = await node.post(need())
    kwargs = {k: v for k, v in options.items() if k not in ("auth", "big")}
    headers = dict(kwargs.pop("headers", {}))
    if options.get("auth"):
        given = {True: token, "admin": node.files.admin_token}.get(options["auth"], "wrong")
        headers["Authorization"] = f"Bearer {given}"
    if options.get("big"):
        kwargs["data"] = io.BytesIO(BIG)
        headers["Content-Type"] = "application/json"
    status, answer = await node.call(method.upper(), path.replace("{id}", record["id"]), headers=headers, **kwargs)
    assert status == expected, answer  # the request does what this table says, so the check below means something
    check_against_document(operation, method, status, answer)


# --- request bodies: what the document allows, the node accepts ----------------------------------------

SAMPLE = {
    "kind": "need",
    "title": "Spare pram",
    "category": "childcare",
    "area": "u4pr",
    "details": "Folds flat",
    "tags": ["baby"],
    "quantity": "1",
    "urgency": "low",
    "needed_by": "2031-01-01",
    "languages": ["en"],
    "give_back": "I can babysit",
    "expires_in_days": 10,
    "status": "claimed",
}
MEMBER_BODIES = [
    ("/api/v1/records", "post"),
    ("/api/v1/records/{id}", "patch"),
    ("/api/v1/records/{id}/status", "post"),
]


def documented_body_fields() -> list[tuple[str, str, str]]:
    paths = openapi_document()["paths"]
    out = []
    for path, method in MEMBER_BODIES:
        schema = paths[path][method]["requestBody"]["content"]["application/json"]["schema"]
        for one in schema.get("oneOf", [schema]):
            out += [(path, method, name) for name in one["properties"] if (path, method, name) not in out]
    return out


@pytest.mark.parametrize(("path", "method", "name"), documented_body_fields(), ids=str)
async def test_every_documented_body_field_is_accepted_by_name(
    node: RunningNode, path: str, method: str, name: str
) -> None:
    record, token = await node.post(need())
    body = need(**{name: SAMPLE[name]}) if method == "post" and path == "/api/v1/records" else {name: SAMPLE[name]}
    status, answer = await node.call(
        method.upper(), path.replace("{id}", record["id"]), json=body, headers={"Authorization": f"Bearer {token}"}
    )
    assert status in (200, 201), f"the document allows {name!r} in {method.upper()} {path}; the node said {answer}"


@pytest.mark.parametrize(
    "name", [p["name"] for p in openapi_document()["paths"]["/api/v1/records"]["get"]["parameters"]]
)
async def test_every_documented_search_parameter_is_accepted(node: RunningNode, name: str) -> None:
    values = {
        "kind": "need",
        "category": "food",
        "area": "u4",
        "status": "open",
        "urgency": "high,urgent",
        "language": "es",
        "q": "coat",
        "order": "urgency",
        "limit": "5",
        "cursor": None,
        "author": "ab" * 32,
    }
    if values[name] is None:  # a cursor must come from the node
        for _ in range(3):
            await node.post(need())
        status, answer = await node.call("GET", "/api/v1/records", params={"limit": "1"})
        values[name] = answer["next"]
    status, answer = await node.call("GET", "/api/v1/records", params={name: str(values[name])})
    assert status == 200, answer
