"""The single writer: every change to the records goes through one task and one connection.

Durability first: the file is in WAL mode with ``synchronous=FULL`` (NORMAL
lost acknowledged rows under simulated power loss on these machines), and a
write returns only after its COMMIT. To pay for FULL's fsyncs, the writer
folds every put waiting in its queue into one transaction (up to
``max_batch_records``), so a burst of small puts costs one commit. Sweeps and
organizers' removals are jobs in the same queue, each its own transaction.

Within a put transaction the writer reads what the batch collides with (the
current version of each address) in a few set queries, asks the pure rule
(``storage.versions.decide``) about each record in arrival order, then
writes. One bad record gets its own ``rejected`` outcome and never spoils the
batch. The store trusts that records were verified
(``protocol.records.accept_record``) before they reach it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import aiosqlite

from protocol.records import IMMUTABLE_KINDS, Record, parse_record, version_key
from protocol.rotation import recovery_fault, rotation_fault
from storage.community import FLAG_DAYS
from storage.errors import StoreClosed
from storage.query import AT_ADDRESS, BY_AUTHOR, address_seqs, at_address_of
from storage.rows import (
    DELETE_ADDRESSES,
    DELETE_FTS,
    DELETE_IDS,
    INSERT_ADDRESS,
    INSERT_FTS,
    INSERT_ID,
    INSERT_RECORD,
    KEPT_PAST_EXPIRY,
    SETTLE,
    Address,
    TextRow,
    fts_row,
    id_key,
    record_row,
)
from storage.sqlite import StoreConfig, translate
from storage.syncindex import Added, Gone
from storage.tally import DROP_EMPTY, count_rows
from storage.text import keep_terms, prune_terms
from storage.versions import Held, PutOutcome, decide
from storage.weeks import EXPIRED_STATUS

log = logging.getLogger(__name__)

_CHUNK = 300  # addresses per lookup; 3 parameters each stays far below SQLite's limit
_SWEEP = (
    "SELECT seq, raw FROM records INDEXED BY records_expiry WHERE expires_at <= ?1 "
    f"AND NOT ({KEPT_PAST_EXPIRY}) ORDER BY expires_at LIMIT ?2",
    f"SELECT seq, raw FROM records INDEXED BY records_purge WHERE purge_at <= ?1 AND {KEPT_PAST_EXPIRY} "
    "ORDER BY purge_at LIMIT ?2",
)
"""The rows a sweep deletes: those whose time is their own expiry, oldest
first, then those kept past it (schema 15's partial ``records_purge``),
oldest first; a later sweep takes what one batch left."""


def _pin(record: Record, pins: dict[bytes, bytes]) -> None:
    """What a record kept in this batch pins, for the batch's later records."""
    if record.kind == "node" and record.get("recovery") is not None:
        pins.setdefault(record.author, bytes(record.get("recovery")))
    elif record.kind == "key_rotation":
        pins.setdefault(bytes(record.get("new")), record.author)


@dataclass
class _PutJob:
    records: Sequence[Record]
    now: int
    future: asyncio.Future[list[PutOutcome]]
    token_hash: bytes | None = None  # for put_own: saved with the record, in its transaction
    own: bool = False  # a version of this node's own post: its id goes in own_versions
    pins: dict[bytes, bytes] | None = None  # recovery keys this node's operator vouches for (key rotate)
    texts: Mapping[bytes, TextRow] | None = None  # record id -> its fts_values, computed elsewhere


@dataclass
class _SweepJob:
    now: int
    future: asyncio.Future[int]


@dataclass
class _RemoveJob:
    address: Address
    record_id: bytes
    reason: str
    now: int
    future: asyncio.Future[bool]


@dataclass
class _RestoreJob:
    record_id: bytes
    future: asyncio.Future[Address | None]


class _Stop:
    """Queued by ``close``: the writer finishes what is ahead of it, then ends."""


_Job = _PutJob | _SweepJob | _RemoveJob | _RestoreJob


class Writer:
    """Started by ``RecordStore.open``; ``close`` finishes queued work first."""

    def __init__(
        self,
        db: aiosqlite.Connection,
        path: str,
        config: StoreConfig,
        removed: set[Address],
        rotated: dict[bytes, bytes] | None = None,
        changes: int | None = None,
    ) -> None:
        self._db = db
        self.path = path
        self.config = config
        self._removed = removed
        """Addresses an organizer removed (``Moderation`` reads the same set):
        no version of them is stored again. Added to once a removal commits."""
        self._rotated = {} if rotated is None else rotated
        """Retired key -> its successor (``Keys`` reads the same map); added to
        once a key rotation commits."""
        self._queue: asyncio.Queue[_Job | _Stop] = asyncio.Queue()
        self._terms_after = ""  # where the sweep's next pass over text_terms starts
        self._next_seq = 1
        self._changes = changes
        """The file's change counter after our last transaction (None: not known yet)."""
        self._added: list[Added] = []  # this transaction's kept records, told once it commits
        self._gone: list[Gone] = []  # and its deleted ones
        self.on_change: Callable[[Sequence[Added], Sequence[Gone]], None] | None = None
        """Told what each committed transaction added and deleted (``storage.syncindex``)."""
        self.on_foreign: Callable[[], None] | None = None
        """Told when another process has written records since our last transaction."""
        self._closed = False
        self._task = asyncio.create_task(self._run(), name=f"record-writer {path}")

    async def close(self) -> None:
        """Finish queued writes, then close the connection."""
        if self._closed:
            return
        self._closed = True
        await self._queue.put(_Stop())
        await self._task
        await self._db.close()

    def changes(self) -> int:
        """The file's change counter (``store_meta``) as this writer last left it."""
        return self._changes or 0

    async def _count_change(self) -> None:
        """Add one to the file's change counter, in the transaction, before COMMIT
        (so a reader that sees the change never takes it for another process's).
        Ahead of what we counted: another process wrote since our last transaction."""
        rows = await self._db.execute_fetchall(
            "UPDATE store_meta SET value = value + 1 WHERE key = 'changes' RETURNING value"
        )
        value = int(next(iter(rows))[0])
        known, self._changes = self._changes, value
        if known is not None and value != known + 1 and self.on_foreign is not None:
            self.on_foreign()

    async def release_memory(self) -> None:
        if not self._closed:
            with translate(self.path):
                await self._db.execute("PRAGMA shrink_memory")

    # -- the jobs callers queue ------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise StoreClosed("the record store is closed")

    async def _submit(self, job: _Job) -> Any:
        self._check_open()
        await self._queue.put(job)
        return await job.future

    async def put_many(
        self,
        records: Sequence[Record],
        now: int,
        *,
        own: bool = False,
        pins: dict[bytes, bytes] | None = None,
        texts: Mapping[bytes, TextRow] | None = None,
    ) -> list[PutOutcome]:
        """Store verified records; one outcome each, in order, after COMMIT.
        ``own``: this node signed them (their ids go in ``own_versions``).
        ``pins``: node key -> recovery key, pinned with them where none is
        (the operator's word, when ``key rotate`` works from the paper alone).
        ``texts``: record id -> its full-text values (``storage.rows.fts_values``)
        where a checker process computed them off the event loop."""
        self._check_open()
        if not records:
            return []
        job = _PutJob(list(records), now, self._future(), own=own, pins=pins, texts=texts)
        outcomes: list[PutOutcome] = await self._submit(job)
        return outcomes

    async def put(self, record: Record, now: int) -> PutOutcome:
        return (await self.put_many([record], now))[0]

    async def put_own(self, record: Record, token_hash: bytes | None, now: int) -> PutOutcome:
        """Store a record this node signed for a member, with the hash of its
        manage token, in one transaction: a post is never stored unmanageable.
        ``token_hash=None``: a new version of a post that has its token already."""
        outcomes: list[PutOutcome] = await self._submit(_PutJob([record], now, self._future(), token_hash, own=True))
        return outcomes[0]

    async def remove(self, address: Address, record_id: bytes, reason: str, now: int) -> bool:
        """An organizer's removal: the address's row is deleted and no version of
        it is stored again. True if a row was deleted (False: already gone)."""
        deleted: bool = await self._submit(_RemoveJob(address, record_id, reason, now, self._future()))
        return deleted

    async def restore(self, record_id: bytes) -> Address | None:
        """Reverse the removal of the post removed as ``record_id``: its address
        may be stored again (a peer's copy comes back at the next
        reconciliation). The address it reopened, or None if there was no such removal."""
        address: Address | None = await self._submit(_RestoreJob(record_id, self._future()))
        return address

    async def sweep(self, now: int) -> int:
        """Delete rows whose time is up (at most ``sweep_batch``); returns how many."""
        swept: int = await self._submit(_SweepJob(now, self._future()))
        return swept

    @staticmethod
    def _future() -> asyncio.Future[Any]:
        return asyncio.get_running_loop().create_future()

    # -- the writer task ---------------------------------------------------------

    async def _run(self) -> None:
        held: _Job | _Stop | None = None  # taken from the queue, not yet run
        while True:
            job = held if held is not None else await self._queue.get()
            held = None
            if isinstance(job, _Stop):
                return
            if isinstance(job, _SweepJob):
                await self._settle([job], self._sweep_rows(job.now))
                continue
            if isinstance(job, _RemoveJob):
                await self._settle([job], self._remove_rows(job))
                continue
            if isinstance(job, _RestoreJob):
                await self._settle([job], self._restore(job.record_id))
                continue
            jobs = [job]
            count = len(job.records)
            while count < self.config.max_batch_records and not self._queue.empty():
                more = self._queue.get_nowait()
                if not isinstance(more, _PutJob):
                    held = more
                    break
                jobs.append(more)
                count += len(more.records)
            await self._settle(jobs, self._write(jobs))

    async def _settle(self, jobs: Sequence[_Job], work: Awaitable[Any]) -> None:
        """Run one transaction and hand its results (or its error) to every waiter."""
        try:
            with translate(self.path):
                result = await work
        except Exception as exc:  # every waiter learns the transaction failed
            with contextlib.suppress(Exception):
                await self._db.execute("ROLLBACK")
            self._added, self._gone = [], []
            for job in jobs:
                if not job.future.done():
                    job.future.set_exception(exc)
            return
        added, gone = self._added, self._gone
        self._added, self._gone = [], []
        if (added or gone) and self.on_change is not None:
            try:
                self.on_change(added, gone)
            except Exception:  # a listener's fault must not stop the writer: it reads everything again
                log.exception("a change listener failed; the sync sets are read again")
                if self.on_foreign is not None:
                    self.on_foreign()
        if not isinstance(jobs[0], _PutJob):
            if not jobs[0].future.done():  # its caller may have been cancelled
                jobs[0].future.set_result(result)
            return
        offset = 0
        for job in jobs:
            assert isinstance(job, _PutJob)
            outcomes = result[offset : offset + len(job.records)]
            offset += len(job.records)
            if not job.future.done():
                job.future.set_result(outcomes)

    # -- put: one transaction for every queued put ---------------------------------

    async def _write(self, jobs: Sequence[_PutJob]) -> list[PutOutcome]:
        db = self._db
        work = [(record, job.now) for job in jobs for record in job.records]
        await db.execute("BEGIN IMMEDIATE")
        # Read under the write lock: another process (a CLI beside the node)
        # may have written since our last transaction.
        rows = list(await db.execute_fetchall("SELECT coalesce(max(seq), 0) FROM records"))
        self._next_seq = int(rows[0][0]) + 1
        # An id names its content, address included, and only the current
        # version of an address is kept: a held id is its address's current row.
        current, stored = await self._current_versions({r.address for r, _ in work})
        pins = await self._pins([r for r, _ in work])
        vouched = {key: value for job in jobs for key, value in (job.pins or {}).items() if key not in pins}
        pins.update(vouched)
        outcomes: list[PutOutcome | None] = [None] * len(work)
        deletes: list[tuple[int, bytes]] = []
        inserts: dict[Address, tuple[Record, Held]] = {}
        removed = self._removed
        # Key rotations after everything else in the batch, so a profile that
        # arrived beside one pins its recovery key first (records come in any order).
        for index in sorted(range(len(work)), key=lambda i: work[i][0].kind == "key_rotation"):
            record, now = work[index]
            fault = self._key_fault(record, pins)
            if fault is not None:
                outcomes[index] = PutOutcome("rejected", record.id, fault)
                continue
            address = record.address
            outcome, kept = decide(
                record.version_key, record.expires_at, current.get(address), now,
                removed=address in removed, immutable=record.kind if record.kind in IMMUTABLE_KINDS else None,
            )  # fmt: skip
            outcomes[index] = outcome
            if kept is not None:
                _pin(record, pins)
                current[address] = kept
                inserts[address] = (record, kept)
                if address in stored:  # the row on disk goes; one replaced in this batch never got there
                    deletes.append(stored.pop(address))
        if deletes:
            await self._delete_rows(deletes)
        if inserts:
            texts = {key: text for job in jobs if job.texts for key, text in job.texts.items()}
            await self._insert(inserts.values(), texts)
        await self._save_own(jobs, inserts)
        rotations = await self._save_keys(inserts, vouched)
        await self._count_change()
        await db.execute("COMMIT")
        for old, new in rotations:
            self._rotated[old] = new
            self._removed.update({(new, kind, slot) for author, kind, slot in list(self._removed) if author == old})
        return [outcome for outcome in outcomes if outcome is not None]

    async def _current_versions(
        self, addresses: set[Address]
    ) -> tuple[dict[Address, Held], dict[Address, tuple[int, bytes]]]:
        """What each address holds, and its row's (seq, raw) for deleting it."""
        current: dict[Address, Held] = {}
        stored: dict[Address, tuple[int, bytes]] = {}
        items = list(addresses)
        for start in range(0, len(items), _CHUNK):
            chunk = items[start : start + _CHUNK]
            params = [value for address in chunk for value in address]
            rows = await self._db.execute_fetchall(
                # VALUES as the outer loop of a join makes each address an index
                # lookup; a row-value IN (VALUES ...) would scan the whole index.
                "SELECT r.seq, r.id, r.created_at, r.purge_at, r.status, r.raw, r.author, r.kind, r.slot, "
                f"r.opened_at FROM (VALUES {','.join(['(?,?,?)'] * len(chunk))}) AS v CROSS JOIN records AS r "
                f"ON r.seq IN ({address_seqs('v.column1', 'v.column2', 'v.column3')})",
                params,
            )
            for seq, record_id, created_at, purge_at, status, raw, author, kind, slot, opened_at in rows:
                address = (bytes(author), kind, slot)
                current[address] = Held(version_key(status, created_at, bytes(record_id)), purge_at, opened_at)
                stored[address] = (seq, bytes(raw))
        return current, stored

    async def _insert(self, inserts: Iterable[tuple[Record, Held]], texts: Mapping[bytes, TextRow]) -> None:
        rows = []
        fts_rows = []
        seq = self._next_seq
        for record, kept in inserts:
            rows.append(record_row(seq, record, kept.purge_at, kept.opened_at))
            fts_rows.append(fts_row(seq, record, texts.get(record.id)))
            seq += 1
        self._next_seq = seq
        await self._db.executemany(INSERT_RECORD, rows)
        if rows:
            for statement in count_rows("seq BETWEEN ? AND ?", 1):  # the report's counts
                await self._db.execute(statement, (rows[0][0], rows[-1][0]))
        await self._db.executemany(INSERT_FTS, fts_rows)
        await keep_terms(self._db, [row[1:4] for row in fts_rows])  # for the last word of a search
        self._added.extend(
            (record.created_at, record.id, record.kind, record.area, record.expires_at) for record, _ in inserts
        )
        await self._db.executemany(INSERT_ID, [(id_key(row[1]), row[0]) for row in rows])
        await self._db.executemany(INSERT_ADDRESS, [(*row[3:6], row[0]) for row in rows])  # author, kind, slot, seq
        await self._settle_recent()

    async def _settle_recent(self) -> None:
        """Move the recent ids and addresses into the big tables, in key order,
        once there are ``recent_ids_max`` ids (schema migrations 9 and 16)."""
        rows = list(await self._db.execute_fetchall("SELECT count(*) FROM record_ids_recent"))
        if int(rows[0][0]) < self.config.recent_ids_max:
            return
        for statement in SETTLE:
            await self._db.execute(statement)

    async def _save_own(self, jobs: Sequence[_PutJob], inserts: dict[Address, tuple[Record, Held]]) -> None:
        """This node's own posts: the manage token of each address this batch
        keeps a version of, and the id of each own version kept."""
        tokens = [
            (*job.records[0].address, job.token_hash)
            for job in jobs
            if job.token_hash is not None and job.records[0].address in inserts
        ]
        if tokens:
            await self._db.executemany("INSERT OR REPLACE INTO manage_tokens VALUES (?, ?, ?, ?)", tokens)
        own = [
            (record.id, *record.address)
            for job in jobs
            if job.own
            for record in job.records
            if inserts.get(record.address, (None,))[0] is record and record.kind != "key_rotation"
        ]
        if own:
            await self._db.executemany("INSERT OR IGNORE INTO own_versions VALUES (?, ?, ?, ?)", own)

    async def _pins(self, records: Sequence[Record]) -> dict[bytes, bytes]:
        """The recovery keys pinned for every key these records' profiles and
        rotations speak of, read under the write lock."""
        keys: set[bytes] = set()
        for record in records:
            if record.kind == "node":
                keys.add(record.author)
            elif record.kind == "key_rotation":
                keys.update((bytes(record.get("old")), bytes(record.get("new"))))
        pins: dict[bytes, bytes] = {}
        items = list(keys)
        for start in range(0, len(items), _CHUNK):
            chunk = items[start : start + _CHUNK]
            rows = await self._db.execute_fetchall(
                f"SELECT node, recovery FROM recovery_keys WHERE node IN ({','.join('?' * len(chunk))})", chunk
            )
            pins.update((bytes(node), bytes(recovery)) for node, recovery in rows)
        return pins

    def _key_fault(self, record: Record, pins: dict[bytes, bytes]) -> str | None:
        """The store's own word on keys (the ingest asked first, but not under
        the write lock): nothing signed by a retired key, no profile that
        changes or drops its pinned recovery key, no rotation but by the pinned
        recovery key (protocol/rotation.py)."""
        if record.author in self._rotated:
            return "key_rotated"
        if record.kind == "node":
            return recovery_fault(record, pins.get(record.author))
        if record.kind == "key_rotation":
            return rotation_fault(record, pins.get(bytes(record.get("old"))), pins.get(bytes(record.get("new"))))
        return None

    async def _save_keys(
        self, inserts: dict[Address, tuple[Record, Held]], vouched: dict[bytes, bytes]
    ) -> list[tuple[bytes, bytes]]:
        """Pin the recovery key a node profile names (the first one stays), and
        carry out each key rotation kept: the old key's records go (each id
        redirected to the new key's address), and what this node keeps about
        them (its own posts' versions and manage tokens, removals) follows the
        new key. ``_key_fault`` checked each one against the pins, in this transaction."""
        rotations = [
            (bytes(record.get("old")), bytes(record.get("new")), record.author, record.created_at)
            for record, _ in inserts.values()
            if record.kind == "key_rotation"
        ]
        pins = [
            (record.author, bytes(record.get("recovery")))
            for record, _ in inserts.values()
            if record.kind == "node" and record.get("recovery") is not None
        ] + [(old, recovery) for old, _, recovery, _ in rotations if vouched.get(old) == recovery]
        db = self._db
        if pins:
            await db.executemany("INSERT OR IGNORE INTO recovery_keys VALUES (?, ?)", pins)
        for old, new, recovery, at in rotations:
            await db.execute("INSERT OR IGNORE INTO rotations VALUES (?, ?, ?, ?)", (old, new, recovery, at))
            await db.execute("INSERT OR IGNORE INTO recovery_keys VALUES (?, ?)", (new, recovery))
            await db.execute("UPDATE redirects SET author = ? WHERE author = ?", (new, old))
            for source in (f"records WHERE {BY_AUTHOR}", "own_versions WHERE author = ?"):
                await db.execute(f"INSERT OR IGNORE INTO redirects SELECT id, ?, kind, slot FROM {source}", (new, old))
            for table in ("own_versions", "manage_tokens", "removals"):
                await db.execute(f"UPDATE OR REPLACE {table} SET author = ? WHERE author = ?", (new, old))
            doomed = await db.execute_fetchall(f"SELECT seq, raw FROM records WHERE {BY_AUTHOR}", (old,))
            await self._delete_rows([(int(seq), bytes(raw)) for seq, raw in doomed])
        return [(old, new) for old, new, _, _ in rotations]

    async def _delete_rows(self, rows: list[tuple[int, bytes]]) -> None:
        # Unvalidated on purpose: a row stored under older rules must still be deletable.
        parsed = [(seq, parse_record(raw, validate=False)) for seq, raw in rows]
        await self._db.executemany(DELETE_FTS, [fts_row(seq, record) for seq, record in parsed])
        for delete in DELETE_IDS:
            await self._db.executemany(delete, [(id_key(record.id), seq) for seq, record in parsed])
        for delete in DELETE_ADDRESSES:
            await self._db.executemany(delete, [(*record.address, seq) for seq, record in parsed])
        seqs = [seq for seq, _ in rows]
        for start in range(0, len(seqs), _CHUNK):  # out of the report's counts, while the rows are there
            chunk = seqs[start : start + _CHUNK]
            for statement in count_rows(f"seq IN ({','.join('?' * len(chunk))})", -1):
                await self._db.execute(statement, chunk)
        await self._db.executemany("DELETE FROM records WHERE seq = ?", [(seq,) for seq in seqs])
        self._gone.extend((record.created_at, record.id) for _, record in parsed)

    # -- sweep and removal ----------------------------------------------------------

    async def _sweep_rows(self, now: int) -> int:
        db = self._db
        await db.execute("BEGIN IMMEDIATE")
        doomed: list[tuple[int, bytes]] = []
        for sql in _SWEEP:  # the rows purged at their expiry, then those kept past it
            rows = await db.execute_fetchall(sql, (now, self.config.sweep_batch - len(doomed)))
            doomed.extend((int(row[0]), bytes(row[1])) for row in rows)
        if doomed:
            await self._archive([seq for seq, _ in doomed])
            await self._delete_rows(doomed)
            await self._count_change()
            for table in ("manage_tokens", "own_versions"):
                await db.execute(
                    f"DELETE FROM {table} WHERE NOT EXISTS "
                    f"({address_seqs(f'{table}.author', f'{table}.kind', f'{table}.slot')})"
                )
        # Flags go with their post (expired or gone), and after FLAG_DAYS in any case.
        await db.execute(
            "DELETE FROM flags WHERE flagged_at <= ? OR NOT EXISTS (SELECT 1 FROM records AS r WHERE "
            f"{at_address_of('flags')} AND r.expires_at > ?)",
            (now - FLAG_DAYS * 86_400, now),
        )
        self._terms_after = await prune_terms(db, self._terms_after)
        for statement in DROP_EMPTY:  # the report's groups whose rows have all gone
            await db.execute(statement)
        await db.execute("COMMIT")
        return len(doomed)

    async def _archive(self, seqs: list[int]) -> None:
        """Add the needs and offers about to be swept to the year's counts
        (``report_archive``, ``fulfilment_archive``), in the sweep's transaction."""
        marks = ",".join("?" * len(seqs))
        await self._db.execute(
            "INSERT INTO report_archive (kind, status, category, report_area, report_week, count) "
            f"SELECT kind, {EXPIRED_STATUS}, category, coalesce(report_area, ''), report_week, count(*) "
            f"FROM records WHERE seq IN ({marks}) AND kind IN ('need', 'offer') AND report_week IS NOT NULL "
            "GROUP BY 1, 2, 3, 4, 5 ORDER BY 5, 1, 2, 3, 4 ON CONFLICT "
            "(report_week, kind, status, category, report_area) DO UPDATE SET count = count + excluded.count",
            seqs,
        )
        await self._db.execute(
            "INSERT INTO fulfilment_archive (report_week, hours, count) "
            "SELECT report_week, (created_at - opened_at) / 3600, count(*) FROM records "
            f"WHERE seq IN ({marks}) AND kind = 'need' AND status = 'fulfilled' AND opened_at IS NOT NULL "
            "AND report_week IS NOT NULL GROUP BY 1, 2 ORDER BY 1, 2 "
            "ON CONFLICT (report_week, hours) DO UPDATE SET count = count + excluded.count",
            seqs,
        )

    async def _remove_rows(self, job: _RemoveJob) -> bool:
        db = self._db
        await db.execute("BEGIN IMMEDIATE")
        rows = await db.execute_fetchall(f"SELECT seq, raw FROM records WHERE {AT_ADDRESS}", job.address)
        doomed = [(int(row[0]), bytes(row[1])) for row in rows]
        if doomed:
            await self._delete_rows(doomed)
            await self._count_change()
        await db.execute("DELETE FROM flags WHERE author = ? AND kind = ? AND slot = ?", job.address)
        await db.execute(
            "INSERT OR REPLACE INTO removals VALUES (?, ?, ?, ?, ?, ?)",
            (*job.address, job.record_id, job.reason, job.now),
        )
        await db.execute("COMMIT")
        self._removed.add(job.address)
        return bool(doomed)

    async def _restore(self, record_id: bytes) -> Address | None:
        db = self._db
        await db.execute("BEGIN IMMEDIATE")
        rows = list(
            await db.execute_fetchall("SELECT author, kind, slot FROM removals WHERE record_id = ?", (record_id,))
        )
        if not rows:
            await db.execute("COMMIT")
            return None
        address: Address = (bytes(rows[0][0]), str(rows[0][1]), str(rows[0][2]))
        await db.execute("DELETE FROM removals WHERE author = ? AND kind = ? AND slot = ?", address)
        await db.execute("COMMIT")
        self._removed.discard(address)
        return address
