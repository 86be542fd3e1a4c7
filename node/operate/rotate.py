"""Replacing a node's key with the chapter's recovery key (docs/OPERATING.md).

When ``identity.key`` leaks, or is lost with no backup of it, the chapter
keeps its name on the network: ``rotate`` (the node stopped, its data
directory locked) makes a new node key, signs a ``key_rotation`` record
with the recovery key from paper naming it, and signs again under the new key
every live record the old one had signed (posts, decisions in chain order,
findings, events, replies; protocol/rotation.py). The store takes the
rotation and the re-signed records in one transaction: the old key's records
go, each old id redirects to its new address, and the manage links, removals
and post versions of this node follow the new key. Peers that pinned the old
key accept the rotation (it is signed by the recovery key they pinned from
this node's profile) and from then on refuse the old key.

Crash-safe and idempotent: the new key is saved as ``identity.key.next``
before the store changes, and swapped in (the old one kept as
``identity.key.retired-<its first 16 hex digits>``) after; run again after a
crash, it finishes what was begun, and a node does not start while
``identity.key.next`` is there. Run again after it finished, it refuses
(``--again`` rotates the new key too). Blocking: the CLI calls it with the
data directory locked.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from pathlib import Path

from crypto import KeyFileError, NodeIdentity, RecoveryKey, public_key_to_text
from node.core.datadir import (
    CHAPTER_FILE,
    DATABASE_FILE,
    IDENTITY_FILE,
    NEXT_FILE,
    DataDirError,
    read_recovery_key,
    write_recovery_key,
)
from protocol.records import MAX_ROTATION_TTL, build_record, rotation_consent
from protocol.rotation import resign
from storage import RecordStore
from storage.chapter import ChapterStore

RETIRED_PREFIX = "identity.key.retired-"


class RotateError(Exception):
    """The rotation cannot be made; the message says why and what to do."""


@dataclass(frozen=True)
class Rotated:
    old: bytes
    new: bytes
    carried: int
    """Live records signed again under the new key."""
    resumed: bool
    """True when an earlier run, cut short, had already stored the rotation."""


def rotate(
    data_dir: Path, recovery: RecoveryKey, now: int, old_key: bytes | None = None, *, again: bool = False
) -> Rotated:
    """Rotate the node key of the node in ``data_dir`` (stopped) to a new one.

    ``old_key``: the key to retire when ``identity.key`` is lost (the words are
    then trusted where the store pinned no recovery key for it: peers check
    them). ``again``: rotate a key that is itself the product of a rotation
    (it leaked too); without it such a key is refused, so running the command
    twice never rotates twice."""
    current = _load(data_dir / IDENTITY_FILE)
    if current is None and old_key is None:
        raise RotateError(
            f"{data_dir / IDENTITY_FILE} is missing: give --old-key with the node key peers knew "
            "(a peer's `mutualaid peers list`, or the node_key of a backup)"
        )
    old = old_key or (current.public_key if current is not None else b"")
    published = _read_recovery(data_dir)
    if old_key is None and published is not None and published != recovery.public_key:
        raise RotateError(
            "these words are not this node's recovery key: its profile names "
            f"{public_key_to_text(published)}; check every word against the paper"
        )
    if old_key is None and not (data_dir / DATABASE_FILE).is_file():
        raise RotateError(f"{data_dir / DATABASE_FILE} is missing: restore the node's backup first, then rotate")
    return asyncio.run(_rotate(data_dir, recovery, old, now, trust_words=old_key is not None, again=again))


async def _rotate(
    data_dir: Path, recovery: RecoveryKey, old: bytes, now: int, *, trust_words: bool, again: bool
) -> Rotated:
    store = await RecordStore.open(str(data_dir / DATABASE_FILE))
    try:
        done = store.keys.rotated.get(old)
        if done is not None:  # stored already: a run cut short, finished now
            await _follow_in_chapter(data_dir, await store.keys.moved_ids(done))
            _swap(data_dir, done)
            return Rotated(old, done, 0, resumed=True)
        if not again and not (data_dir / NEXT_FILE).exists() and await store.keys.rotations_to(old):
            raise RotateError(
                f"this node's key {public_key_to_text(old)} is the one the last rotation named: it is rotated "
                "already. If this key leaked too, run the command again with --again"
            )
        pinned = await store.keys.recovery_for(old)
        if pinned is None and not trust_words:
            pinned = _read_recovery(data_dir)
            if pinned is None:
                raise RotateError(
                    "this node never published a recovery key, so no peer could check a rotation: "
                    "the chapter starts again under a new key (a new data directory) instead"
                )
        if pinned is not None and pinned != recovery.public_key:
            raise RotateError("these words are not the recovery key this node published; check them against the paper")
        upcoming = _load(data_dir / NEXT_FILE)
        if upcoming is None:
            upcoming = NodeIdentity.generate()
            upcoming.save(data_dir / NEXT_FILE)
        new = upcoming.public_key
        live = await store.reads.signed_by(old, now)
        aliases = await store.own.version_places(old)
        carried = resign(live, upcoming, aliases)
        rotation = build_record(
            recovery,
            {"kind": "key_rotation", "slot": old.hex(), "created_at": now, "expires_at": now + MAX_ROTATION_TTL,
             "old": old, "new": new, "proof": upcoming.sign_message(rotation_consent(old, new, recovery.public_key))},
        )  # fmt: skip
        # One transaction: the old key's records go as their new versions arrive.
        vouched = {old: recovery.public_key} if pinned is None else None
        outcomes = await store.writer.put_many([rotation, *carried], now, own=True, pins=vouched)
        refused = [o for o in outcomes if o.status == "rejected"]
        if outcomes[0].status != "accepted" or refused:
            why = refused[0].reason if refused else outcomes[0].status
            raise RotateError(f"the store refused the rotation ({why})")
        await _follow_in_chapter(data_dir, await store.keys.moved_ids(new))
    finally:
        await store.close()
    if _read_recovery(data_dir) != recovery.public_key:  # a new directory's own, or none: the paper's is the one
        write_recovery_key(data_dir, recovery.public_key, replace=True)
    _swap(data_dir, new)
    return Rotated(old, new, len(carried), resumed=False)


async def _follow_in_chapter(data_dir: Path, moved: dict[bytes, bytes]) -> None:
    """The chapter's own tables name the re-signed decisions and findings."""
    if not (data_dir / CHAPTER_FILE).is_file():
        return
    chapter = await ChapterStore.open(str(data_dir / CHAPTER_FILE))
    try:
        await chapter.follow_ids(moved)
    finally:
        await chapter.close()


