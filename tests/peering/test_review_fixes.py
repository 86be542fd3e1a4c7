# Regression tests for faults a review found in the peer layer.

from __future__ import annotations

import json

from crypto import NodeIdentity
from tests.peering.conftest import NodeFactory, http_call, signed_headers, wait_until


def test_a_feed_position_beyond_64_bits_is_a_400_not_a_500(nodes: NodeFactory) -> None:
    node = nodes.start("a")
    caller = NodeIdentity.generate()
    for query in ("after=99999999999999999999&wait=0", "after=-1&wait=0", "after=0&wait=nan"):
        path = f"/peer/v1/feed?{query}"
        status, _, body = http_call(node.authority, "GET", path, None,
                                    signed_headers(caller, "GET", path, node.authority, b""))  # fmt: skip
        assert status == 400, (query, body)
        assert json.loads(body)["error"]["code"] == "bad_query"
    assert node.stop() == 0


def test_blocking_a_connected_peer_stops_its_records_at_once(nodes: NodeFactory) -> None:
    b = nodes.start("b")
    a = nodes.start("a", peers=[b.url])
    token = a.admin_token()

    def state() -> str:
        peers = a.api("GET", "/api/v1/peers", token=token)[1]["peers"]
        return str(peers[0]["state"]) if peers else "none"

    wait_until(lambda: state() == "connected" or None, "a connects to b")
    first, _ = b.post("Before the block")
    wait_until(lambda: a.get(first["id"]), "b's post reaches a while allowed")
    rule = {"subject": "peer", "key": b.info()["public_key"], "action": "block"}
    assert a.api("POST", "/api/v1/policy", rule, token=token)[0] == 200
    second, _ = b.post("After the block")  # announced on b's feed, which a still polls
    wait_until(lambda: state() in ("backoff", "blocked") or None, "a's link to b stops")
    assert a.get(second["id"]) is None
    wait_until(lambda: state() == "blocked" or None, "a refuses to reconnect to b")
    assert a.get(second["id"]) is None
