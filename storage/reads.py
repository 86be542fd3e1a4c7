"""Reads of the records: by id, by address, member queries, the sync index, counts.

On the reader connection (``query_only``; WAL lets it read beside the
writer). Every read takes ``now`` and never returns an expired record,
whatever is still on disk. Records are parsed unvalidated: the store holds
only what was validated when it arrived, and a rule tightened since must not
make old rows unreadable.
"""

from __future__ import annotations

import asyncio
import dataclasses
import sqlite3
from collections.abc import AsyncIterator, Sequence

from protocol.filters import SyncFilter
from protocol.records import Record, parse_record
from storage.query import (
    AT_ADDRESS,
    BY_AUTHOR,
    BY_AUTHOR_KIND,
    Page,
    Query,
    Statement,
    area_probe,
    as_tokens,
    build_statements,
    facet_probe,
    next_cursor,
)
from storage.rows import id_key, id_key_range, id_prefix_bounds, id_seqs
from storage.sqlite import Connection

_CHUNK = 300  # ids per IN (...) lookup, far below SQLite's parameter limit


class Reads:
    def __init__(self, reader: Connection) -> None:
        self._reader = reader

    async def get(self, record_id: bytes, now: int) -> Record | None:
        """The live record with this id (unexpired; tombstones included)."""
        rows = await self._reader.run(
            f"SELECT raw FROM records WHERE seq IN ({id_seqs('id_key = ?1')}) AND id = ?2 AND expires_at > ?3",
            (id_key(record_id), record_id, now),
        )
        return parse_record(bytes(rows[0][0]), validate=False) if rows else None

    async def by_id_prefix(self, prefix: str, now: int, limit: int = 2) -> list[Record]:
        """Up to ``limit`` live records whose id starts with the hex ``prefix``
        (tombstones included): a range of ``id_key`` in the id index, then the exact
        prefix on the id itself (for a prefix longer than 16 characters)."""
        low_key, high_key = id_key_range(prefix)
        low, high = id_prefix_bounds(prefix)
        rows = await self._reader.run(
            f"SELECT raw FROM records WHERE seq IN ({id_seqs('id_key BETWEEN ?1 AND ?2')}) "
            "AND id BETWEEN ?3 AND ?4 AND expires_at > ?5 LIMIT ?6",
            (low_key, high_key, low, high, now, limit),
        )
        return [parse_record(bytes(row[0]), validate=False) for row in rows]

    async def get_by_address(self, author: bytes, kind: str, slot: str, now: int) -> Record | None:
        rows = await self._reader.run(
            f"SELECT raw FROM records WHERE {AT_ADDRESS} AND expires_at > ?",
            (author, kind, slot, now),
        )
        return parse_record(bytes(rows[0][0]), validate=False) if rows else None

    async def signed_by(self, author: bytes, now: int) -> list[Record]:
        """Every live record ``author`` signed (a key rotation re-signs them)."""
        rows = await self._reader.run(
            f"SELECT raw FROM records WHERE {BY_AUTHOR} AND expires_at > ? ORDER BY created_at, seq", (author, now)
        )
        return [parse_record(bytes(row[0]), validate=False) for row in rows]

    async def _rows_by_id(
        self, ids: Sequence[bytes], columns: str, where: str = "", params: Sequence[object] = ()
    ) -> list[sqlite3.Row]:
        """Rows for ``ids`` (first column must be ``id``), looked up by id_key in chunks
        through the id index; rows whose full id is not asked for (an id_key
        collision) are dropped. ``where`` continues the condition with its own ``?``."""
        out: list[sqlite3.Row] = []
        for start in range(0, len(ids), _CHUNK):
            chunk = set(ids[start : start + _CHUNK])
            rows = await self._reader.run(
                f"WITH k(key) AS (VALUES {','.join(['(?)'] * len(chunk))}) SELECT {columns} FROM records "
                f"WHERE seq IN ({id_seqs('id_key IN k')}) {where}",
                [*(id_key(i) for i in chunk), *params],
            )
            out.extend(row for row in rows if bytes(row[0]) in chunk)
        return out

    async def held_ids(self, ids: Sequence[bytes]) -> set[bytes]:
        """Which of ``ids`` this store holds (current versions, expired or not):
        the cheap duplicate check before any signature work."""
        return {bytes(row[0]) for row in await self._rows_by_id(ids, "id")}

    async def get_raw_many(self, ids: Sequence[bytes], now: int) -> list[bytes]:
        """Raw bytes of the live records among ``ids`` (for sending to a peer)."""
        return [bytes(row[1]) for row in await self._rows_by_id(ids, "id, raw", "AND expires_at > ?", [now])]

    async def query(self, query: Query, now: int) -> Page:
        """One page of a member search (``storage.query``), with the cursor of the next."""
        rows: list[sqlite3.Row] = []
        if query.text is not None and not query.text.isascii():  # each word one token of the index
            query = dataclasses.replace(query, text=await asyncio.to_thread(as_tokens, query.text))
        facet_rows = await self._count(facet_probe(query))
        area_rows = await self._count(area_probe(query, facet_rows))
        for sql, params in build_statements(query, now, area_rows, facet_rows):
            rows.extend(await self._reader.run(sql, params))
            if len(rows) > query.limit:
                break
        more = len(rows) > query.limit
        rows = rows[: query.limit]
        records = [parse_record(bytes(row[3]), validate=False) for row in rows]
        cursor = next_cursor(query, (rows[-1][0], rows[-1][1], rows[-1][2])) if more else None
        return Page(records, cursor)

    async def _count(self, probe: Statement | None) -> int | None:
        """A plan's probe counted (None: the plan needs none)."""
        return int((await self._reader.run(*probe))[0][0]) if probe is not None else None

    async def sync_index(self, sync_filter: SyncFilter, now: int) -> list[tuple[int, bytes]]:
        """The live set under ``sync_filter`` as sorted (created_at, id) pairs.

        Only two columns cross into Python; no record is parsed."""
        if not sync_filter.kinds:
            return []
        where, params = filtered_where(sync_filter, now)
        rows = await self._reader.run(
            f"SELECT created_at, id FROM records INDEXED BY records_sync WHERE {where} ORDER BY created_at, id", params
        )
        return [(int(row[0]), bytes(row[1])) for row in rows]

    async def live_raw(self, sync_filter: SyncFilter, now: int, created_from: int = 0, limit: int = -1) -> list[bytes]:
        """Raw bytes of the live records under ``sync_filter`` made at ``created_from`` or
        later, in the order of the sync index, at most ``limit`` (-1: all) (what a bundle
        carries: node/operate/bundle.py, which asks for one more than a bundle holds)."""
        if not sync_filter.kinds:
            return []
        where, params = filtered_where(sync_filter, now)
        rows = await self._reader.run(
            f"SELECT raw FROM records WHERE {where} AND created_at >= ? ORDER BY created_at, id LIMIT ?",
            [*params, created_from, limit],
        )
        return [bytes(row[0]) for row in rows]

    async def counts(self, now: int) -> dict[tuple[str, str], int]:
        """Live records by (kind, status)."""
        rows = await self._reader.run(
            "SELECT kind, status, count(*) FROM records WHERE expires_at > ? GROUP BY kind, status", (now,)
        )
        return {(row[0], row[1]): int(row[2]) for row in rows}

    async def marker(self, author: bytes, kind: str, now: int) -> tuple[int, int]:
        """(how many live records of ``kind`` ``author`` has, the newest one's row
        number): it changes whenever one of them is added, replaced or expires."""
        rows = await self._reader.run(
            f"SELECT count(*), coalesce(max(seq), 0) FROM records WHERE {BY_AUTHOR_KIND} AND expires_at > ?",
            (author, kind, now),
        )
        return int(rows[0][0]), int(rows[0][1])

    async def integrity_check(self) -> str:
        rows = await self._reader.run("PRAGMA integrity_check")
        return "; ".join(str(row[0]) for row in rows)

    async def iter_raw(self, now: int, batch: int = 1000) -> AsyncIterator[bytes]:
        """Every live record's raw bytes, oldest first, a batch at a time."""
        last = -1
        while True:
            rows = await self._reader.run(
                "SELECT seq, raw FROM records WHERE seq > ? AND expires_at > ? ORDER BY seq LIMIT ?",
                (last, now, batch),
            )
            if not rows:
                return
            for row in rows:
                yield bytes(row[1])
            last = int(rows[-1][0])


def filtered_where(sync_filter: SyncFilter, now: int) -> tuple[str, list[object]]:
    """The WHERE clause (and its parameters) of the live records under ``sync_filter``."""
    where = ["expires_at > ?", f"kind IN ({','.join('?' * len(sync_filter.kinds))})"]
    params: list[object] = [now, *sorted(sync_filter.kinds)]
    if sync_filter.areas is not None:
        ranges = ["(area >= ? AND area < ?)" for _ in sync_filter.areas]
        where.append(f"(area IS NULL OR {' OR '.join(ranges) or '0'})")
        for area in sync_filter.areas:
            params.extend([area, area + "~"])
    return " AND ".join(where), params
