"""Which records a node replicates: the filter both sides of a sync compute.

A node serves some kinds and some areas (geohash prefixes). Reconciliation
runs over the live set restricted to a filter that both peers evaluate the
same way, so the rule lives here, in the pure core, and storage translates it
to SQL.

``areas=None`` means every area; a tuple lists the prefixes served, and an
empty tuple means no area at all (only node profiles, which have no area,
can then pass). Keeping "everything" and "nothing" distinct matters: two
peers that share no area must replicate nothing between them, not everything.
"""

from __future__ import annotations

from dataclasses import dataclass

from protocol import fields as f
from protocol.errors import RecordInvalid
from protocol.records import KINDS, Record

MAX_FILTER_AREAS = 64
"""Most prefixes an operator may list. An intersection of two filters may
hold up to twice as many before normalisation; that is allowed."""


@dataclass(frozen=True)
class SyncFilter:
    """A set of kinds and area prefixes; a record matches if its kind is in
    ``kinds`` and (it has no area, or ``areas`` is None, or its area starts
    with one of ``areas``). Empty ``kinds`` match nothing."""

    kinds: frozenset[str] = frozenset(KINDS)
    areas: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if not self.kinds <= set(KINDS):
            raise RecordInvalid("bad_filter", f"kinds must be a subset of {', '.join(KINDS)}")
        if self.areas is None:
            return
        if len(self.areas) > 2 * MAX_FILTER_AREAS:
            raise RecordInvalid("bad_filter", f"at most {MAX_FILTER_AREAS} areas")
        for area in self.areas:
            f.geohash("areas", area)
        # Normalised: sorted, and an area already covered by a shorter prefix dropped.
        kept = sorted({a for a in self.areas if not any(a != b and a.startswith(b) for b in self.areas)})
        object.__setattr__(self, "areas", tuple(kept))

    @classmethod
    def serving(cls, kinds: frozenset[str], areas: tuple[str, ...] | None) -> SyncFilter:
        """An operator's filter: at most ``MAX_FILTER_AREAS`` prefixes."""
        if areas is not None and len(areas) > MAX_FILTER_AREAS:
            raise RecordInvalid("bad_filter", f"at most {MAX_FILTER_AREAS} areas")
        return cls(kinds, areas)

    @property
    def matches_nothing(self) -> bool:
        return not self.kinds or (self.areas == () and "node" not in self.kinds)

    def matches(self, record: Record) -> bool:
        return self.admits(record.kind, record.area)

    def admits(self, kind: str, area: str | None) -> bool:
        """``matches`` for what is known of a record without parsing it."""
        if kind not in self.kinds:
            return False
        if area is None or self.areas is None:
            return True
        return any(area.startswith(prefix) for prefix in self.areas)

    def intersect(self, other: SyncFilter) -> SyncFilter:
        """What two peers both want: the filter a sync between them runs over."""
        kinds = self.kinds & other.kinds
        if self.areas is None:
            return SyncFilter(kinds, other.areas)
        if other.areas is None:
            return SyncFilter(kinds, self.areas)
        # The finer of each overlapping pair is what both serve.
        areas = {a for a in self.areas for b in other.areas if a.startswith(b)} | {
            b for a in self.areas for b in other.areas if b.startswith(a)
        }
        return SyncFilter(kinds, tuple(areas))
