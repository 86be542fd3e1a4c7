"""The node's durable record store (SQLite through aiosqlite).

Nothing outside this package writes SQL.
"""

from storage.errors import InvalidQuery, SchemaTooNew, StorageError, StoreClosed, StoreCorrupt
from storage.query import Page, Query
from storage.store import PutOutcome, RecordStore, StoreConfig

__all__ = [
    "InvalidQuery",
    "Page",
    "PutOutcome",
    "Query",
    "RecordStore",
    "SchemaTooNew",
    "StorageError",
    "StoreClosed",
    "StoreConfig",
    "StoreCorrupt",
]
