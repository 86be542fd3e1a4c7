# SIGKILL during ingest, on a real node: `mutualaid run` (tests/_launch.py,
# through NodeFactory) takes signed records pushed over the peer API as other
# nodes push them (POST /peer/v1/records, signed requests), and a pushing
# thread counts a record as acknowledged only when the node answered 200 with
# `accepted` for it (the node answers after its COMMIT). At a random moment,
# drawn from a seeded Random and landing while batches are in flight, the
# node is killed (SIGKILL: no shutdown code runs). It is then started again
# on the same data directory (its store runs quick_check and recovers the
# WAL), and the file must pass PRAGMA integrity_check and hold every record
# acknowledged in every cycle so far. Used by tests/peering/test_ingest_kills.py
# (20 kills) and bench/bench_crash.py (100).

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from crypto import NodeIdentity
from protocol.codec import decode, encode
from protocol.peerwire import MAX_BATCH
from tests.peering.conftest import NodeFactory, http_call, integrity, make_post, post_ids, signed_headers

PATH = "/peer/v1/records"


@dataclass
class KillCycle:
    seed: int
    acknowledged: int
    """Records the node acknowledged in this cycle before the kill."""
    lost: int
    """Records acknowledged in any cycle so far that are missing after the restart."""
    intact: bool
    in_flight: bool
    """A push was waiting for its answer when the kill came."""


@dataclass
class Pusher:
    """Pushes batches to one node until it stops answering; records what it acknowledged."""

    authority: str
    rng: random.Random
    label: str
    acknowledged: set[bytes] = field(default_factory=set)
    batches: int = 0
    in_flight: bool = False
    first_ack: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        now = int(time.time())
        while True:
            authors = [NodeIdentity.from_seed(self.rng.randbytes(32)) for _ in range(4)]
            size = self.rng.randint(1, MAX_BATCH // 2)
            records = [
                make_post(authors[i % 4], f"Crate {self.label}-{self.batches}-{i}", created_at=now - i)
                for i in range(size)
            ]
            body = encode([r.raw for r in records])
            pusher = NodeIdentity.from_seed(self.rng.randbytes(32))  # a fresh peer: under every per-peer rate
            headers = signed_headers(pusher, "POST", PATH, self.authority, body)
            self.in_flight = True
            try:
                status, _, answer = http_call(self.authority, "POST", PATH, body, headers)
            except OSError:  # the node died under the request: nothing of it is acknowledged
                return
            self.in_flight = False
            if status != 200:
                raise AssertionError(f"push refused with {status}: {answer[:300]!r}")
            outcomes = decode(answer)
            assert isinstance(outcomes, dict) and isinstance(outcomes["outcomes"], list)
            self.acknowledged |= {r.id for r, o in zip(records, outcomes["outcomes"], strict=True) if o == "accepted"}
            self.batches += 1
            self.first_ack.set()


def kill_cycles(factory: NodeFactory, kills: int, seed: int) -> list[KillCycle]:
    """Start, push, SIGKILL, restart and check, ``kills`` times on one data directory."""
    rng = random.Random(seed)
    acknowledged: set[bytes] = set()
    cycles: list[KillCycle] = []
    node = factory.start("ingest")
    for kill in range(kills):
        pusher = Pusher(node.authority, random.Random(rng.randrange(2**32)), f"{seed}-{kill}")
        thread = threading.Thread(target=pusher.run, daemon=True)
        thread.start()
        if not pusher.first_ack.wait(60):
            raise AssertionError(f"seed {seed}: no batch acknowledged in 60 s:\n{node.log()[-3000:]}")
        time.sleep(rng.uniform(0.0, 0.6))  # into the following batches: mid-request, mid-verify, mid-commit
        in_flight = pusher.in_flight
        node.kill()
        thread.join(60)
        assert not thread.is_alive(), f"seed {seed}: the pusher did not notice the kill"
        acknowledged |= pusher.acknowledged
        node = factory.start("ingest")  # the restart: the store opens the killed file
        intact = integrity(node.database) == "ok"
        lost = len(acknowledged - post_ids(node.database))
        cycles.append(KillCycle(seed, len(pusher.acknowledged), lost, intact, in_flight))
    node.stop()
    assert integrity(node.database) == "ok"
    return cycles


def run(root: Path, kills: int, seed: int) -> list[KillCycle]:
    """``kill_cycles`` with a factory of its own (the bench has no pytest fixtures)."""
    factory = NodeFactory(root)
    try:
        return kill_cycles(factory, kills, seed)
    finally:
        factory.cleanup()
