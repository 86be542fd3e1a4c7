"""Range-based reconciliation: two peers joined in memory.

Invariants, as h11 and aioquic state theirs: the initiator ends a session with
``have_ids`` exactly A \\ B and ``need_ids`` exactly B \\ A, each id once, with
every message inside the frame limit; and whatever bytes ``respond`` or
``receive`` are fed, they answer or raise ``ReconcileError``, nothing else.
"""

from __future__ import annotations

import contextlib
import hashlib
import random
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protocol.codec import Limits, Value, decode, encode
from protocol.errors import LocalProtocolError, ReconcileError
from protocol.reconcile import (
    FINGERPRINT,
    IDLIST,
    MAX_TIMESTAMP,
    SKIP,
    Item,
    ItemSet,
    ReconcileConfig,
    Reconciler,
    ReconcileResult,
    reconcile_in_memory,
)

T0 = 1_700_000_000
MONTH = 30 * 86_400


@dataclass
class Pair:
    shared: list[Item]
    only_a: list[Item]
    only_b: list[Item]

    @property
    def a(self) -> ItemSet:
        return ItemSet.from_unsorted(self.shared + self.only_a)

    @property
    def b(self) -> ItemSet:
        return ItemSet.from_unsorted(self.shared + self.only_b)


def make_pair(seed: int, shared: int, only_a: int, only_b: int, *, timestamps: int = MONTH) -> Pair:
    """Random items with unique ids; ``timestamps`` distinct values at most."""
    rng = random.Random(seed)
    items = [(T0 + rng.randrange(timestamps), rng.randbytes(32)) for _ in range(shared + only_a + only_b)]
    return Pair(items[:shared], items[shared : shared + only_a], items[shared + only_a :])


def check(result: ReconcileResult, only_a: list[Item], only_b: list[Item], config: ReconcileConfig) -> None:
    assert sorted(result.have_ids) == sorted(id_ for _, id_ in only_a)
    assert sorted(result.need_ids) == sorted(id_ for _, id_ in only_b)
    assert max(result.message_sizes) <= config.max_message_bytes
    assert result.bytes_sent + result.bytes_received == sum(result.message_sizes)
    assert len(result.message_sizes) == 2 * result.round_trips


CASES = {
    "both empty": (0, 0, 0, MONTH),
    "initiator empty": (0, 0, 700, MONTH),
    "responder empty": (0, 900, 0, MONTH),
    "one each": (0, 1, 1, MONTH),
    "identical": (3000, 0, 0, MONTH),
    "disjoint": (0, 400, 600, MONTH),
    "10k vs 10k, one only on A": (9999, 1, 0, MONTH),
    "10k vs 10k, one only on B": (9999, 0, 1, MONTH),
    "10k vs 10k, one each": (9999, 1, 1, MONTH),
    "10k vs 10k, 1% differ": (9900, 50, 50, MONTH),
    "10k vs 5k, half shared": (2500, 7500, 2500, MONTH),
    "half overlap": (2000, 1000, 1000, MONTH),
    "few distinct timestamps": (3000, 200, 300, 5),
    "one timestamp": (2000, 150, 100, 1),
    "lopsided": (10, 3000, 5, MONTH),
}


@pytest.mark.parametrize("case", list(CASES))
def test_finds_exact_differences(case: str) -> None:
    shared, only_a, only_b, timestamps = CASES[case]
    pair = make_pair(len(case), shared, only_a, only_b, timestamps=timestamps)
    a, b = pair.a, pair.b
    config = ReconcileConfig()
    check(reconcile_in_memory(a, b, config), pair.only_a, pair.only_b, config)
    check(reconcile_in_memory(b, a, config), pair.only_b, pair.only_a, config)


