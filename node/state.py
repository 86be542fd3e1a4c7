"""Typed application state: the ``web.AppKey``s handlers read."""

from __future__ import annotations

from aiohttp import web

from crypto import NodeIdentity
from node.config import NodeConfig
from node.metrics import Metrics
from storage import RecordStore

CONFIG = web.AppKey("config", NodeConfig)
IDENTITY = web.AppKey("identity", NodeIdentity)
STORE = web.AppKey("store", RecordStore)
METRICS = web.AppKey("metrics", Metrics)
