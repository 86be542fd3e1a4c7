# A node killed (SIGKILL: no shutdown code runs) while it is fetching a few
# thousand records from its peer. What its store acknowledged (committed, so
# visible to another reader of the file) must survive, the file must be
# sound, and after a restart it must catch up with the peer.
#
# The peer is filled by pushing signed records to it over the peer API, as
# other nodes would: faster than posting thousands through the member API.
# To land the kill mid-sync, the peer is frozen (SIGSTOP) as soon as the
# syncing node has committed its first records: the node then waits on a
# fetch that cannot complete, and nothing it does can race the kill.

from __future__ import annotations

import signal
import time

from crypto import NodeIdentity
from protocol.codec import decode, encode
from protocol.peerwire import MAX_BATCH
from protocol.records import Record
from tests.peering.conftest import (
    Node,
    NodeFactory,
    http_call,
    integrity,
    make_post,
    post_ids,
    signed_headers,
    wait_until,
)

TOTAL = 3000
AUTHORS = 10  # the peer's policy lets one author burst 500 records


def fill(node: Node, records: list[Record]) -> None:
    """Push records to ``node`` as other nodes would, MAX_BATCH at a time."""
    for start in range(0, len(records), MAX_BATCH):
        batch = [r.raw for r in records[start : start + MAX_BATCH]]
        pusher = NodeIdentity.generate()  # the peer's policy lets one peer burst 2000 records
        body = encode(list(batch))
        headers = signed_headers(pusher, "POST", "/peer/v1/records", node.authority, body)
        status, _, answer = http_call(node.authority, "POST", "/peer/v1/records", body, headers)
        assert status == 200, answer
        assert decode(answer) == {"outcomes": ["accepted"] * len(batch)}


def test_a_node_killed_mid_sync_keeps_what_it_acknowledged_and_catches_up(nodes: NodeFactory) -> None:
    authors = [NodeIdentity.generate() for _ in range(AUTHORS)]
    now = int(time.time())
    records = [make_post(authors[i % AUTHORS], f"Crate of apples number {i}", created_at=now - i) for i in range(TOTAL)]
    everything = {r.id for r in records}

    x = nodes.start("x")
    fill(x, records)
    assert post_ids(x.database) == everything

    y = nodes.start("y", peers=[x.url])
    try:
        wait_until(lambda: post_ids(y.database), "Y commits its first records from X")
        x.process.send_signal(signal.SIGSTOP)
        acknowledged = post_ids(y.database)
        y.kill()
    finally:
        x.process.send_signal(signal.SIGCONT)
    assert acknowledged <= everything
    assert 0 < len(acknowledged) < TOTAL, "the kill landed mid-sync"

    # After the crash, before anyone opens it again: sound, and nothing lost.
    assert integrity(y.database) == "ok"
    after_crash = post_ids(y.database)
    assert acknowledged <= after_crash

    y = nodes.start("y", peers=[x.url])
    counts = [len(after_crash)]

    def caught_up() -> bool:
        held = post_ids(y.database)
        counts.append(len(held))
        return held == everything

    wait_until(caught_up, f"Y holds all {TOTAL} records of X")
    assert counts == sorted(counts), f"Y's record count went down: {counts}"
    assert [r["title"] for r in y.search("apples number 2999")] == ["Crate of apples number 2999"]

    y.stop()
    x.stop()
    assert integrity(y.database) == "ok"
    assert integrity(x.database) == "ok"
    assert post_ids(y.database) == everything
