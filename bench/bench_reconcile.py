"""Cost of reconciliation between two nodes of 100k items each (and 1M with
``MUTUALAID_BENCH_FULL=1``: about a minute more), version 2 beside version 1.

Both sides run in one process through ``reconcile_in_memory``, so the byte and
round-trip figures are exact and deterministic (a fixed seed); only the CPU
times vary with the machine, and they are information, not pass or fail (the
median of five sessions, both sides together). Items are what the store hands
over: timestamps spread over 30 days, random 32-byte ids, held in the node's
own index, an ``ItemTree``, which keeps the sketch as records arrive and leave
(``Sketch.add``/``remove``, timed too), so a session never builds one; the
tree's build (sketch included) and the sketch's alone are timed on their own.
Ratios: version 1's figure over version 2's (how many times fewer), and for
CPU at 1M, the growth over 100k.
"""

from __future__ import annotations

import os
import random
import statistics
import time
from typing import Any

from protocol.codec import decode, encode
from protocol.itemtree import ItemTree
from protocol.reconcile import (
    FINGERPRINT,
    IDLIST,
    SKIP,
    Item,
    ReconcileConfig,
    Reconciler,
    ReconcileResult,
    reconcile_in_memory,
)
from protocol.sketch import MAX_SUBTABLE, SUBTABLES, Sketch

Row = dict[str, Any]
START = 1_800_000_000
SPREAD = 30 * 86_400
SEED = 2024
FULL = os.environ.get("MUTUALAID_BENCH_FULL", "") not in ("", "0")
SIZES = (100_000, 1_000_000) if FULL else (100_000,)
RUNS = 5
# (name, differences, round-trip target, byte target): issue 13, section 1.
SCENARIOS = (("in sync", 0, 1, 512), ("d=100 recent", 100, 3, 10_000), ("d=1000 scattered", 1000, 4, 100_000))


def items(count: int, rng: random.Random) -> list[Item]:
    return sorted((START + rng.randrange(SPREAD), rng.randbytes(32)) for _ in range(count))


def sides(base: list[Item], differing: list[int]) -> tuple[ItemTree, ItemTree]:
    """Items at the ``differing`` indexes go alternately to A only and to B only."""
    only_a, only_b = set(differing[0::2]), set(differing[1::2])
    a = ItemTree(item for k, item in enumerate(base) if k not in only_b)
    b = ItemTree(item for k, item in enumerate(base) if k not in only_a)
    return a, b


def pairs(n: int, rng: random.Random) -> dict[str, tuple[ItemTree, ItemTree]]:
    """Each scenario's two sides, every side holding ``n`` items."""
    full = ItemTree(items(n, rng))
    recent = items(n + 50, rng)  # the 100 newest split between the sides
    scattered = items(n + 500, rng)  # 500 random items only on A, 500 only on B
    return {
        "in sync": (full, full),
        "d=100 recent": sides(recent, list(range(n - 50, n + 50))),
        "d=1000 scattered": sides(scattered, rng.sample(range(n + 500), 1000)),
    }


def session(a: ItemTree, b: ItemTree, version: int) -> tuple[ReconcileResult, float]:
    """One session's result and the median CPU of ``RUNS`` (ms, both sides)."""
    times, result = [], None
    for _ in range(RUNS if version == 2 else 1):
        start = time.process_time()
        result = reconcile_in_memory(a, b, ReconcileConfig(), version)
        times.append((time.process_time() - start) * 1000)
    assert result is not None
    return result, statistics.median(times)


def check(name: str, result: ReconcileResult, d: int) -> None:
    if len(set(result.have_ids)) + len(set(result.need_ids)) != d:  # a figure for a wrong answer is worthless
        raise AssertionError(f"{name}: found {len(result.have_ids)} + {len(result.need_ids)} differences, not {d}")


