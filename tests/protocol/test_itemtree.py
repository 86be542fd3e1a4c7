"""ItemTree against ItemSet: after any sequence of adds and removals, every
read the Reconciler makes agrees with an ItemSet built from the same items."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.errors import LocalProtocolError
from protocol.itemtree import KEY_SIZE, MAX_BLOCK, ItemTree, item_key
from protocol.reconcile import INFINITY, MIN_BOUND, Item, ItemSet, reconcile_in_memory


def _item(rng: random.Random, ts_range: int = 50) -> Item:
    return (1_700_000_000 + rng.randrange(ts_range), rng.randbytes(32))


def _same_reads(tree: ItemTree, items: list[Item], rng: random.Random) -> None:
    ref = ItemSet(sorted(items))
    n = len(ref)
    assert len(tree) == n
    assert list(tree) == sorted(items)
    assert tree.fingerprint(0, n) == ref.fingerprint(0, n)
    assert tree.index(MIN_BOUND) == 0 and tree.index(INFINITY) == n
    for _ in range(40):
        lo = rng.randrange(n + 1)
        hi = rng.randrange(lo, n + 1)
        assert tree.fingerprint(lo, hi) == ref.fingerprint(lo, hi)
        assert tree.ids(lo, hi) == ref.ids(lo, hi)
        if 0 < lo < n:
            bound = ref.bound_before(lo)
            assert tree.bound_before(lo) == bound
            assert tree.index(bound) == lo == ref.index(bound)
        probe = _item(rng)
        assert tree.index(probe) == ref.index(probe)
    kept, built = tree.sketch(), ref.sketch()  # the sketch kept through every change, and one built afresh
    assert (kept.counts, kept.keys, kept.stamps, kept.checks) == (built.counts, built.keys, built.stamps, built.checks)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32), st.lists(st.sampled_from(["add", "discard", "both"]), min_size=1, max_size=30))
def test_changes_keep_every_read_equal_to_a_fresh_itemset(seed: int, steps: list[str]) -> None:
    rng = random.Random(seed)
    held = sorted({_item(rng) for _ in range(rng.randrange(0, 3 * MAX_BLOCK))})
    tree = ItemTree(held)
    items = list(held)
    for step in steps:
        if step in ("add", "both"):
            for _ in range(rng.randrange(1, 2 * MAX_BLOCK)):
                item = _item(rng)
                assert tree.add(*item) == (item not in items)
                if item not in items:
                    items.append(item)
        if step in ("discard", "both") and items:
            for _ in range(rng.randrange(1, len(items) + 1)):
                item = items.pop(rng.randrange(len(items)))
                assert tree.discard(*item)
                assert not tree.discard(*item)
        if items:
            _same_reads(tree, items, rng)
        else:
            assert len(tree) == 0 and tree.index(INFINITY) == 0


def test_an_emptied_tree_takes_items_again() -> None:
    rng = random.Random(3)
    items = [_item(rng) for _ in range(500)]
    tree = ItemTree(sorted(items))
    for item in items:
        assert tree.discard(*item)
    assert len(tree) == 0 and list(tree) == []
    assert tree.add(*items[0]) and list(tree) == [items[0]]
    assert items[0] in tree and items[1] not in tree


def test_bulk_build_refuses_what_is_not_strictly_increasing() -> None:
    a, b = (1, b"\x01" * 32), (1, b"\x02" * 32)
    with pytest.raises(LocalProtocolError, match="strictly increasing"):
        ItemTree([b, a])
    with pytest.raises(LocalProtocolError, match="strictly increasing"):
        ItemTree([a, a])
    with pytest.raises(LocalProtocolError, match="is not"):
        ItemTree([(1, b"short")])
    tree = ItemTree([a])
    with pytest.raises(LocalProtocolError, match="strictly increasing"):
        tree.extend([a])
    with pytest.raises(LocalProtocolError, match="is not"):
        tree.add(-1, b"\x00" * 32)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32), st.lists(st.integers(0, 3 * MAX_BLOCK), max_size=6))
def test_a_build_from_keys_in_any_cuts_reads_as_an_itemset(seed: int, cuts: list[int]) -> None:
    # How storage/syncindex.py builds: the keys end to end, a chunk at a time,
    # each chunk topping up the last block; then changes as usual.
    rng = random.Random(seed)
    items = sorted({_item(rng, 400) for _ in range(sum(cuts) + rng.randrange(2))})
    keys = b"".join(item_key(*item) for item in items)
    tree = ItemTree()
    at = 0
    for cut in [*cuts, len(items)]:
        tree.extend_keys(keys[at * KEY_SIZE : (at + cut) * KEY_SIZE])
        at = min(at + cut, len(items))
    if not items:
        assert len(tree) == 0
        return
    _same_reads(tree, items, rng)
    extra = _item(rng, 400)
    if tree.add(*extra):
        items.append(extra)
    assert tree.discard(*items[0])
    _same_reads(tree, items[1:], rng)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32), st.integers(0, 3 * MAX_BLOCK), st.sampled_from(["add", "extend", "extend_keys"]))
def test_a_timestamp_past_four_bytes_widens_the_keys_and_nothing_else(seed: int, held: int, how: str) -> None:
    # Keys are stored with 4-byte timestamps until an item needs 8: every read
    # stays the ItemSet's, before and after, and bounds past 2**32 - 1 are
    # above every item of a narrow tree.
    rng = random.Random(seed)
    edge = 2**32
    items = sorted({(edge - 1 - rng.randrange(100), rng.randbytes(32)) for _ in range(held)})
    tree = ItemTree(items)
    for probe in ((edge, b""), (edge - 1, b"\xff" * 32), (2**64 - 1, b""), (2**64 - 2, b"\x00")):
        assert tree.index(probe) == len(items) == ItemSet(items).index(probe)
    assert (edge, b"\x01" * 32) not in tree
    assert not tree.discard(edge, b"\x01" * 32)
    late = sorted({(edge + rng.randrange(100), rng.randbytes(32)) for _ in range(rng.randrange(1, MAX_BLOCK))})
    if how == "add":
        for item in late:
            assert tree.add(*item)
    elif how == "extend":
        tree.extend(late)
    else:
        tree.extend_keys(b"".join(item_key(*item) for item in late))
    items += late
    if items:
        _same_reads(tree, items, rng)
    for item in late[: len(late) // 2]:
        assert tree.discard(*item)
    rest = items[: len(items) - len(late)] + late[len(late) // 2 :]
    if rest:
        _same_reads(tree, rest, rng)


def test_the_highest_narrow_item_is_below_every_wider_bound() -> None:
    top = (2**32 - 1, b"\xff" * 32)
    tree = ItemTree([(0, bytes(32)), top])
    for bound in (INFINITY, (2**32, b""), (2**32 - 1, b"\xff" * 32 + b"\x00")):
        assert tree.index(bound) == 2 == ItemSet([(0, bytes(32)), top]).index(bound)
    assert tree.index((2**32 - 1, b"\xff" * 32)) == 1


def test_a_build_from_keys_refuses_what_is_not_keys_in_order() -> None:
    a, b = item_key(1, b"\x01" * 32), item_key(1, b"\x02" * 32)
    for bad in (b + a, a + a, a[:-1], a + b"\x00"):
        with pytest.raises(LocalProtocolError):
            ItemTree().extend_keys(bad)
    tree = ItemTree([(1, b"\x02" * 32)])
    with pytest.raises(LocalProtocolError, match="strictly increasing"):
        tree.extend_keys(a)  # below what the tree holds
    with pytest.raises(LocalProtocolError, match="timestamp above"):
        tree.extend_keys(b"\xff" * KEY_SIZE)
    assert list(tree) == [(1, b"\x02" * 32)]


def test_a_tree_reconciles_with_an_itemset_like_an_itemset_does() -> None:
    rng = random.Random(7)
    common = [_item(rng, 10_000) for _ in range(3000)]
    only_tree = [_item(rng, 10_000) for _ in range(40)]
    only_set = [_item(rng, 10_000) for _ in range(40)]
    tree = ItemTree(sorted(common + only_tree[:10]))
    for item in only_tree[10:]:
        tree.add(*item)
    other = ItemSet(sorted(common + only_set))
    result = reconcile_in_memory(tree, other)
    assert sorted(result.have_ids) == sorted(i for _, i in only_tree)
    assert sorted(result.need_ids) == sorted(i for _, i in only_set)
    back = reconcile_in_memory(other, tree)
    assert sorted(back.have_ids) == sorted(i for _, i in only_set)
