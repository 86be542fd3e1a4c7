"""Typed application state: the ``web.AppKey``s handlers read."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from crypto import NodeIdentity
from node.config import NodeConfig
from node.feed import RecordFeed
from node.metrics import Metrics
from node.policy import Policy
from protocol.records import Record
from storage import RecordStore
from storage.admin import AdminStore
from storage.community import CommunityStore

if TYPE_CHECKING:
    from node.gossip import Gossip
    from node.ingest import Ingestor
    from node.replies import Delivery

CONFIG = web.AppKey("config", NodeConfig)
IDENTITY = web.AppKey("identity", NodeIdentity)
STORE = web.AppKey("store", RecordStore)
METRICS = web.AppKey("metrics", Metrics)
FEED = web.AppKey("feed", RecordFeed)
INGEST: web.AppKey[Ingestor] = web.AppKey("ingest")
GOSSIP: web.AppKey[Gossip] = web.AppKey("gossip")


class ProfileBox:
    """The node's current signed profile; replaced when it is renewed (app
    state itself must not change once the app runs)."""

    def __init__(self) -> None:
        self.record: Record | None = None

    @property
    def current(self) -> Record:
        assert self.record is not None, "the profile is published at start-up"
        return self.record


NODE_PROFILE = web.AppKey("node_profile", ProfileBox)
POLICY = web.AppKey("policy", Policy)
ADMIN = web.AppKey("admin", AdminStore)
ADMIN_TOKEN = web.AppKey("admin_token", str)
PEER_KEY = web.RequestKey("peer_key", bytes)
COMMUNITY = web.AppKey("community", CommunityStore)
DELIVERY: web.AppKey[Delivery] = web.AppKey("delivery")