@pytest.mark.parametrize("case", ["disjoint", "10k vs 10k, 1% differ", "half overlap", "few distinct timestamps"])
@pytest.mark.parametrize("frame", [512, 4096])
def test_converges_under_small_frames(case: str, frame: int) -> None:
    shared, only_a, only_b, timestamps = CASES[case]
    pair = make_pair(len(case), shared, only_a, only_b, timestamps=timestamps)
    config = ReconcileConfig(branching=8, idlist_threshold=8, max_message_bytes=frame, max_rounds=2000)
    check(reconcile_in_memory(pair.a, pair.b, config), pair.only_a, pair.only_b, config)


# -- Hypothesis: small sets, many configurations ---------------------------------

timestamps = st.integers(0, 6) | st.integers(0, MAX_TIMESTAMP) | st.just(MAX_TIMESTAMP)
sides = st.sampled_from(["a", "b", "ab", "ab"])
configs = st.builds(
    ReconcileConfig,
    branching=st.integers(2, 16),
    idlist_threshold=st.integers(1, 64),
    max_message_bytes=st.sampled_from([512, 1024, 2048, 3000, 4096, 65536]),
    max_rounds=st.just(10_000),
)


def item_id(index: int, clustered: bool) -> bytes:
    """Clustered ids share 24-byte prefixes, so bounds need long id prefixes.

    The tails stay hash-like: a sum fingerprint is only as strong as the ids
    are random, and ids with a common structure (say, counters) can sum alike.
    """
    digest = hashlib.sha256(index.to_bytes(4, "big")).digest()
    return CLUSTERS[index % 3] + digest[:8] if clustered else digest


CLUSTERS = [hashlib.sha256(bytes([k])).digest()[:24] for k in range(3)]


@given(st.lists(st.tuples(timestamps, sides), max_size=250), st.booleans(), configs)
@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_symmetric_difference_property(spec: list[tuple[int, str]], clustered: bool, config: ReconcileConfig) -> None:
    items = [((ts, item_id(k, clustered)), side) for k, (ts, side) in enumerate(spec)]
    only_a = [item for item, side in items if side == "a"]
    only_b = [item for item, side in items if side == "b"]
    a = ItemSet.from_unsorted(item for item, side in items if "a" in side)
    b = ItemSet.from_unsorted(item for item, side in items if "b" in side)
    check(reconcile_in_memory(a, b, config), only_a, only_b, config)


@given(
    st.integers(0, 2**32),
    st.integers(0, 1500),
    st.integers(0, 300),
    st.integers(0, 300),
    st.sampled_from([1, 3, 100, MONTH]),
    configs,
)
@settings(max_examples=150, deadline=None)
def test_symmetric_difference_larger_sets(
    seed: int, shared: int, only_a: int, only_b: int, spread: int, config: ReconcileConfig
) -> None:
    pair = make_pair(seed, shared, only_a, only_b, timestamps=spread)
    check(reconcile_in_memory(pair.a, pair.b, config), pair.only_a, pair.only_b, config)


# -- Hypothesis: nothing but ReconcileError escapes -------------------------------

FUZZ_CONFIG = ReconcileConfig(branching=4, idlist_threshold=4, max_message_bytes=1024, max_rounds=10_000)
FUZZ_PAIR = make_pair(7, 150, 40, 40, timestamps=50)
FUZZ_A, FUZZ_B = FUZZ_PAIR.a, FUZZ_PAIR.b


def transcript() -> tuple[list[bytes], list[bytes]]:
    """Every initiator message and every reply of one real session."""
    initiator, responder = Reconciler(FUZZ_A, FUZZ_CONFIG), Reconciler(FUZZ_B, FUZZ_CONFIG)
    asks, replies = [], []
    message: bytes | None = initiator.initiate()
    while message is not None:
        asks.append(message)
        replies.append(responder.respond(message))
        message = initiator.receive(replies[-1])
    return asks, replies


ASKS, REPLIES = transcript()
assert len(REPLIES) >= 4, "the fuzz session should last a few rounds"


