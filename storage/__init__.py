"""The node's durable record store (SQLite through aiosqlite).

Nothing outside this package writes SQL.
"""

from storage.errors import InvalidQuery, SchemaTooNew, StorageError, StoreClosed, StoreCorrupt
from storage.query import Page, Query
from storage.sqlite import StoreConfig
from storage.store import RecordStore
from storage.versions import PutOutcome

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
