"""A big batch's records checked in worker processes, one per core.

Why processes, and why the whole check: during an initial sync on two cores
the node used 1.2 of them. The event loop's thread ran about 80 us of Python
a record under the GIL (decoding and validating 30, the writer's rows, the
sync sets, the feed), and the verify threads, which release the GIL inside
libsodium, waited for it after every signature. Here a worker process is
sent a share of the batch's raw bytes (one message per share, a few hundred
records) and does what needs nothing of the node: decode, field rules, the
clock, the signatures. It sends back per record only the status it found,
the reason it refused, and whether the signatures verify; the loop rebuilds
each good record with ``protocol.records.checked_record`` (6 us instead of
30) and goes on with the checks that read the node's state, in the same
order as ever (``Ingestor.ingest``): the outcome of every record is the one
the inline path gives.

Only for batches we fetched ourselves (a pushed batch's rate limits come
before any signature work) and only with two cores or more: on one core the
hand-off would be pure cost. The processes start in the background on the
first such batch (it is checked inline meanwhile) and stop after
``POOL_IDLE_S`` without one, so an idle node holds none. A worker ignores
Ctrl-C (its node stops it in order) and ends by itself within
``ORPHAN_CHECK_S`` if its node dies unstopped.

Where the work runs (``Placement``): while the processes are up, the event
loop's thread keeps one core to itself (the last of the node's) and a
checker process runs on each of the others (one process on two cores);
SQLite's threads go wherever there is room (but those started meanwhile,
which inherit the loop's core until it is given back). Left to the kernel, the loop
and its SQLite thread handed the GIL to each other across cores and the
loop waited behind a checker for its core: a 100k sync on two cores ran
1.23x the one-core rate (6,134 vs 4,975 rec/s); with the loop on its own
core and one checker on the other, 1.52x (7,479 vs 4,914), with less CPU a
record (204 us instead of 224-231). When the processes stop, every thread
of the node gets all its cores back.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from protocol.errors import RemoteProtocolError, SignatureInvalid
from protocol.records import Record, check_time, parse_record, verify_record
from storage.rows import TextRow, fts_values

log = logging.getLogger("mutualaid.checkers")

VERIFY_SHARE_MIN = 64
"""Fewest records one worker (thread or process) is handed: below that,
splitting a batch costs more in hand-offs than a second core saves."""
POOL_IDLE_S = 60.0
"""The worker processes stop after this long without a batch to check."""
ORPHAN_CHECK_S = 1.0
"""How often a worker process looks whether its node is still there."""

Checked = tuple[str | None, str | None, bool, TextRow | None]
"""Per record: (its status if it decoded, validated and is in time, else None;
the reason it was refused for that, else None; whether its signatures verify;
the full-text values it is stored with, if it is good: work the writer would
otherwise do on the event loop, ``storage.rows.fts_values``)."""


def verify_workers() -> int:
    """How many workers check one batch: one per core this thread may run on
    (read each time, so ``taskset`` on a running node counts)."""
    return len(thread_cores())


def thread_cores() -> frozenset[int]:
    """The cores the calling thread may run on (numbered from 0 where the
    system cannot say which)."""
    if hasattr(os, "sched_getaffinity"):
        return frozenset(os.sched_getaffinity(0)) or frozenset({0})
    return frozenset(range(max(1, os.cpu_count() or 1)))


@dataclass(frozen=True)
class Placement:
    """Where a node's work runs while its checker processes are up."""

    cores: frozenset[int]
    """The cores the node had when they started (given back when they stop)."""
    pinned: bool
    """Whether this system lets a thread be kept to a core (Linux does)."""
    loop_thread: int
    """The event loop's thread (its native id)."""

    @property
    def loop_core(self) -> int:
        """The event loop's own core: the last of the node's."""
        return max(self.cores)

    @property
    def checker_cores(self) -> frozenset[int]:
        return self.cores - {self.loop_core}

    @property
    def workers(self) -> int:
        """One checker process per core but the loop's."""
        return max(1, len(self.cores) - 1)

    @classmethod
    def of_this_thread(cls) -> Placement:
        """Called on the event loop's thread."""
        linux = sys.platform.startswith("linux")  # /proc/self/task and thread affinity
        return cls(thread_cores(), linux, threading.get_native_id())


