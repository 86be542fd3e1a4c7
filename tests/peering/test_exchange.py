# Peer exchange: a node learns its neighbours' neighbours from the node
# profiles (signed, with their URLs) that its peers relay, and keeps them when
# the neighbour that introduced them goes away. Real node processes on
# loopback; nodes that must be callable publish their URL (public_urls), as a
# node on a LAN address does by itself.

from __future__ import annotations

from typing import Any

from tests.peering.conftest import Node, NodeFactory, free_port, wait_until


def _start_public(nodes: NodeFactory, name: str, peers: list[str] = [], **kw: Any) -> Node:  # noqa: B006
    port = free_port()
    return nodes.start(name, peers, port, settings={"public_urls": f"http://127.0.0.1:{port}"}, **kw)


def _links(node: Node) -> list[dict[str, Any]]:
    status, answer = node.api("GET", "/api/v1/peers", token=node.admin_token())
    assert status == 200, answer
    links: list[dict[str, Any]] = answer["peers"]
    return links


def test_a_node_that_knows_only_b_keeps_records_flowing_from_c_after_b_stops(nodes: NodeFactory) -> None:
    c = _start_public(nodes, "c")
    b = _start_public(nodes, "b", [c.url])
    a = nodes.start("a", [b.url])  # A is told about B only

    first, _ = c.post("Spare bread every evening", kind="offer", category="food")
    wait_until(lambda: a.get(first["id"]), "A holds C's offer (through B)")
    c_key = c.info()["public_key"]

    def linked_to_c() -> dict[str, Any] | None:
        return next((p for p in _links(a) if p["url"] == c.url and p["state"] == "connected"), None)

    link = wait_until(linked_to_c, "A is connected to C, learnt from C's profile")
    assert (link["source"], link["public_key"]) == ("exchange", c_key)

    b.stop()
    later, _ = c.post("Soup on Friday", kind="offer", category="food")
    found = wait_until(lambda: a.get(later["id"]), "A holds a record C posted after B stopped")
    assert found["signed"] == later["signed"]
    # What A learnt is remembered: after a restart, C is an anchor linked at once.
    a.stop()
    a = nodes.start("a", [b.url])
    link = wait_until(linked_to_c, "restarted A is connected to C again")
    assert link["source"] == "anchor"


def test_with_peer_exchange_off_a_node_stays_with_its_own_list(nodes: NodeFactory) -> None:
    c = _start_public(nodes, "c")
    b = _start_public(nodes, "b", [c.url])
    a = nodes.start("a", [b.url], extra=["--no-peer-exchange"])
    on_c, _ = c.post("Ladder to lend", kind="offer", category="tools")
    wait_until(lambda: a.get(on_c["id"]), "A holds C's offer through B")
    c_key = c.info()["public_key"]
    assert any(r["author"] == c_key for r in a.records(kind="node")), "A holds C's profile, with its URL"
    # A second record through B: by then an exchange, had it been on, would
    # have dialled C (it reacts to each profile as it arrives).
    again, _ = c.post("Drill to lend", kind="offer", category="tools")
    wait_until(lambda: a.get(again["id"]), "A holds C's second offer")
    assert [p["url"] for p in _links(a)] == [b.url]
