"""Shared by members' and peering code: configuration, the data directory, errors, metrics, app state."""
