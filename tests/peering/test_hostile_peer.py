# A hostile caller of the peer API: anyone can reach /peer/v1, so each way of
# getting the request signature wrong, replaying a request, or sending bad
# bytes must be refused with the one error shape, and a batch of records with
# bad ones among good ones must let only the good ones in. The node must keep
# answering afterwards.
#
# Requests are signed here with a throwaway identity and the protocol's own
# canonical message (protocol.peerwire.request_message); responses are checked
# with plain `cryptography`.

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from crypto import NodeIdentity
from protocol import peerwire
from protocol.codec import decode, encode
from protocol.filters import SyncFilter
from protocol.records import DAY, build_record, parse_record
from tests.peering.conftest import Node, NodeFactory, http_call, make_post, signed_headers

FEED = "/peer/v1/feed?after=0&wait=0"
RECORDS = "/peer/v1/records"


@pytest.fixture
def node(nodes: NodeFactory) -> Node:
    return nodes.start("target")


@pytest.fixture
def caller() -> NodeIdentity:
    return NodeIdentity.generate()


def error_of(status: int, headers: dict[str, str], body: bytes) -> tuple[int, str]:
    """(status, code) of an error answer, which must have the one JSON error shape."""
    assert 400 <= status < 500, (status, body[:300])
    assert headers.get("content-type", "").startswith("application/json"), headers
    value = json.loads(body)
    assert isinstance(value, dict) and set(value) == {"error"}, value
    error = value["error"]
    assert isinstance(error, dict) and {"code", "message"} <= set(error) <= {"code", "message", "field"}, value
    assert isinstance(error["code"], str) and error["code"], value
    assert isinstance(error["message"], str) and error["message"], value
    return status, error["code"]


def assert_healthy_then_stop(node: Node) -> None:
    """After all that, the node still answers, and still stops cleanly."""
    status, _, body = http_call(node.authority, "GET", "/healthz")
    assert (status, body) == (200, b'{"status": "ok"}')
    node.stop()


def assert_answer_signed_by(node: Node, request: dict[str, str], headers: dict[str, str], body: bytes) -> None:
    """The answer carries the node's key and its signature over our request's signature and the body."""
    key = bytes.fromhex(headers[peerwire.HEADER_KEY.lower()])
    assert key.hex() == node.info()["public_key"]
    message = peerwire.response_message(
        bytes.fromhex(request[peerwire.HEADER_SIGNATURE]), int(headers[peerwire.HEADER_TIME.lower()]), body
    )
    Ed25519PublicKey.from_public_bytes(key).verify(bytes.fromhex(headers[peerwire.HEADER_SIGNATURE.lower()]), message)


def _stamp(headers: dict[str, str]) -> int:
    return int(headers[peerwire.HEADER_TIME])


def test_an_unsigned_request_is_refused(node: Node) -> None:
    assert error_of(*http_call(node.authority, "GET", FEED)) == (401, "unauthorized")
    body = encode([])
    answer = http_call(node.authority, "POST", RECORDS, body, {"Content-Type": "application/msgpack"})
    assert error_of(*answer) == (401, "unauthorized")
    # Headers present but not hex, or of the wrong length.
    for key, signature in [("zz" * 32, "00" * 64), ("00" * 31, "00" * 64), ("00" * 32, "00" * 63)]:
        stamp = str(int(time.time()))
        headers = {peerwire.HEADER_KEY: key, peerwire.HEADER_TIME: stamp, peerwire.HEADER_SIGNATURE: signature}
        assert error_of(*http_call(node.authority, "GET", FEED, None, headers)) == (401, "unauthorized")
    assert_healthy_then_stop(node)


def test_a_signature_by_another_key_than_the_announced_one_is_refused(node: Node, caller: NodeIdentity) -> None:
    other = NodeIdentity.generate()
    headers = signed_headers(caller, "GET", FEED, node.authority, b"", key=other.public_key)
    assert error_of(*http_call(node.authority, "GET", FEED, None, headers)) == (401, "unauthorized")
    assert_healthy_then_stop(node)


@pytest.mark.parametrize("skew_s", [-600, 600])
def test_a_request_ten_minutes_off_the_clock_is_refused(node: Node, caller: NodeIdentity, skew_s: int) -> None:
    headers = signed_headers(caller, "GET", FEED, node.authority, b"", timestamp=int(time.time()) + skew_s)
    assert error_of(*http_call(node.authority, "GET", FEED, None, headers)) == (401, "unauthorized")
    assert_healthy_then_stop(node)


