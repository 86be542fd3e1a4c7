# The shared bounded table and token buckets, with times passed by hand: the
# bound, LRU order (a put refreshes, a read does not), the TTL, and a bucket's
# burst, refill, partial spend and wait.

from __future__ import annotations

import pytest

from node.core.bounded import BoundedTable, TokenBuckets


def test_the_table_keeps_max_size_and_forgets_the_least_recently_put() -> None:
    table: BoundedTable[str, int] = BoundedTable(3)
    for n, key in enumerate("abc"):
        table.put(key, n)
    assert table.full
    assert table.get("a") == 0  # a read does not make "a" recent
    table.put("b", 10)  # a put does
    table.put("d", 3)
    assert list(table) == ["c", "b", "d"]
    assert (len(table), table.get("a"), table.get("b")) == (3, None, 10)


def test_entries_older_than_the_ttl_are_gone_for_get_and_expire() -> None:
    table: BoundedTable[str, str] = BoundedTable(10, ttl_s=5.0)
    table.put("old", "x", now=100.0)
    table.put("new", "y", now=103.0)
    assert table.get("old", now=104.9) == "x"
    assert table.get("old", now=105.0) is None  # exactly ttl_s old: gone
    assert "old" in table  # still held until expired
    assert table.expire(now=105.0) == 1
    assert list(table) == ["new"]
    assert table.entry("new") == ("y", 103.0)
    with pytest.raises(TypeError):
        table.get("new")  # a TTL table must be read at a time


def test_expire_stops_at_the_first_fresh_entry_and_discard_where_scans_all() -> None:
    table: BoundedTable[str, float] = BoundedTable(10, ttl_s=10.0)
    table.put("a", 1.0, now=0.0)
    table.put("b", 50.0, now=20.0)
    table.put("c", 2.0, now=1.0)  # put late with an early stamp: behind a fresh entry
    assert table.expire(now=25.0) == 1  # "a" only
    table.discard_where(lambda value: value < 10)
    assert list(table) == ["b"]
    assert table.pop("b") == (50.0, 20.0) and table.pop("b") is None


def test_a_table_holds_at_least_one_entry() -> None:
    with pytest.raises(ValueError):
        BoundedTable(0)


def test_a_bucket_spends_its_burst_then_refills_at_its_rate() -> None:
    buckets: TokenBuckets[str] = TokenBuckets(rate=2.0, burst=4.0, max_keys=100)
    assert [buckets.take("p", 0.0) for _ in range(5)] == [True, True, True, True, False]
    assert buckets.wait_s("p", 0.0) == pytest.approx(0.5)
    assert buckets.take("q", 0.0)  # another key has its own bucket
    assert not buckets.take("p", 0.25)
    assert buckets.take("p", 0.5)
    assert buckets.take("p", 100.0, cost=4.0)  # refills to the burst, no further
    assert not buckets.take("p", 100.0)


def test_a_cost_is_all_or_nothing_and_take_up_to_spends_whole_tokens() -> None:
    buckets: TokenBuckets[str] = TokenBuckets(rate=1.0, burst=10.0, max_keys=100)
    assert not buckets.take("p", 0.0, cost=11.0)
    assert buckets.take_up_to("p", 0.0, 7) == 7  # the refused take spent nothing
    assert buckets.take_up_to("p", 0.5, 7) == 3  # 3.5 left: whole tokens only
    assert buckets.take_up_to("p", 0.5, 7) == 0
    assert buckets.wait_s("p", 0.5, cost=2.0) == pytest.approx(1.5)


def test_buckets_forget_the_least_recently_used_key_past_max_keys() -> None:
    buckets: TokenBuckets[str] = TokenBuckets(rate=1.0, burst=1.0, max_keys=2)
    assert buckets.take("a", 0.0) and buckets.take("b", 0.0)
    assert buckets.take("c", 0.0)  # "a" is forgotten
    assert len(buckets) == 2
    assert not buckets.take("b", 0.0)  # remembered: still empty
    assert buckets.take("a", 0.0)  # forgotten: full again


@pytest.mark.parametrize(("rate", "burst"), [(0.0, 1.0), (1.0, 0.0)])
def test_a_bucket_needs_a_positive_rate_and_burst(rate: float, burst: float) -> None:
    with pytest.raises(ValueError):
        TokenBuckets(rate, burst, 10)
