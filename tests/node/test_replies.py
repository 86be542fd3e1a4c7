# Replies on one real node (HTTP on 127.0.0.1, real SQLite file): a member replies
# to a post of this node, the poster opens it with the manage token, and every bad
# request gets a 4xx in the one error shape and stores nothing.

from __future__ import annotations

import asyncio
import base64
import time
from typing import Any

import aiohttp
import msgpack
import pytest

from crypto import NodeIdentity
from node.members import replies as replies_module
from node.peering.peer_client import PeerClient
from protocol.records import build_record, parse_record
from protocol.replies import ReplyText, build_reply
from tests.node._support import assert_error_shape, files_containing, need, offer, sql_rows
from tests.node.conftest import RunningNode

MESSAGE = "I can bring the pram on Sunday, Yolotli"
CONTACT = "yolotli@example.org"


def replies_path(record: dict[str, Any]) -> str:
    return f"/api/v1/records/{record['id']}/replies"


async def reply_ids(node: RunningNode) -> set[bytes]:
    rows = await asyncio.to_thread(sql_rows, node.files.database, "SELECT id FROM records WHERE kind = 'reply'")
    return {bytes(r[0]) for r in rows}


async def test_a_reply_to_this_nodes_post_is_opened_with_the_manage_token(node: RunningNode) -> None:
    record, token = await node.post(offer())
    status, answer = await node.call("POST", replies_path(record), json={"message": MESSAGE, "contact": CONTACT})
    assert status == 202, answer
    assert answer["reply"]["delivered"] == "direct"  # the poster's node is this one
    status, second = await node.call("POST", replies_path(record), json={"message": "Still free?"})
    assert status == 202, second

    status, body = await node.call("GET", replies_path(record), headers={"Authorization": f"Bearer {token}"})
    assert status == 200, body
    assert [(r["id"], r["message"], r["contact"]) for r in body["replies"]] == [  # newest first
        (second["reply"]["id"], "Still free?", ""),
        (answer["reply"]["id"], MESSAGE, CONTACT),
    ]
    assert all(r["sent_at"].endswith("Z") for r in body["replies"])
    assert {i.hex() for i in await reply_ids(node)} == {answer["reply"]["id"], second["reply"]["id"]}
    await node.stop()
    for secret in (MESSAGE, CONTACT, "Yolotli", "Still free?"):
        assert files_containing(node.config.data_dir, secret.encode()) == [], secret


async def test_replies_follow_the_post_through_new_versions(node: RunningNode) -> None:
    record, token = await node.post(need())
    auth = {"Authorization": f"Bearer {token}"}
    status, _ = await node.call("POST", replies_path(record), json={"message": "first"})
    assert status == 202
    status, edited = await node.call("PATCH", f"/api/v1/records/{record['id']}", json={"title": "Coats"}, headers=auth)
    assert status == 200, edited
    new = edited["record"]
    status, _ = await node.call("POST", replies_path(new), json={"message": "second"})
    assert status == 202
    status, body = await node.call("GET", replies_path(new), headers=auth)
    assert status == 200, body
    assert [r["message"] for r in body["replies"]] == ["second", "first"]


async def test_reading_replies_needs_the_posts_own_token(node: RunningNode) -> None:
    record, _ = await node.post(need())
    _, other_token = await node.post(offer())
    await node.call("POST", replies_path(record), json={"message": MESSAGE})
    for headers, expected in (
        ({}, 401),
        ({"Authorization": "Bearer "}, 401),
        ({"Authorization": "Basic abc"}, 401),
        ({"Authorization": "Bearer wrong"}, 403),
        ({"Authorization": f"Bearer {other_token}"}, 403),
    ):
        status, body = await node.call("GET", replies_path(record), headers=headers)
        assert_error_shape(status, body)
        assert status == expected, (headers, body)
        assert MESSAGE not in str(body)


BAD_REPLIES: list[tuple[str, Any, int, str]] = [
    ("empty-message", {"message": ""}, 422, "invalid_reply"),
    ("blank-message", {"message": "  \n "}, 422, "invalid_reply"),
    ("no-message", {"contact": CONTACT}, 422, "invalid_reply"),
    ("null-message", {"message": None}, 422, "invalid_reply"),
    ("message-2001", {"message": "x" * 2001}, 422, "invalid_reply"),
    ("contact-501", {"message": "hi", "contact": "c" * 501}, 422, "invalid_reply"),
    ("message-number", {"message": 5}, 422, "invalid_reply"),
    ("contact-list", {"message": "hi", "contact": ["a"]}, 422, "invalid_reply"),
    ("message-nul", {"message": "a\u0000b"}, 422, "invalid_reply"),
    ("message-bidi", {"message": "a\u202eb"}, 422, "invalid_reply"),
    ("message-surrogate", {"message": "\ud800"}, 422, "invalid_reply"),
    ("too-long", {"message": "\U0001f600" * 2001}, 422, "invalid_reply"),
    ("unknown-field", {"message": "hi", "email": "x@y"}, 400, "unknown_field"),
    ("not-object", ["hi"], 400, "bad_json"),
]


