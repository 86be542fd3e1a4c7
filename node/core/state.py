"""Typed application state shared by every room: the ``web.AppKey``s of the
process's own parts (configuration, identity, the stores, metrics, the node
profile). Keys of peering's parts live in ``node/peering/state.py``, of the
members' parts beside the code that owns them."""

from __future__ import annotations

from aiohttp import web

from crypto import NodeIdentity
from node.core.config import NodeConfig
from node.core.metrics import Metrics
from protocol.records import Record
from storage import RecordStore
from storage.admin import AdminStore
from storage.community import CommunityStore

CONFIG = web.AppKey("config", NodeConfig)
IDENTITY = web.AppKey("identity", NodeIdentity)
STORE = web.AppKey("store", RecordStore)
METRICS = web.AppKey("metrics", Metrics)


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
ADMIN = web.AppKey("admin", AdminStore)
ADMIN_TOKEN = web.AppKey("admin_token", str)
COMMUNITY = web.AppKey("community", CommunityStore)
