# A process for test_durability to kill: it writes random batches of signed
# records into a RecordStore forever and acknowledges each batch on stdout
# only after put_many has returned (that is, after COMMIT).
#
#     python -m tests.storage._crash_writer DB SEED
#
# One line per accepted record: "<id hex> <author hex> <kind> <slot> <created_at> <status>".
# About one record in five is a new version (an edit, a claim, a withdrawal)
# of one written earlier, so replacement and its FTS deletes are crashed too.
# A killed batch may have committed without its lines; so the invariant the
# test checks is "each acknowledged record, or a newer version of it, is there".

from __future__ import annotations

import asyncio
import random
import sys
from collections.abc import Sequence

from crypto import NodeIdentity
from protocol.records import DEFAULT_TTL, Record, build_record, new_version
from storage import RecordStore
from storage.versions import PutOutcome

NOW = 1_800_000_000
WORDS = ["soup", "coats", "bread", "lift", "tools", "café", "blankets", "repair", "garden", "books"]
CATEGORIES = ["food", "clothing", "transport", "tools", "housing"]
AREAS = ["u4pru", "u4prv", "u4", "u5bcd", "v0"]
STATUSES = ["open", "claimed", "fulfilled", "withdrawn"]


def fresh_record(rng: random.Random, author: NodeIdentity, slot: str, now: int) -> Record:
    created = now - rng.randrange(1000)
    title = " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 5)))
    return build_record(
        author,
        {
            "kind": rng.choice(["need", "offer"]),
            "slot": slot,
            "created_at": created,
            "expires_at": created + DEFAULT_TTL,
            "status": rng.choice(["open", "claimed"]),
            "title": title,
            "category": rng.choice(CATEGORIES),
            "area": rng.choice(AREAS),
            "details": " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 40))),
        },
    )


def next_batch(
    rng: random.Random, seed: int, authors: list[NodeIdentity], live: list[tuple[NodeIdentity, Record]], now: int
) -> list[Record]:
    batch: list[Record] = []
    edited: set[int] = set()
    for _ in range(rng.randint(1, 50)):
        index = rng.randrange(len(live)) if live else -1
        if index >= 0 and rng.random() < 0.2 and index not in edited and not live[index][1].is_tombstone:
            edited.add(index)
            author, old = live[index]
            record = new_version(author, old, now, {"status": rng.choice(STATUSES), "title": rng.choice(WORDS)})
            live[index] = (author, record)
        else:
            author = rng.choice(authors)
            record = fresh_record(rng, author, f"w{seed}-{len(live)}", now)
            live.append((author, record))
        batch.append(record)
    return batch


def acknowledge(batch: Sequence[Record], outcomes: Sequence[PutOutcome], who: str) -> None:
    """Print a line per record stored (id, author, kind, slot, created_at, status):
    called only once ``put_many`` has returned, after COMMIT. A record the
    writer made itself is never refused."""
    lines = []
    for record, outcome in zip(batch, outcomes, strict=True):
        if outcome.status != "accepted":
            raise SystemExit(f"{who}: {outcome} for a record it made itself")
        lines.append(
            f"{record.id.hex()} {record.author.hex()} {record.kind} {record.slot} {record.created_at} {record.status}\n"
        )
    sys.stdout.write("".join(lines))
    sys.stdout.flush()


async def write_forever(path: str, seed: int) -> None:
    rng = random.Random(seed)
    authors = [NodeIdentity.from_seed(rng.randbytes(32)) for _ in range(4)]
    live: list[tuple[NodeIdentity, Record]] = []
    store = await RecordStore.open(path)
    now = NOW
    while True:
        now += 1
        batch = next_batch(rng, seed, authors, live, now)
        acknowledge(batch, await store.writer.put_many(batch, now), "crash writer")


def main() -> None:
    path, seed = sys.argv[1], int(sys.argv[2])
    asyncio.run(write_forever(path, seed))


if __name__ == "__main__":
    main()
