# Big fetched batches checked in worker processes (node/peering/checkers.py):
# real processes, a real RecordStore on a file. The outcomes must be the ones
# the inline path gives, record for record, and the processes must not outlive
# their node.

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from crypto import NodeIdentity
from node.core.clock import ManualClock
from node.core.metrics import Metrics
from node.peering.checkers import VERIFY_SHARE_MIN, Checker, check_share, verify_workers
from node.peering.feed import RecordFeed
from node.peering.ingest import Ingestor
from node.peering.policy import Limits, Policy
from protocol.filters import SyncFilter
from protocol.records import DAY, MAX_FUTURE_SKEW, checked_record, parse_record
from storage import Query, RecordStore
from storage.rows import fts_values
from tests.peering.conftest import make_post

NOW = 1_750_000_000
PEER = NodeIdentity.generate()
TWO_CORES = pytest.mark.skipif(verify_workers() < 2, reason="the checker processes serve two cores or more")


def mixed_batch() -> list[bytes]:
    """Enough good records for two shares, with every kind of refusal among them."""
    author, blocked = NodeIdentity.generate(), NodeIdentity.generate()
    good = [make_post(author, f"Jar of honey {n}", created_at=NOW - 60).raw for n in range(2 * VERIFY_SHARE_MIN)]
    tampered = bytearray(make_post(author, "Paraffin lantern", created_at=NOW - 60).raw)
    tampered[tampered.index(b"lantern")] ^= 0x01  # still well formed, no longer signed
    odd = [
        make_post(author, "Old coat", created_at=NOW - 3 * DAY, ttl_s=DAY).raw,
        make_post(author, "Tomorrow's bread", created_at=NOW + MAX_FUTURE_SKEW + 60).raw,
        bytes(tampered),
        b"\x00junk",
        make_post(blocked, "Spam", created_at=NOW - 60).raw,
        good[3],  # twice in one batch
    ]
    return good[:5] + odd + good[5:]


async def ingestor(path: Path, checker: Checker | None) -> tuple[Ingestor, RecordStore]:
    clock = ManualClock(wall=NOW)
    store = await RecordStore.open(str(path))
    policy = Policy(Limits(), clock)
    ingest = Ingestor(store, RecordFeed(), Metrics(), policy, SyncFilter(areas=("u4pr",)), clock)
    ingest.checker = checker
    return ingest, store


@pytest.fixture
async def checker() -> AsyncIterator[Checker]:
    checker = Checker()
    try:
        yield checker
    finally:
        await checker.close()


def test_a_checked_record_is_the_parsed_record() -> None:
    raw = make_post(NodeIdentity.generate(), "Bread maker", created_at=NOW - 60).raw
    (status, reason, ok, text), *_ = check_share([raw], NOW)[0]
    assert (reason, ok) == (None, True) and status is not None
    parsed, rebuilt = parse_record(raw), checked_record(raw, status)
    assert [getattr(rebuilt, name) for name in parsed.__slots__] == [getattr(parsed, n) for n in parsed.__slots__]
    assert text == fts_values(parsed.fields)  # what the writer indexes it with, computed in the process
    assert text[0] == "Bread maker"


@TWO_CORES
async def test_a_fetched_batch_checked_in_processes_has_the_inline_outcomes(tmp_path: Path, checker: Checker) -> None:
    batch = mixed_batch()
    held = batch[0]
    inline, inline_store = await ingestor(tmp_path / "inline.db", None)
    apart, apart_store = await ingestor(tmp_path / "apart.db", checker)
    try:
        for ingest in (inline, apart):
            ingest.policy.load([("author", parse_record(batch[9]).author, "block")])
            assert await ingest.ingest([held], PEER.public_key) == ["accepted"]
        assert await checker.check(batch, NOW) is None  # declined, and the processes start
        assert await checker.started()
        expected = await inline.ingest(batch, PEER.public_key, solicited=True)
        assert await apart.ingest(batch, PEER.public_key, solicited=True) == expected
        assert expected[0] == "duplicate"
        assert expected[5:8] == ["rejected:expired", "rejected:from_future", "rejected:bad_signature"]
        assert expected[8].startswith("rejected:") and expected[9] == "rejected:blocked_author"
        assert expected.count("accepted") == 2 * VERIFY_SHARE_MIN - 1
        assert inline.policy.penalty(PEER.public_key) == apart.policy.penalty(PEER.public_key)
        ids = [parse_record(raw).id for raw in batch if raw != b"\x00junk"]
        assert await apart_store.reads.held_ids(ids) == await inline_store.reads.held_ids(ids)
        # Indexed for search alike: the text the processes computed is the text the writer would have.
        for text in ("honey", "jar", "lantern"):
            query = Query(text=text, limit=500)
            found = [r.id for r in (await apart_store.reads.query(query, NOW)).records]
            assert found == [r.id for r in (await inline_store.reads.query(query, NOW)).records]
            assert len(found) == (expected.count("accepted") + 1 if text != "lantern" else 0)
    finally:
        await inline_store.close()
        await apart_store.close()