def size_rows(n: int, cpu_at_100k: dict[str, float]) -> list[Row]:
    rng = random.Random(SEED)
    label = f"{n // 1000}k" if n < 1_000_000 else f"{n // 1_000_000}M"
    base = items(n, random.Random(SEED + 1))
    start = time.process_time()
    ItemTree(base)
    tree = time.process_time() - start
    start = time.process_time()
    Sketch.build(base)
    built = time.process_time() - start
    del base
    made = pairs(n, rng)
    rows: list[Row] = [
        {"figure": f"{label}: ItemTree built, sketch included", "value": tree * 1000, "unit": "ms",
         "note": f"{tree / n * 1e6:.2f} us an item; once per filter, in the background"},
        {"figure": f"{label}: the sketch alone, built", "value": built * 1000, "unit": "ms",
         "note": f"{built / n * 1e6:.2f} us an item (of the tree's build); then kept by add/remove"},
    ]  # fmt: skip
    for name, d, rt_target, byte_target in SCENARIOS:
        a, b = made[name]
        new, cpu = session(a, b, 2)
        old, old_cpu = session(a, b, 1)
        check(name, new, d)
        check(f"{name}, version 1", old, d)
        cpu_at_100k.setdefault(name, cpu)
        rows += [
            {"figure": f"{label} {name}: round trips", "value": new.round_trips, "unit": "RT",
             "ratio": old.round_trips / new.round_trips, "target": f"<= {rt_target} RT",
             "ok": new.round_trips <= rt_target, "note": f"version 1: {old.round_trips} RT"},
            {"figure": f"{label} {name}: bytes, both ways", "value": new.total_bytes, "unit": "B",
             "ratio": old.total_bytes / new.total_bytes, "target": f"< {byte_target:,} B",
             "ok": new.total_bytes < byte_target,
             "note": f"version 1: {old.total_bytes:,} B; largest message {max(new.message_sizes):,} B; "
             f"{new.total_bytes / (32 * n):.3%} of sending every id"},
            {"figure": f"{label} {name}: CPU, both sides", "value": cpu, "unit": "ms",
             "ratio": cpu / cpu_at_100k[name] if n > 100_000 else None,
             "note": f"version 1: {old_cpu:,.1f} ms" + ("; ratio = growth over 100k" if n > 100_000 else "")},
        ]  # fmt: skip
    rows += sketch_costs(label, *made["d=1000 scattered"])
    rows.append(hostile_message(label, made["in sync"][0], rng))
    return rows


HOSTILE_SHAPES = {"differing fingerprints": FINGERPRINT, "matching fingerprints": FINGERPRINT,
                  "SKIPs": SKIP, "empty id lists": IDLIST}  # fmt: skip


def hostile_packing(tree: ItemTree, shape: str, count: int, rng: random.Random) -> bytes:
    """A version 1 message of ``count`` ranges of one shape at random bounds of our items."""
    mode = HOSTILE_SHAPES[shape]
    ranges: list[Any] = []
    lo, prev = 0, 0
    for index in sorted(rng.sample(range(1, len(tree)), count)):
        ts, id_ = tree.item(index)
        bound = (ts, id_[:2])
        hi = tree.index(bound)
        payload: Any = {FINGERPRINT: rng.randbytes(16), SKIP: None, IDLIST: []}[mode]
        if shape == "matching fingerprints":
            payload = tree.fingerprint(lo, hi)
        ranges.append([ts - prev + 1, bound[1], mode, payload])
        lo, prev = hi, ts
    ranges.append([0, b"", SKIP, None])
    return encode([1, ranges])


def hostile_message(label: str, tree: ItemTree, rng: random.Random) -> Row:
    """Responder CPU for the costliest message a peer can pack into one frame:
    as many ranges as fit, of each shape (the worst shape is the figure)."""
    config = ReconcileConfig()
    costs: dict[str, tuple[float, int]] = {}
    for shape, mode in HOSTILE_SHAPES.items():
        count = config.max_message_bytes // (6 if mode != FINGERPRINT else 24)
        message = hostile_packing(tree, shape, count, rng)
        while len(message) > config.max_message_bytes:
            count = count * 97 // 100
            message = hostile_packing(tree, shape, count, rng)
        times = []
        for _ in range(RUNS):
            start = time.process_time()
            Reconciler(tree, config).respond(message)
            times.append((time.process_time() - start) * 1000)
        costs[shape] = (statistics.median(times), count)
    worst = max(cost for cost, _ in costs.values())
    shapes = "; ".join(f"{shape} ({count:,}): {cost:.1f}" for shape, (cost, count) in costs.items())
    return {"figure": f"{label}: a hostile version 1 message", "value": worst, "unit": "ms", "target": "< 100 ms",
            "ok": worst < 100, "note": f"64 KiB of ranges, responder CPU, the worst of: {shapes} ms"}  # fmt: skip


