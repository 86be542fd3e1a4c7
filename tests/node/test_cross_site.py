# Cross-site protection on a real node over HTTP: what a page on another site can
# make a member's browser send (a form POST, with the browser's Origin and
# Sec-Fetch-Site headers) is refused and changes nothing; the node's own page and
# programs without those headers are served; a post cannot be changed without its
# token; and every answer carries Referrer-Policy: no-referrer.

from __future__ import annotations

import urllib.parse
from typing import Any

import pytest

from tests.node._support import assert_error_shape, need
from tests.node.conftest import RunningNode

FORM = "application/x-www-form-urlencoded"
EVIL = "https://evil.example"


def form(fields: dict[str, str]) -> bytes:
    return urllib.parse.urlencode(fields).encode()


@pytest.mark.parametrize(
    ("path", "fields"),
    [
        ("/api/v1/records", {"kind": "need", "title": "t", "category": "food", "area": "u4pr"}),
        ("/api/v1/records/{id}/status", {"status": "withdrawn"}),
        ("/api/v1/records/{id}/replies", {"message": "hi"}),
        ("/api/v1/records/{id}/flags", {"reason": "spam"}),
        ("/api/v1/organizer/removals", {"id": "{id}", "reason": "spam"}),
        ("/api/v1/peers", {"url": "http://127.0.0.1:9"}),
    ],
)
async def test_a_cross_site_form_post_is_refused_and_changes_nothing(
    node: RunningNode, path: str, fields: dict[str, str]
) -> None:
    record, _ = await node.post(need())
    before = await node.stored()
    concrete = path.replace("{id}", record["id"])
    body = form({k: v.replace("{id}", record["id"]) for k, v in fields.items()})
    for headers in (
        {"Content-Type": FORM, "Origin": EVIL, "Sec-Fetch-Site": "cross-site"},
        {"Content-Type": FORM, "Origin": EVIL},  # an older browser: Origin only
        {"Content-Type": FORM, "Sec-Fetch-Site": "cross-site"},
        {"Content-Type": FORM, "Origin": "null"},  # a sandboxed frame or a data: page
        {"Content-Type": "text/plain", "Origin": f"http://evil.example:{node.url.rsplit(':', 1)[1]}"},
    ):
        status, answer = await node.call("POST", concrete, data=body, headers=headers)
        code, _ = assert_error_shape(status, answer)
        assert (status, code) == (403, "cross_site"), (headers, answer)
    # Without the browser's headers a form body is still no JSON body.
    status, answer = await node.call("POST", concrete, data=body, headers={"Content-Type": FORM})
    assert_error_shape(status, answer)
    assert status in (401, 415), answer
    assert await node.stored() == before
    assert (await node.call("GET", f"/api/v1/records/{record['id']}")) == (200, record)


async def test_cross_site_json_with_a_token_is_refused_too(node: RunningNode) -> None:
    record, token = await node.post(need())
    before = await node.stored()
    status, answer = await node.call(
        "POST",
        f"/api/v1/records/{record['id']}/status",
        json={"status": "withdrawn"},
        headers={"Authorization": f"Bearer {token}", "Origin": EVIL, "Sec-Fetch-Site": "same-site"},
    )
    assert (status, assert_error_shape(status, answer)[0]) == (403, "cross_site")
    assert await node.stored() == before


async def test_the_nodes_own_page_and_programs_may_post(node: RunningNode) -> None:
    own = {"Origin": node.url, "Sec-Fetch-Site": "same-origin"}
    status, answer = await node.call("POST", "/api/v1/records", json=need(), headers=own)
    assert status == 201, answer
    status, answer = await node.call("POST", "/api/v1/records", json=need(), headers={"Sec-Fetch-Site": "none"})
    assert status == 201, answer
    status, answer = await node.call("POST", "/api/v1/records", json=need())  # curl, the CLI
    assert status == 201, answer
    # Reading is public: a page elsewhere may read what anyone can read.
    status, answer = await node.call("GET", "/api/v1/records", headers={"Origin": EVIL, "Sec-Fetch-Site": "cross-site"})
    assert status == 200, answer


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/api/v1/records/{id}/status", {"status": "withdrawn"}),
        ("PATCH", "/api/v1/records/{id}", {"title": "Changed by someone else"}),
        ("GET", "/api/v1/records/{id}/replies", None),
    ],
)
@pytest.mark.parametrize("token", ["", "Bearer", "Bearer not-the-token", "Bearer {other}", "Token {own}"])
async def test_a_post_cannot_be_changed_or_read_without_its_token(
    node: RunningNode, method: str, path: str, body: Any, token: str
) -> None:
    record, own = await node.post(need())
    _, other = await node.post(need(title="Another post"))
    before = await node.stored()
    headers = {"Authorization": token.format(other=other, own=own)} if token else {}
    status, answer = await node.call(method, path.replace("{id}", record["id"]), json=body, headers=headers)
    assert_error_shape(status, answer)
    assert status in (401, 403), answer
    assert await node.stored() == before
    assert (await node.call("GET", f"/api/v1/records/{record['id']}")) == (200, record)


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/api/v1/records"), ("GET", "/healthz"), ("GET", "/nope"), ("POST", "/api/v1/records"),
     ("GET", "/api/v1/report")],
)  # fmt: skip
async def test_every_answer_says_no_referrer(node: RunningNode, method: str, path: str) -> None:
    async with node.session.request(method, path, data=b"x") as response:
        assert response.headers["Referrer-Policy"] == "no-referrer"
        assert response.headers["X-Content-Type-Options"] == "nosniff"


async def test_a_dns_rebound_name_cannot_post_even_when_origin_and_host_agree(node: RunningNode) -> None:
    # evil.example was pointed at this node's address: the browser sends Host
    # and Origin both naming it, as for a same-origin request.
    port = node.url.rsplit(":", 1)[1]
    rebound = {"Host": f"evil.example:{port}", "Origin": f"http://evil.example:{port}", "Sec-Fetch-Site": "same-origin"}
    before = await node.row_counts()
    status, answer = await node.call("POST", "/api/v1/records", json=need(), headers=rebound)
    assert (status, assert_error_shape(status, answer)[0]) == (403, "cross_site")
    assert await node.row_counts() == before
    # The same request by IP address, or by a .local name, is the node's own page.
    for host in (f"127.0.0.1:{port}", f"chapter-pi.local:{port}"):
        own = {"Host": host, "Origin": f"http://{host}", "Sec-Fetch-Site": "same-origin"}
        status, answer = await node.call("POST", "/api/v1/records", json=need(), headers=own)
        assert status == 201, answer
