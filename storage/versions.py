"""Which version an address keeps: the writer's decision for each arriving record.

Pure: no I/O, no clock (``now`` is an argument), no asyncio. The writer reads
what an address holds, asks ``decide`` about each arriving version in arrival
order and writes what it answers. The order itself is
``protocol.records.replaces`` (PROTOCOL.md 3.6: a tombstone outranks every
live version, then the newer ``created_at``, then the lowest id); it is total,
so whatever order versions arrive in, every node ends with the same one.

What this module adds on top of the order is what depends on the holder: an
address an organizer removed takes nothing more; a held id is a duplicate;
an expired record or one from too far in the future is refused; a second
version of an immutable address (a decision) is refused; and the row
kept carries two times across versions: ``purge_at`` (the latest expiry of
every version it replaced, so a late copy of one of them still meets it)
and ``opened_at`` (when the address was first seen open).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, NamedTuple

from protocol.records import MAX_FUTURE_SKEW, VersionKey, replaces

Status = Literal["accepted", "duplicate", "superseded", "rejected"]


@dataclass(frozen=True)
class PutOutcome:
    """What happened to one record handed to ``put_many``."""

    status: Status
    id: bytes
    reason: str | None = None
    """For ``rejected``: ``removed``, ``expired``, ``from_future``, or ``KIND_rewritten``
    for an immutable kind (``decision_rewritten``, ``key_rotation_rewritten``)."""
    replaced: bytes | None = None
    """For ``accepted``: the id of the older version it replaced, if any."""


class Held(NamedTuple):
    """What the rule needs to know of the version an address holds."""

    key: VersionKey
    """``(is tombstone, created_at, id)``: the version's place in the order."""
    purge_at: int
    """When the row may be deleted: its expiry, or a replaced version's if later."""
    opened_at: int | None
    """The ``created_at`` of the first version held of the address, kept across
    versions; None when that first version was already a tombstone (when the
    post was open is then unknown, and never guessed)."""

    @property
    def id(self) -> bytes:
        return self.key[2]


def decide(
    key: VersionKey,
    expires_at: int,
    held: Held | None,
    now: int,
    *,
    removed: bool = False,
    immutable: str | None = None,
) -> tuple[PutOutcome, Held | None]:
    """The outcome for an arriving version (``key``, ``expires_at``) at an address
    holding ``held`` (None: nothing), and, if accepted, what the address holds next.
    ``immutable``: the kind, when the address keeps its first version (a decision,
    a key rotation); another is refused."""
    tombstone, created_at, record_id = key
    if removed:
        return PutOutcome("rejected", record_id, "removed"), None
    if held is not None and held.key[2] == record_id:
        return PutOutcome("duplicate", record_id), None
    if expires_at <= now:
        return PutOutcome("rejected", record_id, "expired"), None
    if created_at > now + MAX_FUTURE_SKEW:
        return PutOutcome("rejected", record_id, "from_future"), None
    opened_at = None if tombstone else created_at
    if held is not None and immutable:
        return PutOutcome("rejected", record_id, f"{immutable}_rewritten"), None
    if held is None:
        return PutOutcome("accepted", record_id), Held(key, expires_at, opened_at)
    if not replaces(key, held.key):
        return PutOutcome("superseded", record_id), None
    return (
        PutOutcome("accepted", record_id, replaced=held.key[2]),
        Held(key, max(expires_at, held.purge_at), opened_at if held.opened_at is None else held.opened_at),
    )
