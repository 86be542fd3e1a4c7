"""Typed application state of the peering room: the keys under which the app
holds the feed, the policy, the ingestor and the gossip links, and the
request key carrying a verified peer's public key."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from node.peering.feed import RecordFeed
from node.peering.policy import Policy

if TYPE_CHECKING:
    from node.peering.gossip import Gossip
    from node.peering.ingest import Ingestor

FEED = web.AppKey("feed", RecordFeed)
POLICY = web.AppKey("policy", Policy)
INGEST: web.AppKey[Ingestor] = web.AppKey("ingest")
GOSSIP: web.AppKey[Gossip] = web.AppKey("gossip")
PEER_KEY = web.RequestKey("peer_key", bytes)
