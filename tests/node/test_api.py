# The member API over real HTTP: a node from create_app on 127.0.0.1 (port 0)
# over a data directory in tmp_path, talked to with aiohttp.ClientSession.
# Records are checked as an outsider would check them: the signature with
# plain `cryptography`, the id as SHA-256 of the signed bytes, the fields
# against the msgpack payload those bytes carry.

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import time
from collections.abc import Callable
from typing import Any

import pytest

from crypto import public_key_to_text
from node import __version__
from node.chapter.categories import DEFAULT
from node.chapter.settings import DEFAULTS
from tests.node._support import (
    DAY,
    HEX64,
    assert_error_shape,
    check_signed,
    files_containing,
    need,
    offer,
    parse_iso_z,
)
from tests.node.conftest import RunningNode


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def get_record(node: RunningNode, record_id: str) -> tuple[int, Any]:
    return await node.call("GET", f"/api/v1/records/{record_id}")


async def search(node: RunningNode, params: list[tuple[str, str]]) -> dict[str, Any]:
    status, answer = await node.call("GET", "/api/v1/records", params=params)
    assert status == 200, answer
    assert set(answer) == {"records", "next"}
    return dict(answer)


async def search_ids(node: RunningNode, params: list[tuple[str, str]]) -> set[str]:
    answer = await search(node, [*params, ("limit", "500")])
    assert answer["next"] is None
    return {r["id"] for r in answer["records"]}


# --- the node ------------------------------------------------------------------


async def test_node_info_names_the_node_and_counts_its_records(node: RunningNode) -> None:
    status, info = await node.call("GET", "/api/v1/node")
    assert status == 200
    held = len((await node.stored())[0])  # the node's own profile is a record too
    key = node.files.identity.public_key
    categories = [c.as_json() for c in DEFAULT]
    assert info == {
        "public_key": key.hex(),
        "key": public_key_to_text(key),
        "name": "Riverside pantry",
        "version": __version__,
        "areas": ["u4pr"],
        "records": held,
        "posts": {"need": 0, "offer": 0},
        "peers": 0,
        "categories": categories,
        "chapter": {"founding": True, "settings": dict(DEFAULTS)},
        "clock": {"offset_s": 0, "peers": 0, "correcting": False},  # no peer: its own clock
    }
    assert categories[-1] == {"slug": "other", "names": {"en": "Other", "es": "Otra cosa"}}
    await node.post(need())
    await node.post(offer())
    await node.post(offer())
    status, info = await node.call("GET", "/api/v1/node")
    assert info["records"] == held + 3
    assert info["posts"] == {"need": 1, "offer": 2}  # posts, not the profile nor replies


async def test_an_unknown_category_is_refused_with_the_list(node: RunningNode) -> None:
    status, answer = await node.call("POST", "/api/v1/records", json=need(category="child-care"))
    code, message = assert_error_shape(status, answer)
    assert (status, code, answer["error"]["field"]) == (422, "invalid_record", "category")
    assert all(c.slug in message for c in DEFAULT)
    assert await node.row_counts() == (0, 0)


async def test_healthz(node: RunningNode) -> None:
    assert await node.call("GET", "/healthz") == (200, {"status": "ok"})


# --- posting ------------------------------------------------------------------------


async def test_post_need_with_every_field_returns_a_signed_record_and_a_manage_token(node: RunningNode) -> None:
    body = need(
        details="Sizes 6 and 8.\nAny colour is fine.",
        tags=["winter", "children"],
        quantity="2 coats",
        urgency="high",
        needed_by="2031-12-24",
        languages=["en", "pt-br"],
        give_back="I can mend clothes in return",
        expires_in_days=14,
    )
    before = int(time.time())
    status, answer = await node.call("POST", "/api/v1/records", json=body)
    after = int(time.time())
    assert status == 201, answer
    assert set(answer) == {"record", "manage_token", "linked_offer"}  # give_back: see test_linked_offer.py
    token = answer["manage_token"]
    assert isinstance(token, str) and len(token) >= 32
    r = answer["record"]
    assert set(r) == {
        "id", "kind", "author", "slot", "status", "created_at", "expires_at", "signature", "signed",
        "title", "details", "category", "tags", "quantity", "urgency", "area", "languages", "give_back", "needed_by",
    }  # fmt: skip
    assert HEX64.match(r["id"])
    assert r["kind"] == "need"
    assert r["status"] == "open"
    assert r["author"] == node.files.identity.public_key.hex()
    for name in ("title", "details", "category", "tags", "quantity", "urgency", "area", "languages", "give_back"):
        assert r[name] == body[name], name
    assert r["needed_by"] == "2031-12-24T00:00:00Z"
    created = parse_iso_z(r["created_at"])
    assert before <= created <= after
    assert parse_iso_z(r["expires_at"]) == created + 14 * DAY

    payload = check_signed(r)
    assert payload["needed_by"] == parse_iso_z("2031-12-24T00:00:00Z")

    assert await get_record(node, r["id"]) == (200, r)


