# Local policy and peer administration, against real node processes: the
# admin token guards the operator's API; blocked authors and peers are
# refused; a peer that keeps sending invalid records is refused for a while;
# peers added at run time are connected to and show their state.

from __future__ import annotations

import urllib.parse

from crypto import NodeIdentity, public_key_to_text
from protocol.codec import Value, decode, encode
from tests.peering.conftest import Node, NodeFactory, http_call, make_post, signed_headers, wait_until

RECORDS = "/peer/v1/records"


def push(node: Node, caller: NodeIdentity, raws: list[bytes]) -> tuple[int, object]:
    body = encode(list[Value](raws))
    status, _, answer = http_call(node.authority, "POST", RECORDS, body, signed_headers(caller, "POST", RECORDS,
                                  node.authority, body))  # fmt: skip
    return status, decode(answer) if status == 200 else answer


def test_the_operator_api_needs_the_admin_token(nodes: NodeFactory) -> None:
    node = nodes.start("a")
    assert node.api("GET", "/api/v1/peers")[0] == 401
    assert node.api("GET", "/api/v1/peers", token="not-the-token")[0] == 403  # noqa: S106
    status, answer = node.api("GET", "/api/v1/peers", token=node.admin_token())
    assert status == 200 and answer == {"peers": []}
    bad = {"subject": "author", "key": "ma1nope", "action": "block"}
    assert node.api("POST", "/api/v1/policy", bad, token=node.admin_token())[0] == 422
    assert node.stop() == 0


def test_peers_added_at_run_time_connect_and_survive_a_restart(nodes: NodeFactory) -> None:
    a, b = nodes.start("a"), nodes.start("b")
    token = a.admin_token()
    status, _ = a.api("POST", "/api/v1/peers", {"url": b.url}, token=token)
    assert status == 201

    def connected() -> list[dict[str, object]] | None:
        peers = a.api("GET", "/api/v1/peers", token=token)[1]["peers"]
        return peers if peers and peers[0]["state"] == "connected" else None

    peer = wait_until(connected, "a connects to b")[0]
    assert peer["url"] == b.url and peer["public_key"] == b.info()["public_key"]
    record, _ = b.post("Firewood for the winter")
    wait_until(lambda: a.get(record["id"]), "b's post reaches a")
    assert a.stop() == 0
    a = nodes.start("a")  # same data dir: the peer list and its pinned key were kept
    wait_until(connected, "a reconnects after its restart")
    assert a.api("DELETE", "/api/v1/peers?" + urllib.parse.urlencode({"url": b.url}), token=token)[0] == 200
    assert a.api("GET", "/api/v1/peers", token=token)[1] == {"peers": []}
    assert a.api("DELETE", "/api/v1/peers?" + urllib.parse.urlencode({"url": b.url}), token=token)[0] == 404


def test_records_of_a_blocked_author_are_refused_before_storing(nodes: NodeFactory) -> None:
    node = nodes.start("a")
    caller, blocked = NodeIdentity.generate(), NodeIdentity.generate()
    rule = {"subject": "author", "key": public_key_to_text(blocked.public_key), "action": "block"}
    assert node.api("POST", "/api/v1/policy", rule, token=node.admin_token())[0] == 200
    status, answer = push(node, caller, [make_post(blocked, "Blocked author's post").raw,
                                         make_post(caller, "Fine post").raw])  # fmt: skip
    assert status == 200 and answer == {"outcomes": ["rejected:blocked_author", "accepted"]}
    assert not node.search("blocked") and node.search("fine")
    rule["action"] = "clear"
    assert node.api("POST", "/api/v1/policy", rule, token=node.admin_token())[0] == 200
    status, answer = push(node, caller, [make_post(blocked, "Blocked author's post").raw])
    assert answer == {"outcomes": ["accepted"]}


def test_a_blocked_peer_is_refused(nodes: NodeFactory) -> None:
    node = nodes.start("a")
    caller = NodeIdentity.generate()
    rule = {"subject": "peer", "key": caller.public_key.hex(), "action": "block"}
    assert node.api("POST", "/api/v1/policy", rule, token=node.admin_token())[0] == 200
    status, answer = push(node, caller, [make_post(caller, "Anything").raw])
    assert status == 403, answer
    assert not node.search("anything")
    other = NodeIdentity.generate()
    assert push(node, other, [make_post(other, "Another").raw])[0] == 200


def test_a_peer_sending_invalid_records_is_refused_for_a_while(nodes: NodeFactory) -> None:
    node = nodes.start("a")
    caller = NodeIdentity.generate()
    forged = []
    for index in range(60):
        raw = bytearray(make_post(caller, f"Forged post {index}").raw)
        raw[-1] ^= 1  # breaks the signature
        forged.append(bytes(raw))
    status, answer = push(node, caller, forged)
    assert status == 200 and isinstance(answer, dict)
    assert set(answer["outcomes"]) == {"rejected:bad_signature"}
    # Past the penalty limit: even a valid record from this peer is refused now.
    status, _ = push(node, caller, [make_post(caller, "Honest now").raw])
    assert status == 403
    other = NodeIdentity.generate()
    assert push(node, other, [make_post(other, "From someone else").raw])[0] == 200
