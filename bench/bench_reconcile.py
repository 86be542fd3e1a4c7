"""Cost of range-based reconciliation between two nodes of 100k items each.

Both sides run in one process through ``reconcile_in_memory``, so the byte and
round-trip figures are exact and deterministic (a fixed seed); only the CPU
times vary with the machine, and they are information, not pass or fail.
Items are what the store hands over: timestamps spread over 30 days, random
32-byte ids. Every byte figure is also given as a ratio to the naive sync,
sending every id (32 bytes x n): how many times fewer bytes we send.
"""

from __future__ import annotations

import random
import time
from typing import Any

from protocol.reconcile import Item, ItemSet, ReconcileConfig, ReconcileResult, reconcile_in_memory

Row = dict[str, Any]
N = 100_000
START = 1_800_000_000
SPREAD = 30 * 86_400
SEED = 2024


def items(count: int, rng: random.Random) -> list[Item]:
    return sorted((START + rng.randrange(SPREAD), rng.randbytes(32)) for _ in range(count))


def sides(base: list[Item], differing: list[int]) -> tuple[ItemSet, ItemSet]:
    """Items at the ``differing`` indexes go alternately to A only and to B only."""
    only_a, only_b = set(differing[0::2]), set(differing[1::2])
    a = ItemSet(item for k, item in enumerate(base) if k not in only_b)
    b = ItemSet(item for k, item in enumerate(base) if k not in only_a)
    return a, b


def session(a: ItemSet, b: ItemSet, config: ReconcileConfig) -> tuple[ReconcileResult, float]:
    start = time.process_time()
    result = reconcile_in_memory(a, b, config)
    return result, (time.process_time() - start) * 1000


def scenario(
    name: str, pair: tuple[ItemSet, ItemSet], d: int, rt_target: int | None, byte_target: int | None
) -> list[Row]:
    result, cpu_ms = session(*pair, ReconcileConfig())
    if len(set(result.have_ids)) + len(set(result.need_ids)) != d:  # a figure for a wrong answer is worthless
        raise AssertionError(f"{name}: found {len(result.have_ids)} + {len(result.need_ids)} differences, not {d}")
    naive = 32 * N
    rows: list[Row] = [
        {
            "figure": f"{name}: round trips",
            "value": result.round_trips,
            "unit": "RT",
            "target": f"<= {rt_target} RT" if rt_target else "",
            "ok": result.round_trips <= rt_target if rt_target else None,
        },
        {
            "figure": f"{name}: bytes, both ways",
            "value": result.total_bytes,
            "unit": "B",
            "ratio": naive / result.total_bytes,
            "target": f"< {byte_target:,} B" if byte_target else "",
            "ok": result.total_bytes < byte_target if byte_target else None,
            "note": f"{result.total_bytes / naive:.4%} of sending every id ({naive:,} B; ratio = that / this); "
            f"largest message {max(result.message_sizes):,} B",
        },
        {
            "figure": f"{name}: CPU, both sides",
            "value": cpu_ms,
            "unit": "ms",
            "target": "",
            "ok": None,
            "note": f"found {len(result.have_ids)} have + {len(result.need_ids)} need",
        },
    ]
    return rows


def run() -> list[Row]:
    rng = random.Random(SEED)
    base = items(N, rng)
    builds = []
    for _ in range(3):
        start = time.perf_counter()
        full = ItemSet(base)
        builds.append(time.perf_counter() - start)
    rows: list[Row] = [
        {
            "figure": "build ItemSet of 100k",
            "value": min(builds) * 1000,
            "unit": "ms",
            "target": "",
            "ok": None,
            "note": "checks order, prefix sums; best of 3",
        }
    ]
    rows += scenario("in sync", (full, full), 0, 1, 512)
    # d = 100 recent: the 100 newest items split between the sides, so each holds 100k.
    recent = items(N + 50, rng)
    rows += scenario("d=100 recent", sides(recent, list(range(N - 50, N + 50))), 100, 3, 10_000)
    # d = 1000 scattered: 500 random items only on A, 500 only on B.
    scattered = items(N + 500, rng)
    rows += scenario("d=1000 scattered", sides(scattered, rng.sample(range(N + 500), 1000)), 1000, None, None)
    config = ReconcileConfig()
    for row in rows:
        row.setdefault("ratio", None)
        row.setdefault("note", "")
    rows.append(
        {
            "figure": "config",
            "value": config.branching,
            "unit": "branching",
            "ratio": None,
            "target": "",
            "ok": None,
            "note": f"idlist_threshold={config.idlist_threshold}, max_message_bytes={config.max_message_bytes}",
        }
    )
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
