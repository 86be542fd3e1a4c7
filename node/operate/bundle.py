"""Records carried offline: a node's records in one signed file, and that file taken in by another.

What is exported: every live record the node holds (expired ones are not held,
removed ones were deleted), in the order of the sync index, made since a time
and in an area if asked (``--area``, like a sync filter: records without an
area, such as findings, pass it); and, whatever the filter, every node profile
and every chapter decision held, placed first: a profile is what a reply to a
post is sealed to, and a decision stands in its chapter's chain, so the
receiver can use the posts and check the chain (decisions arriving without
their neighbours are taken and checked when those come, but carrying all of
them costs little: one per closed proposal). The format is
``protocol/bundle.py``'s.

What is imported goes through this node's own ``Ingestor``, the path a peer's
records take (field rules, the clock, blocked authors, removals, the kinds
and areas served, the reply cap, signatures, a decision's chain), in batches,
so a bundle cannot bring in anything peering would refuse. The bundle's own
signature proves who carried it and that no byte changed: a bundle from a
node this one never met is taken (every record is still checked by its own
author's signature), and its exporter's key is reported; one from a node
this node blocked as a peer is refused whole (``blocked_exporter``). No
rate limit applies (the operator brought it in), and no peer is charged for
what is refused. A second import of the same file is all ``duplicate``.

Two ways in: a running node's admin API (``node/operate/api.py``), or the
data directory of a stopped node, opened here the way the node opens it
(the CLI holds the directory's lock meanwhile).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crypto import KeyFileError, NodeIdentity, public_key_to_text
from node.core.clock import SYSTEM_CLOCK
from node.core.config import load_config
from node.core.datadir import DATABASE_FILE, IDENTITY_FILE
from node.core.metrics import Metrics
from node.peering.feed import RecordFeed
from node.peering.ingest import Ingestor
from node.peering.policy import Policy
from node.peering.sync import node_filter
from protocol.bundle import BLOCKED_EXPORTER, MAX_BUNDLE_RECORDS, Bundle, encode_bundle
from protocol.filters import SyncFilter
from protocol.records import KINDS
from storage import RecordStore
from storage.admin import AdminStore

CONTEXT_KINDS = frozenset({"node", "decision", "key_rotation"})
"""Exported whatever the filter: the profiles replies are sealed to (and their
recovery keys), the chapters' chains, and the key rotations that say which
chapter key speaks now."""
IMPORT_BATCH = 1000
"""Records handed to the ingestor at once: one signature pass and one commit each."""


class BundleRefused(Exception):
    """An export or import that cannot be done here; the message says why."""


@dataclass
class Imported:
    """What an import did with each record of a bundle."""

    exporter: bytes
    created_at: int
    since: int | None
    area: str | None
    records: int
    accepted: int = 0
    duplicate: int = 0
    superseded: int = 0
    """Older versions of what this node holds newer: nothing to store, nothing wrong."""
    rejected: Counter[str] = field(default_factory=Counter)

    def count(self, outcomes: Sequence[str]) -> None:
        for outcome in outcomes:
            kind, _, reason = outcome.partition(":")
            if kind == "rejected":
                self.rejected[reason] += 1
            else:
                setattr(self, kind, getattr(self, kind) + 1)

    def as_json(self) -> dict[str, Any]:
        return {
            "exporter": self.exporter.hex(),
            "exporter_key": public_key_to_text(self.exporter),
            "created_at": self.created_at,
            "since": self.since,
            "area": self.area,
            "records": self.records,
            "accepted": self.accepted,
            "duplicate": self.duplicate,
            "superseded": self.superseded,
            "rejected": dict(sorted(self.rejected.items())),
        }


async def export_records(store: RecordStore, now: int, since: int | None, area: str | None) -> list[bytes]:
    """The raw records a bundle made with this filter carries: profiles and decisions first."""
    # One more than a bundle holds is enough to refuse it: a large store is never read whole.
    context = await store.reads.live_raw(SyncFilter(CONTEXT_KINDS), now, limit=MAX_BUNDLE_RECORDS + 1)
    chosen = SyncFilter(frozenset(KINDS) - CONTEXT_KINDS, None if area is None else (area,))
    room = max(0, MAX_BUNDLE_RECORDS + 1 - len(context))
    return context + await store.reads.live_raw(chosen, now, since or 0, limit=room)


async def make_bundle(
    store: RecordStore, identity: NodeIdentity, now: int, since: int | None, area: str | None
) -> bytes:
    """The signed bundle (signed in a worker thread: up to 64 MiB is hashed)."""
    records = await export_records(store, now, since, area)
    return await asyncio.to_thread(encode_bundle, identity, records, created_at=now, since=since, area=area)


async def import_bundle(ingestor: Ingestor, policy: Policy, bundle: Bundle) -> Imported:
    """Every record of a verified bundle through the node's ingest, in batches."""
    done = Imported(bundle.exporter, bundle.created_at, bundle.since, bundle.area, len(bundle.records))
    if bundle.exporter in policy.blocked_peers:
        done.rejected[BLOCKED_EXPORTER] = len(bundle.records)
        return done
    for start in range(0, len(bundle.records), IMPORT_BATCH):
        done.count(await ingestor.ingest(bundle.records[start : start + IMPORT_BATCH], None))
    return done


# --- a stopped node's data directory ------------------------------------------------------------------


def _identity(data_dir: Path) -> NodeIdentity:
    if not (data_dir / IDENTITY_FILE).is_file():
        raise BundleRefused(f"{data_dir} holds no node (no {IDENTITY_FILE}): give the node's --data-dir")
    try:
        return NodeIdentity.load(data_dir / IDENTITY_FILE)
    except KeyFileError as exc:
        raise BundleRefused(str(exc)) from None


def export_from(data_dir: Path, since: int | None, area: str | None) -> bytes:
    """The bundle of a stopped node's records, signed with its key."""
    identity = _identity(data_dir)

    async def run() -> bytes:
        async with await RecordStore.open(str(data_dir / DATABASE_FILE)) as store:
            return await make_bundle(store, identity, SYSTEM_CLOCK.wall(), since, area)

    return asyncio.run(run())


def import_into(data_dir: Path, bundle: Bundle) -> Imported:
    """A verified bundle taken into a stopped node, with its own settings and policy."""
    identity = _identity(data_dir)
    config = load_config(data_dir=data_dir)

    async def run() -> Imported:
        async with await RecordStore.open(str(data_dir / DATABASE_FILE)) as store:
            admin = await AdminStore.open(str(data_dir / DATABASE_FILE))
            try:
                policy = Policy()
                policy.load(await admin.policy())
            finally:
                await admin.close()
            ingestor = Ingestor(store, RecordFeed(), Metrics(), policy, node_filter(config), SYSTEM_CLOCK)
            ingestor.own_key = identity.public_key  # replies sealed to this node, whatever their area
            return await import_bundle(ingestor, policy, bundle)

    return asyncio.run(run())
