# A flooding peer against an honest one. V caps what one peer may push unasked
# at 20 records/s (burst 40). F pushes valid, correctly signed records far over
# that cap while H, an honest node, keeps posting through its link to V. F's
# accepted records stay within the cap, every honest record arrives, F's score
# sinks until V refuses it, and the refusal outlives V's restart.

from __future__ import annotations

import time

from crypto import NodeIdentity
from protocol.codec import Value, decode, encode
from tests.peering.conftest import Node, NodeFactory, http_call, make_post, post_ids, signed_headers, wait_until

RATE, BURST = 20, 40
QUOTA = {"peer_push_rate": str(RATE), "peer_push_burst": str(BURST)}


def _push(v: Node, flooder: NodeIdentity, raws: list[bytes]) -> tuple[int, list[str]]:
    body = encode(list[Value](raws))
    headers = signed_headers(flooder, "POST", "/peer/v1/records", v.authority, body)
    status, _, answer = http_call(v.authority, "POST", "/peer/v1/records", body, headers)
    if status != 200:
        return status, []
    reply = decode(answer)
    assert isinstance(reply, dict) and isinstance(reply["outcomes"], list)
    return status, [str(o) for o in reply["outcomes"]]


def test_a_flooder_is_held_at_its_quota_then_refused_while_honest_records_all_arrive(nodes: NodeFactory) -> None:
    v = nodes.start("v", settings=QUOTA)
    h = nodes.start("h", [v.url])
    wait_until(lambda: h.connected_peers() == 1, "H is connected to V")

    flooder = NodeIdentity.generate()
    authors = [NodeIdentity.generate() for _ in range(40)]
    flood = [make_post(authors[i % 40], f"flood {i}").raw for i in range(8000)]
    honest: list[str] = []
    accepted = sent = 0
    started = time.monotonic()
    refused_at: float | None = None
    for start in range(0, len(flood), 100):
        if start % 800 == 0:  # the honest node posts as the flood goes on
            posted, _ = h.post(f"Lifts to the clinic, round {start // 800}", kind="offer", category="transport")
            honest.append(posted["id"])
        status, outcomes = _push(v, flooder, flood[start : start + 100])
        if status == 403:
            refused_at = time.monotonic()
            break
        assert status == 200
        sent += 100
        accepted += outcomes.count("accepted")
        assert set(outcomes) <= {"accepted", "rejected:rate_limited"}, set(outcomes)
    elapsed = (refused_at or time.monotonic()) - started

    assert refused_at is not None, f"V still took pushes from F after {sent} records"
    assert sent > 10 * accepted  # far over its quota...
    assert accepted <= BURST + RATE * elapsed + RATE  # ...and held at it (one second's slack)
    expected = {bytes.fromhex(i) for i in honest}
    wait_until(lambda: expected <= post_ids(v.database), "V holds every honest record")
    flooded = post_ids(v.database) - expected
    assert len(flooded) == accepted

    # The score is kept: reconnecting, or waiting for V's restart, does not clear it.
    assert _push(v, flooder, flood[-10:])[0] == 403
    v.stop()
    v = nodes.start("v", settings=QUOTA)
    body = encode(list[Value](flood[-10:]))
    headers = signed_headers(flooder, "POST", "/peer/v1/records", v.authority, body)
    status, _, answer = http_call(v.authority, "POST", "/peer/v1/records", body, headers)
    assert status == 403
    assert "too many invalid or over-rate records" in answer.decode()


def test_an_honest_node_pushes_a_backlog_at_the_receivers_pace_and_is_never_refused(nodes: NodeFactory) -> None:
    # H holds far more than V takes in one burst; when it links to V, it
    # reconciles and pushes them all, waiting when V says it is over the rate.
    h = nodes.start("h")
    backlog = [h.post(f"Backlog offer {i}", kind="offer", category="food")[0]["id"] for i in range(150)]
    v = nodes.start("v", settings=QUOTA)
    h.stop()
    h = nodes.start("h", [v.url])
    expected = {bytes.fromhex(i) for i in backlog}
    wait_until(lambda: expected <= post_ids(v.database), "V holds H's whole backlog", 60)
    # Never refused: the link stayed up, and what H posts next still arrives.
    assert "too many invalid" not in h.log()
    # The link turns "connected" when that first reconciliation ends, just after
    # its last paced push is answered: V may hold everything a moment before.
    wait_until(lambda: h.connected_peers() == 1, "H's link to V connected", 30)
    later, _ = h.post("After the backlog", kind="offer", category="food")
    wait_until(lambda: v.get(later["id"]), "V takes H's next post")
