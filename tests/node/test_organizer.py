# Flags from members and the organizers' view, on a real node over HTTP: the admin
# token is required, unanswered needs are listed most urgent first, flags are
# listed with their post, and a removal hides a post from searches, from the
# peer API (a signed peer client asks for it and pushes it back) and from the
# poster's later versions.

from __future__ import annotations

import asyncio
import base64
from pathlib import Path

import aiohttp
import msgpack
import pytest
from aiohttp import web

from crypto import NodeIdentity
from node.app import create_app
from node.core.config import NodeConfig
from node.core.datadir import ensure_data_dir
from node.core.errors import AppRunner
from node.peering.peer_client import PeerClient
from node.peering.state import POLICY
from storage import community as community_module
from tests.node._support import assert_error_shape, need, offer
from tests.node.conftest import RunningNode

ORGANIZER = "/api/v1/organizer"


def admin(node: RunningNode) -> dict[str, str]:
    return {"Authorization": f"Bearer {node.files.admin_token}"}


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/unanswered"), ("GET", "/flags"), ("GET", "/removals"), ("POST", "/removals")],
)
async def test_the_organizer_view_needs_the_admin_token(node: RunningNode, method: str, path: str) -> None:
    record, token = await node.post(need())
    before = await node.stored()
    body = {"id": record["id"], "reason": "spam"}
    for headers, expected in (
        ({}, 401),
        ({"Authorization": "Bearer wrong"}, 403),
        ({"Authorization": f"Bearer {token}"}, 403),  # a manage token is not the admin token
    ):
        status, answer = await node.call(method, ORGANIZER + path, json=body, headers=headers)
        assert_error_shape(status, answer)
        assert status == expected, (headers, answer)
    assert await node.stored() == before


async def test_unanswered_needs_most_urgent_then_longest_open(node: RunningNode) -> None:
    await node.post(need(title="Low", urgency="low"))
    first, _ = await node.post(need(title="Urgent first", urgency="urgent"))
    await node.post(need(title="Urgent second", urgency="urgent"))
    answered, _ = await node.post(need(title="Answered", urgency="urgent"))
    await node.post(offer(title="An offer is not a need"))
    claimed, token = await node.post(need(title="Claimed"))
    await node.call(
        "POST",
        f"/api/v1/records/{claimed['id']}/status",
        json={"status": "claimed"},
        headers={"Authorization": f"Bearer {token}"},
    )
    status, _ = await node.call("POST", f"/api/v1/records/{answered['id']}/replies", json={"message": "I can help"})
    assert status == 202
    status, body = await node.call("GET", ORGANIZER + "/unanswered", headers=admin(node))
    assert status == 200, body
    titles = [r["title"] for r in body["records"]]
    # Same urgency and second: the one stored first has been open longest.
    assert titles == ["Urgent first", "Urgent second", "Low"]
    assert all(r["days_open"] == 0 and r["replies"] == 0 for r in body["records"])
    status, body = await node.call("GET", ORGANIZER + "/unanswered?limit=1", headers=admin(node))
    assert [r["id"] for r in body["records"]] == [first["id"]]
    for bad in ("limit=0", "limit=501", "limit=x", "sort=new"):
        status, answer = await node.call("GET", f"{ORGANIZER}/unanswered?{bad}", headers=admin(node))
        assert (status, assert_error_shape(status, answer)[0]) == (400, "bad_query")


async def test_members_flag_and_organizers_see_the_flags(node: RunningNode) -> None:
    record, token = await node.post(need())
    path = f"/api/v1/records/{record['id']}/flags"
    assert await node.call("POST", path, json={"reason": "spam"}) == (201, {"flagged": True})
    status, _ = await node.call("POST", path, json={"reason": "personal_info", "note": "shows a phone number"})
    assert status == 201
    before = await node.stored()
    for body, code in (
        ({"reason": "boring"}, "invalid_flag"),
        ({}, "invalid_flag"),
        ({"reason": "spam", "note": "x" * 501}, "invalid_note"),
        ({"reason": "spam", "note": 5}, "invalid_note"),
        ({"reason": "spam", "note": "a\u0000b"}, "invalid_note"),
        ({"reason": "spam", "who": "me"}, "unknown_field"),
    ):
        status, answer = await node.call("POST", path, json=body)
        assert assert_error_shape(status, answer)[0] == code, (body, answer)
    status, answer = await node.call("POST", "/api/v1/records/" + "0" * 64 + "/flags", json={"reason": "spam"})
    assert status == 404
    assert await node.stored() == before
    # A new version of the flagged post: the flag now shows the current version.
    auth = {"Authorization": f"Bearer {token}"}
    status, edited = await node.call("PATCH", f"/api/v1/records/{record['id']}", json={"title": "Edited"}, headers=auth)
    assert status == 200
    status, body = await node.call("GET", ORGANIZER + "/flags", headers=admin(node))
    assert status == 200, body
    assert [(f["reason"], f["note"], f["count"], f["record_id"]) for f in body["flags"]] == [
        ("personal_info", "shows a phone number", 2, record["id"]),
        ("spam", "", 2, record["id"]),
    ]
    assert {f["record"]["id"] for f in body["flags"]} == {edited["record"]["id"]}


