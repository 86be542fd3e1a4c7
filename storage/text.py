"""The full-text index's rowids and facet tokens, written once for the writer
(storage/rows.py) and the member search (storage/query.py).

A full-text row's rowid is ``text_key``: the record's ``created_at`` above
its ``seq``, so the index's own rowid order is the member search's
newest-first order (created_at, then seq) and a text search walks the index
newest first and stops after a page, whatever the number of records. The
``facets`` column holds a record's area prefixes as tokens that member text
can never reach (member words are matched in the other columns only), and a
category is the phrase that opens ``tags``: so a filtered text search skips
rows of other categories and areas inside the index.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from storage.errors import StorageError

SEQ_BITS = 31
"""``text_key`` keeps ``seq`` in its low SEQ_BITS bits: a file can hold
2**31 (2.1 billion) insertions in its life, far past what a node sees."""
CREATED_LIMIT = 2**32
"""``text_key`` needs ``created_at`` below this (the year 2106) to fit SQLite's
signed 64-bit rowid; a node stores nothing dated more than minutes ahead."""
FACET_AREA_LENGTHS = (3, 4)
"""The area prefixes indexed as facets: a ~150 km and a ~40 km cell (what a
member's area filter names); a longer filter uses the 4-character one and the
exact prefix is checked on the row."""


def text_key(created_at: int, seq: int) -> int:
    """The full-text rowid of the row ``seq``: ordered as (created_at, seq)."""
    if not 0 <= seq < 2**SEQ_BITS or not 0 <= created_at < CREATED_LIMIT:
        raise StorageError(f"row {seq} dated {created_at} is outside what the full-text index can key")
    return created_at << SEQ_BITS | seq


def seq_of_text_key(key: str) -> str:
    """SQL for the ``seq`` inside the text key expression ``key``."""
    return f"({key} & {2**SEQ_BITS - 1})"


def area_facet(area: str) -> str:
    return "a" + area


def facets(fields: Mapping[str, Any]) -> str:
    """The facet tokens of a record: its area's prefixes. (Its category needs
    none: it already opens the ``tags`` column, where ``^`` finds it.)"""
    area = fields.get("area")
    if not isinstance(area, str):
        return ""
    return " ".join(area_facet(area[:n]) for n in FACET_AREA_LENGTHS if len(area) >= n)


MEMBER_TEXT_COLUMNS = ("title", "body", "tags")
"""The columns member words are matched in (never ``facets``)."""


def facet_terms(category: str | None, area: str | None) -> list[str]:
    """MATCH terms that narrow a text search to a category and an area: the
    category as the phrase that opens ``tags`` (a slug is letters, digits and
    '-', so it is safe inside quotes), the area as its longest facet."""
    terms = []
    if category is not None:
        terms.append(f'tags : ^"{category}"')
    if area is not None and len(area) >= FACET_AREA_LENGTHS[0]:
        length = max(n for n in FACET_AREA_LENGTHS if n <= len(area))
        terms.append(f'facets : "{area_facet(area[:length])}"')
    return terms


def key_bound(created_at: int, seq: int) -> int | None:
    """The text key below which every row before (created_at, seq) lies, or
    None when no key can say it (a position beyond what keys hold)."""
    if created_at >= CREATED_LIMIT:
        return None
    if seq >= 2**SEQ_BITS:  # every row made at created_at is before it
        return None if created_at + 1 >= CREATED_LIMIT else (created_at + 1) << SEQ_BITS
    return created_at << SEQ_BITS | seq
