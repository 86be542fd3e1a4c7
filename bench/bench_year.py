"""The mass line's costs (issue 11): a report over a whole year, and the calendar feed.

- **The 52-week report at 100k posts.** Posts are spread over 52 weeks; each
  is stored as its node would have stored it when it arrived (so the older
  ones, long expired now, were live then), a third of the needs are then
  fulfilled, and the expiry sweep runs at today's date as a node's would:
  it counts what it deletes into the year's archive. The report over 52
  weeks then reads the ~25k posts still held and the archive's counts; it is
  timed as the endpoint runs it (the HTTP hop left out), beside the report
  over 13 weeks, in the same run. Target: p99 under 200 ms.
- **``/calendar.ics`` with 500 events, 100 of them repeating**, from a real
  node process over HTTP (keep-alive), p99; target under 50 ms. Two figures:
  polls of an unchanged feed (the node keeps it made), and polls each right
  after one event was changed (the feed made again from the parts it kept:
  the changed event is written anew, the others are joined as they were);
  beside them, the first poll, when every event is written.
  The size of the feed is reported too.

``MUTUALAID_BENCH_SCALE`` (default 1) scales the post count for quick runs.
"""

from __future__ import annotations

import asyncio
import gc
import http.client
import json
import os
import random
import statistics
import tempfile
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.bench_store import figure, info, p99
from bench.corpus import _WEIGHTS, CATEGORIES, GEOHASH, NOW, TOWNS, WORDS, authors
from node.members.report import compute
from protocol.records import DAY, MAX_TTL, Record, build_record, new_version
from storage import RecordStore
from storage.community import CommunityStore
from tests._launch import NodeProcess, NodeStartError, run_args

Row = dict[str, Any]
SCALE = float(os.environ.get("MUTUALAID_BENCH_SCALE", "1"))
N = max(2000, int(100_000 * SCALE))
RUNS = 100
EVENTS, REPEATING = 500, 100
CALENDAR_RUNS = 300
FRESH_RUNS = 40
ZONES = ("America/Chicago", "Europe/Madrid", "America/Mexico_City", "Africa/Lagos", "UTC")


def year_of_posts(count: int, seed: int) -> Iterator[Record]:
    rng = random.Random(seed)
    identities = authors(100, seed)
    span = 52 * 7 * DAY
    for index in range(count):
        created = NOW - span + index * span // count
        body: dict[str, object] = {
            "kind": "need" if rng.random() < 0.6 else "offer",
            "slot": f"y{seed}-{index}",
            "created_at": created,
            "expires_at": created + rng.choice((30 * DAY, 60 * DAY, MAX_TTL)),
            "status": "open",
            "title": " ".join(rng.choices(WORDS, _WEIGHTS, k=rng.randint(2, 6))).capitalize(),
            "category": rng.choice(CATEGORIES),
            "area": rng.choice(TOWNS) + rng.choice(GEOHASH),
        }
        yield build_record(rng.choice(identities), body)


