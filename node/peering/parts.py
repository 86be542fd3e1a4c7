"""The node's parts that peering works with, handed to it once.

Peer links, gossip and reconciliation receive this bundle (built by
node/app.py at start-up) instead of the aiohttp app: every part is named and
typed, and a test can build one from a real store in a temporary directory,
a fresh feed and policy, and a ``ManualClock``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from crypto import NodeIdentity
from node.core.clock import SYSTEM_CLOCK, Clock, PeerOffsets
from node.core.metrics import Metrics
from node.peering.feed import RecordFeed
from node.peering.ingest import Ingestor
from node.peering.peer_api import Pollers
from node.peering.policy import Policy
from node.peering.spanning import Spanning
from node.peering.sync import Progress
from protocol.filters import SyncFilter
from storage import RecordStore
from storage.admin import AdminStore


@dataclass(frozen=True)
class PeeringParts:
    identity: NodeIdentity
    store: RecordStore
    admin: AdminStore
    """The peer table: pinned keys, found peers, connected time."""
    policy: Policy
    feed: RecordFeed
    ingest: Ingestor
    metrics: Metrics
    pollers: Pollers
    """Peers holding a long poll on our feed (they need no pushes)."""
    spanning: Spanning
    """This node's place in the tree of eager links (node/peering/spanning.py)."""
    serves: SyncFilter
    """What this node replicates (node/peering/sync.py's ``node_filter``)."""
    clock: Clock = SYSTEM_CLOCK
    """The node's time (node/app.py gives the network's time, node.core.clock)."""
    peer_clocks: PeerOffsets | None = None
    """Told each pinned peer's clock offset, from its signed responses."""
    rng: random.Random = field(default_factory=random.Random)
    """Jitter of backoffs and resyncs."""
    progress: Progress | None = None
    """Told (peer URL, records fetched, records to fetch) after each fetched batch."""