def test_the_same_signed_request_twice_is_a_replay(node: Node, caller: NodeIdentity) -> None:
    headers = signed_headers(caller, "GET", FEED, node.authority, b"")
    status, answer_headers, body = http_call(node.authority, "GET", FEED, None, headers)
    assert status == 200, body
    assert_answer_signed_by(node, headers, answer_headers, body)
    assert isinstance(decode(body), dict)

    assert error_of(*http_call(node.authority, "GET", FEED, None, headers)) == (401, "unauthorized")
    # The same request signed afresh (another timestamp, so another signature) is fine.
    again = signed_headers(caller, "GET", FEED, node.authority, b"", timestamp=_stamp(headers) - 1)
    assert http_call(node.authority, "GET", FEED, None, again)[0] == 200
    assert_healthy_then_stop(node)


def test_a_request_signed_for_another_destination_is_refused(node: Node, caller: NodeIdentity) -> None:
    elsewhere = f"127.0.0.1:{node.port + 1 if node.port < 65535 else node.port - 1}"
    headers = signed_headers(caller, "GET", FEED, elsewhere, b"")
    assert error_of(*http_call(node.authority, "GET", FEED, None, headers)) == (401, "unauthorized")
    assert_healthy_then_stop(node)


def test_a_request_recorded_on_its_way_to_another_node_cannot_be_replayed_here(
    nodes: NodeFactory, node: Node, caller: NodeIdentity
) -> None:
    """docs: the destination is signed "so a request recorded on its way to one
    node cannot be replayed to another". A recording holds the Host header too."""
    other = nodes.start("other")
    batch = encode([make_post(caller, "Bread from the bakery's last batch").raw])
    recorded = signed_headers(caller, "POST", RECORDS, other.authority, batch) | {"Host": other.authority}
    status, _, body = http_call(other.authority, "POST", RECORDS, batch, recorded)
    assert status == 200, body  # delivered where it was meant to go

    # The same bytes, headers and all, sent to our node instead.
    answer = http_call(node.authority, "POST", RECORDS, batch, recorded)
    assert answer[0] != 200, f"replayed to another node and accepted: {decode(answer[2])!r}"
    assert error_of(*answer) == (401, "unauthorized")
    assert node.search("bakery") == []
    other.stop()
    assert_healthy_then_stop(node)


def test_a_body_changed_after_signing_is_refused(node: Node, caller: NodeIdentity) -> None:
    signed_body = encode([make_post(caller, "Tomato seedlings").raw])
    sent_body = encode([make_post(caller, "Potato seedlings").raw])
    headers = signed_headers(caller, "POST", RECORDS, node.authority, signed_body)
    assert error_of(*http_call(node.authority, "POST", RECORDS, sent_body, headers)) == (401, "unauthorized")
    assert node.search("seedlings") == []
    assert_healthy_then_stop(node)


@pytest.mark.parametrize(
    "body",
    [
        b"\xc1",  # the byte msgpack never uses
        b"\x92\xc4\x05ab",  # an array whose bin is cut short
        b"\x90\x90",  # trailing bytes after a value
        b"\xcb\x3f\xf0\x00\x00\x00\x00\x00\x00",  # a float
        b"\xdd\xff\xff\xff\xff",  # an array announcing 4 billion items
        encode([b"x"] * (peerwire.MAX_BATCH + 1)),  # over the batch limit
        encode({"records": []}),  # well formed, not an array of records
    ],
    ids=["c1", "truncated", "trailing", "float", "huge-array", "over-batch", "map"],
)
def test_garbage_correctly_signed_is_a_400(node: Node, caller: NodeIdentity, body: bytes) -> None:
    headers = signed_headers(caller, "POST", RECORDS, node.authority, body)
    assert error_of(*http_call(node.authority, "POST", RECORDS, body, headers)) == (400, "decode_error")
    assert_healthy_then_stop(node)


def test_a_body_that_is_not_msgpack_by_content_type_is_a_415(node: Node, caller: NodeIdentity) -> None:
    body = encode([make_post(caller, "Warm socks").raw])
    headers = signed_headers(caller, "POST", RECORDS, node.authority, body) | {"Content-Type": "application/json"}
    assert error_of(*http_call(node.authority, "POST", RECORDS, body, headers)) == (415, "unsupported_media_type")
    assert node.search("socks") == []
    assert_healthy_then_stop(node)


class Impostor:
    """Signs with one key while naming another as the author."""

    def __init__(self, claimed: bytes, signer: NodeIdentity) -> None:
        self._claimed = claimed
        self._signer = signer

    @property
    def public_key(self) -> bytes:
        return self._claimed

    def sign_message(self, message: bytes) -> bytes:
        return self._signer.sign_message(message)


