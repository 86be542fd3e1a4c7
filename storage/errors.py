"""Errors raised by the record store.

    StorageError                 root; also wraps unexpected SQLite failures
     +-- StoreCorrupt            the file fails quick_check or is not a database
     +-- SchemaTooNew            written by a newer mutualaid; we will not touch it
     +-- StoreClosed             used after close()
     +-- InvalidQuery            a query we refuse (bad cursor, limit, text); code bad_query

SQLite's own exceptions are translated in one place (``storage.sqlite.translate``),
for every connection of the package: a damaged file is ``StoreCorrupt`` wherever
it is met.
"""

from __future__ import annotations


class StorageError(Exception):
    code = "storage_error"


class StoreCorrupt(StorageError):
    code = "store_corrupt"

    def __init__(self, path: str, detail: str) -> None:
        super().__init__(
            f"the record database {path} is damaged ({detail}). Recovery: stop the node, move the "
            f"file aside (mv {path} {path}.damaged, and its -wal and -shm files), then start the "
            "node again; it creates an empty database and resyncs every live record from its peers."
        )
        self.path = path


class SchemaTooNew(StorageError):
    code = "schema_too_new"


class StoreClosed(StorageError):
    code = "store_closed"


class InvalidQuery(StorageError):
    code = "bad_query"