async def _store_as_it_arrived(store: RecordStore, records: list[Record]) -> None:
    """Each record stored about when it arrived (then it was live): in batches
    spanning under a day, each stored with its last record's time as ``now``."""
    size = max(1, len(records) // 400)
    for start in range(0, len(records), size):
        batch = records[start : start + size]
        outcomes = await store.writer.put_many(batch, batch[-1].created_at)
        assert all(o.status == "accepted" for o in outcomes), {o.status for o in outcomes}


async def year_report(workdir: Path) -> list[Row]:
    path = str(workdir / "year.db")
    store = await RecordStore.open(path)
    rng = random.Random(7)
    signers = {identity.public_key: identity for identity in authors(100, 31)}
    try:
        started = time.perf_counter()
        opened = list(year_of_posts(N, 31))
        await _store_as_it_arrived(store, opened)
        closed = []
        for record in opened:
            if record.kind == "need" and rng.random() < 0.35:
                later = min(record.expires_at - 60, record.created_at + rng.randint(3600, 14 * DAY))
                closed.append(new_version(signers[record.author], record, later, {"status": "fulfilled"}))
        closed.sort(key=lambda r: r.created_at)
        await _store_as_it_arrived(store, closed)
        build_s = time.perf_counter() - started
        del opened, closed
        gc.collect()
        started = time.perf_counter()
        swept = 0
        while removed := await store.writer.sweep(NOW):
            swept += removed
        sweep_s = time.perf_counter() - started
        held = await store.reads.counts(NOW)
        community = await CommunityStore.open(path)
        try:
            year, quarter = [], []
            report: dict[str, Any] = {}
            for _ in range(RUNS):
                started = time.perf_counter()
                report = await compute(community, 52, NOW)
                json.dumps(report)
                year.append(time.perf_counter() - started)
                started = time.perf_counter()
                json.dumps(await compute(community, 13, NOW))
                quarter.append(time.perf_counter() - started)
        finally:
            await community.close()
    finally:
        await store.close()
    live = sum(n for (kind, _), n in held.items() if kind in ("need", "offer"))
    counted = (report["totals"]["needs"] or 0) + (report["totals"]["offers"] or 0)
    return [
        info(f"year corpus: {N} posts over 52 weeks, stored as they arrived (build s)", build_s, "s"),
        info(f"expiry sweep: {swept} posts counted into the archive and deleted (s)", sweep_s, "s"),
        figure(f"report p99 over 52 weeks, {N // 1000}k posts ({live} held, the rest archived)",
               p99(year) * 1000, "ms", "< 200 ms", p99(year) < 0.2,
               note=f"p50 {statistics.median(year) * 1000:.1f} ms; {counted} posts counted (rounded)"),
        figure("report p99 over 13 weeks, same store (for comparison)", p99(quarter) * 1000, "ms", "", None,
               ratio=p99(year) / p99(quarter), note="ratio: 52 weeks / 13 weeks"),
    ]  # fmt: skip


def _events(base_url: str, token: str) -> list[str]:
    """Publishes the events; their ids."""
    ids = []
    parts = urllib.parse.urlsplit(base_url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
    rng = random.Random(11)
    kinds = ("meeting", "assembly", "teach-in", "study-group", "distribution", "skill-share", "clinic", "other")
    try:
        for n in range(EVENTS):
            day = 2 + n % 300
            start = time.strftime("%Y-%m-%dT%H:00", time.gmtime(time.time() + day * DAY))
            end = start[:11] + f"{int(start[11:13]) + 1:02d}:30" if int(start[11:13]) < 22 else start[:11] + "23:30"
            body: dict[str, Any] = {"title": f"Gathering {n}", "what": rng.choice(kinds), "start": start,
                                    "end": end, "tz": rng.choice(ZONES), "area": "u4pr",
                                    "venue": "The public library, room 2",
                                    "details": "Bring a friend. " * 5}  # fmt: skip
            if n < REPEATING:
                body["rrule"] = rng.choice(("FREQ=WEEKLY;COUNT=12", "FREQ=DAILY;COUNT=10", "FREQ=MONTHLY;COUNT=6"))
            data = json.dumps(body).encode()
            conn.request("POST", "/api/v1/events", data, {"Content-Type": "application/json",
                                                           "Authorization": f"Bearer {token}"})  # fmt: skip
            response = conn.getresponse()
            answer = response.read()
            if response.status != 201:
                raise RuntimeError(f"an event was refused: {response.status} {answer[:300]!r}")
            ids.append(json.loads(answer)["event"]["id"])
    finally:
        conn.close()
    return ids


def _get(conn: http.client.HTTPConnection, path: str) -> tuple[float, bytes]:
    started = time.perf_counter()
    conn.request("GET", path)
    response = conn.getresponse()
    body = response.read()
    took = time.perf_counter() - started
    assert response.status == 200 and body.count(b"BEGIN:VEVENT") == EVENTS, response.status
    return took, body


def _rename(conn: http.client.HTTPConnection, token: str, event_id: str, n: int) -> str:
    """Changes one event (a new version, a new id): the next poll makes the feed afresh."""
    data = json.dumps({"title": f"Gathering, moved {n}"}).encode()
    conn.request("PATCH", f"/api/v1/events/{event_id}", data, {"Content-Type": "application/json",
                                                                 "Authorization": f"Bearer {token}"})  # fmt: skip
    response = conn.getresponse()
    answer = response.read()
    if response.status != 200:
        raise RuntimeError(f"an edit was refused: {response.status} {answer[:300]!r}")
    return str(json.loads(answer)["event"]["id"])


def calendar_feed(workdir: Path) -> list[Row]:
    data = workdir / "calendar-node"
    data.mkdir(parents=True)
    (data / "config.toml").write_text('name = "Bench chapter"\nareas = ["u4pr"]\n')
    process = NodeProcess(run_args(data))
    try:
        url = process.wait_ready()
    except NodeStartError as exc:
        process.kill()
        raise RuntimeError(f"the node did not start: {exc}") from None
    try:
        token = (data / "admin.token").read_text().strip()
        ids = _events(url, token)
        parts = urllib.parse.urlsplit(url)
        conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
        latencies, afresh, size = [], [], 0
        try:
            whole, _ = _get(conn, "/calendar.ics")  # the first poll: every event written
            for n in range(FRESH_RUNS):  # a change, then a poll: the feed is made again from the records
                ids[n] = _rename(conn, token, ids[n], n)
                took, _ = _get(conn, "/calendar.ics")
                afresh.append(took)
            for _ in range(CALENDAR_RUNS):  # polls of an unchanged feed, as calendar apps poll
                took, body = _get(conn, "/calendar.ics")
                latencies.append(took)
                size = len(body)
        finally:
            conn.close()
    finally:
        process.stop(30)
    return [
        figure(f"/calendar.ics p99, {EVENTS} events ({REPEATING} repeating)", p99(latencies) * 1000, "ms",
               "< 50 ms", p99(latencies) < 0.05,
               note=f"p50 {statistics.median(latencies) * 1000:.1f} ms; {size:,} bytes, {len(ZONES)} time zones; "
                    "polls of an unchanged feed (kept made)"),
        figure(f"/calendar.ics p99 made afresh after a change, {EVENTS} events", p99(afresh) * 1000, "ms",
               "< 50 ms", p99(afresh) < 0.05,
               note=f"p50 {statistics.median(afresh) * 1000:.1f} ms; {FRESH_RUNS} polls, each after one event's edit"),
        figure(f"/calendar.ics first poll, {EVENTS} events all written", whole * 1000, "ms", "", None,
               note="once after a start, or after every event arrived at once; no parts kept yet"),
    ]  # fmt: skip


def run() -> list[Row]:
    with tempfile.TemporaryDirectory(prefix="mutualaid-bench-") as tmp:
        rows = asyncio.run(year_report(Path(tmp)))
        return rows + calendar_feed(Path(tmp))
