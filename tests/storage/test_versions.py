# The version rule alone (storage.versions.decide), with no SQLite: whatever
# order random sets of versions arrive in, every "node" ends up keeping the
# same version of each address, the highest under PROTOCOL.md 3.6's order;
# all 16 (held status, arriving status) pairs in both arrival orders; the
# refusals and their precedence; purge_at never decreases and opened_at is
# kept across versions. The expected winner comes from the order as the spec
# words it (written out again here), not from protocol.records.replaces.

from __future__ import annotations

import ast
import functools
import itertools
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.records import MAX_FUTURE_SKEW, STATUSES, TOMBSTONE_STATUSES, VersionKey, version_key
from storage.versions import Held, PutOutcome, decide

NOW = 1_800_000_000


@dataclass(frozen=True)
class Version:
    address: int
    status: str
    created_at: int
    id: bytes
    expires_at: int

    @property
    def key(self) -> VersionKey:
        return version_key(self.status, self.created_at, self.id)

    @property
    def tombstone(self) -> bool:
        return self.status in TOMBSTONE_STATUSES


def outranks(a: Version, b: Version) -> bool:
    """PROTOCOL.md 3.6, as worded: a tombstone outranks every live version;
    otherwise the higher created_at wins; ties go to the lowest id."""
    if a.tombstone != b.tombstone:
        return a.tombstone
    if a.created_at != b.created_at:
        return a.created_at > b.created_at
    return a.id < b.id


def highest(versions: list[Version]) -> Version:
    return functools.reduce(lambda best, v: v if outranks(v, best) else best, versions)


class Node:
    """What one node holds: the writer's bookkeeping around ``decide``."""

    def __init__(self) -> None:
        self.held: dict[int, Held] = {}
        self.first_arrival: dict[int, Version] = {}
        self.accepted_expiries: dict[int, list[int]] = {}

    def arrive(self, version: Version, now: int = NOW) -> PutOutcome:
        before = self.held.get(version.address)
        outcome, kept = decide(version.key, version.expires_at, before, now)
        self.first_arrival.setdefault(version.address, version)
        assert outcome.id == version.id
        if kept is None:
            assert outcome.status != "accepted"
            return outcome
        assert outcome.status == "accepted"
        assert kept.id == version.id
        assert outcome.replaced == (None if before is None else before.id)
        if before is not None:
            assert outranks(version, self.version_of(before, version))
            assert kept.purge_at >= before.purge_at, "purge_at went down"
            assert kept.opened_at == before.opened_at or before.opened_at is None
        self.accepted_expiries.setdefault(version.address, []).append(version.expires_at)
        self.held[version.address] = kept
        return outcome

    @staticmethod
    def version_of(held: Held, like: Version) -> Version:
        tombstone, created_at, record_id = held.key
        return Version(like.address, "withdrawn" if tombstone else "open", created_at, record_id, 0)


def version_sets(max_size: int, addresses: int) -> st.SearchStrategy[list[Version]]:
    """Versions of a few addresses with random statuses, created_at with many
    ties, and distinct ids (an id names its content); none expired."""
    one = st.builds(
        lambda address, status, created, record_id, ttl: Version(address, status, created, record_id, created + ttl),
        st.integers(0, addresses - 1),
        st.sampled_from(STATUSES),
        st.integers(NOW - 4, NOW),
        st.binary(min_size=1, max_size=3),
        st.integers(10, 5000),
    )
    return st.lists(one, min_size=1, max_size=max_size, unique_by=lambda v: v.id)


def check_final(node: Node, versions: list[Version]) -> None:
    for address in {v.address for v in versions}:
        mine = [v for v in versions if v.address == address]
        kept = node.held[address]
        assert kept.id == highest(mine).id
        assert kept.purge_at == max(node.accepted_expiries[address])
        first = node.first_arrival[address]
        assert kept.opened_at == (None if first.tombstone else first.created_at)