def mutate(message: bytes, how: str, at: int, data: bytes, seed: int) -> bytes:
    limits = Limits(max_size=1 << 20, max_bin=32, max_array=1 << 16)
    if how == "truncate":
        return message[: at % len(message)]
    if how == "flip":
        out = bytearray(message)
        out[at % len(out)] ^= data[0] if data and data[0] else 0xFF
        return bytes(out)
    if how == "insert":
        return message[: at % len(message)] + data + message[at % len(message) :]
    value = decode(message, limits)
    assert isinstance(value, list) and isinstance(value[1], list)
    ranges: list[Value] = value[1]
    rng = random.Random(seed)
    if how == "shuffle":
        rng.shuffle(ranges)
    elif how == "drop":
        del ranges[at % len(ranges)]
    elif how == "duplicate":
        ranges.insert(at % len(ranges), ranges[at % len(ranges)])
    elif how == "field":
        rng_range = ranges[at % len(ranges)]
        assert isinstance(rng_range, list)
        replacement: list[Value] = [None, 0, 1, 2, 3, 2**64 - 1, b"", b"x" * 16, b"y" * 32, [], [b"z" * 32], [b"w"]]
        rng_range[seed % 4] = replacement[at % len(replacement)]
    return encode(value)


def survives(call: Callable[[], object]) -> None:
    """Answer or raise ReconcileError; anything else fails the test."""
    with contextlib.suppress(ReconcileError):
        call()


def initiator_at(step: int) -> Reconciler:
    initiator = Reconciler(FUZZ_A, FUZZ_CONFIG)
    initiator.initiate()
    for reply in REPLIES[:step]:
        initiator.receive(reply)
    return initiator


@given(st.binary(max_size=400))
@settings(max_examples=500, deadline=None)
def test_arbitrary_bytes_raise_only_reconcile_error(data: bytes) -> None:
    survives(lambda: Reconciler(FUZZ_B, FUZZ_CONFIG).respond(data))
    survives(lambda: initiator_at(0).receive(data))


payloads = st.none() | st.binary(min_size=15, max_size=17) | st.lists(st.binary(min_size=31, max_size=33), max_size=4)
shaped_ranges = st.lists(
    st.tuples(st.integers(0, 3) | st.integers(0, 2**64 - 1), st.binary(max_size=3), st.integers(0, 3), payloads),
    max_size=12,
)


@given(shaped_ranges, st.booleans())
@settings(max_examples=400, deadline=None)
def test_well_shaped_messages_raise_only_reconcile_error(
    ranges: list[tuple[int, bytes, int, Value]], end_at_infinity: bool
) -> None:
    value: list[Value] = [list(r) for r in ranges]
    if end_at_infinity:
        value.append([0, b"", FINGERPRINT, b"\x00" * 16])
    message = encode([1, value])
    for step in (0, len(REPLIES) - 1):
        survives(lambda: Reconciler(FUZZ_B, FUZZ_CONFIG).respond(message))
        survives(lambda: initiator_at(step).receive(message))  # noqa: B023 - called at once


mutations = st.sampled_from(["truncate", "flip", "insert", "shuffle", "drop", "duplicate", "field"])


@given(st.data(), mutations, st.integers(0, 10_000), st.binary(min_size=1, max_size=8), st.integers(0, 1000))
@settings(max_examples=500, deadline=None)
def test_mutated_messages_raise_only_reconcile_error(
    data: st.DataObject, how: str, at: int, junk: bytes, seed: int
) -> None:
    step = data.draw(st.integers(0, len(REPLIES) - 1))
    survives(lambda: Reconciler(FUZZ_B, FUZZ_CONFIG).respond(mutate(ASKS[step], how, at, junk, seed)))
    survives(lambda: initiator_at(step).receive(mutate(REPLIES[step], how, at, junk, seed)))


def malformed(ranges: list[Value], version: Value = 1) -> bytes:
    return encode([version, ranges])