def _keep_to(thread_id: int, cores: Collection[int]) -> None:
    try:
        os.sched_setaffinity(thread_id, cores)
    except OSError as exc:  # a core gone offline, or a sandbox that forbids it: the kernel places it
        log.debug("could not keep thread %s to cores %s: %s", thread_id, sorted(cores), exc)


def _give_back(placement: Placement) -> None:
    """Every thread of this process kept to the loop's core gets the node's cores again:
    the loop first, whatever happens next, then threads it started meanwhile
    (they inherited its core)."""
    _keep_to(placement.loop_thread, placement.cores)
    try:
        threads = [int(entry.name) for entry in Path("/proc/self/task").iterdir()]
    except (OSError, ValueError) as exc:  # /proc hidden: only the loop is given back
        log.debug("could not list this process's threads: %s", exc)
        return
    for thread in threads:
        with contextlib.suppress(OSError):  # a thread that ended meanwhile
            if os.sched_getaffinity(thread) == {placement.loop_core}:
                _keep_to(thread, placement.cores)


def _stop(pool: concurrent.futures.ProcessPoolExecutor, placement: Placement | None) -> None:
    """In a thread: give the cores back (if they were taken) and stop the
    processes, the second whatever becomes of the first."""
    try:
        if placement is not None and placement.pinned:
            _give_back(placement)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def shares(count: int, workers: int) -> list[range]:
    """Cut ``count`` items into at most ``workers`` contiguous ranges of at least
    ``VERIFY_SHARE_MIN`` (one range when the batch is small)."""
    parts = max(1, min(workers, count // VERIFY_SHARE_MIN))
    size, extra = divmod(count, parts)
    out, start = [], 0
    for part in range(parts):
        end = start + size + (1 if part < extra else 0)
        out.append(range(start, end))
        start = end
    return out


def decoded(raws: Sequence[bytes], now: int) -> Iterator[tuple[int, Record | str]]:
    """Each raw record parsed and timed, or the reason it is refused (inline
    on the loop, or in a checker process)."""
    for index, raw in enumerate(raws):
        try:
            record = parse_record(raw)
            check_time(record, now)
        except RemoteProtocolError as exc:
            yield index, str(getattr(exc, "reason", exc.code))
            continue
        yield index, record


def check_share(raws: Sequence[bytes], now: int) -> tuple[list[Checked], float]:
    """In a worker process: every check of each record that needs nothing but
    its bytes and ``now``; and the CPU seconds the signatures took."""
    found = [record for _, record in decoded(raws, now)]
    verified, verify_s = verify_all([record for record in found if not isinstance(record, str)])
    signatures = iter(verified)
    out: list[Checked] = []
    for record in found:
        if isinstance(record, str):
            out.append((None, record, False, None))
        else:
            ok = next(signatures)
            out.append((record.status, None, ok, fts_values(record.fields) if ok else None))
    return out, verify_s


def verify_all(records: Sequence[Record]) -> tuple[list[bool], float]:
    """Whether each signature verifies, and the CPU seconds it took this thread
    (the clock read before and after them all, not around each: it is a system call)."""
    started = time.thread_time()
    ok = []
    for record in records:
        try:
            verify_record(record)
            ok.append(True)
        except SignatureInvalid:
            ok.append(False)
    return ok, time.thread_time() - started


def _worker_start(node_pid: int, cores: frozenset[int] | None) -> None:
    """A worker runs on ``cores`` (None: where the kernel puts it), leaves
    Ctrl-C to the node, which stops it in order, and ends itself if the node
    dies without stopping it (SIGKILL): nothing else would, as it holds its
    own end of the pipe it waits on."""
    if cores:
        _keep_to(0, cores)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_end_with, args=(node_pid,), name="watch-node", daemon=True).start()


def _end_with(node_pid: int) -> None:
    while os.getppid() == node_pid:
        time.sleep(ORPHAN_CHECK_S)
    os._exit(0)


def _warm() -> int:
    """Run once in each new worker, so the first real share waits for no import."""
    return os.getpid()


def _new_pool(placement: Placement) -> concurrent.futures.ProcessPoolExecutor:
    """A process per checker core, started fresh (``spawn``: the node has
    threads, a fork could copy a lock held by one), and waited for."""
    pool = concurrent.futures.ProcessPoolExecutor(
        max_workers=placement.workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_worker_start,
        initargs=(os.getpid(), placement.checker_cores if placement.pinned else None),
    )
    try:
        for future in [pool.submit(_warm) for _ in range(placement.workers)]:
            future.result()
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    return pool


class Checker:
    """Owns the worker processes (``close`` stops them) and hands them batches."""

    def __init__(self, idle_s: float = POOL_IDLE_S) -> None:
        self.idle_s = idle_s
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None
        self._placement: Placement | None = None  # while the pool is up
        self._starting: asyncio.Task[None] | None = None
        self._idle: asyncio.Task[None] | None = None
        self._used = 0.0
        self._closed = False
        self._failed = False  # the processes could not be started: not tried again

    @property
    def running(self) -> bool:
        """Whether the worker processes are up (the tests ask)."""
        return self._pool is not None

    @property
    def placement(self) -> Placement | None:
        """Where the node's work runs while the processes are up (None: they are not)."""
        return self._placement

    async def started(self) -> bool:
        """Wait for the worker processes being started, if they are; whether they are up."""
        if self._starting is not None:
            await asyncio.shield(self._starting)
        return self._pool is not None

    async def check(self, raws: Sequence[bytes], now: int) -> tuple[list[Checked], float] | None:
        """One ``Checked`` per record in the batch's order, and the signatures'
        CPU seconds; None when the batch is to be checked inline (one core, a
        batch too small to share between two, the processes not up yet or
        one just died)."""
        if len(shares(len(raws), self.cores() or verify_workers())) < 2:
            return None
        self._used = time.monotonic()
        pool = self._ready()
        if pool is None or self._placement is None:
            return None
        ranges = shares(len(raws), self._placement.workers)
        loop = asyncio.get_running_loop()
        try:
            results = await asyncio.gather(
                *(loop.run_in_executor(pool, check_share, raws[r.start : r.stop], now) for r in ranges)
            )
        except concurrent.futures.BrokenExecutor:
            log.warning("a record checker process died; checking inline until new ones start")
            await self._drop(pool)
            return None
        return [item for checked, _ in results for item in checked], sum(cpu for _, cpu in results)

    def _ready(self) -> concurrent.futures.ProcessPoolExecutor | None:
        """The pool if it is up; else start it in the background (this batch is checked inline)."""
        if self._closed or self._failed:
            return None
        if self._pool is not None:
            return self._pool
        if self._starting is None or self._starting.done():
            self._starting = asyncio.create_task(self._start(), name="record checkers start")
        return None

    async def _start(self) -> None:
        placement = Placement.of_this_thread()  # the loop's thread, all the node's cores while none run
        try:
            pool = await asyncio.to_thread(_new_pool, placement)
        except Exception:  # inline from now on: slower on several cores, never wrong
            log.exception("could not start the record checker processes; checking inline")
            self._failed = True
            return
        self._pool, self._placement = pool, placement
        if placement.pinned:
            _keep_to(placement.loop_thread, {placement.loop_core})
        if self._closed:
            await self._drop(pool)
            return
        self._used = max(self._used, time.monotonic())
        if self._idle is None or self._idle.done():
            self._idle = asyncio.create_task(self._stop_when_idle(), name="record checkers idle")

    async def _stop_when_idle(self) -> None:
        while self._pool is not None:
            await asyncio.sleep(max(0.0, self._used + self.idle_s - time.monotonic()))
            if time.monotonic() - self._used >= self.idle_s and self._pool is not None:
                await self._drop(self._pool)

    async def _drop(self, pool: concurrent.futures.ProcessPoolExecutor) -> None:
        placement = self._placement if self._pool is pool else None
        if placement is not None:
            self._pool, self._placement = None, None
        # Started at once and shielded: a close() that cancels the idle task
        # mid-drop must not leave the processes running or the loop pinned.
        await asyncio.shield(asyncio.ensure_future(asyncio.to_thread(_stop, pool, placement)))

    def cores(self) -> int | None:
        """How many cores the node has while the loop's thread is kept to one
        (None: it is not; ask the thread): for verification in threads meanwhile."""
        return len(self._placement.cores) if self._placement is not None else None

    async def close(self) -> None:
        """Stop the worker processes, and any being started; none start after this."""
        self._closed = True
        if self._starting is not None:  # not cancelled: its thread would start the pool all the same
            await asyncio.shield(self._starting)  # and it drops what it started, being closed
        if self._idle is not None and not self._idle.done():
            self._idle.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._idle
        if self._pool is not None:
            await self._drop(self._pool)
