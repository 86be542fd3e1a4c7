"""Text search driven by the full-text index (storage/text.py, storage/query.py).

The walk must give exactly what a plain reading gives: every live record
whose text matches, under every filter, newest first (or by urgency), paged
by the same cursors. The reference here is computed apart from the walk:
the records' columns read in Python, and the set of rows whose text matches
read from the index without any ordering, filter or facet.
"""

from __future__ import annotations

import contextlib
import dataclasses
import random
import sqlite3
from dataclasses import dataclass

import pytest

from protocol.records import DEFAULT_TTL, Record, new_version, parse_record
from storage import InvalidQuery, Query, RecordStore, schema, text
from storage import query as query_module
from storage.query import URGENCY_RANK, fts_expression
from storage.rows import INSERT_ID, INSERT_RECORD, fts_values, id_key, record_row
from storage.text import CREATED_LIMIT, SEQ_BITS, facets, key_bound, text_key
from tests.storage._support import NOW, UNDO_16, close_or_fail, identity, post

WORDS = ["coat", "coats", "coating", "bike", "bikes", "soup", "rice", "ride", "riders", "tent", "tea", "café", "Über",
         "tea_cup", "n0te"]  # fmt: skip
CATEGORIES = ["clothing", "tech-help", "food", "bikes"]
AREAS = ["u4pru", "u4prv", "u4px", "u4", "gcpvj", "gcpv", "gcp", "g"]
URGENCIES = [None, "low", "normal", "high", "urgent"]


@dataclass(frozen=True)
class Row:
    record: Record
    seq: int


LANGUAGES = [None, None, ["en"], ["pt-br"], ["pt", "fr"], ["fr-ca", "en"]]


def random_post(rng: random.Random, index: int, languages: bool = False) -> Record:
    return post(
        identity(f"author{rng.randrange(6)}"),
        f"slot{index}",
        kind=rng.choice(["need", "offer"]),
        # Few distinct times, so many records share a second and seq decides.
        created_at=NOW - 1000 + rng.randrange(40) * 7,
        status=rng.choice(["open", "open", "claimed", "fulfilled"]),
        title=" ".join(rng.choices(WORDS, k=rng.randint(1, 3))),
        category=rng.choice(CATEGORIES),
        area=rng.choice(AREAS),
        urgency=rng.choice(URGENCIES),
        details=rng.choice([None, " ".join(rng.choices(WORDS, k=4))]),
        # A first tag that names another category: the category facet must not be fooled.
        tags=rng.choice([None, ["food"], ["bikes", "tea"], ["tech-help"]]),
        languages=rng.choice(LANGUAGES) if languages else None,
    )