async def test_offer_with_only_the_required_fields_gets_the_defaults(node: RunningNode) -> None:
    r, _ = await node.post(offer())
    assert set(r) == {
        "id", "kind", "author", "slot", "status", "created_at", "expires_at", "signature", "signed",
        "title", "category", "area", "urgency",
    }  # fmt: skip
    assert r["urgency"] == "normal"
    assert parse_iso_z(r["expires_at"]) - parse_iso_z(r["created_at"]) == 30 * DAY
    payload = check_signed(r)
    assert "urgency" not in payload  # shown as the default, never signed as one


async def test_needed_by_with_an_offset_is_shown_in_utc(node: RunningNode) -> None:
    r, _ = await node.post(need(needed_by="2031-12-24T10:00:00+02:00"))
    assert r["needed_by"] == "2031-12-24T08:00:00Z"
    check_signed(r)


async def test_two_posts_get_different_slots_ids_and_tokens(node: RunningNode) -> None:
    a, token_a = await node.post(need())
    b, token_b = await node.post(need())
    assert a["slot"] != b["slot"]
    assert a["id"] != b["id"]
    assert token_a != token_b


# --- search ------------------------------------------------------------------------

CATEGORIES = ("food", "clothing", "tools", "learning")
AREAS = ("u4pru", "u4prv", "u4pqx", "ezs42", "u4")
WORDS = ("apples", "bicycle", "cradle", "duvet", "lentils", "ladder", "blanket")


async def post_many(node: RunningNode, count: int = 25) -> list[tuple[dict[str, Any], dict[str, Any], str]]:
    """``count`` posts, one after another: (body, R, token) in posting order."""
    out = []
    for i in range(count):
        body = (offer if i % 3 == 0 else need)(
            title=f"{WORDS[i % 7]} for the street, number {i}",
            category=CATEGORIES[i % 4],
            area=AREAS[i % 5],
        )
        r, token = await node.post(body)
        out.append((body, r, token))
    return out


async def test_search_filters_by_kind_category_area_prefix_and_text(node: RunningNode) -> None:
    rs = [r for _, r, _ in await post_many(node)]
    everything = {r["id"] for r in rs}
    cases: list[tuple[list[tuple[str, str]], Callable[[dict[str, Any]], bool]]] = [
        ([("kind", "offer")], lambda r: r["kind"] == "offer"),
        ([("kind", "need")], lambda r: r["kind"] == "need"),
        ([("category", "tools")], lambda r: r["category"] == "tools"),
        ([("area", "u4pr")], lambda r: r["area"] in ("u4pru", "u4prv")),  # a prefix, not a substring
        ([("area", "u4")], lambda r: r["area"].startswith("u4")),
        ([("area", "ezs42")], lambda r: r["area"] == "ezs42"),
        ([("q", "bicycle")], lambda r: "bicycle" in r["title"]),
        ([("q", "BICYCLE")], lambda r: "bicycle" in r["title"]),
        ([("q", "lad")], lambda r: "ladder" in r["title"]),  # the last word matches as a prefix
        ([("q", "number 7")], lambda r: r["title"].endswith("number 7")),
        (
            [("kind", "need"), ("category", "food"), ("area", "u4")],
            lambda r: r["kind"] == "need" and r["category"] == "food" and r["area"].startswith("u4"),
        ),
    ]
    for params, test in cases:
        expected = {r["id"] for r in rs if test(r)}
        assert 0 < len(expected) < len(rs), params  # each filter really narrows this set
        assert await search_ids(node, params) == expected, params
    assert await search_ids(node, []) == everything
    assert await search_ids(node, [("kind", "need"), ("kind", "offer")]) == everything
    assert await search_ids(node, [("q", "unicycle")]) == set()
    assert await search_ids(node, [("area", "s")]) == set()
    # Words are letters and digits ("number_7" is two), each cut as the index's tokenizer cuts it.
    assert await search_ids(node, [("q", "number_7")]) == {r["id"] for r in rs if r["title"].endswith("number 7")}
    assert await search_ids(node, [("q", "\u1980\u19b0\u1981")]) == set()  # no post holds it; not refused


