"""Chapter benchmarks (issue 10): a meeting's vote against a real node, and the count.

1. **A chapter of 500 members votes within one minute while the page is
   used.** One real ``mutualaid run`` process (through the CLI, a temporary
   data directory, 127.0.0.1 port 0, no mDNS) pinned to one core; this
   process, the crowd, to the other. The operator's founding sheet makes the
   invites (admin token, 50 a call), 500 members join over HTTP, one of them
   proposes (text, 10 minutes, quorum 50). Then, for one minute of wall time,
   every member casts a ballot (arrivals uniform over the minute, that is a
   Poisson stream of 500; a tenth change their vote once, later), while every
   member's page polls the proposal every few seconds (``POLL_S``, jittered),
   and others browse (the page, searches, the proposals list) and post needs
   (``BROWSE_PER_S``, ``POSTS``). Every member has their own keep-alive
   session. Latencies are measured here, request sent to body read. At the
   end the proposal must have closed with everyone's turnout (the last ballot
   closes it at once) and its decision record must be there.
2. **The count.** In-process: a ``ChapterStore`` whose n members are all the
   electorate of one proposal, n ballots stored through ``Votes.vote`` (the
   fill is not timed as the count, its rate is reported), then
   ``Votes.close(proposal, now, closer.count)``: the closing transaction
   (read every ballot, count, receipts digest, write the result, COMMIT with
   synchronous=FULL). The close runs on copies of the filled file, each
   opened fresh, so it is timed several times on the same ballots (best and
   median). Beside it, the pure count (``tally`` + ``receipts_digest``) of
   the same ballots, and a ranked proposal (instant runoff over 5 options).
   How the close grows: 1k, 10k and 100k ballots. Large fills run on
   /dev/shm when there is one (fsync costs nothing there: 100k members and
   ballots in under a minute); without it the 100k chapter is filled only
   with ``MUTUALAID_BENCH_FULL=1`` (on the disk it takes many minutes). The
   fill rate with a real fsync is the 1k chapter's, filled on the disk;
   every timed close runs on the disk.

``MUTUALAID_BENCH_SCALE`` (default 1) shrinks the member and ballot counts
and the minute, for quick runs while developing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import resource
import shutil
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from bench.bench_node import Cluster, Node, detail
from bench.bench_store import figure, info
from node.chapter.closer import ballot_of, count
from protocol.ballots import Rules, receipt_hash, receipts_digest, tally
from storage.chapter import ChapterStore, NewProposal
from storage.chapter.roll import MAX_LIVE_INVITES

Row = dict[str, Any]
SCALE = float(os.environ.get("MUTUALAID_BENCH_SCALE", "1"))
FULL = os.environ.get("MUTUALAID_BENCH_FULL", "") not in ("", "0")
MEMBERS = max(10, int(500 * SCALE))
MINUTE_S = max(5.0, 60.0 * min(1.0, SCALE))
CHANGERS = 0.1
"""Share of the members who change their vote once."""
POLL_S = 5.0
"""Each member's page reads the proposal about this often (uniform 0.5x to 1.5x)."""
BROWSE_PER_S = 10.0
"""Other page use, all members together: the page, searches, the proposals list (Poisson)."""
POSTS = max(2, int(20 * min(1.0, SCALE)))
"""Needs posted during the minute."""
SEED_POSTS = 50
"""Posts made before the minute, so that searches find something."""
API_P99_MS = 50.0
TALLY_N = max(100, int(10_000 * SCALE))
TALLY_MS = 100.0
CLOSE_COPIES = 5
PURE_REPEATS = 5
RANKED_OPTIONS = 5
INVITES_PER_CALL = 50
CHOICES = (("agree", 0.6), ("disagree", 0.3), ("abstain", 0.1))
_CPUS = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
"""Read at import: ``python -m bench`` pins itself to one core in main()."""


def p99(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=100, method="inclusive")[98] if len(samples) > 1 else samples[0]


def _pick(rng: random.Random) -> str:
    return rng.choices([c for c, _ in CHOICES], [w for _, w in CHOICES])[0]


# -- 1: the meeting ---------------------------------------------------------------------------


@dataclass
class Calls:
    """Latencies (seconds) by kind of call, and the calls that failed."""

    samples: dict[str, list[float]] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    lag: list[float] = field(default_factory=list)
    """How late this process started each scheduled call (its own loop's delay)."""

    def add(self, kind: str, seconds: float) -> None:
        self.samples.setdefault(kind, []).append(seconds)

    def of(self, *kinds: str) -> list[float]:
        return [s for k in kinds for s in self.samples.get(k, [])]