async def filled(store: RecordStore, rng: random.Random, count: int, languages: bool = False) -> None:
    records = [random_post(rng, i, languages) for i in range(count)]
    rng.shuffle(records)  # seq order is not time order
    for start in range(0, count, 17):
        await store.writer.put_many(records[start : start + 17], NOW)
    # New versions (new rows, the old ones' index entries deleted) and expiries.
    for record in rng.sample([r for r in records if r.status != "fulfilled"], count // 5):
        changed = new_version(identity(f"author{_author_index(record)}"), record, record.created_at + 3,
                              {"title": rng.choice(WORDS), "status": rng.choice(["open", "claimed"])})  # fmt: skip
        await store.writer.put_many([changed], NOW)
    await store.writer.put_many([post(identity("late"), "gone", created_at=NOW - 900, expires_at=NOW - 1)], NOW - 950)


def _author_index(record: Record) -> int:
    for index in range(6):
        if identity(f"author{index}").public_key == record.author:
            return index
    raise AssertionError("not one of the test authors")


def stored_rows(db_path: str) -> list[Row]:
    with contextlib.closing(sqlite3.connect(db_path)) as db:
        found = db.execute("SELECT seq, raw FROM records")
        return [Row(parse_record(bytes(raw), validate=False), int(seq)) for seq, raw in found]


def text_matches(db_path: str, text: str) -> set[int]:
    """Seqs of the rows whose member text matches, straight from the index."""
    expression = fts_expression(text)
    assert expression is not None
    with contextlib.closing(sqlite3.connect(db_path)) as db:
        found = db.execute(
            "SELECT rowid FROM records_fts WHERE records_fts MATCH ?", (f"{{title body tags}} : ({expression})",)
        )
        return {int(rowid) & (2**SEQ_BITS - 1) for (rowid,) in found}


def expected(rows: list[Row], query: Query, matches: set[int], now: int) -> list[bytes]:
    """The ids a search must return, in order, worked out in Python."""
    kept = []
    for row in rows:
        r = row.record
        urgency = URGENCY_RANK.get(str(r.get("urgency", "normal")), 1)
        if r.expires_at <= now or r.kind not in query.kinds or r.status not in query.statuses:
            continue
        if query.category is not None and r.get("category") != query.category:
            continue
        if query.area is not None and not str(r.get("area") or "").startswith(query.area):
            continue
        if query.urgencies and urgency not in {URGENCY_RANK[u] for u in query.urgencies}:
            continue
        listed = [str(tag) for tag in r.get("languages") or []]
        if query.language is not None and not any(
            t == query.language or t.startswith(query.language + "-") for t in listed
        ):
            continue
        if row.seq not in matches:
            continue
        key = (r.created_at, row.seq) if query.order == "newest" else (urgency, r.created_at, row.seq)
        kept.append((key, r.id))
    return [record_id for _, record_id in sorted(kept, reverse=True)]


async def all_pages(store: RecordStore, query: Query, now: int) -> list[bytes]:
    out: list[bytes] = []
    cursor = None
    for _ in range(1000):
        page = await store.reads.query(dataclasses.replace(query, cursor=cursor), now)
        out += [r.id for r in page.records]
        if page.next is None:
            return out
        cursor = page.next
    raise AssertionError("paging did not end")


def random_query(rng: random.Random) -> Query:
    words = rng.choices(WORDS, k=rng.choice([1, 1, 2]))
    words[-1] = words[-1][: rng.randint(2, len(words[-1]))]  # the last word is a prefix
    return Query(
        kinds=rng.choice([("need", "offer"), ("need",), ("offer",)]),
        category=rng.choice([None, *CATEGORIES]),
        area=rng.choice([None, "u", "u4", "u4p", "u4pr", "u4pru", "gcpv", "gcpvj", "gc"]),
        statuses=rng.choice([("open", "claimed"), ("fulfilled",), ("open",)]),
        urgencies=rng.choice([(), ("urgent",), ("normal", "high")]),
        language=rng.choice([None, None, "en", "pt", "fr-ca", "de"]),
        text=" ".join(words),
        order=rng.choice(["newest", "urgency"]),
        limit=rng.choice([1, 2, 3, 7, 50]),
    )


@pytest.mark.parametrize("completions", [text.MAX_COMPLETIONS, 1])
async def test_text_search_pages_are_exactly_a_plain_reading(
    store: RecordStore, db_path: str, completions: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the last word completed from text_terms, and (1) mostly matched as a plain prefix."""
    monkeypatch.setattr(text, "MAX_COMPLETIONS", completions)
    rng = random.Random(13)
    await filled(store, rng, 240, languages=True)
    rows = stored_rows(db_path)
    nonempty = 0
    for _ in range(150):
        query = random_query(rng)
        assert query.text is not None
        want = expected(rows, query, text_matches(db_path, query.text), NOW)
        nonempty += bool(want)
        assert await all_pages(store, query, NOW) == want, query
    assert nonempty > 50  # the queries found things: the comparison has teeth


async def test_a_cursor_beyond_what_keys_hold_still_pages_exactly(store: RecordStore, db_path: str) -> None:
    await filled(store, random.Random(5), 60)
    rows = stored_rows(db_path)
    matches = text_matches(db_path, "ri")
    newest = expected(rows, Query(text="ri", limit=500), matches, NOW)
    for cursor in (f"1.{CREATED_LIMIT + 5}.3", f"1.{NOW}.{2**SEQ_BITS + 9}", "3.999999999999999.999999999999999"):
        page = await store.reads.query(Query(text="ri", limit=500, cursor=cursor), NOW)
        below = [r for r in rows if r.record.id in newest]
        _, created, seq = (int(part) for part in cursor.split("."))
        before = {r.record.id for r in below if (r.record.created_at, r.seq) < (created, seq)}
        want = [i for i in newest if i in before]
        assert [r.id for r in page.records] == want


async def test_a_category_search_is_not_fooled_by_a_tag_naming_it(store: RecordStore) -> None:
    tagged = post(slot="a", category="clothing", tags=["food"], title="Warm soup")
    food = post(slot="b", category="food", tags=["clothing"], title="More soup", created_at=NOW - 200)
    hyphen = post(slot="c", category="tech-help", title="Soup laptop", created_at=NOW - 300)
    await store.writer.put_many([tagged, food, hyphen], NOW)
    assert [r.id for r in (await store.reads.query(Query(text="soup", category="food"), NOW)).records] == [food.id]
    assert [r.id for r in (await store.reads.query(Query(text="soup", category="tech-help"), NOW)).records] == [
        hyphen.id
    ]
    # Facet tokens are not member text: an area's token cannot be searched for.
    assert (await store.reads.query(Query(text=facets({"area": "u4pru"}).split()[0]), NOW)).records == []


def test_text_keys_follow_the_search_order_and_refuse_what_they_cannot_hold() -> None:
    assert text_key(NOW, 5) < text_key(NOW, 6) < text_key(NOW + 1, 1)
    assert text_key(CREATED_LIMIT - 1, 2**SEQ_BITS - 1) < 2**63
    with pytest.raises(Exception, match="full-text index"):
        text_key(CREATED_LIMIT, 1)
    with pytest.raises(Exception, match="full-text index"):
        text_key(NOW, 2**SEQ_BITS)
    assert key_bound(NOW, 7) == text_key(NOW, 7)
    assert key_bound(NOW, 2**SEQ_BITS) == text_key(NOW + 1, 0)
    assert key_bound(CREATED_LIMIT, 1) is None
    assert key_bound(CREATED_LIMIT - 1, 2**SEQ_BITS) is None


async def test_a_bad_cursor_is_still_refused_with_text(store: RecordStore) -> None:
    for order in ("newest", "urgency"):
        with pytest.raises(InvalidQuery):
            await store.reads.query(Query(text="soup", order=order, cursor="tomorrow"), NOW)


async def test_a_schema_9_file_has_its_text_index_made_again(db_path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Rows indexed the old way (rowid = seq, no facets) are found, replaced and deleted after the migration."""
    old = post(slot="s1", title="Winter coats", created_at=NOW - 500)
    other = post(slot="s2", title="Bike repairs", created_at=NOW - 400, area="gcpvj")
    with contextlib.closing(sqlite3.connect(db_path)) as db:
        for version in range(1, 10):
            for statement in schema.MIGRATIONS[version]:
                db.execute(statement)
        for seq, record in enumerate([old, other], 1):
            db.execute(INSERT_RECORD, record_row(seq, record, record.expires_at, record.created_at))
            db.execute(INSERT_ID, (id_key(record.id), seq))
            db.execute("INSERT INTO records_fts(rowid, title, body, tags) VALUES (?,?,?,?)",
                       (seq, *fts_values(record.fields)[:3]))  # fmt: skip
        db.execute("PRAGMA user_version = 9")
        db.commit()
    monkeypatch.setattr(schema, "FILL_BATCH", 1)  # the fill runs over more than one batch
    store = await RecordStore.open(db_path)
    try:
        assert [r.id for r in (await store.reads.query(Query(text="coats"), NOW)).records] == [old.id]
        assert [r.id for r in (await store.reads.query(Query(text="bike", area="gcpv"), NOW)).records] == [other.id]
        newer = new_version(identity("alice"), old, NOW - 10, {"title": "Winter boots"})
        await store.writer.put_many([newer], NOW)
        assert (await store.reads.query(Query(text="coats"), NOW)).records == []
        assert [r.id for r in (await store.reads.query(Query(text="boots"), NOW)).records] == [newer.id]
        assert await store.writer.sweep(NOW + DEFAULT_TTL + 10) == 2
        assert (await store.reads.query(Query(text="bike"), NOW)).records == []
        assert await store.reads.integrity_check() == "ok"
    finally:
        await close_or_fail(store)
    with contextlib.closing(sqlite3.connect(db_path)) as db:
        left = db.execute("SELECT count(*) FROM records_fts WHERE records_fts MATCH 'boots OR bike OR coats'")
        assert left.fetchone() == (0,)


def terms(db_path: str) -> set[str]:
    with contextlib.closing(sqlite3.connect(db_path)) as db:
        return {str(term) for (term,) in db.execute("SELECT term FROM text_terms")}


async def test_text_terms_hold_the_index_terms_and_the_sweep_prunes_the_gone(store: RecordStore, db_path: str) -> None:
    first = post(slot="a", title="Zanzibar Café", created_at=NOW - 500)
    kept = post(slot="b", title="Zanzibar boots", created_at=NOW - 400)
    await store.writer.put_many([first, kept], NOW)
    assert {"zanzibar", "cafe", "boots", "clothing"} <= terms(db_path)  # the tokenizer's own terms
    assert [r.id for r in (await store.reads.query(Query(text="caf"), NOW)).records] == [first.id]
    assert [r.id for r in (await store.reads.query(Query(text="zan"), NOW)).records] == [kept.id, first.id]
    assert (await store.reads.query(Query(text="zebra"), NOW)).records == []  # completes to nothing
    await store.writer.put_many([new_version(identity("alice"), first, NOW - 10, {"title": "Mittens"})], NOW)
    assert "cafe" in terms(db_path)  # a stale term stays until a sweep...
    assert [r.id for r in (await store.reads.query(Query(text="caf"), NOW)).records] == []  # ...and finds nothing
    await store.writer.sweep(NOW)
    assert "cafe" not in terms(db_path) and {"zanzibar", "mittens", "boots"} <= terms(db_path)


def random_filters(rng: random.Random) -> Query:
    """A search without text: the facet walks, the category's and the
    time-ordered walks, the short area read through its facet, the author's
    rows, other kinds' and final statuses' rows sorted."""
    return Query(
        kinds=rng.choice([("need", "offer"), ("need",), ("offer",), ("finding", "event"), ("need", "node")]),
        category=rng.choice([None, None, *CATEGORIES]),
        area=rng.choice([None, None, "u", "u4", "u4p", "u4pr", "u4pru", "gcpv", "gcpvj", "gc", "zz", "zzzz"]),
        statuses=rng.choice([("open", "claimed"), ("fulfilled",), ("open",), ("fulfilled", "withdrawn")]),
        urgencies=rng.choice([(), (), ("urgent",), ("normal", "high")]),
        author=rng.choice([None, None, None, identity("author2").public_key]),
        language=rng.choice([None, None, "en", "pt", "pt-br", "fr", "de"]),
        order=rng.choice(["newest", "urgency"]),
        limit=rng.choice([1, 2, 3, 7, 50]),
    )


@pytest.mark.parametrize(("dense_rows", "few_rows"), [(query_module.AREA_DENSE_ROWS, 30), (5, 10_000)])
async def test_searches_without_text_page_exactly_as_a_plain_reading(
    store: RecordStore, db_path: str, dense_rows: int, few_rows: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every plan (at 5, most short areas count as dense and are walked; a
    language's facets matching 30 rows or more are walked, fewer read and
    sorted; at 10,000 every language's are read and sorted)."""
    monkeypatch.setattr(query_module, "AREA_DENSE_ROWS", dense_rows)
    monkeypatch.setattr(query_module, "FACET_FEW_ROWS", few_rows)
    rng = random.Random(17)
    await filled(store, rng, 240, languages=True)
    rows = stored_rows(db_path)
    every = {row.seq for row in rows}
    nonempty = 0
    for _ in range(200):
        query = random_filters(rng)
        want = [
            record_id
            for record_id in expected(rows, query, every, NOW)
            if query.author is None or next(r for r in rows if r.record.id == record_id).record.author == query.author
        ]
        nonempty += bool(want)
        assert await all_pages(store, query, NOW) == want, query
    assert nonempty > 50


def test_each_search_without_text_takes_the_plan_meant_for_it() -> None:
    def plan(query: Query, area_rows: int | None = None, facet_rows: int | None = None) -> str:
        return " ".join(sql for sql, _ in query_module.build_statements(query, NOW, area_rows, facet_rows))

    assert "records_fts MATCH" in plan(Query(area="u4pr"))  # an area's facet
    assert "records_fts MATCH" in plan(Query(category="food", area="u4p"))  # the two as one facet
    assert plan(Query(category="food", area="u4", order="urgency")).count("INDEXED BY records_category") == 4
    assert plan(Query(order="urgency")).count("INDEXED BY records_urgency") == 4  # one walk per urgency
    assert plan(Query(order="newest")).count("INDEXED BY records_sync") == 1
    assert "INDEXED BY records_sync" in plan(Query(area="u4"), query_module.AREA_DENSE_ROWS)
    few_in_area = plan(Query(area="u4"), 3)  # few rows: its facet's, read and sorted
    assert "NOT INDEXED" in few_in_area and "records_fts MATCH" in few_in_area and "f.rowid DESC" not in few_in_area
    assert text.facet_terms(None, "u4") == ['facets : "au4"']
    assert query_module.area_probe(Query(area="u4")) is not None
    assert query_module.area_probe(Query(area="u4pr")) is None  # a facet: no count needed
    assert "INDEXED BY" not in plan(Query(author=identity("author2").public_key))
    assert "INDEXED BY records_kind" in plan(Query(kinds=("node",), statuses=("open",)))  # few: sorted
    assert "INDEXED BY records_category" in plan(Query(statuses=("withdrawn",), order="urgency"))  # final: sorted
    assert "records_fts MATCH" in plan(Query(language="pt", category="food", area="u4pr"))
    # A language: its facets (with the category's, or the category and area's facet) walked, or
    # the few rows they match read and sorted (walked in the urgency order, they would be read once per urgency).
    few, many = 3, query_module.FACET_FEW_ROWS
    for query in (
        Query(language="so"),
        Query(language="so", category="food", area="u4"),
        Query(language="so", order="urgency"),
        Query(language="so", category="food", order="urgency"),
    ):
        assert query_module.facet_probe(query) is not None
        (sql, params), *more = query_module.build_statements(query, NOW, None, few)
        token = 'facets : "s4foodl2so"' if query.category else 'facets : "l2so"'  # with the category: one token
        assert not more and "records_fts MATCH" in sql and token in str(params)
        # Read by rowid; in a category, each candidate first through the category's index.
        assert ("INDEXED BY records_category" if query.category else "NOT INDEXED") in sql
        walks = query_module.build_statements(query, NOW, query_module.AREA_DENSE_ROWS, many)
        assert all("ORDER BY f.rowid DESC" in sql and token in str(p) for sql, p in walks)
        assert all(("INDEXED BY records_category" in sql) == (query.category is not None) for sql, _ in walks)
    assert len(query_module.build_statements(Query(language="so", order="urgency"), NOW, None, many)) == 4
    assert 'facets : "l2so"' in str(query_module.build_statements(Query(language="so", text="rice"), NOW))
    assert query_module.facet_probe(Query(language="so", text="rice")) is None  # the words drive: no count
    assert query_module.facet_probe(Query(language="so", author=identity("author2").public_key)) is None
    assert query_module.facet_probe(Query(language="so", statuses=("withdrawn",))) is None
    assert query_module.facet_probe(Query()) is None
    # A language with a short area: the two facets together, counted, then read or walked (no area count).
    assert query_module.area_probe(Query(language="en", area="u4"), few) is None
    assert query_module.area_probe(Query(language="en", area="u4"), many) is None
    assert 'facets : "au4" AND facets : "l2en"' in str(query_module.facet_probe(Query(language="en", area="u4")))
    assert "f.rowid DESC" in plan(Query(language="en", area="u4"), None, many)


def test_a_language_and_each_shorter_tag_it_extends_are_facets() -> None:
    """A search for 'pt' finds 'pt-br' too, as the row check does; the length
    before each subtag keeps apart tags whose letters run together."""
    assert text.language_facets(["pt-br", "pt", "fr-ca-x1"]) == ["l2pt", "l2pt2br", "l2fr", "l2fr2ca", "l2fr2ca2x1"]
    assert text.language_facet("ptb-r1") != text.language_facet("pt-br1")
    assert text.language_facets(None) == [] and text.language_facets("en") == []
    assert facets({"area": "u4pru", "category": "food", "languages": ["so"]}).split()[-2:] == ["l2so", "s4foodl2so"]
    assert facets({"languages": ["en"]}) == "l2en"  # no area: the language alone


def test_a_category_alone_and_with_each_language_is_one_facet_token() -> None:
    """The index keeps no positions to match the slug that opens ``tags``;
    a category and a language together are one token too (FTS5 intersecting
    the two took a millisecond at a million records), the slug's length
    keeping each apart."""
    assert facets({"category": "tech-help"}) == "c0techhelp"
    assert facets({"category": "food", "area": "u4pru"}).split() == [
        "c0food", "au", "au4", "au4p", "au4pr", "c3foodu4p", "c4foodu4pr"
    ]  # fmt: skip
    assert facets({"area": "9q"}) == "a9 a9q"  # each prefix up to 4 characters alone
    assert facets({"category": "tech-help", "languages": ["pt-br"]}).split() == [
        "c0techhelp", "l2pt", "l2pt2br", "s8techhelpl2pt", "s8techhelpl2pt2br"
    ]  # fmt: skip
    assert text.spoken_facet("ab", "l2cd") != text.spoken_facet("abl2cd", "")
    assert text.facet_terms("tech-help", "u4", "so") == ['facets : "s8techhelpl2so"']  # an area too short for a facet
    assert text.facet_terms("tech-help", "u4pr", "so") == ['facets : "c4techhelpu4pr"', 'facets : "s8techhelpl2so"']
    assert text.facet_terms(None, "u4pr", "so") == ['facets : "au4pr"', 'facets : "l2so"']
    assert text.facet_terms("tech-help", None, None) == ['facets : "c0techhelp"']


def facet_count(db_path: str, token: str) -> int:
    with contextlib.closing(sqlite3.connect(db_path)) as db:
        found = db.execute("SELECT count(*) FROM records_fts WHERE records_fts MATCH ?", (f"facets : {token}",))
        return int(found.fetchone()[0])


async def test_a_schema_13_file_has_its_languages_indexed_as_facets(
    db_path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows indexed before migration 14 (facets without languages) are found
    by a language search after it, through the facet; the rest still are too."""
    rng = random.Random(5)
    held = [random_post(rng, index, languages=True) for index in range(30)]
    store = await RecordStore.open(db_path)
    await store.writer.put_many(held, NOW)
    await store.close()
    with contextlib.closing(sqlite3.connect(db_path)) as db:  # the text index as schema 13 left it
        db.execute("DROP TABLE records_fts")
        db.execute(schema.CREATE_FTS_10)
        db.execute("DROP INDEX records_purge")
        db.execute("CREATE INDEX records_purge ON records(purge_at)")
        db.execute("CREATE INDEX records_area ON records(area, created_at)")
        db.executescript(UNDO_16)
        for seq, raw in db.execute("SELECT seq, raw FROM records").fetchall():
            record = parse_record(bytes(raw), validate=False)
            fields = dict(record.fields, languages=None)
            db.execute("INSERT INTO records_fts(rowid, title, body, tags, facets) VALUES (?,?,?,?,?)",
                       (text_key(record.created_at, int(seq)), *fts_values(fields)))  # fmt: skip
        assert db.execute("SELECT count(*) FROM records_fts WHERE records_fts MATCH 'facets : l2pt'").fetchone() == (0,)
        db.execute("PRAGMA user_version = 13")
        db.commit()
    monkeypatch.setattr(schema, "FILL_BATCH", 7)  # the fill runs over more than one batch
    store = await RecordStore.open(db_path)
    try:
        rows = stored_rows(db_path)
        every = {row.seq for row in rows}
        for query in (Query(language="pt"), Query(language="fr-ca"), Query(language="en", text="coat"),
                      Query(language="de"), Query(area="u4pr"), Query(text="bike")):  # fmt: skip
            want = expected(rows, query, text_matches(db_path, query.text) if query.text else every, NOW)
            assert await all_pages(store, dataclasses.replace(query, limit=3), NOW) == want
        assert await all_pages(store, Query(language="pt"), NOW)  # found, through the facet
        # New versions and the sweep take each old row's facets with it (a contentless row is
        # deleted by repeating its values: a stale entry would stay in the facet's count).
        listing = [r.record for r in rows if "pt" in {t.split("-")[0] for t in r.record.get("languages") or []}]
        assert facet_count(db_path, "l2pt") == len(listing) > 2
        changed = new_version(identity(f"author{_author_index(listing[0])}"), listing[0], NOW, {"languages": ["de"]})
        await store.writer.put_many([changed], NOW)
        assert (facet_count(db_path, "l2pt"), facet_count(db_path, "l2de")) == (len(listing) - 1, 1)
        assert await store.writer.sweep(NOW + DEFAULT_TTL + 1000) > 0
        assert facet_count(db_path, "l2pt") == facet_count(db_path, "l2de") == 0
        assert await store.reads.integrity_check() == "ok"
        with contextlib.closing(sqlite3.connect(db_path)) as db:  # as migration 15 made them
            made = dict(db.execute("SELECT name, sql FROM sqlite_schema WHERE name IN ('records_fts','records_purge')"))
        assert "detail=column" in made["records_fts"] and made["records_purge"].endswith("WHERE purge_at > expires_at")
    finally:
        await close_or_fail(store)


def test_migration_14_makes_the_text_index_as_migration_10_did() -> None:
    assert schema.MIGRATIONS[14] == ["DROP TABLE records_fts", schema.CREATE_FTS_10]
    assert schema.MIGRATIONS[10][1] == schema.CREATE_FTS_10 and schema.DATA_STEPS[14] is schema.refill_text
    assert " ".join(schema.CREATE_FTS_10.split()) == (
        "CREATE VIRTUAL TABLE records_fts USING fts5( title, body, tags, facets, content='', columnsize=0, "
        "tokenize='unicode61 remove_diacritics 2' )"
    )


def test_migration_15_is_the_text_it_shipped_with() -> None:
    """The text index again, without positions; the sweep's index partial
    (its condition from ``storage.rows.KEPT_PAST_EXPIRY``, which the sweep names)."""
    assert [" ".join(statement.split()) for statement in schema.MIGRATIONS[15]] == [
        "DROP TABLE records_fts",
        "CREATE VIRTUAL TABLE records_fts USING fts5( title, body, tags, facets, content='', columnsize=0, "
        "detail=column, tokenize='unicode61 remove_diacritics 2' )",
        "DROP INDEX records_purge",
        "CREATE INDEX records_purge ON records(purge_at) WHERE purge_at > expires_at",
        "DROP INDEX records_area",
    ]
    assert schema.DATA_STEPS[15] is schema.refill_text


def test_a_word_is_cut_by_the_index_tokenizer_when_it_is_not_ascii() -> None:
    assert text.tokens("\u1980\u19b0\u1981") == ["\u1980", "\u1981"]  # parted at the vowel sign
    assert text.tokens("caf\u00e9") == ["cafe"] and text.tokens("rice") == ["rice"]
    assert query_module.as_tokens("Caf\u00e9_night \u1980\u19b0\u1981!") == "cafe night \u1980 \u1981"


async def test_a_word_is_letters_and_digits_each_one_token(store: RecordStore) -> None:
    """The index keeps no positions, so no search may be a phrase: an
    underscore parts words as the tokenizer does, and a word this SQLite's
    tokenizer parts where Python sees one word (a New Tai Lue vowel sign,
    a letter to Python) is cut by the tokenizer itself, so it is found, never
    refused; diacritics fold as the index folds them."""
    coats = post(slot="a", title="Winter coats for kids")
    lue = post(slot="b", title="\u1980\u19b0\u1981 market", created_at=NOW - 100)
    cafe = post(slot="c", title="Café night", created_at=NOW - 200)
    await store.writer.put_many([coats, lue, cafe], NOW)
    assert fts_expression("winter_coats") == '"winter" "coats"*'
    for words in ("winter_coats", "kids__winter", "_coats_"):
        assert [r.id for r in (await store.reads.query(Query(text=words), NOW)).records] == [coats.id]
    for words, found in (("\u1980\u19b0\u1981", lue), ("\u1980\u19b0\u1981 mark", lue), ("CAFÉ", cafe), ("caf", cafe)):
        assert [r.id for r in (await store.reads.query(Query(text=words), NOW)).records] == [found.id], words


def test_migration_13_is_the_text_it_shipped_with() -> None:
    """Its condition is built from ``storage.query.NOT_POSTS`` (the searches
    name it word for word); a migration never changes once shipped."""
    assert schema.MIGRATIONS[13] == [
        "CREATE INDEX records_kind ON records(kind, created_at) WHERE kind NOT IN ('need', 'offer')",
        "CREATE INDEX records_urgency ON records(urgency, created_at)",
    ]


@pytest.mark.parametrize(
    "base",
    [Query(limit=500), Query(area="u4p", limit=500), Query(category="food", limit=500), Query(area="gcpv", limit=500)],
    ids=["time order", "short area", "category", "area facet"],
)
async def test_any_cursor_pages_a_walk_without_text_exactly(store: RecordStore, db_path: str, base: Query) -> None:
    """Cursors no page of ours gave: beyond what text keys hold, an urgency the
    search does not ask for, the very end; in both orders."""
    await filled(store, random.Random(5), 60)
    rows = stored_rows(db_path)
    every = {row.seq for row in rows}
    compared = 0
    cursors = (f"1.{CREATED_LIMIT + 5}.3", f"1.{NOW}.{2**SEQ_BITS + 9}", "3.999999999999999.999999999999999",
               f"2.{NOW - 700}.5", f"0.{NOW - 800}.40")  # fmt: skip
    for order in ("newest", "urgency"):
        for urgencies in ((), ("urgent", "low")):
            query = dataclasses.replace(base, order=order, urgencies=urgencies)
            whole = expected(rows, query, every, NOW)
            by_id = {row.record.id: row for row in rows}
            for cursor in cursors:
                page = await store.reads.query(dataclasses.replace(query, cursor=cursor), NOW)
                want = [i for i in whole if _before(by_id[i], order, cursor)]
                assert [r.id for r in page.records] == want, (query, cursor)
                compared += len(want)
    assert compared > 40  # pages with records in them were compared


def _before(row: Row, order: str, cursor: str) -> bool:
    """Whether ``row`` comes after the cursor's position in ``order`` (so on a page after it)."""
    rank, created, seq = (int(part) for part in cursor.split("."))
    if order == "newest":
        return (row.record.created_at, row.seq) < (created, seq)
    urgency = URGENCY_RANK.get(str(row.record.get("urgency", "normal")), 1)
    return (urgency, row.record.created_at, row.seq) < (rank, created, seq)
