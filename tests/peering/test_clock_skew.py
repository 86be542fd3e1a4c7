# Nodes whose clocks are wrong (a Pi without a real-time clock, a LAN without a
# time server) keep peering and lose nothing (PROTOCOL.md 8.1, NODE.md "Clock
# skew"). Whole node processes; the skewed one runs with Debian's libfaketime
# preloaded (its wall clock moved, its monotonic clock left alone), beside two
# honest nodes: it dials both, and one of them dials it. Each skew: records
# flow both ways, a post made on the skewed node reaches the honest ones dated
# in the network's time, a replayed peer request is still refused, and a record
# dated more than 10 minutes ahead of the network is still refused.

from __future__ import annotations

import datetime
import email.utils
import glob
import json
import os
import subprocess
import time
import urllib.request
from typing import Any

import pytest

from crypto import NodeIdentity
from protocol import peerwire
from protocol.codec import decode, encode
from protocol.records import MAX_FUTURE_SKEW
from tests._launch import CONSOLE_SCRIPT
from tests.peering.conftest import Node, NodeFactory, free_port, http_call, make_post, signed_headers, wait_until

SKEWS = {"-1h": -3600, "-5m": -300, "+5m": 300, "+1h": 3600}
"""libfaketime's offsets, and the same in seconds."""
SLACK_S = 10
"""How far a time read across two processes may be off (whole seconds, latency)."""
LIBFAKETIME = sorted(glob.glob("/usr/lib/*/faketime/libfaketimeMT.so.1"))


def skewed_env(offset: str) -> dict[str, str]:
    if not LIBFAKETIME:
        pytest.fail("Debian's faketime package is missing (.ci/system-deps installs it)")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MUTUALAID_")}
    # The library itself rather than the faketime command, which forks and would not pass SIGTERM on.
    return env | {"LD_PRELOAD": LIBFAKETIME[0], "FAKETIME": offset, "FAKETIME_DONT_FAKE_MONOTONIC": "1"}


def node_clock(node: Node) -> dict[str, Any]:
    clock: dict[str, Any] = node.info()["clock"]
    return clock


def its_clock(node: Node) -> float:
    """The node's own system clock, from its Date header."""
    with urllib.request.urlopen(f"{node.url}/healthz", timeout=30) as response:  # noqa: S310 - loopback
        return email.utils.parsedate_to_datetime(response.headers["Date"]).timestamp()


def unix(iso: str) -> float:
    return datetime.datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def peer_call(
    node: Node, identity: NodeIdentity, path: str, value: object, stamp: int
) -> tuple[int, dict[str, str], bytes, dict[str, str]]:
    """A signed peer request stamped ``stamp``; (status, response headers, body, the request's headers)."""
    body = encode(value)  # type: ignore[arg-type]
    headers = signed_headers(identity, "POST", path, node.authority, body, timestamp=stamp)
    status, answer_headers, payload = http_call(node.authority, "POST", path, body, headers)
    return status, answer_headers, payload, headers


def signed_time(node: Node, request_headers: dict[str, str], answer: dict[str, str], payload: bytes) -> int:
    """The time of a response, once its signature by the node's key is checked."""
    auth = peerwire.parse_headers({k.title(): v for k, v in answer.items()}, request=False)
    key = bytes.fromhex(node.info()["public_key"])
    peerwire.check_response(key, bytes.fromhex(request_headers[peerwire.HEADER_SIGNATURE]), auth, payload)
    return auth.timestamp