async def test_search_by_status(node: RunningNode) -> None:
    posted = await post_many(node, 6)
    (_, a, token_a), (_, b, token_b) = posted[0], posted[1]
    status, answer = await node.call(
        "POST", f"/api/v1/records/{a['id']}/status", json={"status": "claimed"}, headers=bearer(token_a)
    )
    assert status == 200
    claimed = answer["record"]
    status, answer = await node.call(
        "POST", f"/api/v1/records/{b['id']}/status", json={"status": "fulfilled"}, headers=bearer(token_b)
    )
    assert status == 200
    fulfilled = answer["record"]
    untouched = {r["id"] for _, r, _ in posted[2:]}

    assert await search_ids(node, []) == untouched | {claimed["id"]}  # open and claimed by default
    assert await search_ids(node, [("status", "open")]) == untouched
    assert await search_ids(node, [("status", "claimed")]) == {claimed["id"]}
    assert await search_ids(node, [("status", "fulfilled")]) == {fulfilled["id"]}
    assert await search_ids(node, [("status", "withdrawn")]) == set()
    assert await search_ids(node, [("status", "claimed"), ("status", "fulfilled")]) == {claimed["id"], fulfilled["id"]}


async def test_search_limits_and_walks_pages_newest_first(node: RunningNode) -> None:
    posted = await post_many(node)
    newest_first = [r["id"] for _, r, _ in reversed(posted)]

    answer = await search(node, [("limit", "10")])
    pages = [answer["records"]]
    assert isinstance(answer["next"], str)
    # A post made while a member pages through must not shift the later pages.
    late, _ = await node.post(need(title="posted while paging"))
    while answer["next"] is not None:
        answer = await search(node, [("limit", "10"), ("cursor", answer["next"])])
        pages.append(answer["records"])
    assert [len(p) for p in pages] == [10, 10, 5]
    assert [r["id"] for page in pages for r in page] == newest_first
    for page in pages:
        for r in page:
            check_signed(r)

    # A last page that is exactly full says there is nothing after it.
    walked: list[str] = []
    params = [("limit", "13")]
    for _ in range(3):
        answer = await search(node, params)
        walked += [r["id"] for r in answer["records"]]
        if answer["next"] is None:
            break
        params = [("limit", "13"), ("cursor", answer["next"])]
    assert walked == [late["id"], *newest_first]
    assert answer["next"] is None

    # A filtered walk keeps its filter on every page.
    needs = [r["id"] for _, r, _ in reversed(posted) if r["kind"] == "need"]
    walked = []
    params = [("kind", "need"), ("limit", "4")]
    for _ in range(20):
        answer = await search(node, params)
        walked += [r["id"] for r in answer["records"]]
        if answer["next"] is None:
            break
        params = [("kind", "need"), ("limit", "4"), ("cursor", answer["next"])]
    assert walked == [late["id"], *needs]


# --- managing a post ------------------------------------------------------------------