def test_a_pushed_batch_lets_in_only_its_valid_records(node: Node, caller: NodeIdentity) -> None:
    author = NodeIdentity.generate()
    now = int(time.time())

    original = make_post(author, "Paraffin lantern for power cuts")
    raw = bytearray(original.raw)
    raw[raw.index(b"lantern")] ^= 0x01  # "lantern" -> "mantern": still a well-formed record
    tampered = bytes(raw)
    assert parse_record(tampered).get("title") == "Paraffin mantern for power cuts"

    node_key = bytes.fromhex(node.info()["public_key"])
    fields: dict[str, Any] = {"kind": "offer", "slot": "forged1", "created_at": now, "expires_at": now + DAY,
                              "status": "open", "title": "Kettle, in the node's own name", "category": "kitchen",
                              "area": "u4pru"}  # fmt: skip
    forged = build_record(Impostor(node_key, author), fields)
    expired = make_post(author, "Woollen blanket, long gone", created_at=now - 3 * DAY, ttl_s=DAY)
    valid = make_post(author, "Bicycle pump to lend")

    batch = encode([tampered, forged.raw, expired.raw, valid.raw])
    headers = signed_headers(caller, "POST", RECORDS, node.authority, batch)
    status, answer_headers, body = http_call(node.authority, "POST", RECORDS, batch, headers)
    assert status == 200, body
    assert_answer_signed_by(node, headers, answer_headers, body)
    assert decode(body) == {
        "outcomes": ["rejected:bad_signature", "rejected:bad_signature", "rejected:expired", "accepted"]
    }

    assert [r["id"] for r in node.search("pump")] == [valid.id.hex()]
    for word in ("lantern", "mantern", "kettle", "blanket"):
        assert node.search(word) == [], word
        assert node.search(word, status="withdrawn") == [], word
    for record_id in (parse_record(tampered).id, forged.id, expired.id):
        assert node.get(record_id.hex()) is None
    assert node.get(valid.id.hex()) is not None

    # The same batch again, signed afresh: nothing new gets in.
    headers = signed_headers(caller, "POST", RECORDS, node.authority, batch, timestamp=_stamp(headers) - 1)
    status, _, body = http_call(node.authority, "POST", RECORDS, batch, headers)
    assert status == 200, body
    assert decode(body) == {
        "outcomes": ["rejected:bad_signature", "rejected:bad_signature", "rejected:expired", "duplicate"]
    }
    assert_healthy_then_stop(node)


def test_a_bad_tree_advert_is_a_400_and_a_good_one_is_answered(node: Node, caller: NodeIdentity) -> None:
    """The spanning tree's adverts (node/peering/spanning.py) in the hello and
    reconciliation bodies and the feed's query: each checked, a bad one refused."""
    wire_filter = peerwire.filter_to_wire(SyncFilter())
    lower = bytes(32)  # a root no node holds, claimed by a caller 0 hops from it
    bad: list[tuple[str, Any]] = [
        ("/peer/v1/hello", {"filter": wire_filter, "tree": [lower, 0, False, True]}),
        ("/peer/v1/hello", {"filter": wire_filter, "tree": [lower, 2, "yes", True]}),
        ("/peer/v1/reconcile", {"filter": wire_filter, "message": b"\x02", "tree": [lower, 99, False, True]}),
    ]
    for path, body in bad:
        raw = encode(body)
        headers = signed_headers(caller, "POST", path, node.authority, raw)
        assert error_of(*http_call(node.authority, "POST", path, raw, headers)) == (400, "decode_error")
    for advert, code in ((f"{lower.hex()}.1.2", "bad_query"), (f"{lower.hex()}.0.11", "decode_error")):
        path = f"{FEED}&tree={advert}"
        headers = signed_headers(caller, "GET", path, node.authority, b"")
        assert error_of(*http_call(node.authority, "GET", path, None, headers)) == (400, code)
    # A good one: the caller, 1 hop from a root lower than the node's key, and
    # its parent. The node follows it and says so in its answer (signed like any).
    good = encode({"filter": wire_filter, "tree": [lower, 1, False, True]})
    headers = signed_headers(caller, "POST", "/peer/v1/hello", node.authority, good)
    status, answer_headers, body = http_call(node.authority, "POST", "/peer/v1/hello", good, headers)
    assert status == 200
    assert_answer_signed_by(node, headers, answer_headers, body)
    answer: Any = decode(body)
    assert answer["tree"] == [lower, 2, True, False]  # not settled: its parent polls nothing yet
    path = f"{FEED}&tree={lower.hex()}.1.00"
    headers = signed_headers(caller, "GET", path, node.authority, b"")
    status, _, body = http_call(node.authority, "GET", path, None, headers)
    answer = decode(body)
    assert status == 200 and answer["tree"][:3] == [lower, 2, True]
    assert_healthy_then_stop(node)