def sketch_costs(label: str, a: ItemTree, b: ItemTree) -> list[Row]:
    """What a sketch costs each side: the responder answering a request of the
    largest size after its set changed (fold and encode), and the initiator
    taking a hostile reply whose every cell is pure (the most peeling there is)."""
    config = ReconcileConfig()
    asking = Reconciler(a, config)
    split = Reconciler(b, config).respond(asking.initiate())
    request = asking.receive(split)
    assert request is not None
    value = decode(request)
    assert isinstance(value, list) and len(value) == 3 and isinstance(value[2], int)
    size = value[2]
    serve, take = [], []
    rng = random.Random(SEED)
    for _ in range(RUNS):
        b.add(START, rng.randbytes(32))  # a change: the fold is made again
        start = time.process_time()
        Reconciler(b, config).respond(request)
        serve.append((time.process_time() - start) * 1000)
        hostile = Sketch(size)
        for _ in range(SUBTABLES * size):
            hostile.add(START, rng.randbytes(32))
        victim = Reconciler(a, config)
        victim.receive(Reconciler(b, config).respond(victim.initiate()))
        start = time.process_time()
        victim.receive(encode([2, [[0, b"", SKIP, None]], hostile.encode()]))  # peels, checks, falls back
        take.append((time.process_time() - start) * 1000)
    return [
        {"figure": f"{label}: serving a sketch request", "value": statistics.median(serve), "unit": "ms",
         "note": f"{size} of {MAX_SUBTABLE} cells per subtable, folded after a change; responder CPU"},
        {"figure": f"{label}: a hostile sketch reply", "value": statistics.median(take), "unit": "ms",
         "target": "< 100 ms", "ok": statistics.median(take) < 100,
         "note": "every cell pure: peeled, ids checked, then ranges go on; initiator CPU"},
    ]  # fmt: skip


def change_cost() -> Row:
    """Microseconds to keep a sketch up to date per record added or removed."""
    rng = random.Random(SEED)
    batch = [(START + rng.randrange(SPREAD), rng.randbytes(32)) for _ in range(20_000)]
    sketch = Sketch()
    start = time.process_time()
    for ts, id_ in batch:
        sketch.add(ts, id_)
    for ts, id_ in batch:
        sketch.remove(ts, id_)
    per = (time.process_time() - start) / (2 * len(batch)) * 1e6
    return {"figure": "sketch add or remove", "value": per, "unit": "us", "note": "3 cells; independent of n"}


def run() -> list[Row]:
    cpu_at_100k: dict[str, float] = {}
    rows = [change_cost()]
    for n in SIZES:
        rows += size_rows(n, cpu_at_100k)
    if not FULL:
        rows.append({"figure": "1M rows", "value": 0, "unit": "", "note": "skipped: MUTUALAID_BENCH_FULL=1"})
    config = ReconcileConfig()
    rows.append(
        {"figure": "config", "value": config.branching, "unit": "branching",
         "note": f"idlist_threshold={config.idlist_threshold}, initiator's {config.initiator_idlist_threshold}, "
         f"sketch from {config.sketch_min_ranges} differing ranges, max_message_bytes={config.max_message_bytes}"}
    )  # fmt: skip
    for row in rows:
        for key in ("ratio", "target", "ok", "note"):
            row.setdefault(key, None if key in ("ratio", "ok") else "")
    return rows


def table(rows: list[Row]) -> str:
    header = ["figure", "value", "unit", "ratio", "target", "ok", "note"]
    lines = [
        [
            str(row["figure"]),
            f"{row['value']:,.1f}" if isinstance(row["value"], float) else f"{row['value']:,}",
            str(row["unit"]),
            "" if row.get("ratio") is None else f"{row['ratio']:,.1f}",
            str(row.get("target", "")),
            {True: "yes", False: "NO", None: ""}[row.get("ok")],
            str(row.get("note", "")),
        ]
        for row in rows
    ]
    widths = [max(len(cell) for cell in column) for column in zip(header, *lines, strict=False)]
    out = [" | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    out.append("-+-".join("-" * w for w in widths))
    out.extend(" | ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) for line in lines)
    return "\n".join(out)


if __name__ == "__main__":
    print(table(run()))