async def test_a_removal_hides_the_post_everywhere_for_good(node: RunningNode) -> None:
    record, token = await node.post(need(title="Selling phones cheap"))
    kept, _ = await node.post(need(title="Phones for the shelter"))
    removal = {"id": record["id"], "reason": "spam, not mutual aid"}
    status, answer = await node.call("POST", ORGANIZER + "/removals", json=removal, headers=admin(node))
    assert status == 201, answer
    assert answer["removal"]["record_id"] == record["id"]

    status, found = await node.call("GET", "/api/v1/records?q=phones")
    assert [r["id"] for r in found["records"]] == [kept["id"]]
    assert (await node.call("GET", f"/api/v1/records/{record['id']}"))[0] == 404  # removed, with the reason
    # The poster cannot bring it back with a new version.
    status, answer = await node.call(
        "PATCH", f"/api/v1/records/{record['id']}", json={"title": "x"}, headers={"Authorization": f"Bearer {token}"}
    )
    assert (status, answer["error"]["code"]) == (404, "removed"), answer
    status, body = await node.call("GET", ORGANIZER + "/removals", headers=admin(node))
    assert [(r["record_id"], r["reason"], r["kind"]) for r in body["removals"]] == [
        (record["id"], "spam, not mutual aid", "need")
    ]

    # A peer asks for it and is given nothing; pushing it back is refused, and not held against the peer.
    peer = NodeIdentity.generate()
    async with aiohttp.ClientSession() as session:
        client = PeerClient(session, peer, node.url)
        assert await client.fetch([bytes.fromhex(record["id"]), bytes.fromhex(kept["id"])]) != []
        assert len(await client.fetch([bytes.fromhex(record["id"])])) == 0
        assert await client.push([_envelope(record)]) == ["rejected:removed"]
    assert node.app[POLICY].penalty(peer.public_key) == 0
    status, found = await node.call("GET", "/api/v1/records?q=phones")
    assert [r["id"] for r in found["records"]] == [kept["id"]]


def _envelope(record: dict[str, object]) -> bytes:
    """The record's wire bytes from R: [payload, signature] as canonical msgpack."""
    signed = base64.b64decode(str(record["signed"]))
    payload = signed[len(b"mutualaid/v1/record\x00") :]
    return bytes(msgpack.packb([payload, bytes.fromhex(str(record["signature"]))], use_bin_type=True))


async def test_bad_removals_are_refused(node: RunningNode) -> None:
    record, _ = await node.post(need())
    before = await node.stored()
    status, profiles = await node.call("GET", "/api/v1/records?kind=node")
    for body, status_code, code in (
        ({"id": record["id"]}, 422, "invalid_reason"),
        ({"id": record["id"], "reason": ""}, 422, "invalid_reason"),
        ({"id": record["id"], "reason": "x" * 301}, 422, "invalid_reason"),
        ({"id": record["id"], "reason": "a\u202eb"}, 422, "invalid_reason"),
        ({"id": "nope", "reason": "spam"}, 422, "invalid_id"),
        ({"id": "0" * 64, "reason": "spam"}, 404, "not_found"),
        ({"id": profiles["records"][0]["id"], "reason": "spam"}, 404, "not_found"),
        ({"id": record["id"], "reason": "spam", "ban": True}, 400, "unknown_field"),
    ):
        status, answer = await node.call("POST", ORGANIZER + "/removals", json=body, headers=admin(node))
        assert (status, assert_error_shape(status, answer)[0]) == (status_code, code), body
    assert await node.stored() == before


async def test_flags_on_one_post_are_bounded(node: RunningNode, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(community_module, "MAX_FLAGS_PER_POST", 2)
    record, _ = await node.post(need())
    other, _ = await node.post(need(title="Another"))
    path = f"/api/v1/records/{record['id']}/flags"
    for _ in range(2):
        assert (await node.call("POST", path, json={"reason": "spam"}))[0] == 201
    status, answer = await node.call("POST", path, json={"reason": "spam"})
    assert (status, assert_error_shape(status, answer)[0]) == (429, "too_many_flags")
    assert (await node.call("POST", f"/api/v1/records/{other['id']}/flags", json={"reason": "spam"}))[0] == 201
    status, body = await node.call("GET", ORGANIZER + "/flags", headers=admin(node))
    assert len(body["flags"]) == 3


async def test_a_node_without_an_admin_token_says_so(tmp_path: Path) -> None:
    config = NodeConfig(data_dir=tmp_path / "node", listen_port=0)
    files = await asyncio.to_thread(ensure_data_dir, config)
    app = create_app(config, files.identity, str(files.database), admin_token="")
    runner = AppRunner(app, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        url = f"http://127.0.0.1:{runner.addresses[0][1]}"
        async with aiohttp.ClientSession() as session:
            for path in ("/api/v1/organizer/flags", "/api/v1/peers"):
                async with session.get(url + path, headers={"Authorization": "Bearer anything"}) as response:
                    code, _ = assert_error_shape(response.status, await response.json())
                    assert (response.status, code) == (403, "admin_off"), path
    finally:
        await runner.cleanup()