async def test_status_change_with_the_token_makes_a_new_version(node: RunningNode) -> None:
    r, token = await node.post(need(details="Sizes 6 and 8"))
    status, answer = await node.call(
        "POST", f"/api/v1/records/{r['id']}/status", json={"status": "claimed"}, headers=bearer(token)
    )
    assert status == 200, answer
    assert set(answer) == {"record"}
    r2 = answer["record"]
    assert r2["id"] != r["id"]
    assert r2["status"] == "claimed"
    for name in ("kind", "author", "slot", "title", "details", "category", "area", "expires_at"):
        assert r2[name] == r[name], name
    assert parse_iso_z(r2["created_at"]) > parse_iso_z(r["created_at"])
    check_signed(r2)

    # The first id (in the member's saved manage link) still leads to the post:
    # to its current version.
    assert await get_record(node, r["id"]) == (200, r2)
    assert await get_record(node, r2["id"]) == (200, r2)
    assert await node.row_counts() == (1, 1)

    # The same token manages every later version.
    status, answer = await node.call(
        "POST", f"/api/v1/records/{r2['id']}/status", json={"status": "open"}, headers=bearer(token)
    )
    assert status == 200, answer
    assert answer["record"]["status"] == "open"
    assert answer["record"]["id"] not in (r["id"], r2["id"])


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [("POST", "/status", {"status": "claimed"}), ("PATCH", "", {"title": "Taken over"})],
    ids=["status", "edit"],
)
async def test_changes_need_the_posts_own_manage_token(
    node: RunningNode, method: str, suffix: str, body: dict[str, Any]
) -> None:
    r, token = await node.post(need())
    _, other_token = await node.post(offer())
    path = f"/api/v1/records/{r['id']}{suffix}"
    cases = [
        ({}, 401, "unauthorized"),
        ({"Authorization": ""}, 401, "unauthorized"),
        ({"Authorization": "Bearer"}, 401, "unauthorized"),
        ({"Authorization": "Bearer   "}, 401, "unauthorized"),
        ({"Authorization": f"Basic {token}"}, 401, "unauthorized"),
        ({"Authorization": f"Token {token}"}, 401, "unauthorized"),
        (bearer("not-the-token"), 403, "forbidden"),
        (bearer(token[:-1]), 403, "forbidden"),
        (bearer(other_token), 403, "forbidden"),
    ]
    for headers, expected, code in cases:
        status, answer = await node.call(method, path, json=body, headers=headers)
        assert status == expected, (headers, answer)
        assert assert_error_shape(status, answer)[0] == code
    assert await get_record(node, r["id"]) == (200, r)
    assert await node.row_counts() == (2, 2)
    # Scheme names are case-insensitive (RFC 9110), and the right token works.
    status, answer = await node.call(method, path, json=body, headers={"Authorization": f"bearer {token}"})
    assert status == 200, answer


async def test_edit_changes_the_title_and_null_removes_details(node: RunningNode) -> None:
    r, token = await node.post(need(details="Sizes 6 and 8", tags=["winter"], urgency="high"))
    status, answer = await node.call(
        "PATCH", f"/api/v1/records/{r['id']}", json={"title": "One winter coat", "details": None}, headers=bearer(token)
    )
    assert status == 200, answer
    r2 = answer["record"]
    assert r2["title"] == "One winter coat"
    assert "details" not in r2
    assert r2["tags"] == ["winter"]
    assert r2["urgency"] == "high"
    assert r2["status"] == "open"
    assert r2["slot"] == r["slot"]
    payload = check_signed(r2)
    assert "details" not in payload
    assert await get_record(node, r["id"]) == (200, r2)  # the old id leads to the current version
    assert await get_record(node, r2["id"]) == (200, r2)
    assert await search_ids(node, [("q", "winter coat")]) == {r2["id"]}
    assert await search_ids(node, [("q", "sizes")]) == set()  # the removed text is out of the index too


async def test_edit_cannot_remove_a_required_field(node: RunningNode) -> None:
    r, token = await node.post(need())
    for name in ("title", "category", "area"):
        status, answer = await node.call(
            "PATCH", f"/api/v1/records/{r['id']}", json={name: None}, headers=bearer(token)
        )
        assert status == 422, answer
        assert_error_shape(status, answer)
    assert await get_record(node, r["id"]) == (200, r)


async def test_renew_moves_the_expiry(node: RunningNode) -> None:
    r, token = await node.post(need(expires_in_days=3))
    before = int(time.time())
    status, answer = await node.call(
        "PATCH", f"/api/v1/records/{r['id']}", json={"expires_in_days": 60}, headers=bearer(token)
    )
    after = int(time.time())
    assert status == 200, answer
    r2 = answer["record"]
    assert before + 60 * DAY <= parse_iso_z(r2["expires_at"]) <= after + 60 * DAY
    assert r2["title"] == r["title"]
    check_signed(r2)
    status, answer = await node.call(
        "PATCH", f"/api/v1/records/{r2['id']}", json={"expires_in_days": 91}, headers=bearer(token)
    )
    assert status == 422
    assert_error_shape(status, answer)