def retired_file(old: bytes) -> str:
    """Where a retired key is kept: one file per key, so a second rotation keeps the first's."""
    return f"{RETIRED_PREFIX}{old.hex()[:16]}"


def _swap(data_dir: Path, new: bytes) -> None:
    """Put the new key in place (the old one kept beside it), durably."""
    key, upcoming = data_dir / IDENTITY_FILE, data_dir / NEXT_FILE
    staged = _load(upcoming)
    if staged is None:
        held = _load(key)
        if held is not None and held.public_key == new:
            return  # swapped already
        raise RotateError(f"the new key's file {upcoming} is missing: the rotation cannot be finished here")
    if staged.public_key != new:
        raise RotateError(f"{upcoming} holds another key than the rotation names; keep it and ask for help")
    held = _load(key)
    if held is not None:  # the old key, or a stand-in made by `init` after it was lost
        os.replace(key, data_dir / retired_file(held.public_key))
    os.replace(upcoming, key)
    fd = os.open(data_dir, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _load(path: Path) -> NodeIdentity | None:
    if not path.exists():
        return None
    try:
        return NodeIdentity.load(path)
    except KeyFileError as exc:
        raise RotateError(str(exc)) from None


def _read_recovery(data_dir: Path) -> bytes | None:
    try:
        return read_recovery_key(data_dir)
    except DataDirError as exc:
        raise RotateError(str(exc)) from None
