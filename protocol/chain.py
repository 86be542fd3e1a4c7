"""A chapter's decisions form a chain: each names the one before it.

A ``decision`` record's address is (chapter key, ``decision``, its ``seq``)
and it carries ``prev``, the id of decision ``seq - 1``. A node that holds
a neighbour of an arriving decision checks that the two link up; one that
holds neither accepts it and checks when the neighbours arrive (records come
in any order). A second decision at a held address is refused by the
version rule (``IMMUTABLE_KINDS``). So a peer can tell when a chapter's
history was rewritten: no node that holds the real chain accepts a rewritten
link, and what is refused is counted and logged.

Pure: the caller looks the neighbours up and passes them in.
"""

from __future__ import annotations

from protocol.records import Record


def neighbour_slots(record: Record) -> tuple[str | None, str]:
    """The slots of the decisions before and after ``record`` (None before the first)."""
    seq = int(record.get("seq"))
    return (str(seq - 1) if seq > 1 else None), str(seq + 1)


def chain_fault(record: Record, previous: Record | None, following: Record | None) -> str | None:
    """Why ``record`` cannot stand between the decisions held before and after
    it (None: it can). Both must be the same chapter's decisions."""
    if previous is not None and bytes(record.get("prev", b"")) != previous.id:
        return "chain_broken"
    if following is not None and bytes(following.get("prev", b"")) != record.id:
        return "chain_broken"
    return None
