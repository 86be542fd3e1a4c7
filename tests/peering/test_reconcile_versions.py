# A node before reconciliation version 2 still peers with one after it. The
# older node (tests/peering/_reconcile_v1.py: a real node process that parses
# only version 1) refuses a version 2 opener with 400 bad_reconcile_message;
# the newer one starts the session again in version 1. Records posted before
# the link exist only for reconciliation to find (the feeds start after them),
# so they arrive only if that fallback works: N, linked to the older O, fetches
# O's record and pushes its own; and O, linked to N, reconciles in version 1,
# which N answers as it came.

from __future__ import annotations

import sys

from tests.peering.conftest import NodeFactory, wait_until

OLDER = (sys.executable, "-m", "tests.peering._reconcile_v1")


def test_a_newer_node_reconciles_with_an_older_one_both_ways(nodes: NodeFactory) -> None:
    older = nodes.start("o", program=OLDER)
    kept = nodes.start("k")
    on_older, _ = older.post("Canned soup, two boxes", kind="offer", category="food")
    on_kept, _ = kept.post("A ladder for an afternoon", kind="need", category="household")
    newer = nodes.start("n", [older.url, kept.url])
    found = wait_until(lambda: newer.get(on_older["id"]), "N fetched O's offer by a version 1 session")
    assert found["signed"] == on_older["signed"]
    wait_until(lambda: newer.get(on_kept["id"]), "N fetched K's need by a version 2 session")
    wait_until(lambda: older.get(on_kept["id"]), "O got K's need from N: their link stands")
    late = nodes.start("l", program=OLDER, peers=[newer.url])
    wait_until(lambda: late.get(on_older["id"]), "an older node initiating in version 1 is answered in version 1")
