"""Replication filters: what both sides of a sync agree to exchange."""

from __future__ import annotations

import pytest

from crypto import NodeIdentity
from protocol.errors import DecodeError, RecordInvalid
from protocol.filters import SyncFilter
from protocol.peerwire import filter_from_wire
from protocol.records import DEFAULT_TTL, build_record

NOW = 1_800_000_000
KEY = NodeIdentity.from_seed(bytes(32))


def post(area: str, kind: str = "need") -> object:
    return build_record(
        KEY,
        {
            "kind": kind,
            "slot": f"{kind}-{area}",
            "created_at": NOW,
            "expires_at": NOW + DEFAULT_TTL,
            "status": "open",
            "title": "t",
            "category": "food",
            "area": area,
        },
    )


PROFILE = build_record(
    KEY,
    {
        "kind": "node",
        "slot": "profile",
        "created_at": NOW,
        "expires_at": NOW + DEFAULT_TTL,
        "name": "n",
        "areas": [],
        "urls": [],
        "seal_key": KEY.seal_public_key,
    },
)


def test_matches() -> None:
    everything = SyncFilter()
    town = SyncFilter(frozenset({"need", "node"}), ("u4p",))
    assert everything.matches(post("u4pru")) and everything.matches(PROFILE)  # type: ignore[arg-type]
    assert town.matches(post("u4pru")) and not town.matches(post("u4xru"))  # type: ignore[arg-type]
    assert not town.matches(post("u4pru", "offer"))  # type: ignore[arg-type]
    assert town.matches(PROFILE)  # profiles have no area


def test_normalisation_drops_covered_prefixes() -> None:
    assert SyncFilter(areas=("u4pr", "u4", "gc", "u4x")).areas == ("gc", "u4")


def test_intersection_is_symmetric_and_takes_the_finer_prefix() -> None:
    a = SyncFilter(frozenset({"need", "offer"}), ("u4", "gcp"))
    b = SyncFilter(frozenset({"need", "node"}), ("u4pr", "gc", "9q"))
    assert a.intersect(b) == b.intersect(a)
    assert a.intersect(b).areas == ("gcp", "u4pr")
    assert a.intersect(b).kinds == {"need"}


def test_disjoint_filters_share_nothing_not_everything() -> None:
    a = SyncFilter(frozenset({"need"}), ("u4",))
    b = SyncFilter(frozenset({"need"}), ("9q",))
    common = a.intersect(b)
    assert common.areas == () and common.matches_nothing is True
    assert not common.matches(post("u4pru")) and not common.matches(post("9q8yy"))  # type: ignore[arg-type]
    assert SyncFilter(frozenset({"need"})).intersect(SyncFilter(frozenset({"offer"}))).kinds == frozenset()
    assert SyncFilter(frozenset({"need"})).intersect(SyncFilter(frozenset({"offer"}))).matches_nothing


def test_every_area_is_distinct_from_no_area() -> None:
    assert SyncFilter().intersect(SyncFilter(areas=("u4",))).areas == ("u4",)
    assert SyncFilter(areas=()).intersect(SyncFilter()).areas == ()


def test_intersection_of_two_full_filters_is_valid() -> None:
    alphabet = "0123456789bcdefghjkmnpqrstuvwxyz"
    a = SyncFilter.serving(frozenset({"need"}), tuple(f"u{c}{d}" for c in alphabet[:8] for d in alphabet[:8]))
    b = SyncFilter.serving(frozenset({"need"}), tuple(f"u{c}" for c in alphabet[:8]))
    assert len(a.intersect(b).areas or ()) == 64


def test_bad_filters() -> None:
    with pytest.raises(RecordInvalid):
        SyncFilter(frozenset({"vote"}))
    with pytest.raises(RecordInvalid):
        SyncFilter(areas=("u4pruv",))
    with pytest.raises(RecordInvalid):
        SyncFilter.serving(frozenset({"need"}), tuple(f"u{c}{d}" for c in "0123456789" for d in "0123456789"))


def test_a_peers_filter_may_name_kinds_this_node_does_not_know() -> None:
    # A newer peer serving a kind we lack must still peer; we simply hold none of it.
    theirs = filter_from_wire({"kinds": ["need", "vote", "reply"], "areas": ["u4"]})
    assert theirs == SyncFilter(frozenset({"need", "reply"}), ("u4",))
    with pytest.raises(DecodeError):
        filter_from_wire({"kinds": ["need"] * 17, "areas": None})
    with pytest.raises(DecodeError):
        filter_from_wire({"kinds": ["need", 5], "areas": None})