@TWO_CORES
async def test_small_or_pushed_batches_stay_inline(checker: Checker) -> None:
    small = mixed_batch()[: VERIFY_SHARE_MIN + 1]
    assert await checker.check(small, NOW) is None
    assert not checker.running and not await checker.started()  # too small to start them


@TWO_CORES
async def test_the_processes_stop_when_idle_and_start_again(checker: Checker) -> None:
    checker.idle_s = 0.2
    batch = mixed_batch()
    assert await checker.check(batch, NOW) is None
    assert await checker.started()
    checked = await checker.check(batch, NOW)
    assert (
        checked is not None and [ok for _, _, ok, _ in checked[0]].count(False) == 4
    )  # expired, future, tampered, junk
    assert [text is None for _, _, ok, text in checked[0]] == [not ok for _, _, ok, _ in checked[0]]
    while checker.running:  # noqa: ASYNC110 - the idle stop has no event to wait on, by design
        await asyncio.sleep(0.05)
    assert await checker.check(batch, NOW) is None  # declined while they start again
    assert await checker.started()


_ORPHAN = """
import asyncio, os, sys
from node.peering.checkers import Checker
async def main():
    checker = Checker()
    batch = [b"x"] * 200
    await checker.check(batch, 0)
    await checker.started()
    print(" ".join(str(pid) for pid in checker._pool._processes), flush=True)
    await asyncio.sleep(3600)
asyncio.run(main())
"""


@TWO_CORES
def test_the_processes_end_when_their_node_is_killed() -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", _ORPHAN], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    try:
        assert parent.stdout is not None
        pids = [int(pid) for pid in parent.stdout.readline().split()]
        assert len(pids) >= 1
    finally:
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait()
        if parent.stdout is not None:
            parent.stdout.close()
    deadline = time.monotonic() + 60  # a bound on a hang, not a figure: they end within a second or two
    while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(pid) for pid in pids)


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return status[status.rindex(")") + 2] != "Z"


@TWO_CORES
async def test_while_they_run_the_loop_keeps_a_core_and_they_the_others(checker: Checker) -> None:
    cores = os.sched_getaffinity(0)
    loop_core = max(cores)
    assert await checker.check(mixed_batch(), NOW) is None
    assert await checker.started() and checker.placement is not None
    assert checker.placement.cores == cores
    assert os.sched_getaffinity(0) == {loop_core}  # the event loop's thread: this test's
    pids = list(checker._pool._processes) if checker._pool is not None else []
    assert len(pids) == len(cores) - 1
    assert all(os.sched_getaffinity(pid) == cores - {loop_core} for pid in pids)
    # A thread the loop starts meanwhile inherits its core, and gets them all back too.
    running, release, native = threading.Event(), threading.Event(), list[int]()

    def waits() -> None:
        native.append(threading.get_native_id())
        running.set()
        release.wait()

    started = threading.Thread(target=waits)
    started.start()
    try:
        checked = await checker.check(mixed_batch(), NOW)
        assert checked is not None and len(checked[0]) == len(mixed_batch())
        assert checker.cores() == len(cores)  # what verification in threads shares out over meanwhile
        assert await asyncio.to_thread(running.wait, 10)
        assert os.sched_getaffinity(native[0]) == {loop_core}
        await checker.close()
        assert checker.cores() is None
        assert os.sched_getaffinity(0) == cores
        assert os.sched_getaffinity(native[0]) == cores
    finally:
        release.set()
        started.join()