@pytest.mark.parametrize(("name", "body", "status", "code"), BAD_REPLIES, ids=[c[0] for c in BAD_REPLIES])
async def test_a_bad_reply_is_refused_and_stores_nothing(
    node: RunningNode, name: str, body: Any, status: int, code: str
) -> None:
    record, _ = await node.post(need())
    before = await node.stored()
    got, answer = await node.call("POST", replies_path(record), json=body)
    assert (got, assert_error_shape(got, answer)[0]) == (status, code), answer
    assert await node.stored() == before


async def test_replies_to_unknown_or_closed_posts_are_refused(node: RunningNode) -> None:
    before = await node.stored()
    for path, expected in (
        ("/api/v1/records/" + "0" * 64 + "/replies", 404),
        ("/api/v1/records/zz/replies", 404),
    ):
        status, answer = await node.call("POST", path, json={"message": "hi"})
        assert_error_shape(status, answer)
        assert status == expected
    assert await node.stored() == before
    record, token = await node.post(need())
    status, closed = await node.call(
        "POST",
        f"/api/v1/records/{record['id']}/status",
        json={"status": "fulfilled"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert status == 200
    status, answer = await node.call("POST", replies_path(closed["record"]), json={"message": "hi"})
    assert (status, assert_error_shape(status, answer)[0]) == (409, "closed")
    status, profiles = await node.call("GET", "/api/v1/records?kind=node")
    status, answer = await node.call("POST", replies_path(profiles["records"][0]), json={"message": "hi"})
    assert (status, assert_error_shape(status, answer)[0]) == (404, "not_found")
    assert await reply_ids(node) == set()


async def test_replies_are_not_member_posts(node: RunningNode) -> None:
    record, _ = await node.post(need(title="Coats for winter"))
    await node.call("POST", replies_path(record), json={"message": "winter coats here"})
    status, body = await node.call("GET", "/api/v1/records?q=winter")
    assert status == 200
    assert [r["id"] for r in body["records"]] == [record["id"]]


async def test_a_reply_pushed_by_a_peer_is_kept_even_outside_the_areas_served(node: RunningNode) -> None:
    # The node serves u4pr; a member posted here about ezs42 anyway. A reply sealed
    # to this node about it is kept; someone else's reply in that area is not.
    record, token = await node.post(need(area="ezs42"))
    post = parse_record(_envelope(record))
    sender, stranger = NodeIdentity.generate(), NodeIdentity.generate()
    own = node.files.identity
    moment = int(time.time())
    mine = build_reply(
        sender, post, own.seal_public_key, ReplyText("from a peer", "ring twice", moment), moment, slot="mine"
    )
    theirs = build_reply(
        sender, post, stranger.seal_public_key, ReplyText("not ours", "", moment), moment, slot="theirs"
    )
    theirs_to = build_record(sender, dict(theirs.fields) | {"to": stranger.public_key, "slot": "x"})
    async with aiohttp.ClientSession() as session:
        client = PeerClient(session, sender, node.url)
        # "theirs" is addressed to this node but sealed to another key: kept, never opened.
        outcomes = await client.push([mine.raw, theirs.raw, theirs_to.raw])
        assert outcomes == ["accepted", "accepted", "rejected:not_served"]
    status, body = await node.call("GET", replies_path(record), headers={"Authorization": f"Bearer {token}"})
    assert status == 200, body
    assert [(r["message"], r["contact"]) for r in body["replies"]] == [("from a peer", "ring twice")]


def _envelope(record: dict[str, Any]) -> bytes:
    signed = base64.b64decode(record["signed"])
    payload = signed[len(b"mutualaid/v1/record\x00") :]
    return bytes(msgpack.packb([payload, bytes.fromhex(record["signature"])], use_bin_type=True))


async def test_replies_through_one_node_about_one_post_are_bounded(
    node: RunningNode, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(replies_module, "MAX_REPLIES_PER_POST", 2)
    record, _ = await node.post(need())
    other, _ = await node.post(need(title="Another"))
    for _ in range(2):
        assert (await node.call("POST", replies_path(record), json={"message": "hi"}))[0] == 202
    before = await reply_ids(node)
    status, answer = await node.call("POST", replies_path(record), json={"message": "hi"})
    assert (status, assert_error_shape(status, answer)[0]) == (429, "too_many_replies")
    assert await reply_ids(node) == before
    assert (await node.call("POST", replies_path(other), json={"message": "hi"}))[0] == 202
