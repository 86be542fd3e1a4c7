# The manage page's view on a real node over HTTP: GET /api/v1/manage lists
# every post a manage token manages (a need and its linked give-back offer),
# a post the organizers removed answers 404 (code removed) with their reason wherever it is
# named, and answers carrying manage-only or admin-only data say no-store.

from __future__ import annotations

from node.openapi import openapi_document
from tests.node._support import assert_error_shape, need, offer
from tests.node.conftest import RunningNode

MANAGE = "/api/v1/manage"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_a_token_lists_the_posts_it_manages_newest_first(node: RunningNode) -> None:
    status, answer = await node.call("POST", "/api/v1/records", json=need(give_back="I can fix bicycles"))
    assert status == 201
    token, first, linked = answer["manage_token"], answer["record"], answer["linked_offer"]
    other, other_token = await node.post(offer(title="Someone else's offer"))
    async with node.session.get(MANAGE, headers=bearer(token)) as response:
        assert response.status == 200
        assert response.headers["Cache-Control"] == "no-store"
        posts = (await response.json())["posts"]
    assert [p["id"] for p in posts] == [first["id"], linked["id"]]
    # A status change makes a new version: the list shows the current one, fulfilled included.
    status, changed = await node.call(
        "POST", f"/api/v1/records/{first['id']}/status", json={"status": "fulfilled"}, headers=bearer(token)
    )
    assert status == 200
    status, answer = await node.call("GET", MANAGE, headers=bearer(token))
    assert status == 200
    assert [(p["id"], p["status"]) for p in answer["posts"]] == [
        (changed["record"]["id"], "fulfilled"),
        (linked["id"], "open"),
    ]
    status, answer = await node.call("GET", MANAGE, headers=bearer(other_token))
    assert status == 200 and [p["id"] for p in answer["posts"]] == [other["id"]]


async def test_manage_refuses_without_a_token_that_manages_something(node: RunningNode) -> None:
    await node.post(need())
    for headers, expected, code in (
        ({}, 401, "unauthorized"),
        ({"Authorization": "Basic abc"}, 401, "unauthorized"),
        (bearer("not-a-token"), 403, "forbidden"),
        (bearer(node.files.admin_token), 403, "forbidden"),
    ):
        status, answer = await node.call("GET", MANAGE, headers=headers)
        assert (status, assert_error_shape(status, answer)[0]) == (expected, code), headers
    status, answer = await node.call("GET", MANAGE + "?limit=5", headers=bearer("x"))
    assert (status, assert_error_shape(status, answer)[0]) == (400, "bad_query")


async def test_a_removed_post_answers_404_removed_with_the_reason(node: RunningNode) -> None:
    record, token = await node.post(need())
    status, edited = await node.call(
        "PATCH", f"/api/v1/records/{record['id']}", json={"title": "Coats, sizes 6 and 8"}, headers=bearer(token)
    )
    assert status == 200
    current = edited["record"]["id"]
    status, _ = await node.call(
        "POST",
        "/api/v1/organizer/removals",
        json={"id": current, "reason": "posted twice"},
        headers=bearer(node.files.admin_token),
    )
    assert status == 201
    before = await node.stored()
    for record_id in (current, record["id"]):  # the removed version, and the earlier one a manage link names
        for method, path, kwargs in (
            ("GET", "", {}),
            ("GET", "/matches", {}),
            ("GET", "/replies", {"headers": bearer(token)}),
            ("POST", "/replies", {"json": {"message": "I have coats"}}),
            ("POST", "/flags", {"json": {"reason": "spam"}}),
            ("POST", "/status", {"json": {"status": "open"}, "headers": bearer(token)}),
            ("PATCH", "", {"json": {"title": "Back again"}, "headers": bearer(token)}),
        ):
            status, answer = await node.call(method, f"/api/v1/records/{record_id}{path}", **kwargs)
            code, message = assert_error_shape(status, answer)
            assert (status, code) == (404, "removed"), (method, path)
            assert message == "removed by this node's organizers: posted twice"
    status, answer = await node.call(
        "POST",
        "/api/v1/organizer/removals",
        json={"id": current, "reason": "again"},
        headers=bearer(node.files.admin_token),
    )
    assert (status, assert_error_shape(status, answer)[0]) == (404, "removed")  # the first reason stands
    status, answer = await node.call("GET", "/api/v1/records/" + "ab" * 32)
    assert (status, assert_error_shape(status, answer)[0]) == (404, "not_found")
    assert await node.stored() == before


async def test_answers_with_private_data_are_not_cached(node: RunningNode) -> None:
    async with node.session.post("/api/v1/records", json=need()) as response:
        assert response.status == 201 and response.headers["Cache-Control"] == "no-store"
        answer = await response.json()
    record_id, token = answer["record"]["id"], answer["manage_token"]
    admin = bearer(node.files.admin_token)
    for method, path, headers, body in (
        ("GET", f"/api/v1/records/{record_id}/replies", bearer(token), None),
        ("PATCH", f"/api/v1/records/{record_id}", bearer(token), {"title": "Coats"}),
        ("GET", "/api/v1/organizer/unanswered", admin, None),
        ("GET", "/api/v1/organizer/flags", admin, None),
        ("GET", "/api/v1/organizer/removals", admin, None),
        ("GET", "/api/v1/peers", admin, None),
        ("GET", "/api/v1/organizer/flags", bearer("wrong"), None),  # refused, and still not kept
    ):
        async with node.session.request(method, path, headers=headers, json=body) as response:
            assert response.status < 500
            assert response.headers.get("Cache-Control") == "no-store", path
    async with node.session.get(f"/api/v1/records/{record_id}") as response:
        assert "Cache-Control" not in response.headers  # public data may be cached


def test_the_document_names_404_on_every_post_endpoint_and_the_manage_list() -> None:
    paths = openapi_document()["paths"]
    post_paths = [p for p in paths if p.startswith("/api/v1/records/{id}")]
    assert len(post_paths) == 7  # the post, status, replies, matches, flags, answers, attend
    for path in post_paths:
        for method, operation in paths[path].items():
            assert "404" in operation["responses"], (method, path)
    assert set(paths[MANAGE]["get"]["responses"]) == {"200", "400", "401", "403", "500"}
