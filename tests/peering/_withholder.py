"""A node that withholds: it fetches and stores records like any node, but
answers every reconciliation as if it held nothing and never announces or
pushes anything. Run as ``python -m tests.peering._withholder run ...`` with
the arguments of ``mutualaid``."""

from __future__ import annotations

import sys

from node import cli
from node.peering.feed import FeedEntry, RecordFeed
from protocol.filters import SyncFilter
from protocol.itemtree import ItemTree
from storage.syncindex import SyncIndexes

_since = RecordFeed.since


async def _holds_nothing(self: SyncIndexes, sync_filter: SyncFilter, now: int) -> ItemTree:
    return ItemTree()


def _announces_nothing(self: RecordFeed, after: int, caller: bytes, limit: int) -> tuple[list[FeedEntry], int, bool]:
    _, cursor, _ = _since(self, after, caller, limit)
    return [], cursor, False


SyncIndexes.items = _holds_nothing  # type: ignore[method-assign]
RecordFeed.since = _announces_nothing  # type: ignore[method-assign]

if __name__ == "__main__":
    sys.exit(cli.main())
