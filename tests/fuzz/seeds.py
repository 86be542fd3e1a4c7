# The seed corpus: real, valid inputs of each target, made by the protocol's
# own encoders (records of every kind the tests build, peer bodies as the
# node sends them, the messages of real reconciliation sessions, bundles).
# The fuzzer mutates from there, so it starts deep inside each decoder.
#
#     python -m tests.fuzz.seeds      # rewrites tests/fuzz/corpus/<target>/
#
# Deterministic: the same files every time (FUZZ_KEY signs; Ed25519 is deterministic).

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path
from typing import Any

from protocol import peerwire
from protocol.bundle import encode_bundle
from protocol.codec import Value, encode
from protocol.filters import SyncFilter
from protocol.reconcile import ItemSet, ReconcileConfig, Reconciler
from protocol.records import DAY, DEFAULT_TTL, NODE_PROFILE_SLOT, Record, build_record
from tests.fuzz.targets import _CONFIG, _ITEMS, _SCATTERED, FUZZ_KEY, NOW, items

CORPUS = Path(__file__).resolve().parent / "corpus"


def _post(kind: str, slot: str, **extra: Any) -> dict[str, Any]:
    return {
        "kind": kind,
        "slot": slot,
        "created_at": NOW - 100,
        "expires_at": NOW - 100 + DEFAULT_TTL,
        "status": "open",
        "title": "Winter coats for two children",
        "category": "clothing",
        "area": "u4pru",
    } | extra


def record_bodies() -> list[dict[str, Any]]:
    return [
        _post("need", "n1"),
        _post(
            "offer",
            "o1",
            details="Bring a bag.\nAsk at the door.",
            tags=["coats", "winter"],
            urgency="high",
            quantity="2",
            languages=["en", "fr"],
        ),
        _post("need", "n2", status="fulfilled", give_back="I can cook", needed_by=NOW + DAY),
        {
            "kind": "node",
            "slot": NODE_PROFILE_SLOT,
            "created_at": NOW - 100,
            "expires_at": NOW + DEFAULT_TTL,
            "name": "Neighbourhood pantry",
            "areas": ["u4", "u5bc"],
            "urls": ["http://127.0.0.1:8080"],
            "seal_key": FUZZ_KEY.seal_public_key,
            "kinds": ["need", "offer"],
        },
        {
            "kind": "finding",
            "slot": "f1",
            "created_at": NOW,
            "expires_at": NOW + 30 * DAY,
            "title": "Food",
            "text": "Most needs are food.",
            "weeks": 13,
            "as_of": NOW,
            "figures": [["totals", "all", 10, None, 0]],
        },
        {
            "kind": "event",
            "slot": "e1",
            "created_at": NOW,
            "expires_at": NOW + 60 * DAY,
            "title": "Study group",
            "what": "study-group",
            "start": "2027-02-23T18:00",
            "end": "2027-02-23T20:00",
            "tz": "America/Chicago",
            "area": "dp3w",
            "rrule": "FREQ=WEEKLY;COUNT=6",
        },
        {
            "kind": "decision",
            "slot": "2",
            "created_at": NOW,
            "expires_at": NOW + 3650 * DAY,
            "seq": 2,
            "prev": bytes(32),
            "proposal": "p1",
            "title": "Open on Sundays",
            "text": "We open on Sundays too.",
            "type": "text",
            "method": "ranked",
            "threshold": "two_thirds",
            "ballot": "secret",
            "quorum": 20,
            "outcome": "passed",
            "counts": {"option-1": 5, "option-2": 3},
            "options": ["yes", "no"],
            "winner": 1,
            "electorate": 20,
            "turnout": 8,
            "receipts": bytes(32),
            "opened_at": NOW - DAY,
            "closed_at": NOW - 1,
        },
    ]


def records() -> list[Record]:
    return [build_record(FUZZ_KEY, body) for body in record_bodies()]


def record_seeds() -> list[bytes]:
    made = records()
    # Each record whole (the raw target) and its payload alone (what the target signs).
    return [r.raw for r in made] + [r.payload for r in made]


def peer_body_seeds() -> list[bytes]:
    made = records()
    ids: list[Value] = [r.id for r in made]
    raws: list[Value] = [r.raw for r in made]
    served = peerwire.filter_to_wire(SyncFilter(frozenset({"need", "offer", "node"}), ("u4", "dp3w")))
    everything = peerwire.filter_to_wire(SyncFilter())
    values: list[Value] = [
        {"filter": served},
        {"filter": everything, "message": Reconciler(_ITEMS, _CONFIG).initiate()},
        {"profile": made[3].raw, "filter": served, "feed": 41, "rotations": []},
        raws,
        ids,
        {"outcomes": ["accepted", "rejected:rate_limited"]},
        {"records": raws},
        {"ids": ids, "cursor": 7, "behind": False},
        {"wanted": ids[:2]},
    ]
    nonce = bytes(range(peerwire.NONCE_SIZE))
    message = peerwire.request_message("POST", "/peer/v1/records", "127.0.0.1:8080", NOW, nonce, b"")
    headers = [FUZZ_KEY.public_key.hex(), str(NOW), FUZZ_KEY.sign_message(message).hex(), nonce.hex()]
    return [encode(v) for v in values] + ["\n".join(headers).encode()]


def reconcile_seeds() -> list[bytes]:
    """Every message of real sessions between _ITEMS and sets that differ from it."""
    seeds: list[bytes] = []
    ours = items()
    others = [
        ItemSet.from_unsorted(ours[::2]),
        ItemSet.from_unsorted([*ours[10:], *((NOW + i, hashlib.sha256(bytes([i])).digest()) for i in range(40))]),
        ItemSet([]),
        _ITEMS,
        _SCATTERED,  # a sketch asked for and sent
    ]
    config: ReconcileConfig = _CONFIG
    for other in others:
        for first, second in ((_ITEMS, other), (other, _ITEMS)):
            initiator, responder = Reconciler(first, config), Reconciler(second, config)
            message: bytes | None = initiator.initiate()
            while message is not None:
                seeds.append(message)
                reply = responder.respond(message)
                seeds.append(reply)
                message = initiator.receive(reply)
    return seeds


def bundle_seeds() -> list[bytes]:
    raws = [r.raw for r in records()]
    return [
        encode_bundle(FUZZ_KEY, raws, created_at=NOW),
        encode_bundle(FUZZ_KEY, raws[:2], created_at=NOW, since=NOW - 30 * DAY, area="u4pr"),
        encode_bundle(FUZZ_KEY, [], created_at=NOW),
    ]


SEEDS = {"record": record_seeds, "peer_body": peer_body_seeds, "reconcile": reconcile_seeds, "bundle": bundle_seeds}


def write(root: Path = CORPUS) -> dict[str, int]:
    """Rewrite each target's seed directory; how many distinct seeds each has."""
    counts = {}
    for target, make in SEEDS.items():
        folder = root / target
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        seeds = {hashlib.sha1(seed).hexdigest(): seed for seed in make()}  # noqa: S324 - a file name, as libFuzzer names them
        for name, seed in seeds.items():
            (folder / name).write_bytes(seed)
        counts[target] = len(seeds)
    return counts


if __name__ == "__main__":
    for target, count in write().items():
        print(f"{target}: {count} seeds in {CORPUS / target}")