API_KINDS = ("ballot", "proposal", "proposals", "records", "post")
"""The member API calls (``page``, the HTML of /, is counted apart)."""


async def _call(
    calls: Calls, kind: str, session: aiohttp.ClientSession, method: str, url: str, want: int, **kwargs: Any
) -> Any:
    start = time.perf_counter()
    try:
        async with session.request(method, url, **kwargs) as response:
            body = await response.read()
            elapsed = time.perf_counter() - start
            status = response.status
    except aiohttp.ClientError as exc:
        calls.failures.append(f"{kind}: {exc!r}")
        return None
    calls.add(kind, elapsed)
    if status != want:
        calls.failures.append(f"{kind}: HTTP {status} {body[:120]!r}")
        return None
    return json.loads(body) if body[:1] == b"{" else body


async def _at(start: float, offset: float, calls: Calls, job: Callable[[], Awaitable[Any]]) -> None:
    """Run ``job`` ``offset`` seconds after ``start`` (perf_counter), noting how late it began."""
    await asyncio.sleep(max(0.0, start + offset - time.perf_counter()))
    calls.lag.append(time.perf_counter() - (start + offset))
    await job()


@dataclass
class Chapter:
    url: str
    cards: list[str]
    proposal: str


async def make_chapter(url: str, admin_token: str, members: int, rng: random.Random) -> Chapter:
    """Invites from the founding sheet, ``members`` joins, a proposal and some posts."""
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        codes: list[str] = []
        while len(codes) < members:
            body = {"count": min(INVITES_PER_CALL, members - len(codes))}
            headers = {"Authorization": f"Bearer {admin_token}"}
            async with session.post(f"{url}/api/v1/invites", json=body, headers=headers) as response:
                if response.status != 201:
                    raise RuntimeError(f"invites: HTTP {response.status} {await response.text()}")
                codes += [i["code"] for i in (await response.json())["invites"]]
        cards = []
        for n, code in enumerate(codes):
            async with session.post(f"{url}/api/v1/members", json={"code": code, "name": f"Member {n:04d}"}) as r:
                if r.status != 201:
                    raise RuntimeError(f"join: HTTP {r.status} {await r.text()}")
                cards.append((await r.json())["card"])
        proposing = {"type": "text", "title": "Open the pantry on Sundays", "text": "From March, 10 to 14.",
                     "closes_in_minutes": 10, "quorum": 50}  # fmt: skip
        headers = {"Authorization": f"Bearer {cards[0]}"}
        async with session.post(f"{url}/api/v1/proposals", json=proposing, headers=headers) as response:
            if response.status != 201:
                raise RuntimeError(f"propose: HTTP {response.status} {await response.text()}")
            proposal = (await response.json())["proposal"]["id"]
        for n in range(SEED_POSTS):
            async with session.post(f"{url}/api/v1/records", json=_need(n, rng)) as response:
                if response.status != 201:
                    raise RuntimeError(f"post: HTTP {response.status} {await response.text()}")
    return Chapter(url, cards, proposal)


def _need(n: int, rng: random.Random) -> dict[str, Any]:
    return {
        "kind": rng.choice(["need", "offer"]),
        "title": f"Winter coat for a child of eight, number {n}",
        "category": rng.choice(["clothing", "food", "transport"]),
        "area": "u4pru",
        "details": "Warm, any colour; we can collect it on a weekday evening.",
    }


def _browse(chapter: Chapter, calls: Calls, session: aiohttp.ClientSession, card: str, rng: random.Random) -> Any:
    auth = {"Authorization": f"Bearer {card}"}
    what = rng.random()
    if what < 0.2:
        return _call(calls, "page", session, "GET", f"{chapter.url}/", 200, headers={"Accept-Encoding": "gzip"})
    if what < 0.7:
        kind = rng.choice(["need", "offer"])
        query = f"kind={kind}&limit=20" + rng.choice(["", "&category=food", "&category=clothing", "&area=u4pr"])
        return _call(calls, "records", session, "GET", f"{chapter.url}/api/v1/records?{query}", 200)
    return _call(calls, "proposals", session, "GET", f"{chapter.url}/api/v1/proposals?limit=20", 200, headers=auth)


