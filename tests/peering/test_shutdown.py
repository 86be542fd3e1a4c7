# SIGTERM is how an operator (systemd, `docker stop`) stops a node: it must
# exit, cleanly (status 0), and soon. Two situations a peered node is always
# in: it holds links to its peers, and its peers hold long polls on it.

from __future__ import annotations

from tests.peering.conftest import NodeFactory, wait_until


def test_a_node_with_a_connected_peer_link_exits_on_sigterm(nodes: NodeFactory) -> None:
    p = nodes.start("p")
    n = nodes.start("n", peers=[p.url])
    wait_until(lambda: n.connected_peers() == 1, "N is connected to P")

    n.stop()  # exit status 0 within the stop deadline
    p.stop()


def test_a_long_polled_node_exits_without_waiting_out_the_polls(nodes: NodeFactory) -> None:
    p = nodes.start("p")
    n = nodes.start("n", peers=[p.url])
    wait_until(lambda: n.connected_peers() == 1, "N is connected to P")
    # N now holds a long poll on P's feed that would last another ~20 s;
    # P must answer it at once on SIGTERM rather than wait it out.

    p.stop()
