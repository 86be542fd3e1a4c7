"""The full-text index's rowids and facet tokens, written once for the writer
(storage/rows.py) and the member search (storage/query.py).

A full-text row's rowid is ``text_key``: the record's ``created_at`` above
its ``seq``, so the index's own rowid order is the member search's
newest-first order (created_at, then seq) and a text search walks the index
newest first and stops after a page, whatever the number of records. The
``facets`` column holds a record's category, area prefixes (alone and with
the category) and languages (alone and with the category) as tokens that
member text can never reach (member words are matched in the other columns
only): so a filtered search skips rows of other categories, areas and
languages inside the index.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
import threading
from collections.abc import Awaitable, Iterable, Mapping, Sequence
from typing import Any, Protocol

from storage.errors import StorageError


class Executor(Protocol):
    """What of a connection the vocabulary uses (aiosqlite's, or the power-cut test's APSW one)."""

    def execute(self, sql: str, parameters: Sequence[object] = ..., /) -> Awaitable[Any]: ...
    def executemany(self, sql: str, parameters: Iterable[Sequence[object]], /) -> Awaitable[Any]: ...
    def execute_fetchall(self, sql: str, parameters: Sequence[object] = ..., /) -> Awaitable[Iterable[Any]]: ...


SEQ_BITS = 31
"""``text_key`` keeps ``seq`` in its low SEQ_BITS bits: a file can hold
2**31 (2.1 billion) insertions in its life, far past what a node sees."""
CREATED_LIMIT = 2**32
"""``text_key`` needs ``created_at`` below this (the year 2106) to fit SQLite's
signed 64-bit rowid; a node stores nothing dated more than minutes ahead."""
FACET_AREA_LENGTHS = (3, 4)
"""The area prefixes indexed with the category as one facet: a ~150 km and a
~40 km cell (what a member's area filter names); a longer filter uses the
4-character one and the exact prefix is checked on the row."""
AREA_FACET_LENGTH = 4
"""The longest area prefix indexed alone; each shorter one is too (schema 15:
the area's own index, whose insertion point a record's random area put on a
page of its own, a third of the pages a batch dirtied at a million records,
gave way to them), so a search finds a sparse area's few rows in the index."""


def text_key(created_at: int, seq: int) -> int:
    """The full-text rowid of the row ``seq``: ordered as (created_at, seq)."""
    if not 0 <= seq < 2**SEQ_BITS or not 0 <= created_at < CREATED_LIMIT:
        raise StorageError(f"row {seq} dated {created_at} is outside what the full-text index can key")
    return created_at << SEQ_BITS | seq


def created_of_text_key(key: str) -> str:
    """SQL for the ``created_at`` of the text key ``key`` (an SQL expression)."""
    return f"({key} >> {SEQ_BITS})"


def seq_of_text_key(key: str) -> str:
    """SQL for the ``seq`` inside the text key expression ``key``."""
    return f"({key} & {2**SEQ_BITS - 1})"


def area_facet(area: str) -> str:
    return "a" + area


def language_facet(tag: str) -> str:
    """A language tag as one facet token: 'l' and each subtag after its length
    ('pt-br' is 'l2pt2br'), so no two tags share a token (a subtag is 2-8
    letters or digits, ``protocol.fields.LANGUAGE_PATTERN``)."""
    return "l" + "".join(f"{len(part)}{part}" for part in tag.split("-"))


def language_facets(tags: object) -> list[str]:
    """The facet tokens of a record's languages: each tag and each shorter tag
    it extends ('pt-br' is also 'pt'), once each, as a search for a tag finds
    its regional forms too."""
    if not isinstance(tags, (list, tuple)):
        return []
    tokens: dict[str, None] = {}
    for tag in tags:
        if isinstance(tag, str) and tag:
            parts = tag.split("-")
            tokens.update((language_facet("-".join(parts[:n])), None) for n in range(1, len(parts) + 1))
    return list(tokens)


def place_facet(category: str, area: str) -> str:
    """A category and an area prefix as one token ('c4' + slug without its
    hyphens + prefix): a search filtered by both then follows one short
    doclist, not the intersection of two long ones (which, for a search
    with few results, FTS5 reads to the end)."""
    return f"c{len(area)}{category.replace('-', '')}{area}"


def spoken_facet(category: str, language_token: str) -> str:
    """A category and a language (its facet token) as one token ('s4pets' +
    'l2so'): a search for both follows one short doclist, where FTS5
    intersecting the category's and the language's took a millisecond at a
    million records. The slug's length keeps two such tokens apart."""
    slug = category.replace("-", "")
    return f"s{len(slug)}{slug}{language_token}"


def facets(fields: Mapping[str, Any]) -> str:
    """The facet tokens of a record: its category alone, its area's
    prefixes of 1 to 4 characters, its area's prefixes with its category, its
    languages, and its languages with its category. (The category is also
    the first word of ``tags``, but the index keeps no positions to find it
    there.)"""
    area, category = fields.get("area"), fields.get("category")
    area = area if isinstance(area, str) else ""
    prefixes = [area[:n] for n in FACET_AREA_LENGTHS if len(area) >= n]
    tokens = [area_facet(area[:n]) for n in range(1, min(len(area), AREA_FACET_LENGTH) + 1)]
    languages = language_facets(fields.get("languages"))
    if isinstance(category, str) and category:
        tokens = [place_facet(category, ""), *tokens, *(place_facet(category, prefix) for prefix in prefixes)]
        languages += [spoken_facet(category, token) for token in languages]
    return " ".join(tokens + languages)


MEMBER_TEXT_COLUMNS = ("title", "body", "tags")
"""The columns member words are matched in (never ``facets``)."""


def facet_terms(category: str | None, area: str | None, language: str | None = None) -> list[str]:
    """MATCH terms that narrow a search to a category, an area and a language:
    the category and area as their one facet, and so the category and the
    language (two short doclists, where the language's alone is long); the
    category alone, the area alone (its prefix of 4 characters at most) and
    the language each as its own (facet tokens are letters and digits, safe
    inside quotes)."""
    place = _place_terms(category, area)
    if language is None:
        return place
    if category is None:
        return [*place, f'facets : "{language_facet(language)}"']
    spoken = f'facets : "{spoken_facet(category, language_facet(language))}"'
    return [spoken] if place == _place_terms(category, None) else [*place, spoken]


def _place_terms(category: str | None, area: str | None) -> list[str]:
    prefix = None
    if area is not None and len(area) >= FACET_AREA_LENGTHS[0]:
        prefix = area[: max(n for n in FACET_AREA_LENGTHS if n <= len(area))]
    if category is not None and prefix is not None:
        return [f'facets : "{place_facet(category, prefix)}"']
    if category is not None:
        return [f'facets : "{place_facet(category, "")}"']
    if area is not None:
        return [f'facets : "{area_facet(area[:AREA_FACET_LENGTH])}"']
    return []


def key_bound(created_at: int, seq: int) -> int | None:
    """The text key below which every row before (created_at, seq) lies, or
    None when no key can say it (a position beyond what keys hold)."""
    if created_at >= CREATED_LIMIT:
        return None
    if seq >= 2**SEQ_BITS:  # every row made at created_at is before it
        return None if created_at + 1 >= CREATED_LIMIT else (created_at + 1) << SEQ_BITS
    return created_at << SEQ_BITS | seq


# -- the vocabulary: every term the member text columns hold ----------------------
#
# FTS5 answers a prefix ("rice"*) by merging the whole doclist of every term
# that starts with it before the first row comes out: 10-17 ms at a million
# records for a common word, whatever the LIMIT. ``text_terms`` lists the
# terms themselves, so the last word of a search becomes the terms it
# completes to, OR-ed: FTS5 merges those lazily, newest first, and the walk
# stops after a page. Its terms are exactly what the index holds: for ASCII
# text the tokenizer's rule is simple enough to apply here; other text goes
# through FTS5's own tokenizer (``tokens``: a scratch FTS5 table in memory,
# read through fts5vocab). A term whose rows are all gone stays until
# the sweep prunes it (a stale term only adds an empty branch to an OR).

TOKENIZE = "unicode61 remove_diacritics 2"
"""The tokenizer of ``records_fts`` (and of the scratch table that names tokens)."""
MAX_COMPLETIONS = 48
"""A last word that completes to more terms than this is matched as an FTS5
prefix (a member typing "b" at a million records: slow, but exact)."""
TERMS_PRUNE_BATCH = 500
"""Terms the sweep checks for rows each time it runs (a full pass over tens
of thousands of terms takes an hour of sweeps)."""
_ASCII_WORD = re.compile(r"[a-z0-9]+\Z")
_ASCII_TOKEN = re.compile(r"[a-z0-9]+")

CREATE_TERMS = "CREATE TABLE text_terms (term TEXT PRIMARY KEY) WITHOUT ROWID"


async def keep_terms(db: Executor, texts: Iterable[Sequence[object]]) -> None:
    """Add the terms of ``texts`` (title, body, tags each) to ``text_terms``, in
    the caller's transaction. ASCII text is cut here: for it, the tokenizer's
    terms are exactly the runs of letters and digits, lowercased. Anything else
    goes through ``tokens`` (in a thread), so the tokenizer itself names its terms."""
    terms: set[str] = set()
    other = []
    for columns in texts:
        joined = " ".join(str(c) for c in columns)
        if joined.isascii():
            terms.update(_ASCII_TOKEN.findall(joined.lower()))
        else:
            other.append(joined)
    if other:
        terms.update(await asyncio.to_thread(lambda: [t for text in other for t in _TOKENIZER.tokens(text)]))
    await db.executemany("INSERT OR IGNORE INTO text_terms VALUES (?)", [(t,) for t in sorted(terms)])


async def prune_terms(db: Executor, after: str) -> str:
    """Drop, of the TERMS_PRUNE_BATCH terms after ``after``, those no row holds
    any more; returns where the next pass starts ("" after the last term)."""
    rows = list(
        await db.execute_fetchall(
            "SELECT term FROM text_terms WHERE term > ? ORDER BY term LIMIT ?", (after, TERMS_PRUNE_BATCH)
        )
    )
    gone = []
    for (term,) in rows:
        held = await db.execute_fetchall(
            "SELECT 1 FROM records_fts WHERE records_fts MATCH ? LIMIT 1", (f"{member_columns()} : {quoted(term)}",)
        )
        if not list(held):
            gone.append((term,))
    await db.executemany("DELETE FROM text_terms WHERE term = ?", gone)
    return str(rows[-1][0]) if len(rows) == TERMS_PRUNE_BATCH else ""


def member_columns() -> str:
    """The FTS5 column filter of member text."""
    return "{" + " ".join(MEMBER_TEXT_COLUMNS) + "}"


class _Tokenizer:
    """The index's own tokenizer, on a scratch FTS5 table in memory: the tokens
    of non-ASCII text exactly as the index holds them, in order (this SQLite's
    tokenizer parts words at 21 code points Python's Unicode calls letters,
    New Tai Lue's vowel signs mostly, and its tables may differ from one
    SQLite to the next). One connection, one caller at a time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None

    def tokens(self, text: str) -> list[str]:
        with self._lock:
            if self._db is None:
                self._db = sqlite3.connect(":memory:", check_same_thread=False)
                self._db.execute(f"CREATE VIRTUAL TABLE scratch USING fts5(text, tokenize='{TOKENIZE}')")
                self._db.execute("CREATE VIRTUAL TABLE scratch_terms USING fts5vocab(scratch, instance)")
            self._db.execute("DELETE FROM scratch")
            self._db.execute("INSERT INTO scratch(text) VALUES (?)", (text,))
            return [str(row[0]) for row in self._db.execute("SELECT term FROM scratch_terms ORDER BY offset")]


_TOKENIZER = _Tokenizer()


def tokens(word: str) -> list[str]:
    """The tokens the index makes of ``word`` (letters and digits): the word
    itself when it is lowercase ASCII, else what the tokenizer says."""
    return [word] if _ASCII_WORD.match(word) else _TOKENIZER.tokens(word)


def quoted(text: str) -> str:
    """``text`` as one FTS5 string (a phrase of its tokens)."""
    return '"' + text.replace('"', '""') + '"'


def completion_sql(word: str) -> tuple[str, list[object]] | None:
    """SQL for an expression (and its parameters) that matches what ``"word"*``
    matches, built in the search's own statement from ``text_terms`` (so from
    the same snapshot as the walk): the terms it completes to, OR-ed. None when
    the word's tokens cannot be told without the tokenizer (anything but
    lowercase ASCII letters and digits): it stays a prefix."""
    if not _ASCII_WORD.match(word):
        return None
    high = word[:-1] + chr(ord(word[-1]) + 1)
    sql = (
        "(SELECT CASE WHEN count(*) > ? THEN ? WHEN count(*) = 0 THEN ? "
        "ELSE '(' || group_concat('\"' || term || '\"', ' OR ') || ')' END "
        "FROM (SELECT term FROM text_terms WHERE term >= ? AND term < ? LIMIT ?))"
    )
    # No completion at all: the word itself matches nothing either.
    return sql, [MAX_COMPLETIONS, f"{quoted(word)}*", quoted(word), word, high, MAX_COMPLETIONS + 1]