async def _poller(chapter: Chapter, calls: Calls, session: aiohttp.ClientSession, card: str, start: float,
                  rng: random.Random) -> int:  # fmt: skip
    """A member's page reading the proposal every few seconds until the minute is over."""
    url = f"{chapter.url}/api/v1/proposals/{chapter.proposal}"
    auth = {"Authorization": f"Bearer {card}"}
    offset = rng.uniform(0, POLL_S)
    polls = 0
    while offset < MINUTE_S:
        await _at(start, offset, calls, lambda: _call(calls, "proposal", session, "GET", url, 200, headers=auth))
        polls += 1
        offset += rng.uniform(0.5, 1.5) * POLL_S
    return polls


async def meeting(chapter: Chapter, rng: random.Random) -> Calls:
    """The minute: ballots, changes, polls, browsing and posts, all scheduled on wall time."""
    calls = Calls()
    members = len(chapter.cards)
    timeout = aiohttp.ClientTimeout(total=60)
    sessions = [aiohttp.ClientSession(timeout=timeout) for _ in range(members)]
    try:
        # Each member's first ballot at a uniform time in the minute; the last
        # one closes the proposal, so every change comes before it.
        firsts = sorted(rng.uniform(0, MINUTE_S) for _ in range(members))
        order = list(range(members))
        rng.shuffle(order)
        last = firsts[-1]
        jobs: list[Awaitable[Any]] = []
        ballot_url = f"{chapter.url}/api/v1/proposals/{chapter.proposal}/ballots"

        def ballot(member: int, choice: str) -> Callable[[], Awaitable[Any]]:
            auth = {"Authorization": f"Bearer {chapter.cards[member]}"}
            session = sessions[member]
            return lambda: _call(calls, "ballot", session, "POST", ballot_url, 200, json={"choice": choice},
                                 headers=auth)  # fmt: skip

        start = time.perf_counter() + 0.5
        early = [m for m, t in zip(order, firsts, strict=True) if t < 0.8 * last]
        changers = set(rng.sample(early, min(len(early), round(CHANGERS * members))))
        for member, offset in zip(order, firsts, strict=True):
            jobs.append(_at(start, offset, calls, ballot(member, _pick(rng))))
            if member in changers:
                jobs.append(_at(start, rng.uniform(offset, 0.9 * last), calls, ballot(member, _pick(rng))))
        for member in range(members):
            jobs.append(_poller(chapter, calls, sessions[member], chapter.cards[member], start, random.Random(member)))
        offset = rng.expovariate(BROWSE_PER_S)
        while offset < MINUTE_S:
            member = rng.randrange(members)
            jobs.append(_at(start, offset, calls, _bind(_browse, chapter, calls, sessions[member],
                                                         chapter.cards[member], random.Random(offset))))  # fmt: skip
            offset += rng.expovariate(BROWSE_PER_S)
        for n in range(POSTS):
            member = rng.randrange(members)
            post = _bind(_call, calls, "post", sessions[member], "POST", f"{chapter.url}/api/v1/records", 201,
                         json=_need(SEED_POSTS + n, rng))  # fmt: skip
            jobs.append(_at(start, rng.uniform(0, MINUTE_S), calls, post))
        await asyncio.gather(*jobs)
    finally:
        await asyncio.gather(*(s.close() for s in sessions))
    return calls