@pytest.mark.parametrize("offset", list(SKEWS))
def test_a_skewed_node_keeps_peering_and_dates_its_posts_in_the_networks_time(nodes: NodeFactory, offset: str) -> None:
    skew = SKEWS[offset]
    ports = {name: free_port() for name in ("honest1", "honest2", "skewed")}
    url = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    honest1 = nodes.start("honest1", [url["skewed"]], ports["honest1"])  # an honest node dials the skewed one
    honest2 = nodes.start("honest2", [url["honest1"]], ports["honest2"])
    skewed = nodes.start("skewed", [url["honest1"], url["honest2"]], ports["skewed"], env=skewed_env(offset))
    assert abs(its_clock(skewed) - time.time() - skew) <= SLACK_S  # the skew is real

    # It learns the network's time from its two honest peers; they keep theirs.
    clock = wait_until(lambda: (c := node_clock(skewed))["correcting"] and c["peers"] == 2 and c, "it corrects")
    assert abs(clock["offset_s"] + skew) <= SLACK_S, clock
    assert not node_clock(honest1)["correcting"] and not node_clock(honest2)["correcting"]

    def dialed() -> bool:
        links = honest1.api("GET", "/api/v1/peers", token=honest1.admin_token())[1]["peers"]
        return [link["state"] for link in links if link["url"] == url["skewed"]] == ["connected"]

    wait_until(dialed, "the honest node's link to the skewed one is connected")

    # Records flow both ways, the skewed node's dated in the network's time.
    made = skewed.post(f"skewed {offset}")[0]
    assert abs(unix(made["created_at"]) - time.time()) <= SLACK_S, made
    for honest in (honest1, honest2):
        got = wait_until(lambda h=honest: h.get(made["id"]), f"{honest.name} has the skewed node's post")  # type: ignore[misc]
        assert got["created_at"] == made["created_at"]
    for honest in (honest1, honest2):
        theirs = honest.post(f"{honest.name} {offset}")[0]
        wait_until(lambda r=theirs: skewed.get(r["id"]), f"the skewed node has {honest.name}'s post")  # type: ignore[misc]

    # A refused stale request is answered with the node's own time, signed; signed
    # again in that frame it passes, once: its replay is refused as before.
    caller = NodeIdentity.generate()
    status, answer, payload, sent = peer_call(skewed, caller, "/peer/v1/announce", [], int(time.time()))
    assert status == 401, payload
    theirs_now = signed_time(skewed, sent, answer, payload)
    assert abs(theirs_now - time.time() - skew) <= SLACK_S
    # A stale request that does not verify learns nothing: its refusal is not signed.
    forged = signed_headers(caller, "POST", "/peer/v1/announce", skewed.authority, encode([]),
                            timestamp=int(time.time()), key=NodeIdentity.generate().public_key)  # fmt: skip
    status, answer, payload = http_call(skewed.authority, "POST", "/peer/v1/announce", encode([]), forged)
    assert status == 401 and peerwire.HEADER_SIGNATURE.lower() not in answer, answer
    status, answer, payload, sent = peer_call(skewed, caller, "/peer/v1/announce", [], theirs_now)
    assert status == 200, payload
    body = encode([])
    replayed = http_call(skewed.authority, "POST", "/peer/v1/announce", body, sent)
    assert replayed[0] == 401 and b"replay" in replayed[2]

    # Dated within 10 minutes of the network's time: taken, however far that is
    # from the skewed node's own clock; beyond: refused, by it and by the honest.
    network_now = int(time.time())
    ahead = make_post(caller, "ahead", created_at=network_now + MAX_FUTURE_SKEW + 2 * SLACK_S)
    for node, stamp in ((skewed, theirs_now + 2), (honest1, network_now)):
        # A record of its own for each node: the skewed one passes what it takes on at once.
        near = make_post(caller, f"near {node.name}", created_at=network_now + MAX_FUTURE_SKEW // 2)
        status, _, payload, _ = peer_call(node, caller, "/peer/v1/records", [near.raw, ahead.raw], stamp)
        assert status == 200, payload
        assert decode(payload) == {"outcomes": ["accepted", "rejected:from_future"]}, node.name

    # Its operator is told.
    status_text = subprocess.run(
        [*CONSOLE_SCRIPT, "status", "--node", skewed.url], capture_output=True, text=True, timeout=30, check=True
    ).stdout
    assert "network's time" in status_text, status_text
    assert "clock" in skewed.log() and "off the median of 2 peers' clocks" in skewed.log()
    doctor = subprocess.run(
        [*CONSOLE_SCRIPT, "doctor", "--json", "--data-dir", str(skewed.data_dir), "--node", skewed.url],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    clock_findings = [f for f in json.loads(doctor.stdout)["findings"] if f["check"] == "clock"]
    assert any("network's time" in f["says"] for f in clock_findings), clock_findings
