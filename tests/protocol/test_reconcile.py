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
from protocol.sketch import SIZES, Sketch

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


versions = st.sampled_from([1, 2, 2])


@given(st.lists(st.tuples(timestamps, sides), max_size=250), st.booleans(), configs, versions)
@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_symmetric_difference_property(
    spec: list[tuple[int, str]], clustered: bool, config: ReconcileConfig, version: int
) -> None:
    items = [((ts, item_id(k, clustered)), side) for k, (ts, side) in enumerate(spec)]
    only_a = [item for item, side in items if side == "a"]
    only_b = [item for item, side in items if side == "b"]
    a = ItemSet.from_unsorted(item for item, side in items if "a" in side)
    b = ItemSet.from_unsorted(item for item, side in items if "b" in side)
    check(reconcile_in_memory(a, b, config, version), only_a, only_b, config)


@given(
    st.integers(0, 2**32),
    st.integers(0, 1500),
    st.integers(0, 300),
    st.integers(0, 300),
    st.sampled_from([1, 3, 100, MONTH]),
    configs,
    versions,
)
@settings(max_examples=150, deadline=None)
def test_symmetric_difference_larger_sets(
    seed: int, shared: int, only_a: int, only_b: int, spread: int, config: ReconcileConfig, version: int
) -> None:
    pair = make_pair(seed, shared, only_a, only_b, timestamps=spread)
    check(reconcile_in_memory(pair.a, pair.b, config, version), pair.only_a, pair.only_b, config)


# -- version 2's sketch: taken when it peels, and ranges go on when it does not --------


def middled(
    a: ItemSet, b: ItemSet, config: ReconcileConfig, tamper: Callable[[bytes], bytes]
) -> tuple[ReconcileResult, int]:
    """A session whose replies carrying a sketch pass through ``tamper``; and how many did."""
    initiator, responder = Reconciler(a, config), Reconciler(b, config)
    sizes: list[int] = []
    tampered = 0
    message: bytes | None = initiator.initiate()
    while message is not None:
        reply = responder.respond(message)
        value = decode(reply, Limits(max_size=1 << 20, max_bin=1 << 20, max_array=1 << 20))
        if isinstance(value, list) and len(value) == 3:
            tampered += 1
            reply = encode([value[0], value[1], tamper(bytes(value[2]))])  # type: ignore[arg-type]
        sizes += [len(message), len(reply)]
        message = initiator.receive(reply)
    result = ReconcileResult(initiator.have_ids, initiator.need_ids, initiator.rounds, initiator.bytes_sent,
                             initiator.bytes_received, sizes, initiator.complete)  # fmt: skip
    return result, tampered


SCATTERED = make_pair(31, 9700, 150, 150)


def test_scattered_differences_take_one_sketch() -> None:
    config = ReconcileConfig()
    result, sketches = middled(SCATTERED.a, SCATTERED.b, config, lambda cells: cells)
    check(result, SCATTERED.only_a, SCATTERED.only_b, config)
    assert sketches == 1 and result.round_trips == 2
    assert reconcile_in_memory(SCATTERED.a, SCATTERED.b, config, version=1).round_trips > 2


def test_a_sketch_that_does_not_peel_falls_back_to_ranges() -> None:
    config = ReconcileConfig()
    garbage = random.Random(3)
    result, sketches = middled(SCATTERED.a, SCATTERED.b, config, lambda cells: garbage.randbytes(len(cells)))
    check(result, SCATTERED.only_a, SCATTERED.only_b, config)
    assert sketches == 1 and result.round_trips > 2


def test_a_lying_sketch_cannot_make_us_push_what_we_lack() -> None:
    """The responder's table minus one item we do not hold: it peels, naming that
    item as ours; we look it up, do not find it, and go on by ranges."""
    fake = (T0 + 5, hashlib.sha256(b"not ours").digest())

    def lie(cells: bytes) -> bytes:
        size = len(cells) // (3 * 41)
        table = Sketch.decode(cells, size)
        table.remove(*fake)
        return table.encode()

    config = ReconcileConfig()
    result, sketches = middled(SCATTERED.a, SCATTERED.b, config, lie)
    check(result, SCATTERED.only_a, SCATTERED.only_b, config)
    assert sketches == 1 and fake[1] not in result.have_ids