async def test_give_back_is_for_needs_only(node: RunningNode) -> None:
    r, token = await node.post(offer())
    status, answer = await node.call(
        "PATCH", f"/api/v1/records/{r['id']}", json={"give_back": "I can bake"}, headers=bearer(token)
    )
    assert (status, assert_error_shape(status, answer)[0]) == (409, "wrong_kind")  # this post is an offer
    status, answer = await node.call(
        "PATCH", f"/api/v1/records/{r['id']}", json={"give_back": None, "title": "Bread"}, headers=bearer(token)
    )
    assert status == 200  # removing what an offer does not have is no change
    r = answer["record"]
    status, answer = await node.call("POST", "/api/v1/records", json=offer(give_back="I can bake"))
    assert (status, assert_error_shape(status, answer)[0]) == (400, "unknown_field")  # not a field of an offer
    assert await get_record(node, r["id"]) == (200, r)
    assert await node.row_counts() == (1, 1)


async def test_a_withdrawn_post_is_final(node: RunningNode) -> None:
    r, token = await node.post(need())
    status, answer = await node.call(
        "POST", f"/api/v1/records/{r['id']}/status", json={"status": "withdrawn"}, headers=bearer(token)
    )
    assert status == 200, answer
    gone = answer["record"]
    assert gone["status"] == "withdrawn"
    assert parse_iso_z(gone["expires_at"]) >= parse_iso_z(r["expires_at"])
    check_signed(gone)

    attempts: list[tuple[str, str, dict[str, Any]]] = [
        ("POST", "/status", {"status": "open"}),
        ("POST", "/status", {"status": "claimed"}),
        ("POST", "/status", {"status": "withdrawn"}),
        ("POST", "/status", {"status": "fulfilled"}),
        ("PATCH", "", {"title": "Back again"}),
        ("PATCH", "", {"expires_in_days": 60}),
    ]
    for method, suffix, body in attempts:
        status, answer = await node.call(
            method, f"/api/v1/records/{gone['id']}{suffix}", json=body, headers=bearer(token)
        )
        assert 400 <= status < 500, (method, body, status, answer)
        assert_error_shape(status, answer)
    assert await get_record(node, gone["id"]) == (200, gone)
    assert await search_ids(node, []) == set()
    assert await search_ids(node, [("status", "withdrawn")]) == {gone["id"]}
    assert await node.row_counts() == (1, 1)


# --- what the node keeps and says --------------------------------------------------------------


async def test_the_manage_token_is_never_stored_in_clear(node: RunningNode) -> None:
    tokens = []
    for body in (need(), offer(), need(title="Lentils, 5 kg")):
        r, token = await node.post(body)
        tokens.append(token)
    status, _ = await node.call(
        "POST", f"/api/v1/records/{r['id']}/status", json={"status": "claimed"}, headers=bearer(token)
    )
    assert status == 200
    data_dir = node.config.data_dir

    async def check() -> None:
        for token in tokens:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            for needle in (token.encode(), raw, raw.hex().encode()):
                assert await asyncio.to_thread(files_containing, data_dir, needle) == []
            # ... while its hash is there: we looked where the node keeps its data.
            digest = hashlib.sha256(token.encode()).digest()
            assert await asyncio.to_thread(files_containing, data_dir, digest) != []

    await check()
    await node.stop()  # the WAL is folded back into records.db on close
    await check()


async def test_logs_name_records_by_id_never_by_content(node: RunningNode, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="mutualaid")
    r, token = await node.post(need(title="Insulin for Kwame", details="Flat 4B, ring twice"))
    status, _ = await node.call(
        "PATCH", f"/api/v1/records/{r['id']}", json={"title": "Insulin for K."}, headers=bearer(token)
    )
    assert status == 200
    assert r["id"] in caplog.text
    for secret in ("Kwame", "Flat 4B", "Insulin", token):
        assert secret not in caplog.text
