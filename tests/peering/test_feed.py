"""RecordFeed.since skips straight to the entries after the cursor: the same
answers as reading the ring from its start (the reference below), for any
ring, cursor, caller and limit."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bench.corpus import records
from node.peering.feed import FeedEntry, RecordFeed
from protocol.records import Record

SOURCES = [None, b"a" * 32, b"b" * 32]


def reference(feed: RecordFeed, after: int, caller: bytes, limit: int) -> tuple[list[FeedEntry], int, bool]:
    entries = list(feed._entries)
    oldest = entries[0].seq if entries else feed.head
    fell_behind = after + 1 < oldest
    out: list[FeedEntry] = []
    cursor = max(after, oldest - 1)
    for entry in entries:
        if entry.seq <= after:
            continue
        if len(out) >= limit:
            break
        cursor = entry.seq
        if entry.source != caller:
            out.append(entry)
    if not out and not fell_behind:
        cursor = max(cursor, feed.head - 1)
    return out, cursor, fell_behind


RECORD: Record = next(records(1, seed=1))


@given(
    capacity=st.integers(1, 12),
    sources=st.lists(st.sampled_from(range(len(SOURCES))), max_size=40),
    after=st.integers(0, 50),
    caller=st.sampled_from([b"a" * 32, b"b" * 32, b"c" * 32]),
    limit=st.integers(1, 10),
)
def test_since_answers_as_a_full_scan(capacity: int, sources: list[int], after: int, caller: bytes, limit: int) -> None:
    feed = RecordFeed(capacity)
    for source in sources:
        feed.append([RECORD], SOURCES[source])
    assert feed.since(after, caller, limit) == reference(feed, after, caller, limit)