@given(st.integers(0, 2**32), st.integers(20, 400), st.integers(0, 400), st.integers(0, 60), st.booleans())
@settings(max_examples=60, deadline=None)
def test_any_sketch_reply_ends_in_the_exact_differences(
    seed: int, only_a: int, only_b: int, flips: int, swap: bool
) -> None:
    """Random sets whose differences take a sketch; the sketch's bytes flipped at
    random (or swapped for another set's sketch): peeled, refused or fallen back
    from, the session still ends with exactly the differences."""
    pair = make_pair(seed, 2000, only_a, only_b)
    other = make_pair(seed + 1, 2000, 0, 0).a
    rng = random.Random(seed)

    def tamper(cells: bytes) -> bytes:
        if swap:
            return other.sketch().fold(len(cells) // (3 * 41)).encode()
        out = bytearray(cells)
        for _ in range(flips):
            out[rng.randrange(len(out))] ^= 1 << rng.randrange(8)
        return bytes(out)

    config = ReconcileConfig()
    result, _ = middled(pair.a, pair.b, config, tamper)
    check(result, pair.only_a, pair.only_b, config)


def test_sketch_replies_are_checked() -> None:
    config = ReconcileConfig()
    initiator = Reconciler(SCATTERED.a, config)
    split = Reconciler(SCATTERED.b, config).respond(initiator.initiate())
    request = initiator.receive(split)
    assert request is not None
    value = decode(request, Limits())
    assert isinstance(value, list) and value[:2] == [2, [[0, b"", SKIP, None]]] and value[2] in SIZES
    for bad in (encode([2, [[0, b"", SKIP, None]]]), encode([2, [[0, b"", SKIP, None]], b"\x00" * 41])):
        with pytest.raises(ReconcileError):
            _asked(config).receive(bad)
    # A sketch nobody asked for.
    fresh = Reconciler(SCATTERED.a, config)
    fresh.initiate()
    with pytest.raises(ReconcileError):
        fresh.receive(encode([2, [[0, b"", SKIP, None]], b"\x00" * 123]))


def _asked(config: ReconcileConfig) -> Reconciler:
    initiator = Reconciler(SCATTERED.a, config)
    assert initiator.receive(Reconciler(SCATTERED.b, config).respond(initiator.initiate())) is not None
    return initiator


@pytest.mark.parametrize("version", [1, 2])
def test_either_version_against_a_version_2_responder(version: int) -> None:
    pair = make_pair(41, 3000, 200, 10)
    config = ReconcileConfig()
    check(reconcile_in_memory(pair.a, pair.b, config, version), pair.only_a, pair.only_b, config)


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


def malformed(ranges: list[Value], version: Value = 1, *extra: Value) -> bytes:
    return encode([version, ranges, *extra])


FP = b"f" * 16
ID = b"i" * 32
BAD_MESSAGES = {
    "not msgpack": b"\xc1",
    "trailing bytes": malformed([[0, b"", SKIP, None]]) + b"\x00",
    "not an array": encode({"ranges": []}),
    "version 3": malformed([[0, b"", SKIP, None]], version=3),
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
    "a sketch in version 1": malformed([[0, b"", SKIP, None]], 1, 4),
    "a sketch size that divides nothing": malformed([[0, b"", SKIP, None]], 2, 5),
    "a sketch over the frame": malformed([[0, b"", SKIP, None]], 2, 24),
    "a sketch size as text": malformed([[0, b"", SKIP, None]], 2, "4"),
    "a sketch size of zero": malformed([[0, b"", SKIP, None]], 2, 0),
    "four elements": malformed([[0, b"", SKIP, None]], 2, 4, 4),
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


@pytest.mark.parametrize("version", [1, 2])
def test_wire_format_as_documented(version: int) -> None:
    ids = [bytes([k]) * 32 for k in (1, 2, 3)]
    items = ItemSet([(5, ids[0]), (9, ids[1]), (9, ids[2])])
    total = sum(int.from_bytes(i, "little") for i in ids) % 2**256
    fingerprint = hashlib.sha256(total.to_bytes(32, "little") + (3).to_bytes(8, "little")).digest()[:16]
    assert items.fingerprint(0, 3) == fingerprint
    ask = Reconciler(items, version=version).initiate()
    assert ask == bytes([0x92, version]) + bytes.fromhex("91 94 00 c4 00 01 c4 10") + fingerprint
    reply = Reconciler(items).respond(ask)
    assert reply == bytes([0x92, version]) + bytes.fromhex("91 94 00 c4 00 00 c0")
    # A mismatch answered with ids: bounds below the last item of a shared timestamp carry a prefix.
    assert items.bound_before(1) == (9, b"") and items.bound_before(2) == (9, b"\x03")
    answer = Reconciler(items).respond(encode([version, [[0, b"", FINGERPRINT, b"\x00" * 16]]]))
    assert decode(answer, Limits()) == [version, [[0, b"", IDLIST, ids]]]


def split_bounds(version: int, config: ReconcileConfig) -> list[Value]:
    # Two equal timestamps force a prefix; the responder splits along them.
    items = ItemSet.from_unsorted([(T0, bytes([k]) + b"\x00" * 31) for k in range(40)] + [(T0 + 9, b"\xff" * 32)])
    reply = Reconciler(items, config).respond(Reconciler(ItemSet([]), config, version).initiate())
    value = decode(reply, Limits())
    assert isinstance(value, list) and isinstance(value[1], list) and value[0] == version
    return [r[:2] for r in value[1] if isinstance(r, list)]


def test_delta_encoded_bounds_round_trip() -> None:
    config = ReconcileConfig(branching=4, idlist_threshold=2)
    assert split_bounds(1, config) == [[T0 + 1, b"\x0a"], [1, b"\x14"], [1, b"\x1e"], [0, b""]]


def test_version_2_splits_the_newest_end_finer() -> None:
    """41 items, branching 8: a tail of 8 // 4 = 2 ranges of 2 newest items, then 37 items in 6 equal parts."""
    config = ReconcileConfig(branching=8, idlist_threshold=2)
    bounds = split_bounds(2, config)
    assert len(bounds) == 8 and bounds[-1] == [0, b""]
    # The newest 2 items (the last id at T0, then T0 + 9) are the last range, the 2 before them the one before.
    assert bounds[-2] == [1, b"\x27"] and bounds[-3] == [1, b"\x25"]
    assert split_bounds(1, config)[-2] == [1, b"\x23"]  # version 1: equal counts (5 or 6)


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


# -- a hostile responder may only answer what the initiator left open -----------------


Part = tuple[tuple[int, bytes] | None, int, Value]  # upper bound (None: infinity), mode, payload


def wire(*ranges: Part) -> bytes:
    """A reply from ``(upper bound or None for infinity, mode, payload)`` triples."""
    out: list[Value] = []
    prev = 0
    for bound, mode, payload in ranges:
        if bound is None:
            out.append([0, b"", mode, payload])
        else:
            out.append([bound[0] - prev + 1, bound[1], mode, payload])
            prev = bound[0]
    return encode([2, out])


def fake_ids(count: int, seed: int = 0) -> list[Value]:
    rng = random.Random(seed)
    return [rng.randbytes(32) for _ in range(count)]


WRONG = b"\x00" * 16  # a fingerprint that matches none of our ranges
HOSTILE_CONFIG = ReconcileConfig(branching=2, idlist_threshold=1, initiator_idlist_threshold=1)
HOSTILE_A = ItemSet([(10, b"\x01" * 32), (20, b"\x02" * 32), (30, b"\x03" * 32), (31, b"\x04" * 32)])


def initiator_with_open_ranges() -> Reconciler:
    """An initiator whose unsettled ranges are, as it sent them: ids below (15, ""),
    ids up to (25, ""), a fingerprint up to (31, "") and a fingerprint up to infinity."""
    initiator = Reconciler(HOSTILE_A, HOSTILE_CONFIG)
    initiator.initiate()
    split = wire(((15, b""), FINGERPRINT, WRONG), ((25, b""), FINGERPRINT, WRONG), (None, FINGERPRINT, WRONG))
    ask = initiator.receive(split)
    assert ask is not None
    value = decode(ask, Limits())
    assert isinstance(value, list) and isinstance(value[1], list)
    assert [r[:3] for r in value[1] if isinstance(r, list)] == [
        [16, b"", IDLIST],
        [11, b"", IDLIST],
        [7, b"", FINGERPRINT],
        [0, b"", FINGERPRINT],
    ]
    return initiator


X, Y = b"x" * 32, b"y" * 32
LEGITIMATE_ANSWERS = {
    "every range answered": wire(
        ((15, b""), IDLIST, [X]), ((25, b""), IDLIST, []), ((31, b""), SKIP, None), (None, IDLIST, [Y])
    ),
    "ids cut short, then the remainder": wire(((12, b""), IDLIST, [X]), (None, FINGERPRINT, WRONG)),
    "cut before any answer": wire((None, FINGERPRINT, WRONG)),
    "a split, then the remainder": wire(
        ((15, b""), IDLIST, []),
        ((25, b""), IDLIST, []),
        ((27, b""), FINGERPRINT, WRONG),
        ((29, b""), FINGERPRINT, WRONG),
        (None, FINGERPRINT, WRONG),
    ),
}


@pytest.mark.parametrize("name", list(LEGITIMATE_ANSWERS))
def test_answers_to_open_ranges_are_taken(name: str) -> None:
    initiator = initiator_with_open_ranges()
    initiator.receive(LEGITIMATE_ANSWERS[name])
    assert set(initiator.need_ids) <= {X, Y}


OUT_OF_TURN = {
    "ids across two open ranges": wire(((25, b""), IDLIST, [X]), (None, SKIP, None)),
    "ids for the tail of an open range": wire(((12, b""), SKIP, None), ((15, b""), IDLIST, [X]), (None, SKIP, None)),
    "ids cut short with no remainder": wire(((12, b""), IDLIST, [X]), (None, SKIP, None)),
    "ids cut short before more answers": wire(
        ((12, b""), IDLIST, [X]), ((25, b""), SKIP, None), (None, FINGERPRINT, WRONG)
    ),
    "a split of a range sent as ids": wire(((12, b""), FINGERPRINT, WRONG), (None, FINGERPRINT, WRONG)),
    "a split across two open ranges": wire(
        ((25, b""), SKIP, None), ((35, b""), FINGERPRINT, WRONG), (None, SKIP, None)
    ),
}


@pytest.mark.parametrize("name", list(OUT_OF_TURN))
def test_answers_outside_open_ranges_are_refused(name: str) -> None:
    initiator = initiator_with_open_ranges()
    with pytest.raises(ReconcileError):
        initiator.receive(OUT_OF_TURN[name])
    assert initiator.need_ids == []


def initiator_owing_one_range() -> Reconciler:
    """The first three ranges settled; only (31, "") up to infinity is open, sent as ids."""
    initiator = initiator_with_open_ranges()
    ask = initiator.receive(
        wire(((15, b""), IDLIST, [X]), ((25, b""), IDLIST, []), ((31, b""), SKIP, None), (None, FINGERPRINT, WRONG))
    )
    assert ask is not None and initiator.need_ids == [X]
    return initiator


SETTLED_AGAIN = {
    "ids for a settled range": wire(((15, b""), IDLIST, [Y]), (None, SKIP, None)),
    "a split of a settled range": wire(((15, b""), FINGERPRINT, WRONG), (None, SKIP, None)),
    "ids from the middle of our ids": wire(((40, b""), SKIP, None), (None, IDLIST, [Y])),
    "a split of our ids": wire(((35, b""), SKIP, None), ((40, b""), FINGERPRINT, WRONG), (None, FINGERPRINT, WRONG)),
}


@pytest.mark.parametrize("name", list(SETTLED_AGAIN))
def test_settled_ranges_are_closed(name: str) -> None:
    initiator = initiator_owing_one_range()
    with pytest.raises(ReconcileError):
        initiator.receive(SETTLED_AGAIN[name])
    assert initiator.need_ids == [X]


def test_open_range_settles_once() -> None:
    initiator = initiator_owing_one_range()
    assert initiator.receive(wire(((31, b""), SKIP, None), (None, IDLIST, [Y]))) is None
    assert initiator.need_ids == [X, Y]


def test_hostile_responder_cannot_pile_up_need_ids() -> None:
    """The reviewer's attack: every reply is ~1,900 made-up ids below a fixed
    bound and a fingerprint of the rest. It used to run to the round limit
    holding 972,800 ids; the second reply now re-settles a settled range."""
    rng = random.Random(5)
    initiator = Reconciler(ItemSet.from_unsorted((T0 + rng.randrange(MONTH), rng.randbytes(32)) for _ in range(500)))
    initiator.initiate()
    with pytest.raises(ReconcileError):
        for round_ in range(ReconcileConfig().max_rounds):
            reply = wire(((T0, b""), IDLIST, fake_ids(1900, round_)), (None, FINGERPRINT, WRONG))
            assert len(reply) <= ReconcileConfig().max_message_bytes
            initiator.receive(reply)
    assert initiator.rounds == 2 and len(initiator.need_ids) == 1900


def test_need_ids_cap_ends_the_session_early_and_a_second_one_finishes() -> None:
    """A peer further ahead than the cap (here 3000 items) is caught up in steps."""
    pair = make_pair(11, 0, 0, 3000)
    small = ReconcileConfig(max_message_bytes=4096, max_need_ids=2999)
    initiator, responder = Reconciler(pair.a, small), Reconciler(pair.b, small)
    message: bytes | None = initiator.initiate()
    while message is not None:
        message = initiator.receive(responder.respond(message))
    assert initiator.done and not initiator.complete
    only_b_ids = {id_ for _, id_ in pair.only_b}
    assert len(initiator.need_ids) == 2999 and set(initiator.need_ids) <= only_b_ids
    # Fetch what was found, then reconcile again: the rest arrives.
    fetched = [item for item in pair.only_b if item[1] in set(initiator.need_ids)]
    second = reconcile_in_memory(ItemSet.from_unsorted(pair.shared + fetched), pair.b, small)
    assert len(second.need_ids) == 1 and set(second.need_ids) <= only_b_ids
    exact = ReconcileConfig(max_message_bytes=4096, max_need_ids=3000)
    check(reconcile_in_memory(pair.a, pair.b, exact), [], pair.only_b, exact)
    for bad in (-1, 1.5, None):
        with pytest.raises(LocalProtocolError):
            ReconcileConfig(max_need_ids=bad)  # type: ignore[arg-type]


def test_responder_work_is_bounded_by_the_frame(hundred_k: list[Item]) -> None:
    """However many ranges an initiator packs in, the reply stays in the frame."""
    items = ItemSet(hundred_k)
    config = ReconcileConfig()
    cases: list[tuple[int, Value]] = [(FINGERPRINT, WRONG), (IDLIST, [])]
    for mode, payload in cases:
        count = (config.max_message_bytes - 64) // len(encode([61, b"", mode, payload]))
        ranges: list[Part] = [((T0 + 60 * k, b""), mode, payload) for k in range(1, count)]
        message = wire(*ranges, (None, mode, payload))
        assert len(message) <= config.max_message_bytes
        assert len(Reconciler(items, config).respond(message)) <= config.max_message_bytes


class CountingItems:
    """An item set that counts the bisections asked of it (two a range worked out)."""

    def __init__(self, items: ItemSet) -> None:
        self.inner = items
        self.looked_up = 0

    def __len__(self) -> int:
        return len(self.inner)

    def index(self, bound: tuple[int, bytes]) -> int:
        self.looked_up += 1
        return self.inner.index(bound)

    def fingerprint(self, lo: int, hi: int) -> bytes:
        return self.inner.fingerprint(lo, hi)

    def ids(self, lo: int, hi: int) -> list[bytes]:
        return self.inner.ids(lo, hi)

    def bound_before(self, index: int) -> tuple[int, bytes]:
        return self.inner.bound_before(index)

    def sketch(self) -> Sketch:
        return self.inner.sketch()


def packed(items: ItemSet, mode: int, count: int, *, matching: bool = False, apart: int = 60) -> bytes:
    """``count`` ranges of ``mode`` at bounds ``apart`` seconds apart, then one to
    infinity; fingerprints our own when ``matching``, else ones that match nothing."""
    bounds = [(T0 + apart * k, b"") for k in range(1, count)]
    lows = [(0, b""), *bounds]
    highs: list[tuple[int, bytes] | None] = [*bounds, None]
    ranges: list[Part] = []
    for lo, hi in zip(lows, highs, strict=True):
        payload: Value = None if mode == SKIP else [] if mode == IDLIST else WRONG
        if matching and mode == FINGERPRINT:
            end = len(items) if hi is None else items.index(hi)
            payload = items.fingerprint(items.index(lo), end)
        ranges.append((hi, mode, payload))
    return wire(*ranges)


def test_ranges_past_a_full_reply_are_not_worked_out(hundred_k: list[Item]) -> None:
    """Differing fingerprints are split until the frame is full; the ranges
    after the cut are not fingerprinted (the first of them differs: the
    remainder is then one fingerprint), nor are SKIP ranges ever looked up."""
    items = CountingItems(ItemSet(hundred_k))
    message = packed(items.inner, FINGERPRINT, 600, apart=3600)  # about 140 items each: split
    reply = decode(Reconciler(items).respond(message))
    assert isinstance(reply, list) and isinstance(reply[1], list)
    last = reply[1][-1]
    assert isinstance(last, list) and last[:3] == [0, b"", FINGERPRINT]  # the remainder, asked again
    assert items.looked_up <= 2 * 30  # about 20 ranges split (112 fingerprints each) fill the frame
    items.looked_up = 0
    Reconciler(items).respond(packed(items.inner, SKIP, 5000))
    assert items.looked_up == 0


def test_a_responder_answers_at_most_max_ranges_answered(hundred_k: list[Item]) -> None:
    """Past ``max_ranges_answered`` ranges the reply is cut, the rest asked
    again; within it, a reply is what it was without the cap."""
    items = CountingItems(ItemSet(hundred_k))
    config = ReconcileConfig(max_ranges_answered=100)
    message = packed(items.inner, FINGERPRINT, 1500, matching=True)
    reply = decode(Reconciler(items, config).respond(message))
    assert items.looked_up <= 2 * 100 + 1  # two bisections a range, one for the remainder
    whole = items.inner.fingerprint(items.inner.index((T0 + 60 * 100, b"")), len(items.inner))
    assert reply == [2, [[T0 + 60 * 100 + 1, b"", SKIP, None], [0, b"", FINGERPRINT, whole]]]
    uncapped = decode(Reconciler(items.inner).respond(message))
    assert uncapped == [2, [[0, b"", SKIP, None]]]
    small = packed(items.inner, FINGERPRINT, 50, matching=True)
    assert Reconciler(items.inner, config).respond(small) == Reconciler(items.inner).respond(small)


@pytest.mark.parametrize("case", ["disjoint", "10k vs 10k, 1% differ", "half overlap", "initiator empty"])
@pytest.mark.parametrize("version", [1, 2])
def test_an_honest_session_converges_under_the_cap(case: str, version: int) -> None:
    """A responder capped at a few ranges a message still ends every session
    in the exact differences: the initiator asks again for what was cut."""
    shared, only_a, only_b, stamps = CASES[case]
    pair = make_pair(len(case), shared, only_a, only_b, timestamps=stamps)
    config = ReconcileConfig(max_ranges_answered=3, max_rounds=10_000)
    check(reconcile_in_memory(pair.a, pair.b, config, version), pair.only_a, pair.only_b, config)
