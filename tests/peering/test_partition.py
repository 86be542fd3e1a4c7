# A - B - C with B, the only link between the two ends, taken down: what is
# posted on each end meanwhile can travel only after B is back, and only by
# reconciliation (the records were accepted while nobody was listening, so no
# feed or push carried them). B comes back on the same port with the same data
# directory, so A and C find it at the URL they were given, under the key they
# pinned.

from __future__ import annotations

from functools import partial

from tests.peering.conftest import NodeFactory, wait_until


def test_nodes_converge_after_the_middle_node_comes_back(nodes: NodeFactory) -> None:
    b = nodes.start("b")
    a = nodes.start("a", peers=[b.url])
    c = nodes.start("c", peers=[b.url])
    wait_until(lambda: a.connected_peers() == 1 and c.connected_peers() == 1, "A and C are connected to B")
    b_key = b.info()["public_key"]

    b.stop()  # while A and C hold long polls on it

    on_a, _ = a.post("Firewood for an elderly neighbour", kind="need", category="household")
    on_c, _ = c.post("Spare firewood, two cubic metres", kind="offer", category="household")
    # Partitioned: neither end can have the other's post.
    assert c.get(on_a["id"]) is None
    assert a.get(on_c["id"]) is None

    b = nodes.start("b", port=b.port)
    assert b.info()["public_key"] == b_key, "same data directory, same identity"

    everyone = {"A": a, "B": b, "C": c}
    for record in (on_a, on_c):
        for name, node in everyone.items():
            found = wait_until(partial(node.get, record["id"]), f"{name} holds {record['title']!r}")
            assert found["signed"] == record["signed"]
    # And every node's search finds both.
    for name, node in everyone.items():
        assert {r["id"] for r in node.search("firewood")} == {on_a["id"], on_c["id"]}, name
    # Both ends are linked to B again.
    assert a.connected_peers() == 1
    assert c.connected_peers() == 1

    a.stop()
    c.stop()
    b.stop()
