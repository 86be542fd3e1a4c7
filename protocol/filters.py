"""Which records a node replicates: the filter both sides of a sync compute.

A node serves some kinds and some areas (geohash prefixes). Reconciliation
runs over the live set restricted to a filter that both peers evaluate the
same way, so the rule lives here, in the pure core, and storage translates it
to SQL. The empty area list means "every area". Node profiles have no area:
they pass whenever the ``node`` kind is wanted.
"""

from __future__ import annotations

from dataclasses import dataclass

from protocol import fields as f
from protocol.errors import RecordInvalid
from protocol.records import KINDS, Record

MAX_FILTER_AREAS = 64


@dataclass(frozen=True)
class SyncFilter:
    """A set of kinds and area prefixes; a record matches if its kind is in
    ``kinds`` and (it has no area, or ``areas`` is empty, or its area starts
    with one of ``areas``)."""

    kinds: frozenset[str] = frozenset(KINDS)
    areas: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.kinds or not self.kinds <= set(KINDS):
            raise RecordInvalid("bad_filter", f"kinds must be a non-empty subset of {', '.join(KINDS)}")
        if len(self.areas) > MAX_FILTER_AREAS:
            raise RecordInvalid("bad_filter", f"at most {MAX_FILTER_AREAS} areas")
        for area in self.areas:
            f.geohash("areas", area)
        # Normalised: sorted, and an area already covered by a shorter prefix dropped.
        kept = sorted({a for a in self.areas if not any(a != b and a.startswith(b) for b in self.areas)})
        object.__setattr__(self, "areas", tuple(kept))

    def matches(self, record: Record) -> bool:
        if record.kind not in self.kinds:
            return False
        area = record.get("area")
        if area is None or not self.areas:
            return True
        return any(str(area).startswith(prefix) for prefix in self.areas)

    def intersect(self, other: SyncFilter) -> SyncFilter:
        """What two peers both want: the filter a sync between them runs over."""
        kinds = self.kinds & other.kinds
        if not self.areas:
            areas = other.areas
        elif not other.areas:
            areas = self.areas
        else:
            areas = tuple(
                {a for a in self.areas for b in other.areas if a.startswith(b)}
                | {b for a in self.areas for b in other.areas if b.startswith(a)}
            )
        return SyncFilter(kinds or frozenset({"node"}), areas)
