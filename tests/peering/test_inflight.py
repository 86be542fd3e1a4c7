"""One copy per record: an id asked of one peer is not asked of another while it
is on its way (``decisions.InFlight``), in the pull loop and in the answer to an
announce, and is asked again once it arrived, failed, or took too long."""

from __future__ import annotations

from crypto import NodeIdentity
from node.peering.decisions import IN_FLIGHT_S, InFlight
from protocol.codec import Value, decode, encode
from tests.peering.conftest import NodeFactory, http_call, make_post, signed_headers

A, B, C = (bytes([n]) * 32 for n in (1, 2, 3))


def test_an_id_is_claimed_once_until_it_arrives_or_times_out() -> None:
    inflight = InFlight()
    assert inflight.claim([A, B], now=0.0) == [A, B]
    assert inflight.claim([A, B, C], now=1.0) == [C]  # A and B are on their way from another peer
    inflight.release([A])  # arrived (or the fetch failed)
    assert inflight.claim([A, B], now=2.0) == [A]
    assert inflight.claim([B], now=IN_FLIGHT_S + 0.1) == [B]  # B never came: asked again


def test_the_table_is_bounded_and_drops_expired_claims_first() -> None:
    inflight = InFlight(limit=2)
    assert inflight.claim([A, B], now=0.0) == [A, B]
    assert inflight.claim([C], now=1.0) == [C]  # full: C is let through, not remembered
    assert inflight.claim([C], now=1.0) == [C]
    assert inflight.claim([C], now=IN_FLIGHT_S + 1) == [C]  # A and B expired: C now remembered
    assert inflight.claim([C], now=IN_FLIGHT_S + 2) == []


def test_a_node_wants_an_announced_record_from_one_peer_only(nodes: NodeFactory) -> None:
    """Two peers announce the same new record within a moment of each other: the
    node asks the first for it, not the second, then takes the first's push."""
    node = nodes.start("target")
    first, second = NodeIdentity.generate(), NodeIdentity.generate()
    record = make_post(NodeIdentity.generate(), "Soup on Sunday")

    def call(caller: NodeIdentity, path: str, body: list[bytes]) -> object:
        data = encode(list[Value](body))
        headers = signed_headers(caller, "POST", path, node.authority, data)
        status, _, payload = http_call(node.authority, "POST", path, data, headers)
        assert status == 200, payload
        return decode(payload)

    assert call(first, "/peer/v1/announce", [record.id]) == {"wanted": [record.id]}
    assert call(second, "/peer/v1/announce", [record.id]) == {"wanted": []}  # on its way from the first
    assert call(first, "/peer/v1/records", [record.raw]) == {"outcomes": ["accepted"]}
    assert call(second, "/peer/v1/announce", [record.id]) == {"wanted": []}  # held now
    other = make_post(NodeIdentity.generate(), "Bread on Monday")
    assert call(second, "/peer/v1/announce", [other.id]) == {"wanted": [other.id]}
    node.stop()
