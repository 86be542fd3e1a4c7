"""A thousand nodes in one process: a deterministic discrete-event simulation
of gossip and reconciliation (issue 13, part 2).

``model`` holds the virtual clock, the simulated network and the node and
link models, which drive the real pure core: records (``protocol.records``),
the feed's ring (``node.peering.feed``), reconciliation
(``protocol.reconcile``) and the gossip decisions
(``node.peering.decisions``). ``scenario`` builds a run (topology, posts,
churn, a partition), measures it and prints the figures:
``python -m bench sim --nodes 1000 --json``.
"""
