"""Member queries: what a search may ask for, and the SQL that answers it.

Pagination is keyset, never OFFSET: the cursor carries the sort key of the
last row returned (``U.C.S``: urgency rank, created_at, seq), so a page costs
the same however deep it is and a record posted meanwhile never shifts a
page. Any text of that form is a position; anything else is an
``InvalidQuery``.

A search with text is driven by the full-text index itself: its rowids are
in the newest-first order (storage/text.py), so SQLite walks the matches
newest first, checks each on its row by primary key (in a category, first
on its entry in the category's index, which holds most filters), and stops
once the page is full (the urgency order walks each urgency in turn). The category, area
and language filters are also matched inside the index, as facet tokens; every
filter is still checked exactly on the row, so the facets only skip work.
At a million records this is what keeps a text search at a few
milliseconds: the former ``seq IN (SELECT rowid ... MATCH ?)`` read every
match and sorted them. Member text is never passed to MATCH as syntax: it
is cut into words, each quoted, the last one matched as a prefix, and
matched only in the member text columns (never the facets). A search
without text walks an index newest first too, the one its filters name, or
reads few rows through an index and sorts them (``build_statements``), so
the member page's filters cost about the same at a million records as at
ten thousand; a search for a language walks its facet, or reads and sorts
the few rows it matches, so one few posts list is found at once.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from protocol import fields as f
from protocol.errors import RecordInvalid
from protocol.records import KINDS, POST_KINDS, STATUSES, TOMBSTONE_STATUSES, Record
from storage.errors import InvalidQuery
from storage.text import (
    AREA_FACET_LENGTH,
    FACET_AREA_LENGTHS,
    completion_sql,
    created_of_text_key,
    facet_terms,
    key_bound,
    member_columns,
    quoted,
    seq_of_text_key,
    tokens,
)

Order = Literal["newest", "urgency"]
MAX_LIMIT = 500
MAX_TEXT_TERMS = 8
URGENCY_RANK = {"low": 0, "normal": 1, "high": 2, "urgent": 3}
_WORD = re.compile(r"[^\W_]+", re.UNICODE)
"""A member word: letters and digits (the tokenizer parts words at ``_`` too,
and the index keeps no positions to match a phrase of two tokens, schema 15);
a search's text is first cut into the index's own tokens (``as_tokens``)."""
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


def text_words(text: str) -> list[str]:
    """The words of member text that a search matches (at most MAX_TEXT_TERMS)."""
    return list(_WORD.findall(text.lower())[:MAX_TEXT_TERMS])


def as_tokens(text: str) -> str:
    """Member text as the index's tokens, space-separated (``storage.text.tokens``:
    SQLite's tokenizer on a scratch table in memory, for text that is not ASCII,
    so a caller on the event loop runs it in a thread)."""
    return " ".join(token for word in _WORD.findall(text.lower()) for token in tokens(word))


def fts_expression(text: str) -> str | None:
    """Member words as a safe FTS5 expression (all words, last one as a prefix)."""
    words = text_words(text)
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


Statement = tuple[str, list[object]]


def _filters(query: Query, now: int, col: str) -> tuple[list[str], list[object]]:
    """What every search checks on the row (``col`` prefixes each column), text and cursor aside."""
    where = [f"{col}expires_at > ?"]
    params: list[object] = [now]
    where.append(f"{col}kind IN ({','.join('?' * len(query.kinds))})")
    params.extend(query.kinds)
    where.append(f"{col}status IN ({','.join('?' * len(query.statuses))})")
    params.extend(query.statuses)
    if query.category is not None:
        where.append(f"{col}category = ?")
        params.append(query.category)
    if query.area is not None:
        # Geohash characters sort below '~', so this range is exactly the prefix.
        where.append(f"{col}area >= ? AND {col}area < ?")
        params.extend([query.area, query.area + "~"])
    if query.urgencies:
        where.append(f"{col}urgency IN ({','.join('?' * len(query.urgencies))})")
        params.extend(URGENCY_RANK[u] for u in query.urgencies)
    if query.language is not None:
        where.append(f"(instr({col}languages, ?) > 0 OR instr({col}languages, ?) > 0)")
        params.extend([f" {query.language} ", f" {query.language}-"])
    if query.author is not None:
        where.append(f"{col}{BY_AUTHOR}")
        params.append(query.author)
    return where, params


def addressed(condition: str) -> str:
    """The ``seq`` of every row whose address meets ``condition`` (SQL over
    ``author``, ``kind`` and ``slot``, leading columns first), from both address
    tables (schema migration 16's view): a key search in each."""
    return f"SELECT seq FROM addresses WHERE {condition}"


def address_seqs(author: str, kind: str, slot: str) -> str:
    """The ``seq`` at the address named by three SQL expressions."""
    return addressed(f"author = {author} AND kind = {kind} AND slot = {slot}")


AT_ADDRESS = f"seq IN ({address_seqs('?', '?', '?')})"
"""A condition on ``records``: the row at an address (three parameters)."""
BY_AUTHOR = f"seq IN ({addressed('author = ?')})"
"""A condition on ``records``: the rows of one author (one parameter)."""
BY_AUTHOR_KIND = f"seq IN ({addressed('author = ? AND kind = ?')})"
"""A condition on ``records``: the rows of one author and kind (two parameters)."""


def at_address_of(row: str) -> str:
    """A condition on ``records`` as ``r``: the row at the address of ``row``,
    a row of another table. (A join with the view itself is made a key lookup
    in each table only when the statement has no ORDER BY or DISTINCT; with
    them SQLite reads every address first. This is one in any statement.)"""
    return f"r.seq IN ({address_seqs(f'{row}.author', f'{row}.kind', f'{row}.slot')})"


AREA_DENSE_ROWS = 1000
"""A search narrowed by an area shorter than ``AREA_FACET_LENGTH`` (and
no category, no language) walks the time order (or each urgency's) newest
first when the area holds at least this many rows (counted on its facet
alone, a fraction of a millisecond); with fewer, its facet's rows are read
and sorted (a walk would read the whole time order to find them). About
where the two cost the same at a million records: a walk reads some
21 x n / rows index entries to fill a page of 20, the sorted read each of
the area's rows."""
NOT_POSTS = f"kind NOT IN ({', '.join(repr(kind) for kind in POST_KINDS)})"
"""The condition of ``records_kind`` (schema 13), written once: the index holds
the kinds other than posts, and a search for those names it word for word."""


FACET_FEW_ROWS = 200
"""A search naming a language first counts the rows its facets match (the
language's, or the category and the language's, with the category and
area's facet), up to this many (``facet_probe``: the facets' entries alone, no row). Fewer:
it reads them all and sorts them (each row checked costs some 6-10 us at a
million records: 1,600 cost 10-17 ms). More: it walks them newest first,
each checked on its row, and stops after a page. (Most posts list the
member's own language, which the post form fills in: its facet matches most
rows; walked in the urgency order, a small match would be read once for
each urgency.)"""


def facet_probe(query: Query) -> Statement | None:
    """For a search without text whose plan depends on how many rows its
    facets match (one naming a language): the statement counting them, up to
    ``FACET_FEW_ROWS``, whose answer goes to ``build_statements`` as
    ``facet_rows``."""
    if query.language is None or (query.text is not None and text_words(query.text)):
        return None
    if _plan(query, AREA_DENSE_ROWS, 0) == _plan(query, AREA_DENSE_ROWS, FACET_FEW_ROWS):
        return None  # a plan the language does not choose (an author, final statuses, other kinds)
    return (
        "SELECT count(*) FROM (SELECT 1 FROM records_fts WHERE records_fts MATCH ? LIMIT ?)",
        [_facets_match(query), FACET_FEW_ROWS],
    )


def area_probe(query: Query, facet_rows: int | None = None) -> Statement | None:
    """For a search whose plan depends on how many rows its area holds (see
    ``build_statements``): the statement counting them on the area's facet,
    up to ``AREA_DENSE_ROWS``, whose answer goes to ``build_statements`` as
    ``area_rows``."""
    if query.area is None or _plan(query, None, facet_rows) == _plan(query, AREA_DENSE_ROWS, facet_rows):
        return None
    return (
        "SELECT count(*) FROM (SELECT 1 FROM records_fts WHERE records_fts MATCH ? LIMIT ?)",
        [" AND ".join(facet_terms(None, query.area)), AREA_DENSE_ROWS],
    )


def build_statements(
    query: Query, now: int, area_rows: int | None = None, facet_rows: int | None = None
) -> list[Statement]:
    """The statements that answer one page, to be run in order until one more
    row than the page holds has come back (so the caller knows there is a next).
    ``area_rows``, ``facet_rows``: the probes' counts (None: not counted).

    A search with text walks the full-text index newest first and stops
    after a page; so does one without text, on the index its filters name,
    or it reads its few rows through one and sorts them (``_plan``)."""
    words = text_words(query.text) if query.text is not None else []
    if not words:
        index, walked = _plan(query, area_rows, facet_rows)
        if not walked and index == "records_fts":  # its few matches, each checked, sorted
            if query.category is not None:
                return [
                    _sorted_read(query, now, _candidates(query), "r.", ["records_fts MATCH ?"], [_facets_match(query)])
                ]
            matched = f"seq IN (SELECT {seq_of_text_key('rowid')} FROM records_fts WHERE records_fts MATCH ?)"
            return [build_sql(query, now, None, matched, [_facets_match(query)], by_rowid=True)]
        if not walked:
            return [build_sql(query, now, index, _PARTIAL.get(index or ""))]
        if index != "records_fts":
            return _arms(query, lambda rank, position: _row_walk(query, now, str(index), rank, position))
    return _arms(query, lambda rank, position: _text_walk(query, now, words, rank, position))


_PARTIAL = {"records_kind": NOT_POSTS}
"""The condition of each partial index a plan reads, named word for word in its WHERE."""


def _plan(query: Query, area_rows: int | None, facet_rows: int | None) -> tuple[str | None, bool]:
    """For a search without text: the index it reads (None: the planner's
    choice), and whether it walks it newest first and stops after a page
    (the urgency order: each urgency in turn) or reads the rows that pass
    and sorts them, because they are few."""
    if query.author is not None:
        return None, False  # an author's rows, through the address tables
    if set(query.statuses) <= TOMBSTONE_STATUSES:
        # The one index that holds the status, read whole (covering every filter but urgency and language):
        # 119-145 ms at a million, where the planner's choice read every row.
        return "records_category", False
    if not set(query.kinds) & set(POST_KINDS):
        return "records_kind", False
    if query.language is not None:
        if facet_rows is not None and facet_rows < FACET_FEW_ROWS:
            return "records_fts", False  # the few rows its facets match, read and sorted
        return "records_fts", True  # its facets walked
    if query.category is not None and (query.area is None or len(query.area) < min(FACET_AREA_LENGTHS)):
        return "records_category", True  # ordered by time within a category, covering the other filters but urgency
    if query.category is not None or (query.area is not None and len(query.area) >= AREA_FACET_LENGTH):
        return "records_fts", True  # the category and area's facet, or the area's
    if _few_in_area(query, area_rows):
        return "records_fts", False  # a short area holding few rows: its facet's, read and sorted
    if query.order == "urgency":
        return "records_urgency", True  # each urgency's rows alone: a rare one is found at once
    return "records_sync", True  # the time order


def _few_in_area(query: Query, area_rows: int | None) -> bool:
    """Whether the search names an area shorter than ``AREA_FACET_LENGTH``
    that holds few rows (``area_rows``, None: not counted yet)."""
    short = query.area is not None and len(query.area) < AREA_FACET_LENGTH
    return short and (area_rows is None or area_rows < AREA_DENSE_ROWS)


def _arms(query: Query, walk: Callable[[int | None, tuple[int, int] | None], Statement]) -> list[Statement]:
    """A walk newest first, or one per urgency (highest first) from the cursor's on."""
    if query.order == "newest":
        return [walk(None, decode_cursor(query.cursor)[1:] if query.cursor is not None else None)]
    urgency, created, seq = decode_cursor(query.cursor) if query.cursor is not None else (3, None, None)
    wanted = {URGENCY_RANK[u] for u in query.urgencies} if query.urgencies else set(URGENCY_RANK.values())
    statements = []
    for rank in sorted((r for r in wanted if r <= urgency), reverse=True):
        position = (created, seq) if rank == urgency and created is not None and seq is not None else None
        statements.append(walk(rank, position))
    return statements


def _arm_filters(
    query: Query, now: int, col: str, urgency: int | None, position: tuple[int, int] | None
) -> tuple[list[str], list[object]]:
    """``_filters``, and a walk's own: only posts of the ``urgency`` rank (one
    arm of the urgency order), only rows before ``position`` (created_at, seq)."""
    where, params = _filters(query, now, col)
    if urgency is not None:
        where.append(f"{col}urgency = ?")
        params.append(urgency)
    if position is not None:
        where.append(f"({col}created_at, {col}seq) < (?, ?)")
        params.extend(position)
    return where, params


def _row_walk(query: Query, now: int, index: str, urgency: int | None, position: tuple[int, int] | None) -> Statement:
    """A search without text walked newest first on a time-ordered ``index``
    of ``records``, each row checked, stopping after a page. ``urgency``,
    ``position``: as in ``_text_walk``."""
    where, params = _arm_filters(query, now, "", urgency, position)
    sql = (
        f"SELECT seq, urgency, created_at, raw FROM records INDEXED BY {index} WHERE "
        + " AND ".join(where)
        + " ORDER BY created_at DESC, seq DESC LIMIT ?"
    )
    params.append(query.limit + 1)
    return sql, params


def _text_walk(
    query: Query, now: int, words: list[str], urgency: int | None, position: tuple[int, int] | None
) -> Statement:
    """A search driven by the full-text index (its words, or without text its
    facets alone), newest first (its rowid
    order, storage/text.py), each candidate checked on its row by primary
    key: SQLite stops as soon as the page is full, so a page costs about the
    same at any size. ``urgency``: only posts of that rank (one arm of the
    urgency order); ``position``: only rows before (created_at, seq)."""
    match_sql, match_params = _match(query, words)
    where, params = _arm_filters(query, now, "r.", urgency, position)
    where.insert(0, f"records_fts MATCH ({match_sql})")
    params[:0] = match_params
    if position is not None:
        bound = key_bound(*position)
        if bound is not None:  # the same limit, as the index reads it
            where.append("f.rowid < ?")
            params.append(bound)
    sql = (
        f"SELECT r.seq, r.urgency, r.created_at, r.raw FROM {_candidates(query)} WHERE "
        + " AND ".join(where)
        + " ORDER BY f.rowid DESC LIMIT ?"
    )
    params.append(query.limit + 1)
    return sql, params


def _candidates(query: Query) -> str:
    """The FROM clause of a search driven by the full-text index (``f``): each
    candidate's row (``r``) by its key, or, in a category, first its entry in
    that category's index, which holds the area, kind, status and expiry: the
    category's entries lie together (mostly cached), so a candidate those
    filters turn away costs no read of its row."""
    if query.category is not None:
        created = created_of_text_key("f.rowid")
        return (
            "records_fts AS f CROSS JOIN records AS r INDEXED BY records_category "
            f"ON r.created_at = {created} AND r.seq = {seq_of_text_key('f.rowid')}"
        )
    return f"records_fts AS f CROSS JOIN records AS r ON r.seq = {seq_of_text_key('f.rowid')}"


def _facets_match(query: Query) -> str:
    """The MATCH text of a search's facets alone (category, area, language)."""
    return " AND ".join(facet_terms(query.category, query.area, query.language))


def _match(query: Query, words: list[str]) -> Statement:
    """The walk's MATCH operand: the member words in the member text columns
    (the last one completed from ``text_terms`` when it can be, storage/text.py),
    and the category, area and language facets."""
    facets = facet_terms(query.category, query.area, query.language)
    if not words:
        return "?", [_facets_match(query)]
    narrowing = "".join(f" AND {term}" for term in facets)
    head = f"{member_columns()} : (" + "".join(f"{quoted(w)} AND " for w in words[:-1])  # AND: a group follows
    completion = completion_sql(words[-1])
    if completion is None:
        return "?", [f"{head}{quoted(words[-1])}*){narrowing}"]
    sql, params = completion
    return f"? || {sql} || ?", [head, *params, f"){narrowing}"]


def build_sql(
    query: Query,
    now: int,
    index: str | None = None,
    condition: str | None = None,
    condition_params: Sequence[object] = (),
    by_rowid: bool = False,
) -> Statement:
    """SQL and parameters for one page of a search without text (one extra
    row, to know if there is a next), read through an index and sorted:
    ``index`` (and its partial index's ``condition``), or the planner's choice;
    or, ``by_rowid``, the rows ``condition`` lists (``seq IN ...``, with its
    parameters) looked up by their rowid, no index (the planner would read a
    category's every row and test each against the list)."""
    indexed = " NOT INDEXED" if by_rowid else f" INDEXED BY {index}" if index is not None else ""
    return _sorted_read(query, now, f"records{indexed}", "", [condition] if condition else [], condition_params)


def _sorted_read(
    query: Query, now: int, source: str, col: str, conditions: list[str], condition_params: Sequence[object]
) -> Statement:
    """One page of the rows of ``source`` (its columns prefixed ``col``) that
    meet ``conditions`` (with their parameters) and the search's filters, sorted."""
    where, params = _filters(query, now, col)
    where[:0] = conditions
    params[:0] = condition_params
    if query.order == "newest":
        order_by = f"{col}created_at DESC, {col}seq DESC"
        if query.cursor is not None:
            _, created, seq = decode_cursor(query.cursor)
            where.append(f"({col}created_at, {col}seq) < (?, ?)")
            params.extend([created, seq])
    else:
        order_by = f"{col}urgency DESC, {col}created_at DESC, {col}seq DESC"
        if query.cursor is not None:
            urgency, created, seq = decode_cursor(query.cursor)
            where.append(f"({col}urgency, {col}created_at, {col}seq) < (?, ?, ?)")
            params.extend([urgency, created, seq])
    sql = (
        f"SELECT {col}seq, {col}urgency, {col}created_at, {col}raw FROM {source} WHERE "
        + " AND ".join(where)
        + f" ORDER BY {order_by} LIMIT ?"
    )
    params.append(query.limit + 1)
    return sql, params


def next_cursor(query: Query, last: tuple[int, int, int]) -> str:
    seq, urgency, created = last
    return encode_cursor(urgency, created, seq)
