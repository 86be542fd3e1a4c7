"""The SQLite schema and its migrations, versioned by ``PRAGMA user_version``.

One row per address: the current version of each (author, kind, slot). The
raw signed bytes are kept exactly as received; the other columns are copies
of payload fields, there only to be indexed. ``purge_at`` is when the sweep
deletes the row: a record's own expiry, or the latest expiry of anything it
replaced if later, so an old copy arriving late cannot come back.

Text search is a contentless FTS5 table (the text already lives in ``raw``;
storing it twice would double the file) without per-row column sizes (no
ranking uses them). ``detail=none`` was tried: 11% smaller, but prefix
queries on common words got half again slower at p99. Contentless tables
need the old values to delete a row, which the store recomputes from ``raw``.

``records_category`` carries the other filter columns so a category search
rejects rows inside the index instead of visiting each one in the table.

A migration is a list of statements run in one transaction, together with
the ``user_version`` bump (and, for one that needs Python, its ``DATA_STEPS``
entry); add new ones at the end, never change what an old one does (a
constant written once elsewhere may build its text, as long as the text
stays the same: tests/storage/test_weeks.py pins migration 5's).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import aiosqlite

from protocol.records import parse_record
from storage.query import NOT_POSTS, REPORT_AREA_CHARS, languages_column
from storage.rows import ADDRESS_COLUMNS, INSERT_FTS, KEPT_PAST_EXPIRY, fts_row
from storage.tally import CREATE as CREATE_TALLY
from storage.tally import count_rows
from storage.text import CREATE_TERMS, keep_terms
from storage.weeks import week_of_sql

CREATE_FTS_10 = """
        CREATE VIRTUAL TABLE records_fts USING fts5(
            title, body, tags, facets, content='', columnsize=0,
            tokenize='unicode61 remove_diacritics 2'
        )
        """
"""The full-text table as migration 10 made it (and 14 made it again)."""
CREATE_FTS = """
        CREATE VIRTUAL TABLE records_fts USING fts5(
            title, body, tags, facets, content='', columnsize=0, detail=column,
            tokenize='unicode61 remove_diacritics 2'
        )
        """
"""The full-text table as migration 15 makes it: without positions (``detail=column``).
No search matches a phrase (a member's words are each one token, storage/query.py)."""

MIGRATIONS: dict[int, list[str]] = {
    1: [
        """
        CREATE TABLE records (
            seq         INTEGER PRIMARY KEY,
            id          BLOB    NOT NULL,
            id_key      INTEGER NOT NULL,
            author      BLOB    NOT NULL,
            kind        TEXT    NOT NULL,
            slot        TEXT    NOT NULL,
            created_at  INTEGER NOT NULL,
            expires_at  INTEGER NOT NULL,
            purge_at    INTEGER NOT NULL,
            status      TEXT    NOT NULL,
            category    TEXT,
            area        TEXT,
            urgency     INTEGER NOT NULL,
            raw         BLOB    NOT NULL
        )
        """,
        # Ids are looked up by their first 8 bytes: a quarter of the index of
        # the full 32, so a batch of random ids dirties far fewer pages.
        "CREATE INDEX records_id ON records(id_key)",
        "CREATE UNIQUE INDEX records_address ON records(author, kind, slot)",
        # The reconciliation order, covering every column a sync filter reads,
        # so building the (created_at, id) list never touches the table.
        "CREATE INDEX records_sync ON records(created_at, id, expires_at, kind, area)",
        "CREATE INDEX records_category ON records(category, created_at, area, kind, status, expires_at)",
        "CREATE INDEX records_area ON records(area, created_at)",
        "CREATE INDEX records_purge ON records(purge_at)",
        """
        CREATE VIRTUAL TABLE records_fts USING fts5(
            title, body, tags, content='', columnsize=0,
            tokenize='unicode61 remove_diacritics 2'
        )
        """,
    ],
    # Manage tokens of posts made through this node: only a hash is kept, so
    # a copy of the database does not let anyone edit members' posts.
    2: [
        """
        CREATE TABLE manage_tokens (
            author      BLOB NOT NULL,
            kind        TEXT NOT NULL,
            slot        TEXT NOT NULL,
            token_hash  BLOB NOT NULL,
            PRIMARY KEY (author, kind, slot)
        ) WITHOUT ROWID
        """,
    ],
    # The operator's peers and local policy (storage/admin.py).
    3: [
        """
        CREATE TABLE peers (
            url         TEXT PRIMARY KEY,
            public_key  BLOB,
            added_at    INTEGER NOT NULL,
            source      TEXT NOT NULL
        )
        """,
        """
        CREATE TABLE policy (
            subject     TEXT NOT NULL,
            key         BLOB NOT NULL,
            action      TEXT NOT NULL,
            PRIMARY KEY (subject, key)
        ) WITHOUT ROWID
        """,
    ],
    # Peers found by mDNS or peer exchange, and what the node learnt about
    # them: how long they stayed connected (anchors are chosen from the
    # longest-lived), and peer scores, kept across reconnects and restarts.
    4: [
        "ALTER TABLE peers ADD COLUMN last_connected INTEGER",
        "ALTER TABLE peers ADD COLUMN connected_s INTEGER NOT NULL DEFAULT 0",
        """
        CREATE TABLE peer_scores (
            key           BLOB PRIMARY KEY,
            penalty       REAL NOT NULL,
            updated_at    INTEGER NOT NULL,
            banned_until  INTEGER NOT NULL DEFAULT 0
        ) WITHOUT ROWID
        """,
    ],
    # The member web page (issue 5). On records: the languages of a post
    # (" en es ", spaced so a tag is matched whole), filled for older rows by
    # the store after this migration; when the address was first seen open
    # (the first version's created_at, kept across versions; NULL when the
    # first version this node saw was already a tombstone, so the report
    # never invents a fulfilment time); for replies, the post they are about
    # and the node they are sealed to; and the report's groups (area's first
    # 3 characters, the week first seen open) as plain columns, so their
    # index covers the report's query (an index on the expressions measured
    # 40% slower at 100k rows and visits the table). ``own_versions`` remembers every
    # version id of this node's own posts, so a reply about an older version
    # still reaches the poster. ``removals`` are an organizer's decisions
    # (no version of the address is kept again); ``flags`` are members'.
    5: [
        "ALTER TABLE records ADD COLUMN languages TEXT",
        "ALTER TABLE records ADD COLUMN opened_at INTEGER",
        "ALTER TABLE records ADD COLUMN about BLOB",
        "ALTER TABLE records ADD COLUMN recipient BLOB",
        "ALTER TABLE records ADD COLUMN report_area TEXT",
        "ALTER TABLE records ADD COLUMN report_week INTEGER",
        "UPDATE records SET opened_at = created_at WHERE status NOT IN ('fulfilled', 'withdrawn')",
        # Built from the constants the writer uses (storage.weeks), so old rows
        # and new ones fall in the same weeks. A migration never changes once
        # shipped: tests/storage/test_weeks.py pins this text.
        f"UPDATE records SET report_area = substr(area, 1, {REPORT_AREA_CHARS}), "
        f"report_week = {week_of_sql('coalesce(opened_at, created_at)')}",
        "CREATE INDEX records_about ON records(about) WHERE about IS NOT NULL",
        # The community report groups by its first five columns in this order and
        # reads the rest from it: one pass over the index, no sort, no table visit.
        "CREATE INDEX records_report ON records(kind, status, category, report_area, report_week, expires_at, "
        "opened_at, created_at)",
        """
        CREATE TABLE own_versions (
            id      BLOB PRIMARY KEY,
            author  BLOB NOT NULL,
            kind    TEXT NOT NULL,
            slot    TEXT NOT NULL
        ) WITHOUT ROWID
        """,
        "CREATE INDEX own_versions_address ON own_versions(author, kind, slot)",
        """
        CREATE TABLE removals (
            author      BLOB NOT NULL,
            kind        TEXT NOT NULL,
            slot        TEXT NOT NULL,
            record_id   BLOB NOT NULL,
            reason      TEXT NOT NULL,
            removed_at  INTEGER NOT NULL,
            PRIMARY KEY (author, kind, slot)
        ) WITHOUT ROWID
        """,
        """
        CREATE TABLE flags (
            n           INTEGER PRIMARY KEY,
            record_id   BLOB NOT NULL,
            author      BLOB NOT NULL,
            kind        TEXT NOT NULL,
            slot        TEXT NOT NULL,
            reason      TEXT NOT NULL,
            note        TEXT NOT NULL,
            flagged_at  INTEGER NOT NULL
        )
        """,
        "CREATE INDEX flags_record ON flags(record_id)",
    ],
    # The report for a whole year (issue 11): posts live at most 90 days, so
    # when the expiry sweep deletes a need or an offer it first adds it to
    # these counts (by kind, status, category, area's first 3 characters and
    # week first seen open; and for a fulfilled need, how many hours it took).
    # Counts only: nothing here names a post or a person. The report rounds
    # them when it reads them, as it rounds the live posts'.
    6: [
        """
        CREATE TABLE report_archive (
            kind        TEXT NOT NULL,
            status      TEXT NOT NULL,
            category    TEXT NOT NULL,
            report_area TEXT NOT NULL,
            report_week INTEGER NOT NULL,
            count       INTEGER NOT NULL,
            PRIMARY KEY (report_week, kind, status, category, report_area)
        ) WITHOUT ROWID
        """,
        """
        CREATE TABLE fulfilment_archive (
            report_week INTEGER NOT NULL,
            hours       INTEGER NOT NULL,
            count       INTEGER NOT NULL,
            PRIMARY KEY (report_week, hours)
        ) WITHOUT ROWID
        """,
    ],
    # Key recovery and rotation (issue 12, protocol/rotation.py): the recovery
    # key each node's profile named, pinned at first sight and kept after the
    # profile expires; the rotations accepted (old key -> new key); and where
    # each record the old key signed went (its id -> the new key's address),
    # so old links and manage links redirect.
    7: [
        """
        CREATE TABLE recovery_keys (
            node        BLOB PRIMARY KEY,
            recovery    BLOB NOT NULL
        ) WITHOUT ROWID
        """,
        """
        CREATE TABLE rotations (
            old         BLOB PRIMARY KEY,
            new         BLOB NOT NULL,
            recovery    BLOB NOT NULL,
            rotated_at  INTEGER NOT NULL
        ) WITHOUT ROWID
        """,
        """
        CREATE TABLE redirects (
            old_id      BLOB PRIMARY KEY,
            author      BLOB NOT NULL,
            kind        TEXT NOT NULL,
            slot        TEXT NOT NULL
        ) WITHOUT ROWID
        """,
        "CREATE INDEX redirects_author ON redirects(author)",
    ],
    # The live sync sets kept in memory (storage/syncindex.py) drop what
    # expires: this finds the few records whose time ran out since the last
    # look, without reading every row.
    8: [
        "CREATE INDEX records_expiry ON records(expires_at)",
    ],
    # Ingest that stays flat as the store grows (issue 13). Ids are hashes, so
    # an index on them takes every new record at a random page: at 1M records
    # each put dirtied about one page of records_id per record (4 KiB written
    # to the WAL, and again at the checkpoint), half of what a put wrote. The
    # index becomes two tables, looked up together (``storage.rows.id_seqs``):
    # new ids go to a small one whose few pages every batch shares, and the
    # writer moves them into the big one in key order once it holds
    # ``StoreConfig.recent_ids_max`` (one pass over the big one's pages for
    # tens of thousands of ids, instead of a page per id).
    9: [
        "CREATE TABLE record_ids (id_key INTEGER NOT NULL, seq INTEGER NOT NULL, PRIMARY KEY (id_key, seq)) "
        "WITHOUT ROWID",
        "CREATE TABLE record_ids_recent (id_key INTEGER NOT NULL, seq INTEGER NOT NULL, PRIMARY KEY (id_key, seq)) "
        "WITHOUT ROWID",
        "INSERT INTO record_ids SELECT id_key, seq FROM records ORDER BY id_key, seq",
        "DROP INDEX records_id",
    ],
    # Text search that costs the same at a million records as at ten thousand
    # (issue 13): the full-text rows are keyed by (created_at, seq)
    # (storage/text.py text_key), so a search walks the index newest first and
    # stops after a page, and a ``facets`` column holds each record's area
    # prefixes so a search filtered by area skips other rows inside the index.
    # ``text_terms`` lists the terms the member text holds, so a search's last
    # word (a prefix) becomes the terms it completes to. The table is made
    # again and refilled from ``raw`` (``fill_text``).
    10: [
        "DROP TABLE records_fts",
        CREATE_FTS_10,
        CREATE_TERMS,
    ],
    # A change counter every writer's transaction that changes the records
    # adds one to: a node's sync sets (storage/syncindex.py) see from it that
    # another process (a CLI beside the node) wrote or deleted records.
    11: [
        "CREATE TABLE store_meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID",
        "INSERT INTO store_meta VALUES ('changes', 0)",
    ],
    # Ingest that stays flat as the store grows (issue 13): the community
    # report reads counts the writer keeps (storage/tally.py) instead of an
    # index with an insertion point per group, which at a million records
    # dirtied a page per group a batch touched. Counted from the rows here.
    12: [
        *CREATE_TALLY,
        *count_rows("1", 1),
        "DROP INDEX records_report",
    ],
    # Searches that cost the same at a million records (issue 13): one for
    # the kinds other than posts (node profiles, findings, events...), which
    # are few among the posts, reads them by kind instead of walking every
    # row in time order to find them (storage/query.py); partial, so a post
    # adds nothing to it. In the urgency order, each urgency's walk reads only
    # that urgency's rows, so a rare one (a few urgent posts) is not looked
    # for among all the others.
    13: [
        f"CREATE INDEX records_kind ON records(kind, created_at) WHERE {NOT_POSTS}",
        "CREATE INDEX records_urgency ON records(urgency, created_at)",
    ],
    # A search for a language few posts list costs what any other does (issue
    # 13): the ``facets`` column holds each record's languages too
    # (storage/text.py ``language_facets``), so a search for a language few
    # posts list walks that facet instead of reading every row in time order
    # to find them (half a second at a million records). The table is made again and refilled from
    # ``raw``, as migration 10 did: a contentless table's rows cannot be
    # changed in place without their old text. (A file older than 10 fills
    # it twice: 10's fill already writes the languages; 15 fills it again.)
    14: [
        "DROP TABLE records_fts",
        CREATE_FTS_10,
    ],
    # Disk, ingest and searches that stay flat at a million records (issue
    # 13). The text index keeps no positions (``detail=column``: no search
    # matches a phrase), 56 bytes a record less and a fifth less to write,
    # and its facets hold each record's category with each of its languages
    # (storage/text.py ``spoken_facet``, 8 bytes a record) and its area's
    # prefixes of 1 to 3 characters, as they held the 4-character one: the
    # area's own index goes (its random insertion points were a third of the
    # pages a batch dirtied at a million records, and its bytes pay for the
    # tokens). Made again and refilled from ``raw``, as 10 and 14 did. And
    # the sweep's index holds only the rows kept past their own expiry (an
    # older version at their address expires later): every other row is
    # purged at its expiry, found through ``records_expiry``, so that index
    # is not kept twice (15 bytes a record, and one insertion point fewer for
    # each record written).
    15: [
        "DROP TABLE records_fts",
        CREATE_FTS,
        "DROP INDEX records_purge",
        f"CREATE INDEX records_purge ON records(purge_at) WHERE {KEPT_PAST_EXPIRY}",
        "DROP INDEX records_area",
    ],
    # Ingest that stays flat at a million records (issue 13): the address
    # index took each new record at its author's and kind's place in (author,
    # kind, slot) order, a page of its own per record where slots are random
    # (370 of the 1,337 pages one batch of a thousand dirtied at a million
    # records, with the bench's 200 authors and slots numbered in order). It
    # becomes two tables, as the id index did in migration 9 (storage/rows.py
    # ``ADDRESS_COLUMNS``, ``SETTLE``): new addresses go to a small one every
    # batch shares, moved into the big one in key order with the recent ids.
    # A row's address is in one of them; the view ``addresses`` reads both
    # (``seq IN (SELECT seq FROM addresses WHERE ...)``, storage/query.py
    # ``AT_ADDRESS``: a key search in each).
    16: [
        f"CREATE TABLE record_addresses ({ADDRESS_COLUMNS}) WITHOUT ROWID",
        f"CREATE TABLE record_addresses_recent ({ADDRESS_COLUMNS}) WITHOUT ROWID",
        "INSERT INTO record_addresses SELECT author, kind, slot, seq FROM records ORDER BY author, kind, slot",
        "DROP INDEX records_address",
        "CREATE VIEW addresses AS SELECT author, kind, slot, seq FROM record_addresses "
        "UNION ALL SELECT author, kind, slot, seq FROM record_addresses_recent",
    ],
}

SCHEMA_VERSION = max(MIGRATIONS)

FILL_BATCH = 1000


async def fill_languages(db: aiosqlite.Connection) -> None:
    """Migration 5's data step: the languages column of rows stored before it,
    a thousand rows at a time (a Raspberry Pi must not load every record at once);
    only rows whose bytes mention the field are parsed."""
    last = 0
    while True:
        rows = list(
            await db.execute_fetchall(
                "SELECT seq, raw FROM records WHERE seq > ? AND kind IN ('need', 'offer') ORDER BY seq LIMIT ?",
                (last, FILL_BATCH),
            )
        )
        if not rows:
            return
        updates = []
        for seq, raw in rows:
            if b"languages" in raw:
                column = languages_column(parse_record(bytes(raw), validate=False).fields)
                if column is not None:
                    updates.append((column, seq))
        await db.executemany("UPDATE records SET languages = ? WHERE seq = ?", updates)
        last = int(rows[-1][0])


async def fill_text(db: aiosqlite.Connection, *, terms: bool = True) -> None:
    """Migration 10's data step: every row's full-text entry (under its new
    key, with its facets) and its terms, a thousand rows at a time."""
    last = 0
    while True:
        rows = list(
            await db.execute_fetchall(
                "SELECT seq, raw FROM records WHERE seq > ? ORDER BY seq LIMIT ?", (last, FILL_BATCH)
            )
        )
        if not rows:
            return
        entries = [fts_row(int(seq), parse_record(bytes(raw), validate=False)) for seq, raw in rows]
        await db.executemany(INSERT_FTS, entries)
        if terms:
            await keep_terms(db, [entry[1:4] for entry in entries])
        last = int(rows[-1][0])


async def refill_text(db: aiosqlite.Connection) -> None:
    """Migrations 14's and 15's data step: every row's full-text entry again,
    with the facets of this code (the member text, so ``text_terms``, is unchanged)."""
    await fill_text(db, terms=False)


DATA_STEPS: dict[int, Callable[[aiosqlite.Connection], Awaitable[None]]] = {
    5: fill_languages,
    10: fill_text,
    14: refill_text,
    15: refill_text,
}
"""Migrations that need Python after their SQL, in the same transaction."""
