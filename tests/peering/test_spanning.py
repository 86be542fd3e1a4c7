"""The spanning tree's pure rules (node/peering/spanning.py): adverts on the
wire and their bounds, the choice of root and parent, and what makes a link a
tree link. A whole mesh's tree is checked against breadth-first search."""

from __future__ import annotations

import collections
import random

import pytest

from node.peering import spanning
from node.peering.spanning import MAX_TREE_DIST, Advert, Spanning, choose
from protocol.errors import DecodeError


def key(n: int) -> bytes:
    return bytes([n]) * 32


def test_an_advert_goes_over_the_wire_and_in_a_query_unchanged() -> None:
    advert = Advert(key(1), 3, True, False)
    assert spanning.from_wire(advert.to_wire(), key(7)) == advert
    assert spanning.from_query(advert.to_query(), key(7)) == advert
    root = Advert(key(7), 0, False, True)
    assert spanning.from_query(root.to_query(), key(7)) == root


@pytest.mark.parametrize(
    "value",
    [
        None,
        [key(1), 3, True],
        [key(1)[:31], 3, True, True],
        [key(1), -1, True, True],
        [key(1), MAX_TREE_DIST + 1, True, True],
        [key(1), True, True, True],
        [key(1), 3, 1, True],
        [key(1), 0, False, True],  # only the root itself is 0 hops from it
    ],
)
def test_a_bad_advert_is_a_decode_error(value: object) -> None:
    with pytest.raises(DecodeError):
        spanning.from_wire(value, key(7))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "text", ["", "zz.1.11", *(key(1).hex() + tail for tail in (".1.2", ".100.11", ".0.11", ".1.1", ".x.11", ".1.11x"))]
)
def test_a_bad_query_advert_is_a_decode_error(text: str) -> None:
    with pytest.raises(DecodeError):
        spanning.from_query(text, key(7))


def test_the_lowest_key_is_the_root_and_the_nearest_neighbour_the_parent() -> None:
    assert choose(key(5), {}) == spanning.Choice(key(5), 0, None)
    heard = {key(8): Advert(key(2), 3, False, True), key(9): Advert(key(2), 1, False, True)}
    assert choose(key(5), heard) == spanning.Choice(key(2), 2, key(9))
    assert choose(key(1), heard) == spanning.Choice(key(1), 0, None)  # ours is lower still


def test_a_parent_is_kept_while_none_is_nearer_and_ties_go_to_the_lowest_key() -> None:
    heard = {key(8): Advert(key(2), 1, False, True), key(9): Advert(key(2), 1, False, True)}
    assert choose(key(5), heard).parent == key(8)
    assert choose(key(5), heard, current=key(9)).parent == key(9)


def test_a_child_is_no_way_to_the_root_and_a_distance_past_the_bound_is_not_followed() -> None:
    child = {key(8): Advert(key(2), 1, True, True)}  # its parent is us: split horizon
    assert choose(key(5), child) == spanning.Choice(key(5), 0, None)
    far = {key(8): Advert(key(2), MAX_TREE_DIST, False, True)}
    assert choose(key(5), far) == spanning.Choice(key(5), 0, None)


def test_tree_links_settling_forgetting_and_expiry() -> None:
    tree = Spanning(key(5))
    changes: list[int] = []
    tree.on_change = lambda: changes.append(1)
    carrying: set[bytes] = set()
    tree.set_settled_check(lambda parent: parent in carrying)
    assert tree.settled()  # the root of its own tree
    tree.learn(key(9), Advert(key(2), 1, False, True), now=0.0)
    tree.learn(key(7), Advert(key(5), 1, True, False), now=0.0)  # its parent is us
    tree.learn(key(6), Advert(key(2), 2, False, True), now=50.0)
    assert changes and tree.choice == spanning.Choice(key(2), 2, key(9))
    assert tree.tree_link(key(9)) and tree.tree_link(key(7)) and not tree.tree_link(key(6))
    assert tree.advert_for(key(9)) == Advert(key(2), 2, True, False)  # not settled: the link to 9 carries nothing yet
    carrying.add(key(9))
    assert tree.settled() and tree.advert_for(key(6)) == Advert(key(2), 2, False, True)
    assert tree.peer_settled(key(6)) and not tree.peer_settled(key(7)) and not tree.peer_settled(key(1))
    tree.forget(key(9))  # its link ended: the way through 6 is next
    assert tree.choice == spanning.Choice(key(2), 3, key(6))
    tree.expire(now=50.0 + spanning.ADVERT_TTL_S + 1)  # 6 and 7 went quiet
    assert tree.choice == spanning.Choice(key(5), 0, None) and not tree.tree_link(key(7))


def test_adverts_are_kept_for_at_most_max_heard_neighbours() -> None:
    tree = Spanning(key(200))
    for n in range(spanning.MAX_HEARD + 10):
        tree.learn(n.to_bytes(32, "big"), Advert(key(1), 3, False, True), now=0.0)
    late = (spanning.MAX_HEARD + 5).to_bytes(32, "big")
    assert not tree.tree_link(late) and tree.choice.parent == bytes(32)
    tree.learn(late, Advert(key(1), 0 + 1, True, True), now=0.0)  # not taken: the table is full
    assert not tree.tree_link(late)
    tree.learn(bytes(31) + b"\x01", Advert(key(1), 1, False, True), now=1.0)  # one heard before: refreshed
    assert tree.choice.parent == bytes(31) + b"\x01"


def _bfs(neighbours: dict[int, set[int]], start: int) -> dict[int, int]:
    distance, frontier = {start: 0}, [start]
    for node in frontier:
        for other in sorted(neighbours[node] - distance.keys()):
            distance[other] = distance[node] + 1
            frontier.append(other)
    return distance


def test_adverts_exchanged_until_nothing_changes_make_the_roots_breadth_first_tree() -> None:
    rng = random.Random(3)
    n = 30
    keys = [rng.randbytes(32) for _ in range(n)]
    neighbours: dict[int, set[int]] = collections.defaultdict(set)
    for i in range(n):  # a ring and chords: connected, sparse
        for j in ((i + 1) % n, rng.randrange(n)):
            if j != i:
                neighbours[i].add(j)
                neighbours[j].add(i)
    nodes = [Spanning(k) for k in keys]
    for node in nodes:
        node.set_settled_check(lambda _parent: True)
    for _ in range(4 * n):  # rounds of every node telling every neighbour
        before = [node.choice for node in nodes]
        for i in range(n):
            for j in neighbours[i]:
                nodes[j].learn(keys[i], nodes[i].advert_for(keys[j]), now=0.0)
        if [node.choice for node in nodes] == before:
            break
    root = min(range(n), key=lambda i: keys[i])
    depth = _bfs(neighbours, root)
    index = {k: i for i, k in enumerate(keys)}
    for i, node in enumerate(nodes):
        assert node.choice.root == keys[root] and node.choice.dist == depth[i]
        if i != root:
            assert node.choice.parent is not None and depth[index[node.choice.parent]] == depth[i] - 1
    edges = {frozenset((i, j)) for i in range(n) for j in neighbours[i] if nodes[i].tree_link(keys[j])}
    assert len(edges) == n - 1  # a spanning tree
    assert all(nodes[j].tree_link(keys[i]) for i, j in map(tuple, edges))  # both ends agree
