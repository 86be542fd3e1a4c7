"""How nodes talk: gossip and reconciliation, the peer API and client, the feed, discovery, policy, ingest."""