FP = b"f" * 16
ID = b"i" * 32
BAD_MESSAGES = {
    "not msgpack": b"\xc1",
    "trailing bytes": malformed([[0, b"", SKIP, None]]) + b"\x00",
    "not an array": encode({"ranges": []}),
    "version 2": malformed([[0, b"", SKIP, None]], version=2),
    "version true": malformed([[0, b"", SKIP, None]], version=True),
    "no ranges": malformed([]),
    "does not end at infinity": malformed([[5, b"", SKIP, None]]),
    "bounds go backwards": malformed([[10, b"\x05", SKIP, None], [1, b"\x04", SKIP, None], [0, b"", SKIP, None]]),
    "equal bounds": malformed([[10, b"", SKIP, None], [1, b"", SKIP, None], [0, b"", SKIP, None]]),
    "range after infinity": malformed([[0, b"", SKIP, None], [0, b"", SKIP, None]]),
    "infinity with prefix": malformed([[0, b"\x01", SKIP, None]]),
    "prefix over 32 bytes": malformed([[3, b"p" * 33, SKIP, None], [0, b"", SKIP, None]]),
    "timestamp overflow": malformed([[2**64 - 1, b"", SKIP, None], [2**64 - 1, b"", SKIP, None], [0, b"", SKIP, None]]),
    "negative ts": malformed([[-1, b"", SKIP, None]]),
    "unknown mode": malformed([[0, b"", 3, None]]),
    "mode as text": malformed([[0, b"", "skip", None]]),
    "short range": malformed([[0, b"", SKIP]]),
    "fingerprint of 15 bytes": malformed([[0, b"", FINGERPRINT, FP[:15]]]),
    "fingerprint as list": malformed([[0, b"", FINGERPRINT, [FP]]]),
    "id of 31 bytes": malformed([[0, b"", IDLIST, [ID, ID[:31]]]]),
    "id list of text": malformed([[0, b"", IDLIST, ["id"]]]),
    "skip with payload": malformed([[0, b"", SKIP, b""]]),
    "too big": malformed([[0, b"", IDLIST, [ID] * 3000]]),
}


@pytest.mark.parametrize("name", list(BAD_MESSAGES))
def test_malformed_messages(name: str) -> None:
    with pytest.raises(ReconcileError):
        Reconciler(FUZZ_B, FUZZ_CONFIG).respond(BAD_MESSAGES[name])
    with pytest.raises(ReconcileError):
        initiator_at(0).receive(BAD_MESSAGES[name])


def test_round_limit() -> None:
    config = ReconcileConfig(max_rounds=2)
    responder = Reconciler(FUZZ_B, config)
    ask = Reconciler(FUZZ_A, config).initiate()
    responder.respond(ask)
    responder.respond(ask)
    with pytest.raises(ReconcileError):
        responder.respond(ask)
    with pytest.raises(ReconcileError):
        reconcile_in_memory(FUZZ_A, FUZZ_B, ReconcileConfig(branching=2, idlist_threshold=1, max_rounds=2))


def test_misuse_is_local() -> None:
    with pytest.raises(LocalProtocolError):
        Reconciler(FUZZ_A).receive(REPLIES[0])
    initiator = Reconciler(FUZZ_A)
    ask = initiator.initiate()
    with pytest.raises(LocalProtocolError):
        initiator.initiate()
    with pytest.raises(LocalProtocolError):
        initiator.respond(ask)
    responder = Reconciler(FUZZ_A)
    responder.respond(ask)
    with pytest.raises(LocalProtocolError):
        responder.initiate()
    for bad in ({"branching": 1}, {"idlist_threshold": 0}, {"max_message_bytes": 100}, {"max_rounds": True}):
        with pytest.raises(LocalProtocolError):
            ReconcileConfig(**bad)


# -- the documented format --------------------------------------------------------


