# Looking a record up by the start of its id (what a terminal shows): a range
# on the id_key index, then the exact prefix. Checked against the plain answer
# (every held id that starts so) for prefixes of every length the store takes,
# on both sides of id_key's sign bit; expired records never come back; and an
# id copied before an edit of this node's own post still finds the post.

from __future__ import annotations

import pytest

from protocol.records import new_version
from storage import RecordStore
from storage.rows import id_key, id_key_range
from tests.storage._support import ALICE, BOB, NOW, post

BIG = 10_000


@pytest.fixture
async def held(store: RecordStore) -> list[str]:
    """120 live records; their ids in hex."""
    records = [post(ALICE if i % 2 else BOB, f"p{i}", title=f"Item {i}") for i in range(120)]
    outcomes = await store.writer.put_many(records, NOW)
    assert {o.status for o in outcomes} == {"accepted"}
    return [r.id.hex() for r in records]


def prefixes(ids: list[str]) -> list[str]:
    """Prefixes of every length from 1 to 64 of a few ids, and the sign-bit edges."""
    out = ["0", "7", "7f", "8", "80", "f", "ff"]
    for record_id in ids[:6]:
        out += [record_id[:n] for n in (1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 33, 63, 64)]
    return out


async def test_every_prefix_finds_exactly_the_ids_that_start_so(store: RecordStore, held: list[str]) -> None:
    for prefix in prefixes(held):
        found = sorted(r.id.hex() for r in await store.reads.by_id_prefix(prefix, NOW, limit=BIG))
        assert found == sorted(i for i in held if i.startswith(prefix)), prefix


async def test_a_short_prefix_is_ambiguous_and_the_limit_holds(store: RecordStore, held: list[str]) -> None:
    first = held[0][0]
    sharing = [i for i in held if i.startswith(first)]
    assert len(sharing) >= 2  # 120 ids over 16 first characters
    found = await store.reads.by_id_prefix(first, NOW)  # the default: enough to tell one from several
    assert len(found) == 2 and all(r.id.hex().startswith(first) for r in found)
    unknown = next(p for p in (f"{n:08x}" for n in range(1000)) if not any(i.startswith(p) for i in held))
    assert await store.reads.by_id_prefix(unknown, NOW) == []


def test_the_id_key_range_is_ordered_on_both_sides_of_the_sign_bit() -> None:
    for prefix in ("0", "7fffffff", "8", "80000000", "ffffffff", "3f9a0c1d2e4b", "3f9a0c1d2e4b5a6c7d"):
        low, high = id_key_range(prefix)
        assert low <= high, prefix
        ids = [bytes.fromhex(prefix.ljust(64, c)) for c in "0123456789abcdef"]
        assert all(low <= id_key(i) <= high for i in ids), prefix
    assert id_key_range("80000000")[1] < id_key_range("7fffffff")[0]  # the signed reading: 8... is negative


async def test_an_expired_record_is_not_found_by_its_prefix(store: RecordStore) -> None:
    short = post(slot="short", created_at=NOW - 100, expires_at=NOW + 10)
    await store.writer.put(short, NOW)
    prefix = short.id.hex()[:8]
    assert [r.id for r in await store.reads.by_id_prefix(prefix, NOW)] == [short.id]
    assert await store.reads.by_id_prefix(prefix, NOW + 10) == []


async def test_an_earlier_id_of_an_own_post_finds_its_current_version(store: RecordStore) -> None:
    first = post(slot="mine")
    await store.writer.put_own(first, b"h" * 32, NOW)
    second = new_version(ALICE, first, NOW, {"title": "Winter coats, one child now"})
    await store.writer.put_own(second, None, NOW)
    for record_id in (first.id, second.id):
        found = await store.own.current_by_prefix(record_id.hex()[:8], NOW)
        assert [r.id for r in found] == [second.id]
    assert await store.reads.by_id_prefix(first.id.hex()[:8], NOW) == []  # the old row is gone
    assert await store.own.current_by_prefix(first.id.hex()[:8], first.expires_at + 1) == []
    peer = post(BOB, "theirs")
    await store.writer.put(peer, NOW)
    assert await store.own.current_by_prefix(peer.id.hex()[:8], NOW) == []  # only this node's own posts
