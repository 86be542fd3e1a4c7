"""Member queries: what a search may ask for, and the SQL that answers it.

Pagination is keyset, never OFFSET: the cursor carries the sort key of the
last row returned (``U.C.S``: urgency rank, created_at, seq), so a page costs
the same however deep it is and a record posted meanwhile never shifts a
page. Any text of that form is a position; anything else is an
``InvalidQuery``.

Text search goes through FTS5 as ``seq IN (SELECT rowid ... MATCH ?)``,
which measured several times faster at p99 than a JOIN. Member text is never
passed to MATCH as syntax: it is cut into words, each quoted, the last one
matched as a prefix.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from protocol import fields as f
from protocol.errors import RecordInvalid
from protocol.records import KINDS, STATUSES, Record
from storage.errors import InvalidQuery

Order = Literal["newest", "urgency"]
MAX_LIMIT = 500
MAX_TEXT_TERMS = 8
URGENCY_RANK = {"low": 0, "normal": 1, "high": 2, "urgent": 3}
_WORD = re.compile(r"\w+", re.UNICODE)
REPORT_AREA_CHARS = 3
"""The community report groups areas by their first characters (a ~150 km cell)."""


@dataclass(frozen=True)
class Query:
    """A member search. Every field narrows; the defaults list live posts."""

    kinds: tuple[str, ...] = ("need", "offer")
    category: str | None = None
    area: str | None = None
    """A geohash prefix: 'u4' finds everything in u4pru, u4prv..."""
    statuses: tuple[str, ...] = ("open", "claimed")
    urgencies: tuple[str, ...] = ()
    """Empty: any urgency (a post without one counts as normal)."""
    language: str | None = None
    """A language tag: posts listing it, or a regional form of it ('pt' finds 'pt-br')."""
    text: str | None = None
    author: bytes | None = None
    order: Order = "newest"
    limit: int = 50
    cursor: str | None = None
    _checked: bool = field(default=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        try:
            for kind in self.kinds:
                f.choice("kind", kind, KINDS)
            for status in self.statuses:
                f.choice("status", status, STATUSES)
            if self.category is not None:
                f.slug("category", self.category)
            if self.area is not None:
                f.geohash("area", self.area)
            for urgency in self.urgencies:
                f.choice("urgency", urgency, f.URGENCIES)
            if self.language is not None:
                f.language("language", self.language)
        except RecordInvalid as exc:
            raise InvalidQuery(str(exc)) from None
        if not self.kinds or not self.statuses:
            raise InvalidQuery("kinds and statuses must not be empty")
        if self.order not in ("newest", "urgency"):
            raise InvalidQuery("order must be 'newest' or 'urgency'")
        if isinstance(self.limit, bool) or not isinstance(self.limit, int) or not 1 <= self.limit <= MAX_LIMIT:
            raise InvalidQuery(f"limit must be between 1 and {MAX_LIMIT}")
        if self.text is not None and len(self.text) > 200:
            raise InvalidQuery("search text is limited to 200 characters")


@dataclass(frozen=True)
class Page:
    records: list[Record]
    next: str | None


def languages_column(fields: Mapping[str, Any]) -> str | None:
    """A post's languages as " en pt-br ": a search for one tag matches it whole."""
    languages = fields.get("languages")
    return f" {' '.join(str(t) for t in languages)} " if languages else None


def fts_expression(text: str) -> str | None:
    """Member words as a safe FTS5 expression (all words, last one as a prefix)."""
    words = _WORD.findall(text.lower())[:MAX_TEXT_TERMS]
    if not words:
        return None
    quoted = [f'"{w}"' for w in words]
    quoted[-1] += "*"
    return " ".join(quoted)


CURSOR = re.compile(r"([0-3])\.([0-9]{1,15})\.([0-9]{1,15})\Z")
"""A page's position: the last row's urgency rank, created_at and seq, as
``U.C.S``. Any text of this form is a position (the newest-first order reads
C and S), so a cursor can never be "damaged", only point somewhere."""


def encode_cursor(urgency: int, created: int, seq: int) -> str:
    return f"{urgency}.{created}.{seq}"


def decode_cursor(cursor: str) -> tuple[int, int, int]:
    match = CURSOR.match(cursor)
    if match is None:
        raise InvalidQuery("the cursor is not a page position (U.C.S); start again from the first page")
    urgency, created, seq = (int(part) for part in match.groups())
    return urgency, created, seq


def build_sql(query: Query, now: int) -> tuple[str, list[object]]:
    """SQL and parameters for one page (one extra row, to know if there is a next)."""
    where = ["expires_at > ?"]
    params: list[object] = [now]
    where.append(f"kind IN ({','.join('?' * len(query.kinds))})")
    params.extend(query.kinds)
    where.append(f"status IN ({','.join('?' * len(query.statuses))})")
    params.extend(query.statuses)
    if query.category is not None:
        where.append("category = ?")
        params.append(query.category)
    if query.area is not None:
        # Geohash characters sort below '~', so this range is exactly the prefix.
        where.append("area >= ? AND area < ?")
        params.extend([query.area, query.area + "~"])
    if query.urgencies:
        where.append(f"urgency IN ({','.join('?' * len(query.urgencies))})")
        params.extend(URGENCY_RANK[u] for u in query.urgencies)
    if query.language is not None:
        where.append("(instr(languages, ?) > 0 OR instr(languages, ?) > 0)")
        params.extend([f" {query.language} ", f" {query.language}-"])
    if query.author is not None:
        where.append("author = ?")
        params.append(query.author)
    if query.text is not None:
        expression = fts_expression(query.text)
        if expression is not None:
            where.append("seq IN (SELECT rowid FROM records_fts WHERE records_fts MATCH ?)")
            params.append(expression)
    if query.order == "newest":
        order_by = "created_at DESC, seq DESC"
        if query.cursor is not None:
            _, created, seq = decode_cursor(query.cursor)
            where.append("(created_at, seq) < (?, ?)")
            params.extend([created, seq])
    else:
        order_by = "urgency DESC, created_at DESC, seq DESC"
        if query.cursor is not None:
            urgency, created, seq = decode_cursor(query.cursor)
            where.append("(urgency, created_at, seq) < (?, ?, ?)")
            params.extend([urgency, created, seq])
    sql = (
        "SELECT seq, urgency, created_at, raw FROM records WHERE "
        + " AND ".join(where)
        + f" ORDER BY {order_by} LIMIT ?"
    )
    params.append(query.limit + 1)
    return sql, params


def next_cursor(query: Query, last: tuple[int, int, int]) -> str:
    seq, urgency, created = last
    return encode_cursor(urgency, created, seq)
