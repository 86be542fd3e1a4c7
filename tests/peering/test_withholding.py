# A peer that withholds records cannot keep them from a node that has another
# way to them: nodes reconcile with every peer they link to. W holds C's
# records but tells nobody (it answers every reconciliation as if it held
# nothing and never announces); V links to W and to H, an honest node linked
# to C. V gets C's records through H, while U, linked to W alone, gets none.

from __future__ import annotations

import sys

from tests.peering.conftest import NodeFactory, wait_until

WITHHOLDER = (sys.executable, "-m", "tests.peering._withholder")


def test_records_withheld_by_one_peer_arrive_through_another(nodes: NodeFactory) -> None:
    c = nodes.start("c")
    w = nodes.start("w", [c.url], program=WITHHOLDER)
    h = nodes.start("h", [c.url])
    u = nodes.start("u", [w.url])
    v = nodes.start("v", [w.url, h.url])
    posted, _ = c.post("Firewood to share", kind="offer", category="household")
    wait_until(lambda: w.get(posted["id"]), "W holds C's offer")
    found = wait_until(lambda: v.get(posted["id"]), "V holds C's offer, through H")
    assert found["signed"] == posted["signed"]
    assert u.get(posted["id"]) is None, "W really withholds: U, linked to W only, has nothing"
    assert u.connected_peers() == 1
