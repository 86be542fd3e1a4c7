"""Eager and lazy links (node/peering/decisions.py, node/peering/spanning.py,
PROTOCOL.md 8.3): the links of the spanning tree rooted at the lowest key are
eager, the others turn lazy; a link whose records keep arriving as copies
turns lazy, and a lazy link whose reconciliation has to move a record turns
eager again, so the tree mends when it breaks.

The process test runs three real nodes in a triangle: P links to Q and R, Q to
R. The node with the lowest key is the root: its two links are the tree, and
the third turns lazy; blocking its peer then ends it though it no longer
polls. Then the root drops one of its links: its posts reach that node only
over the lazy link, which finds the difference, moves it and turns eager."""

from __future__ import annotations

import http.client
import random

import pytest

from crypto.keytext import public_key_from_text
from node.peering import decisions
from node.peering.feed import FeedEntry
from tests.peering.conftest import Node, NodeFactory, wait_until


def test_batches_of_copies_in_a_row_make_a_link_lazy() -> None:
    count = 0
    for _ in range(decisions.PRUNE_AFTER):
        assert count < decisions.PRUNE_AFTER
        count = decisions.copies_in_a_row(["duplicate", "superseded"], count)
    assert count == decisions.PRUNE_AFTER
    assert decisions.copies_in_a_row(["duplicate", "accepted"], 2) == 0  # one new record: the link is needed
    assert decisions.copies_in_a_row(["rejected:rate_limited", "duplicate"], 2) == 2  # says nothing
    assert decisions.copies_in_a_row([], 2) == 2


def test_a_lazy_reconciliation_that_moves_records_grafts() -> None:
    assert not decisions.grafts(accepted=0, pushed_new=0)
    assert decisions.grafts(accepted=1, pushed_new=0)
    assert decisions.grafts(accepted=0, pushed_new=1)


def test_lazy_links_reconcile_within_seconds_eager_ones_every_few_minutes() -> None:
    rng = random.Random(1)
    lazy = [decisions.resync_delay(rng, decisions.LAZY_RESYNC_S) for _ in range(100)]
    eager = [decisions.resync_delay(rng) for _ in range(100)]
    assert 0.8 * decisions.LAZY_RESYNC_S <= min(lazy) <= max(lazy) <= 1.2 * decisions.LAZY_RESYNC_S
    assert min(eager) >= 0.8 * decisions.RESYNC_INTERVAL_S


def test_a_lazy_link_that_finds_nothing_waits_longer_up_to_a_bound() -> None:
    interval, seen = decisions.LAZY_RESYNC_S, []
    for _ in range(10):
        interval = decisions.lazy_interval(interval)
        seen.append(interval)
    assert seen[0] == 2 * decisions.LAZY_RESYNC_S
    assert seen == sorted(seen)
    assert seen[-1] == decisions.LAZY_MAX_S < decisions.RESYNC_INTERVAL_S


def _entry(seq: int, source: bytes | None, size: int = 100) -> FeedEntry:
    return FeedEntry(seq, bytes([seq]) * 32, bytes(size), "offer", None, source, author=bytes([9]) * 32)


def test_an_eager_poller_gets_every_record_whole_a_lazy_one_none() -> None:
    relayed = [_entry(1, bytes([5]) * 32), _entry(2, None), _entry(3, bytes([6]) * 32)]
    assert decisions.whole_records(relayed, eager=True) == [e.raw for e in relayed]
    assert decisions.whole_records(relayed, eager=False) == []
    assert decisions.whole_records(relayed) == [relayed[1].raw]  # an older poller: near the origin only
    assert decisions.whole_records(relayed, limit=250, eager=True) == [relayed[0].raw, relayed[1].raw]


def _changes(node: Node, change: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", node.port, timeout=10)
    try:
        conn.request("GET", "/metrics")
        body = conn.getresponse().read().decode()
    finally:
        conn.close()
    series = f'mutualaid_gossip_link_changes_total{{change="{change}"}} '
    return sum(int(float(line.rsplit(" ", 1)[1])) for line in body.splitlines() if line.startswith(series))


def _link(node: Node, url: str) -> dict[str, object]:
    peers = node.api("GET", "/api/v1/peers", token=node.admin_token())[1]["peers"]
    link: dict[str, object] = next(p for p in peers if p["url"] == url)
    return link


def _eager(node: Node, url: str) -> bool:
    return bool(_link(node, url)["eager"])


def _state(node: Node, url: str) -> str:
    return str(_link(node, url)["state"])


@pytest.mark.slow
def test_the_spanning_tree_leaves_one_link_lazy_and_a_broken_tree_grafts_it_back(nodes: NodeFactory) -> None:
    r = nodes.start("R")
    q = nodes.start("Q", peers=[r.url])
    p = nodes.start("P", peers=[q.url, r.url])
    wait_until(lambda: p.connected_peers() == 2 and q.connected_peers() == 1, "P and Q linked", 30)
    # The root is the lowest key: its two links are the tree, the third link turns lazy.
    by_key = {public_key_from_text(node.info()["public_key"]): node for node in (p, q, r)}
    root = by_key[min(by_key)]
    [(dialler, callee)] = [pair for pair in ((p, q), (p, r), (q, r)) if root not in pair]
    wait_until(lambda: not _eager(dialler, callee.url), "the link off the tree lazy", 30)
    assert _changes(dialler, "untree") >= 1
    tree_links = [(p, q), (p, r), (q, r)]
    tree_links.remove((dialler, callee))
    for a, b in tree_links:
        assert _eager(a, b.url)  # the root's links: records cross them whole
    posted = [root.post("Soup pot")[0]["id"], dialler.post("Bread")[0]["id"]]
    wait_until(lambda: all(node.get(i) for node in (p, q, r) for i in posted), "posts everywhere over the tree", 30)
    assert not _eager(dialler, callee.url)  # nothing crossed it: still lazy
    # A lazy link never polls: blocking its peer still ends it (its reconciliations check).
    rule = {"subject": "peer", "key": callee.info()["public_key"], "action": "block"}
    assert dialler.api("POST", "/api/v1/policy", rule, token=dialler.admin_token())[0] == 200
    wait_until(lambda: _state(dialler, callee.url) == "blocked", "the lazy link blocked", 30)
    assert dialler.api("POST", "/api/v1/policy", {**rule, "action": "clear"}, token=dialler.admin_token())[0] == 200
    wait_until(lambda: _state(dialler, callee.url) == "connected", "the link back", 60)
    wait_until(lambda: not _eager(dialler, callee.url), "lazy again", 30)
    # The root drops its link to the callee: what the root posts now reaches it only
    # over the lazy link, which moves it and turns eager (a graft, or the tree's own mending).
    root_link = next((a, b) for a, b in tree_links if callee in (a, b))
    holder, held = root_link
    assert holder.api("DELETE", f"/api/v1/peers?url={held.url}", token=holder.admin_token())[0] == 200
    late = root.post("Bread after the cut")[0]["id"]
    wait_until(lambda: callee.get(late) is not None, "the post reaches the callee over the lazy link", 30)
    wait_until(lambda: _eager(dialler, callee.url), "the lazy link eager again", 30)
    assert _changes(dialler, "graft") + _changes(dialler, "tree") >= 1
    later = root.post("Bread, the day after")[0]["id"]
    wait_until(lambda: callee.get(later) is not None, "the next post reaches the callee", 30)
