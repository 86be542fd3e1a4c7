# A node behind NAT: N listens on 127.0.0.1 only and nobody is told its URL.
# It knows its peer P; P has no peers at all. Records still flow both ways
# over the one link N opens: N pushes what is posted on it, and hears of what
# is posted on P through its long poll on P's feed.

from __future__ import annotations

from typing import Any

from tests.peering.conftest import Node, NodeFactory, wait_until


def test_records_flow_both_ways_over_the_link_the_hidden_node_opens(nodes: NodeFactory) -> None:
    p = nodes.start("p")
    n = nodes.start("n", peers=[p.url])
    wait_until(lambda: n.connected_peers() == 1, "N is connected to P")

    # P was never told where N is: it has no peers, and N's profile, which P
    # now holds, gives no URL to call it back on.
    status, answer = p.api("GET", "/api/v1/peers", token=p.admin_token())
    assert status == 200, answer
    assert answer["peers"] == []
    assert p.connected_peers() == 0
    n_key = n.info()["public_key"]

    def n_profile_on_p() -> dict[str, Any] | None:
        return next((r for r in p.records(kind="node") if r["author"] == n_key), None)

    assert wait_until(n_profile_on_p, "P holds N's profile")["urls"] == []

    link_before = _only_link(n)
    assert link_before["state"] == "connected"

    on_p, _ = p.post("Hot meals on Sundays", kind="offer", category="food")
    found = wait_until(lambda: n.get(on_p["id"]), "N holds the offer posted on P")
    assert found["signed"] == on_p["signed"]
    # It came through the long poll: the link never dropped and never
    # reconciled again after the first sync, the only other way in.
    link_after = _only_link(n)
    assert (link_after["state"], link_after["failures"], link_after["last_sync"]) == (
        "connected",
        0,
        link_before["last_sync"],
    )

    on_n, _ = n.post("Someone to walk my dog this week", kind="need", category="company")
    found = wait_until(lambda: p.get(on_n["id"]), "P holds the need posted on N")
    assert found["signed"] == on_n["signed"]
    assert [r["id"] for r in p.search("dog")] == [on_n["id"]]

    n.stop()
    p.stop()


def _only_link(node: Node) -> dict[str, Any]:
    status, answer = node.api("GET", "/api/v1/peers", token=node.admin_token())
    assert status == 200, answer
    assert len(answer["peers"]) == 1, answer
    link: dict[str, Any] = answer["peers"][0]
    return link