def test_wire_format_as_documented() -> None:
    ids = [bytes([k]) * 32 for k in (1, 2, 3)]
    items = ItemSet([(5, ids[0]), (9, ids[1]), (9, ids[2])])
    total = sum(int.from_bytes(i, "little") for i in ids) % 2**256
    fingerprint = hashlib.sha256(total.to_bytes(32, "little") + (3).to_bytes(8, "little")).digest()[:16]
    assert items.fingerprint(0, 3) == fingerprint
    ask = Reconciler(items).initiate()
    assert ask == bytes.fromhex("92 01 91 94 00 c4 00 01 c4 10") + fingerprint
    reply = Reconciler(items).respond(ask)
    assert reply == bytes.fromhex("92 01 91 94 00 c4 00 00 c0")
    # A mismatch answered with ids: bounds below the last item of a shared timestamp carry a prefix.
    assert items.bound_before(1) == (9, b"") and items.bound_before(2) == (9, b"\x03")
    answer = Reconciler(items).respond(encode([1, [[0, b"", FINGERPRINT, b"\x00" * 16]]]))
    assert decode(answer, Limits()) == [1, [[0, b"", IDLIST, ids]]]


def test_delta_encoded_bounds_round_trip() -> None:
    # Two equal timestamps force a prefix; the responder splits along them.
    items = ItemSet.from_unsorted([(T0, bytes([k]) + b"\x00" * 31) for k in range(40)] + [(T0 + 9, b"\xff" * 32)])
    config = ReconcileConfig(branching=4, idlist_threshold=2)
    reply = Reconciler(items, config).respond(Reconciler(ItemSet([]), config).initiate())
    value = decode(reply, Limits())
    assert isinstance(value, list) and isinstance(value[1], list)
    bounds = [r[:2] for r in value[1] if isinstance(r, list)]
    assert bounds == [[T0 + 1, b"\x0a"], [1, b"\x14"], [1, b"\x1e"], [0, b""]]


# -- ItemSet ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "items",
    [
        [(2, ID), (1, b"j" * 32)],
        [(1, ID), (1, ID)],
        [(1, b"b" * 32), (1, b"a" * 32)],
        [(1, ID[:31])],
        [(1, ID + b"!")],
        [(-1, ID)],
        [(MAX_TIMESTAMP + 1, ID)],
        [(True, ID)],
        [(1.0, ID)],
        [(1, bytearray(ID))],
        [(1, "i" * 32)],
        [(1,)],
        [1],
    ],
)
def test_itemset_rejects_bad_input(items: list[object]) -> None:
    with pytest.raises(LocalProtocolError):
        ItemSet(items)  # type: ignore[arg-type]


def test_itemset_from_unsorted() -> None:
    items = ItemSet.from_unsorted([(3, b"c" * 32), (1, b"z" * 32), (3, b"a" * 32)])
    assert items.ids(0, 3) == [b"z" * 32, b"a" * 32, b"c" * 32]
    assert items.index((3, b"b")) == 2 and items.index((0, b"")) == 0 and len(items) == 3
    with pytest.raises(LocalProtocolError):
        ItemSet.from_unsorted([(1, ID), (1, ID)])
    with pytest.raises(LocalProtocolError):
        ItemSet.from_unsorted([(1, ID), ("1", ID)])  # type: ignore[list-item]


# -- sizes at 100k (deterministic, not timed) -----------------------------------------


@pytest.fixture(scope="module")
def hundred_k() -> list[Item]:
    rng = random.Random(100)
    return sorted((T0 + rng.randrange(MONTH), rng.randbytes(32)) for _ in range(100_000))


def test_in_sync_costs_one_small_round_trip(hundred_k: list[Item]) -> None:
    items = ItemSet(hundred_k)
    result = reconcile_in_memory(items, items)
    assert result.round_trips == 1 and result.total_bytes < 512
    assert result.have_ids == [] and result.need_ids == []


def test_recent_differences_are_cheap(hundred_k: list[Item]) -> None:
    newest = hundred_k[-100:]
    a = ItemSet(hundred_k[:-100] + newest[0::2])
    b = ItemSet(hundred_k[:-100] + newest[1::2])
    result = reconcile_in_memory(a, b)
    check(result, newest[0::2], newest[1::2], ReconcileConfig())
    assert result.round_trips <= 3 and result.total_bytes < 10_000
