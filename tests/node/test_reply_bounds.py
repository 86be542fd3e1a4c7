# Replies bounded and read safely, on a real node over HTTP with a signed peer
# pushing to it: one sending node's replies about one post are capped at ingest
# (across the post's versions, at no cost to the relaying peer) and through the
# member API (per post, not per version); a sealed box copied into a second reply
# is shown once; replies read newest first; and a post's author profile cannot
# aim direct delivery at private addresses.

from __future__ import annotations

import base64
import time
from typing import Any

import aiohttp
import msgpack
import pytest

from crypto import NodeIdentity
from node.members import replies as replies_module
from node.members.replies import DELIVERY
from node.peering import ingest as ingest_module
from node.peering.peer_client import PeerClient
from node.peering.state import POLICY
from protocol.records import DAY, NODE_PROFILE_SLOT, Record, build_record, parse_record
from protocol.replies import ReplyText, build_reply
from tests.node._support import assert_error_shape, need
from tests.node.conftest import RunningNode


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def envelope(record: dict[str, Any]) -> Record:
    """A post as the node answered it, back as the record it signed."""
    signed = base64.b64decode(record["signed"])
    payload = signed[len(b"mutualaid/v1/record\x00") :]
    return parse_record(bytes(msgpack.packb([payload, bytes.fromhex(record["signature"])], use_bin_type=True)))


async def push(node: RunningNode, sender: NodeIdentity, records: list[Record]) -> list[str]:
    async with aiohttp.ClientSession() as session:
        return await PeerClient(session, sender, node.url).push([r.raw for r in records])


async def test_one_nodes_replies_about_one_post_are_capped_at_ingest(
    node: RunningNode, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ingest_module, "MAX_REPLIES_PER_SENDER", 2)
    record, token = await node.post(need())
    status, edited = await node.call(
        "PATCH", f"/api/v1/records/{record['id']}", json={"title": "Coats"}, headers=bearer(token)
    )
    assert status == 200
    first, second = envelope(record), envelope(edited["record"])
    sender, other = NodeIdentity.generate(), NodeIdentity.generate()
    seal_key, moment = node.files.identity.seal_public_key, int(time.time())

    def reply(author: NodeIdentity, post: Record, text: str) -> Record:
        return build_reply(author, post, seal_key, ReplyText(text, "", moment), moment, slot=text.replace(" ", "-"))

    # One about the first version, then two about the second in one batch: the cap
    # counts the post, not the version, and counts within the batch.
    assert await push(node, sender, [reply(sender, first, "one")]) == ["accepted"]
    outcomes = await push(node, sender, [reply(sender, second, "two"), reply(sender, second, "three")])
    assert outcomes == ["accepted", "rejected:too_many_replies"]
    assert await push(node, other, [reply(other, second, "another node")]) == ["accepted"]  # its own count
    assert node.app[POLICY].penalty(sender.public_key) == 0  # an honest relay could have carried them
    status, body = await node.call("GET", f"/api/v1/records/{record['id']}/replies", headers=bearer(token))
    assert status == 200
    assert sorted(r["message"] for r in body["replies"]) == ["another node", "one", "two"]


async def test_the_api_cap_counts_every_version_of_a_post(node: RunningNode, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(replies_module, "MAX_REPLIES_PER_POST", 2)
    record, token = await node.post(need())
    for _ in range(2):
        assert (await node.call("POST", f"/api/v1/records/{record['id']}/replies", json={"message": "hi"}))[0] == 202
    status, edited = await node.call(
        "PATCH", f"/api/v1/records/{record['id']}", json={"title": "Coats"}, headers=bearer(token)
    )
    assert status == 200
    status, answer = await node.call(
        "POST", f"/api/v1/records/{edited['record']['id']}/replies", json={"message": "hi"}
    )
    assert (status, assert_error_shape(status, answer)[0]) == (429, "too_many_replies")


async def test_a_copied_sealed_box_is_read_once_and_replies_come_newest_first(node: RunningNode) -> None:
    record, token = await node.post(need())
    post = envelope(record)
    sender = NodeIdentity.generate()
    seal_key = node.files.identity.seal_public_key
    older = build_reply(sender, post, seal_key, ReplyText("older", "", 1000), int(time.time()) - 60, slot="older")
    newer = build_reply(sender, post, seal_key, ReplyText("newer", "", 2000), int(time.time()), slot="newer")
    lifted = {"slot": "copied", "created_at": newer.created_at - 30, "expires_at": newer.expires_at - 30}
    copy = build_record(sender, dict(newer.fields) | lifted)
    assert await push(node, sender, [older, newer, copy]) == ["accepted"] * 3
    status, body = await node.call("GET", f"/api/v1/records/{record['id']}/replies", headers=bearer(token))
    assert status == 200
    assert [r["message"] for r in body["replies"]] == ["newer", "older"]
    assert body["replies"][0]["id"] == newer.id.hex()


async def test_direct_delivery_never_aims_at_private_addresses(node: RunningNode) -> None:
    peer = NodeIdentity.generate()
    now = int(time.time())
    profile = build_record(
        peer,
        {
            "kind": "node",
            "slot": NODE_PROFILE_SLOT,
            "created_at": now,
            "expires_at": now + 30 * DAY,
            "name": "Elsewhere",
            "areas": [],
            "urls": ["http://10.20.30.40:8440", "http://192.168.7.7:8440", "http://[fd00::1]:8440"],
            "seal_key": NodeIdentity.generate().seal_public_key,
        },
    )
    post = build_record(
        peer,
        {
            "kind": "offer",
            "slot": "a1",
            "created_at": now,
            "expires_at": now + 10 * DAY,
            "status": "open",
            "title": "A bicycle",
            "category": "transport",
            "area": "u4pru",
        },
    )
    assert await push(node, peer, [profile, post]) == ["accepted", "accepted"]
    status, answer = await node.call("POST", f"/api/v1/records/{post.id.hex()}/replies", json={"message": "hello"})
    assert status == 202, answer
    # No usable URL is left, so no push was even started: the network carries it.
    assert answer["reply"]["delivered"] == "network"
    assert len(node.app[DELIVERY]._tasks) == 0