def _bind(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Callable[[], Any]:
    return lambda: fn(*args, **kwargs)


async def outcome(chapter: Chapter) -> tuple[dict[str, Any], list[dict[str, Any]], float]:
    """The proposal once closed and its decision published (waits up to 30 s), the
    decision records, and how long after the minute that took."""
    auth = {"Authorization": f"Bearer {chapter.cards[0]}"}
    start = time.perf_counter()
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        while True:
            async with session.get(f"{chapter.url}/api/v1/proposals/{chapter.proposal}", headers=auth) as r:
                proposal = (await r.json())["proposal"]
            if proposal["decision"] is not None or time.perf_counter() - start > 30:
                break
            await asyncio.sleep(0.1)
        waited = time.perf_counter() - start
        async with session.get(f"{chapter.url}/api/v1/records?kind=decision") as r:
            decisions = (await r.json())["records"]
    return proposal, decisions, waited


def meeting_rows(workdir: Path) -> list[Row]:
    rng = random.Random(10)
    node_cpus = {_CPUS[-1]} if len(_CPUS) >= 2 else None
    mine = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else set()
    placement = f"node on CPU {_CPUS[-1]}, crowd on CPU {_CPUS[0]}" if node_cpus else "not pinned"
    with Cluster(workdir) as cluster:
        (workdir / "chapter").mkdir(parents=True)
        (workdir / "chapter" / "config.toml").write_text('name = "Bench"\nareas = ["u4pr"]\n')
        node = cluster.start("chapter", cpus=node_cpus)
        if node_cpus:
            os.sched_setaffinity(0, {_CPUS[0]})
        try:
            token = (node.data_dir / "admin.token").read_text().strip()
            t = time.perf_counter()
            chapter = asyncio.run(make_chapter(node.url, token, MEMBERS, rng))
            print(f"  {MEMBERS} members joined and a proposal opened in {time.perf_counter() - t:.1f} s", flush=True)
            cpu0, t0 = node.cpu_seconds(), time.perf_counter()
            load0, crowd0 = os.getloadavg()[0], _own_cpu()
            calls = asyncio.run(meeting(chapter, rng))
            wall = time.perf_counter() - t0
            cores = (node.cpu_seconds() - cpu0) / wall
            crowd = (_own_cpu() - crowd0) / wall
            proposal, decisions, waited = asyncio.run(outcome(chapter))
        finally:
            if node_cpus:
                os.sched_setaffinity(0, mine)
    return _meeting_table(calls, proposal, decisions, waited, (cores, crowd), wall, placement, load0, node)


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _meeting_table(calls: Calls, proposal: dict[str, Any], decisions: list[dict[str, Any]], waited: float,
                   cores: tuple[float, float], wall: float, placement: str, load: float, node: Node,
                   ) -> list[Row]:  # fmt: skip
    rows: list[Row] = []
    api = calls.of(*API_KINDS)
    ok = not calls.failures and len(api) > 1 and p99(api) * 1000 < API_P99_MS
    note = (f"p50 {statistics.median(api) * 1000:.1f} ms, max {max(api) * 1000:.0f} ms, {len(api)} calls in "
            f"{wall:.0f} s, {len(calls.failures)} failed; {placement}")  # fmt: skip
    rows.append(figure(f"chapter of {MEMBERS} votes in {MINUTE_S:.0f} s: member API p99", p99(api) * 1000, "ms",
                       f"< {API_P99_MS:.0f} ms", ok, note=note))  # fmt: skip
    for kind, name in (("ballot", "ballots (cast or change)"), ("proposal", "proposal reads (the page's poll)"),
                       ("proposals", "proposals list"), ("records", "searches"), ("post", "needs posted"),
                       ("page", "the page (GET /, not counted above)")):  # fmt: skip
        got = calls.of(kind)
        if got:
            note = f"p50 {statistics.median(got) * 1000:.1f} ms, max {max(got) * 1000:.0f} ms, {len(got)} calls"
            rows.append(detail(f"  {name}: p99", p99(got) * 1000, "ms", note))
    lag = sorted(calls.lag)
    note = (f"the crowd used {cores[1]:.2f}, its own lag p99 {p99(lag) * 1000:.1f} ms; load average {load:.1f} at "
            "the start (the machine is shared)")  # fmt: skip
    rows.append(detail("  CPU used by the node during the vote", cores[0], "cores", note))
    result = proposal.get("result") or {}
    ours = [d for d in decisions if d.get("proposal") == proposal["id"]]
    closed = proposal["state"] == "closed" and result.get("turnout") == MEMBERS and bool(ours)
    note = (f"{proposal['state']}, turnout {result.get('turnout')}/{proposal['electorate']}, "
            f"{result.get('outcome')}; decision record {'found' if ours else 'MISSING'}, "
            f"{waited:.2f} s after the minute")  # fmt: skip
    rows.append(figure("  the proposal closed with every ballot counted", int(closed), "", "closed, decision",
                       closed, note=note))  # fmt: skip
    if calls.failures:
        rows.append(detail("  failed calls", len(calls.failures), "", calls.failures[0][:100]))
        print("  failures:", *calls.failures[:10], sep="\n    ", flush=True)
        print(node.log_tail(), flush=True)
    return rows


# -- 2: the count -----------------------------------------------------------------------------------


async def fill_members(store: ChapterStore, count_: int, now: int) -> list[bytes]:
    """``count_`` members, joined the way the node joins them (an invite, then ``Roll.join``)."""
    ids: list[bytes] = []
    while len(ids) < count_:
        batch = min(MAX_LIVE_INVITES, count_ - len(ids))
        codes = [os.urandom(32) for _ in range(batch)]
        await store.roll.make_invites(codes, None, now, now + 86_400, None)
        for code in codes:
            member = os.urandom(16)
            await store.roll.join(code, member, f"Member {len(ids):06d}", os.urandom(32), now)
            ids.append(member)
    return ids


def _ranking(rng: random.Random) -> str:
    weights = [0.3, 0.26, 0.2, 0.14, 0.1]
    first = rng.choices(range(1, RANKED_OPTIONS + 1), weights)[0]
    rest = [n for n in range(1, RANKED_OPTIONS + 1) if n != first]
    rng.shuffle(rest)
    return json.dumps([first, *rest[: rng.randrange(RANKED_OPTIONS)]])


async def open_and_fill(store: ChapterStore, members: list[bytes], now: int, rng: random.Random, *,
                        ranked: bool = False) -> tuple[bytes, float]:  # fmt: skip
    """A proposal with every member in its electorate and every member's ballot; the fill's rate."""
    options = tuple(f"Option {n}" for n in range(1, RANKED_OPTIONS + 1)) if ranked else ()
    new = NewProposal(id=os.urandom(16), proposer=members[0], title="Bench", text=None, type="text", effect={},
                      method="ranked" if ranked else "choice", options=options, threshold="majority", quorum=50,
                      ballot="secret", closes_at=now + 3600)  # fmt: skip
    proposal = await store.votes.open(new, now)
    start = time.perf_counter()
    for member in members:
        choice = _ranking(rng) if ranked else _pick(rng)
        await store.votes.vote(proposal.id, member, receipt_hash(os.urandom(16)), choice, now, open_ballot=False)
    return proposal.id, len(members) / (time.perf_counter() - start)


@dataclass
class Filled:
    path: Path
    n: int
    choice: bytes
    ranked: bytes | None
    rate: float
    members_s: float


async def fill_chapter(path: Path, n: int, *, ranked: bool, seed: int) -> Filled:
    rng = random.Random(seed)
    now = int(time.time())
    store = await ChapterStore.open(str(path))
    try:
        t = time.perf_counter()
        members = await fill_members(store, n, now)
        members_s = time.perf_counter() - t
        choice, rate = await open_and_fill(store, members, now, rng)
        ranked_id = (await open_and_fill(store, members, now, rng, ranked=True))[0] if ranked else None
    finally:
        await store.close()
    return Filled(path, n, choice, ranked_id, rate, members_s)


async def time_close(source: Path, workdir: Path, proposal: bytes, copies: int) -> tuple[list[float], ChapterStore]:
    """Seconds of ``Votes.close`` on ``copies`` fresh copies of ``source``; the last copy stays open."""
    times: list[float] = []
    store: ChapterStore | None = None
    for n in range(copies):
        if store is not None:
            await store.close()
        target = workdir / f"close-{n}.db"
        shutil.copyfile(source, target)
        store = await ChapterStore.open(str(target))
        found = await store.votes.get(proposal)  # the proposal's pages read once, as a running node has them
        assert found is not None and found.voted == found.electorate
        start = time.perf_counter()
        closed = await store.votes.close(proposal, found.opened_at + 1, count)
        times.append(time.perf_counter() - start)
        assert closed is not None and closed.result is not None and closed.result["turnout"] == found.electorate
    assert store is not None
    return times, store


def pure_count(rows: list[tuple[bytes, str]], electorate: int, options: int) -> float:
    """Best time of ``tally`` + ``receipts_digest`` over the ballots, parsed beforehand."""
    rules = Rules("ranked" if options else "choice", "majority", 50, electorate, options)
    ballots = [(h, ballot_of(c)) for h, c in rows]
    best = float("inf")
    for _ in range(PURE_REPEATS):
        start = time.perf_counter()
        tally(rules, [b for _, b in ballots])
        receipts_digest(ballots)
        best = min(best, time.perf_counter() - start)
    return best


def _fill_dir(workdir: Path) -> Path:
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK):
        return Path(tempfile.mkdtemp(prefix="mutualaid-bench-chapter-", dir=shm))
    return workdir


