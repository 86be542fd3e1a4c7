"""A chapter's node key can be replaced: the rules of a key rotation, pure.

A node's profile may name a **recovery key** (``recovery``), kept on paper
off the node. Peers pin it the first time they see it, as they pin node keys:
a later profile naming another recovery key, or none, is refused
(``recovery_changed``, ``recovery_dropped``), so whoever steals the node key
cannot also take its recovery. A ``key_rotation`` record, signed by that
recovery key, names the node key (``old``, also its slot) and the key that
replaces it (``new``), which consents with its own signature (``proof``), so
no rotation can claim a key its holder did not give. A node that
accepts one treats ``new`` as the same chapter: its pins on ``old`` move,
everything ``old`` signed is dropped (the chapter re-publishes what is live
under ``new``, and old addresses redirect there), and from then on nothing
signed by ``old`` is accepted (``key_rotated``): not a record, not a peer
request. Without a pinned recovery key for ``old`` a rotation cannot be
checked (``unknown_recovery``); one signed by any other key is forged
(``not_recovery_key``).

Pure: the caller looks the pins up and passes them in.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from protocol.records import Record, Signer, build_record

MAX_ROTATIONS = 16
"""Longest chain of rotations followed from one key (each needs the paper key)."""


def recovery_fault(profile: Record, pinned: bytes | None) -> str | None:
    """Why a node profile cannot be kept, given the recovery key pinned for
    its author (None: it can). Once pinned, a profile must name it again."""
    named = profile.get("recovery")
    if pinned is not None and named is None:
        return "recovery_dropped"
    if pinned is not None and bytes(named) != pinned:
        return "recovery_changed"
    return None


def rotation_fault(rotation: Record, pinned: bytes | None, new_pinned: bytes | None = None) -> str | None:
    """Why a key rotation cannot be accepted, given the recovery key pinned
    for the key it retires and the one pinned for the key it names (None: it
    can). The new key consented (its ``proof``, checked with the signature);
    it may still not be a key another recovery key speaks for: ``key_taken``."""
    if pinned is None:
        return "unknown_recovery"
    if rotation.author != pinned:
        return "not_recovery_key"
    if new_pinned is not None and new_pinned != rotation.author:
        return "key_taken"
    return None


def current_key(key: bytes, rotated: Mapping[bytes, bytes]) -> bytes:
    """The key that speaks for ``key``'s chapter now, following its rotations."""
    for _ in range(MAX_ROTATIONS):
        following = rotated.get(key)
        if following is None:
            return key
        key = following
    return key


REFERENCES = ("prev", "revises", "about", "acts", "agenda")
"""Fields that name another record by id: a re-signed record names the
re-signed version of what it referred to, when that is the chapter's own."""
NOT_CARRIED = frozenset({"node", "key_rotation"})
"""Kinds a rotation does not re-sign: the node publishes a new profile itself."""


def resign(
    records: Sequence[Record], signer: Signer, aliases: Mapping[bytes, tuple[str, str]] | None = None
) -> list[Record]:
    """The chapter's live records signed again by its new key, at the same
    kind and slot, with the same times and content, in an order where each
    comes after what it refers to (decisions in chain order, then the rest by
    age). ``aliases``: earlier version ids of the chapter's own posts, by
    (kind, slot), so a reference to an old version follows its post."""
    order = sorted(
        (r for r in records if r.kind not in NOT_CARRIED),
        key=lambda r: (r.kind != "decision", int(r.get("seq", 0)) if r.kind == "decision" else 0, r.created_at, r.id),
    )
    by_place: dict[tuple[str, str], bytes] = {}
    new_ids: dict[bytes, bytes] = {}

    def follow(value: bytes) -> bytes:
        if value in new_ids:
            return new_ids[value]
        place = (aliases or {}).get(value)
        return by_place.get(place, value) if place is not None else value

    out: list[Record] = []
    for record in order:
        body: dict[str, Any] = {k: v for k, v in record.fields.items() if k not in ("v", "author")}
        for name in REFERENCES:
            value = body.get(name)
            if isinstance(value, bytes):
                body[name] = follow(value)
            elif isinstance(value, list):
                body[name] = [follow(v) if isinstance(v, bytes) else v for v in value]
        fresh = build_record(signer, body)
        new_ids[record.id] = fresh.id
        by_place[(record.kind, record.slot)] = fresh.id
        out.append(fresh)
    return out
