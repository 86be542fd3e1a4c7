"""The pure protocol core: codec, records, validation, reconciliation.

No sockets, no asyncio, no clock: time comes in as ``now`` arguments.
"""