async def count_rows_async(workdir: Path) -> list[Row]:
    rows: list[Row] = []
    fast = _fill_dir(workdir)
    try:
        # The 100k chapter fills in under a minute on tmpfs; on a disk, a sync per ballot takes many minutes.
        biggest = FULL or fast != workdir
        sizes = [max(100, TALLY_N // 10), TALLY_N] + ([TALLY_N * 10] if biggest else [])
        # The small chapter is filled on the disk: the fill's rate with a real fsync per ballot.
        on_disk = await fill_chapter(workdir / "fill-disk.db", sizes[0], ranked=False, seed=1)
        rows.append(info(f"  fill: {sizes[0]} ballots through Votes.vote, on disk", on_disk.rate, "ballots/s"))
        closes: dict[int, list[float]] = {}
        for n in sizes:
            filled = on_disk if n == sizes[0] else None
            if filled is None:
                t = time.perf_counter()
                filled = await fill_chapter(fast / f"fill-{n}.db", n, ranked=n == TALLY_N, seed=n)
                where = "tmpfs" if fast != workdir else "disk"
                print(f"  {n} members and ballots filled in {time.perf_counter() - t:.1f} s ({where})", flush=True)
                note = f"{where}: the CPU side of each vote; {n} members joined in {filled.members_s:.1f} s"
                rows.append(detail(f"  fill: {n} ballots through Votes.vote", filled.rate, "ballots/s", note))
            times, store = await time_close(filled.path, workdir, filled.choice, CLOSE_COPIES)
            closes[n] = times
            if n == TALLY_N:
                rows.extend(await _tally_rows(filled, workdir, times, store))
            await store.close()
        rows.extend(_growth_rows(closes, biggest))
    finally:
        if fast != workdir:
            shutil.rmtree(fast, ignore_errors=True)
    return rows


async def _tally_rows(filled: Filled, workdir: Path, times: list[float], store: ChapterStore) -> list[Row]:
    n = filled.n
    best, median = min(times), statistics.median(times)
    rows = [figure(f"close + count of {n} ballots (Votes.close)", median * 1000, "ms", f"< {TALLY_MS:.0f} ms",
                   median * 1000 < TALLY_MS, note=f"median of {len(times)} fresh copies on disk, best "
                   f"{best * 1000:.1f} ms; one transaction, synchronous=FULL")]  # fmt: skip
    ballots = await store.votes.receipts(filled.choice)
    assert len(ballots) == n
    pure = pure_count(ballots, n, 0)
    rows.append(detail("  of which the pure count (tally + receipts digest)", pure * 1000, "ms",
                       f"best of {PURE_REPEATS}", ratio=pure / median))  # fmt: skip
    assert filled.ranked is not None
    ranked_times, ranked_store = await time_close(filled.path, workdir, filled.ranked, CLOSE_COPIES)
    try:
        ranked_ballots = await ranked_store.votes.receipts(filled.ranked)
        closed = await ranked_store.votes.get(filled.ranked)
    finally:
        await ranked_store.close()
    assert closed is not None and closed.result is not None
    rounds = len(closed.result["rounds"])
    median = statistics.median(ranked_times)
    rows.append(figure(f"close + count, ranked: {n} ballots, {RANKED_OPTIONS} options", median * 1000, "ms",
                       f"< {TALLY_MS:.0f} ms", median * 1000 < TALLY_MS,
                       note=f"instant runoff in {rounds} rounds; best {min(ranked_times) * 1000:.1f} ms"))  # fmt: skip
    pure = pure_count(ranked_ballots, n, RANKED_OPTIONS)
    rows.append(detail("  of which the pure count, ranked", pure * 1000, "ms", f"best of {PURE_REPEATS}",
                       ratio=pure / median))  # fmt: skip
    return rows


def _growth_rows(closes: dict[int, list[float]], biggest: bool) -> list[Row]:
    rows = []
    sizes = sorted(closes)
    for n in sizes:
        median = statistics.median(closes[n])
        smaller = closes.get(n // 10)
        ratio = median / statistics.median(smaller) if smaller else None
        note = "growth: time at n / time at n/10" if ratio is not None else ""
        rows.append(detail(f"  close, growth: {n} ballots", median * 1000, "ms", note, ratio=ratio))
    if not biggest:
        note = "skipped: no /dev/shm, and on the disk it fills in minutes (MUTUALAID_BENCH_FULL=1)"
        rows.append(detail(f"  close, growth: {sizes[-1] * 10} ballots", 0.0, "ms", note))
    return rows


# -- entry point ------------------------------------------------------------------------------------


def run() -> list[Row]:
    workdir = Path(tempfile.mkdtemp(prefix="mutualaid-bench-chapter-"))
    try:
        print("  the meeting...", flush=True)
        rows = meeting_rows(workdir)
        print("  the count...", flush=True)
        rows.extend(asyncio.run(count_rows_async(workdir)))
    finally:
        with contextlib.suppress(OSError):
            shutil.rmtree(workdir, ignore_errors=True)
    return rows


if __name__ == "__main__":
    from bench.__main__ import table

    print(table(run()))