@settings(max_examples=60, deadline=None)
@given(version_sets(max_size=5, addresses=2))
def test_every_arrival_order_of_a_small_set_keeps_the_highest(versions: list[Version]) -> None:
    kept_ids: set[tuple[tuple[int, bytes], ...]] = set()
    for order in itertools.permutations(versions):
        node = Node()
        for version in order:
            node.arrive(version)
        check_final(node, versions)
        kept_ids.add(tuple(sorted((a, h.id) for a, h in node.held.items())))
    assert len(kept_ids) == 1  # every node keeps the same versions


@settings(max_examples=100, deadline=None)
@given(version_sets(max_size=30, addresses=3), st.data())
def test_sampled_arrival_orders_of_a_larger_set_keep_the_highest(versions: list[Version], data: st.DataObject) -> None:
    for _ in range(5):
        order = data.draw(st.permutations(versions))
        node = Node()
        for version in order:
            node.arrive(version)
        check_final(node, versions)


@settings(max_examples=100, deadline=None)
@given(version_sets(max_size=8, addresses=2), st.data())
def test_copies_arriving_again_change_nothing(versions: list[Version], data: st.DataObject) -> None:
    # Peers re-send: any version may arrive any number of times, in any order.
    arrivals = data.draw(st.lists(st.sampled_from(versions), min_size=len(versions), max_size=4 * len(versions)))
    node = Node()
    for version in [*versions, *arrivals]:
        before = node.held.get(version.address)
        outcome = node.arrive(version)
        if before is not None and before.id == version.id:
            assert outcome == PutOutcome("duplicate", version.id)
    check_final(node, versions)


# Both versions of one address: the outcome of the second to arrive when the
# second is newer by a second (an author's next version), for every pair of
# statuses. The store checks no transition: a newer tombstone replaces a
# tombstone (the order ranks them by time), a live version never does.
NEWER_SECOND = {
    **{(held, new): "accepted" for held in ("open", "claimed") for new in STATUSES},
    **{(held, new): "superseded" for held in ("fulfilled", "withdrawn") for new in ("open", "claimed")},
    **{(held, new): "accepted" for held in ("fulfilled", "withdrawn") for new in ("fulfilled", "withdrawn")},
}
assert len(NEWER_SECOND) == 16


@pytest.mark.parametrize("held_status", STATUSES)
@pytest.mark.parametrize("new_status", STATUSES)
def test_a_newer_version_after_each_status(held_status: str, new_status: str) -> None:
    held = Version(0, held_status, NOW - 10, b"\x80", NOW + 100)
    for record_id in (b"\x01", b"\xff"):  # a lower and a higher id than the held one's
        node = Node()
        node.arrive(held)
        new = Version(0, new_status, NOW - 9, record_id, NOW + 100)
        assert node.arrive(new).status == NEWER_SECOND[(held_status, new_status)]


@pytest.mark.parametrize("first_status", STATUSES)
@pytest.mark.parametrize("second_status", STATUSES)
@settings(max_examples=40, deadline=None)
@given(gap=st.integers(-3, 3), ids=st.lists(st.binary(min_size=1, max_size=2), min_size=2, max_size=2, unique=True))
def test_every_status_pair_in_both_orders(first_status: str, second_status: str, gap: int, ids: list[bytes]) -> None:
    a = Version(0, first_status, NOW - 10, ids[0], NOW + 100)
    b = Version(0, second_status, NOW - 10 + gap, ids[1], NOW + 200)
    winner = a if outranks(a, b) else b
    for first, second in ((a, b), (b, a)):
        node = Node()
        assert node.arrive(first).status == "accepted"
        outcome = node.arrive(second)
        if second is winner:
            assert (outcome.status, outcome.replaced) == ("accepted", first.id)
        else:
            assert outcome == PutOutcome("superseded", second.id)
        assert node.held[0].id == winner.id
        assert node.held[0].opened_at == (None if first.tombstone else first.created_at)


