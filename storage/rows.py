"""How a record becomes a row of ``records`` and of its full-text index.

The raw signed bytes are stored as received; every other column is a copy of
a payload field (or derived from one), there only to be indexed. The FTS5
table is contentless, so deleting a row means repeating exactly the values it
was indexed with: ``fts_row`` must stay deterministic, and it is computed
from the stored raw bytes again at delete time.

A full-text row's rowid is ``text_key`` (created_at above seq) and its
``facets`` column holds the category, the area's prefixes and the languages:
storage/text.py says why.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from protocol.records import Record
from storage.query import REPORT_AREA_CHARS, URGENCY_RANK, languages_column
from storage.text import facets, text_key
from storage.weeks import week_of

INSERT_RECORD = (
    "INSERT INTO records (seq, id, id_key, author, kind, slot, created_at, expires_at, purge_at, status, "
    "category, area, urgency, raw, languages, opened_at, about, recipient, report_area, report_week) "
    "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
)
INSERT_FTS = "INSERT INTO records_fts(rowid, title, body, tags, facets) VALUES (?,?,?,?,?)"
DELETE_FTS = "INSERT INTO records_fts(records_fts, rowid, title, body, tags, facets) VALUES ('delete', ?, ?, ?, ?, ?)"

KEPT_PAST_EXPIRY = "purge_at > expires_at"
"""The rows the sweep finds through ``records_purge`` (a partial index, schema
15): kept past their own expiry, since an older version at their address
expires later. Every other row is purged at its expiry (``records_expiry``)."""

INSERT_ID = "INSERT INTO record_ids_recent (id_key, seq) VALUES (?, ?)"
DELETE_IDS = (
    "DELETE FROM record_ids_recent WHERE id_key = ?1 AND seq = ?2",
    "DELETE FROM record_ids WHERE id_key = ?1 AND seq = ?2",
)

ADDRESS_COLUMNS = (
    "author BLOB NOT NULL, kind TEXT NOT NULL, slot TEXT NOT NULL, seq INTEGER NOT NULL, "
    "PRIMARY KEY (author, kind, slot)"
)
"""The columns of both address tables (schema migration 16): a row's address
is in one of them, read through the view ``addresses``."""
INSERT_ADDRESS = "INSERT INTO record_addresses_recent (author, kind, slot, seq) VALUES (?, ?, ?, ?)"
DELETE_ADDRESSES = (
    "DELETE FROM record_addresses_recent WHERE author = ?1 AND kind = ?2 AND slot = ?3 AND seq = ?4",
    "DELETE FROM record_addresses WHERE author = ?1 AND kind = ?2 AND slot = ?3 AND seq = ?4",
)
SETTLE = (
    "INSERT INTO record_ids SELECT id_key, seq FROM record_ids_recent ORDER BY id_key, seq",
    "DELETE FROM record_ids_recent",
    # OR REPLACE: should an address ever be in both tables (the writer keeps each in one), the newer
    # entry wins and the writer goes on, where a conflict here would fail every put after it.
    "INSERT OR REPLACE INTO record_addresses SELECT * FROM record_addresses_recent ORDER BY author, kind, slot",
    "DELETE FROM record_addresses_recent",
)
"""The recent ids and addresses moved into the big tables in key order
(``StoreConfig.recent_ids_max``): one pass over the big tables' pages for
tens of thousands of records, instead of a random page each."""


def id_seqs(condition: str) -> str:
    """The ``seq`` of every row whose ``id_key`` meets ``condition`` (written
    over a column named ``id_key``), from both tables of the id index
    (schema migration 9): the big one in key order and the recent one."""
    return f"SELECT seq FROM record_ids WHERE {condition} UNION ALL SELECT seq FROM record_ids_recent WHERE {condition}"


RecordRow = tuple[Any, ...]
Address = tuple[bytes, str, str]
"""(author, kind, slot): the key of a row; one row per address."""


def id_key(record_id: bytes) -> int:
    """The indexed stand-in for an id: its first 8 bytes as a signed integer."""
    return int.from_bytes(record_id[:8], "big", signed=True)


def id_prefix_bounds(prefix: str) -> tuple[bytes, bytes]:
    """The lowest and highest 32-byte ids that start with the hex ``prefix``
    (1 to 64 lowercase hex characters, odd lengths included)."""
    return bytes.fromhex(prefix.ljust(64, "0")), bytes.fromhex(prefix.ljust(64, "f"))


def id_key_range(prefix: str) -> tuple[int, int]:
    """The ``id_key`` values of the ids that start with the hex ``prefix``.

    A range, because ``id_key`` keeps the id's leading bytes in order: the
    first hex character fixes the sign bit, so the signed reading of every
    id under one prefix rises with the unsigned one and never wraps."""
    low, high = id_prefix_bounds(prefix)
    return id_key(low), id_key(high)


TextRow = tuple[str, str, str, str]
"""What a record's full-text row indexes: (title, body, tags, facets)."""


def fts_values(fields: Mapping[str, Any]) -> TextRow:
    """The (title, body, tags, facets) text indexed for a record; must be deterministic
    because a contentless FTS5 row is deleted by repeating exactly these values."""
    title = str(fields.get("title") or fields.get("name") or "")
    body = "\n".join(str(fields[k]) for k in ("details", "give_back", "quantity") if k in fields)
    tags = " ".join([str(fields.get("category") or ""), *(str(t) for t in fields.get("tags") or ())])
    return title, body, tags.strip(), facets(fields)


def fts_row(seq: int, record: Record, text: TextRow | None = None) -> tuple[object, ...]:
    """The ``INSERT_FTS`` (and ``DELETE_FTS``) parameters of the row ``seq``;
    ``text``: its ``fts_values``, if already computed (by a checker process)."""
    return (text_key(record.created_at, seq), *(text if text is not None else fts_values(record.fields)))


def record_row(seq: int, record: Record, purge_at: int, opened_at: int | None) -> RecordRow:
    """The ``INSERT_RECORD`` parameters for a record kept as ``seq``."""
    area = record.area
    return (
        seq,
        record.id,
        id_key(record.id),
        record.author,
        record.kind,
        record.slot,
        record.created_at,
        record.expires_at,
        purge_at,
        record.status,
        record.get("category"),
        area,
        URGENCY_RANK.get(record.get("urgency", "normal"), 1),
        record.raw,
        languages_column(record.fields),
        opened_at,
        record.get("about"),
        record.get("to"),
        None if area is None else area[:REPORT_AREA_CHARS],
        week_of(record.created_at if opened_at is None else opened_at),
    )