def test_tombstones_are_final_against_any_later_edit() -> None:
    tomb = Version(0, "withdrawn", NOW - 1000, b"\x50", NOW + 100)
    node = Node()
    node.arrive(tomb)
    edits = itertools.product((NOW - 999, NOW, NOW + MAX_FUTURE_SKEW), ("open", "claimed"))
    for n, (created_at, status) in enumerate(edits):
        edit = Version(0, status, created_at, bytes([n]), NOW + 10**6)  # lower ids than the tombstone's
        assert node.arrive(edit) == PutOutcome("superseded", edit.id)
    assert node.held[0].id == tomb.id


# --- refusals -------------------------------------------------------------------


HELD = Held(version_key("open", NOW - 100, b"\x10"), NOW + 1000, NOW - 100)


@pytest.mark.parametrize(
    ("key", "expires_at", "held", "removed", "expected"),
    [
        # removed outranks everything: even the held id itself is refused.
        (HELD.key, NOW + 1000, HELD, True, PutOutcome("rejected", b"\x10", "removed")),
        (version_key("open", NOW, b"\x11"), NOW + 1, None, True, PutOutcome("rejected", b"\x11", "removed")),
        # a held id is a duplicate, even expired by now.
        (HELD.key, NOW - 1, HELD, False, PutOutcome("duplicate", b"\x10")),
        (version_key("open", NOW, b"\x12"), NOW, HELD, False, PutOutcome("rejected", b"\x12", "expired")),
        (version_key("open", NOW, b"\x12"), NOW, None, False, PutOutcome("rejected", b"\x12", "expired")),
        (
            version_key("withdrawn", NOW + MAX_FUTURE_SKEW + 1, b"\x13"),
            NOW + 10**6,
            HELD,
            False,
            PutOutcome("rejected", b"\x13", "from_future"),
        ),
        # expired is checked before the future
        (
            version_key("open", NOW + MAX_FUTURE_SKEW + 1, b"\x14"),
            NOW,
            None,
            False,
            PutOutcome("rejected", b"\x14", "expired"),
        ),
        (version_key("open", NOW - 200, b"\x15"), NOW + 5, HELD, False, PutOutcome("superseded", b"\x15")),
    ],
)
def test_refusals_and_their_precedence(
    key: VersionKey, expires_at: int, held: Held | None, removed: bool, expected: PutOutcome
) -> None:
    assert decide(key, expires_at, held, NOW, removed=removed) == (expected, None)


def test_the_edges_of_the_clock_are_accepted() -> None:
    at_skew = version_key("open", NOW + MAX_FUTURE_SKEW, b"\x20")
    assert decide(at_skew, NOW + 1, None, NOW) == (
        PutOutcome("accepted", b"\x20"),
        Held(at_skew, NOW + 1, NOW + MAX_FUTURE_SKEW),
    )


def test_a_short_lived_replacement_keeps_the_longer_purge() -> None:
    newer = version_key("withdrawn", NOW, b"\x30")
    outcome, kept = decide(newer, NOW + 5, HELD, NOW)
    assert outcome == PutOutcome("accepted", b"\x30", replaced=HELD.id)
    assert kept == Held(newer, HELD.purge_at, HELD.opened_at)


def test_a_first_version_already_a_tombstone_leaves_opened_at_unknown() -> None:
    tomb = version_key("fulfilled", NOW - 5, b"\x40")
    _, kept = decide(tomb, NOW + 5, None, NOW)
    assert kept is not None and kept.opened_at is None
    later = version_key("withdrawn", NOW - 4, b"\x41")
    _, kept = decide(later, NOW + 5, kept, NOW)
    assert kept is not None and kept.opened_at is None


# --- purity -----------------------------------------------------------------------


@pytest.mark.parametrize("module", ["versions", "weeks"])
def test_the_rule_modules_are_pure(module: str) -> None:
    # No I/O, no asyncio, no clock: only typing helpers and the pure protocol core.
    source = (Path(__file__).resolve().parents[2] / "storage" / f"{module}.py").read_text()
    imported: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            imported.add(node.module or "")
    assert imported <= {"__future__", "dataclasses", "typing", "protocol.records"}
