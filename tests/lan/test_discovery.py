# Nodes on one LAN find each other by mDNS with no configuration at all, and
# discovery is only ever a hint: the handshake proves every key.

from __future__ import annotations

import functools
import json
import re
import subprocess
import sys
import time

import pytest

from crypto import NodeIdentity, public_key_to_text
from node.peering.discovery import instance_name
from tests.lan._netns import PORT, LanNode, LanNodes, wait_until


def _linked(node: LanNode, other: LanNode) -> dict[str, object] | None:
    return next((p for p in node.peers() if p["url"] == other.url and p["state"] == "connected"), None)


def _finds(node: LanNode, text: str, record_id: str) -> bool:
    return record_id in node.search(text)


@pytest.mark.hosts(2)
def test_two_nodes_with_no_peers_configured_find_each_other(lan: LanNodes) -> None:
    a = lan.start(0, "a")
    b = lan.start(1, "b")
    need = a.post("Someone to help carry a sofa upstairs")
    wait_until(lambda: need in b.search("sofa"), "the need posted on A is found on B")
    link = wait_until(lambda: _linked(b, a), "B lists A as a connected peer")
    assert link["source"] == "mdns"
    assert link["public_key"] == a.cli("status")["public_key"]
    offer = b.post("Van free on Saturdays", kind="offer", category="transport")
    wait_until(lambda: offer in a.search("van"), "the offer posted on B is found on A")


def test_three_nodes_converge_and_a_node_that_comes_back_resumes(lan: LanNodes) -> None:
    a, b, c = lan.start(0, "a"), lan.start(1, "b"), lan.start(2, "c")
    need = a.post("Warm coats for two children")
    for node in (b, c):
        wait_until(functools.partial(_finds, node, "coats", need), "the need is found on every node")
    for node, others in ((a, (b, c)), (b, (a, c)), (c, (a, b))):
        for other in others:
            linked = functools.partial(_linked, node, other)
            wait_until(linked, "every node is linked to the others")

    # C is killed (no mDNS goodbye: its record stays in the others' caches);
    # its links end once it stops answering, and when it comes back, it resumes.
    c.process.kill()
    c.process.wait()
    missed = a.post("Help with a tax form", category="learning")
    wait_until(lambda: missed in b.search("tax"), "B gets what A posts while C is away")
    c = lan.start(2, "c")
    wait_until(lambda: missed in c.search("tax"), "C, back, catches up on what it missed")
    later = c.post("Spare seedlings", kind="offer", category="tools")
    wait_until(lambda: later in a.search("seedlings"), "what C posts after coming back reaches A")


@pytest.mark.hosts(3)
def test_a_host_advertising_another_nodes_key_is_refused(lan: LanNodes) -> None:
    a = lan.start(0, "a")
    b = lan.start(1, "b", mdns=False)  # B is not on A's radar yet
    # The impostor's own node listens on host 2 (discovery off), and the
    # impostor advertises B's key at that address.
    impostor_node = lan.start(2, "evil", mdns=False)
    b_key = bytes.fromhex(b.cli("status")["public_key"])
    lan.run(2, sys.executable, "-m", "tests.lan._attacker", "impostor",
            lan.lan.address(2), str(PORT), public_key_to_text(b_key))  # fmt: skip
    wait_until(lambda: "did not prove the key it was advertised with" in a.log(), "A refuses the impostor")
    refused = [line for line in a.log().splitlines() if "did not prove" in line]
    assert impostor_node.url in refused[0] and b_key.hex() in refused[0], "the refusal names the URL and the key"
    assert not any(p["url"] == impostor_node.url and p["state"] == "connected" for p in a.peers())
    assert not any(p["url"] == b.url for p in a.peers()), "B runs with --no-mdns: nothing announced it"
    evil = impostor_node.post("Click here for free money", kind="offer")
    assert evil not in a.search("money")

    # The real B, once it advertises itself, is linked and pinned as usual.
    b.stop()
    b = lan.start(1, "b")
    link = wait_until(lambda: _linked(a, b), "A is linked to the real B")
    assert link["public_key"] == b_key.hex()
    need = b.post("Bread for the Friday meal")
    wait_until(lambda: need in a.search("bread"), "records flow between A and B")
    assert evil not in a.search("money")


@pytest.mark.hosts(3)
def test_a_flood_of_fake_announcements_stays_bounded(lan: LanNodes) -> None:
    a = lan.start(0, "a")
    flooder = lan.run(2, sys.executable, "-m", "tests.lan._attacker", "flood", lan.lan.address(2), "60")
    wait_until(lambda: a.metric("mutualaid_mdns_announcements_total") >= 300, "A hears the fake announcements")
    b = lan.start(1, "b")  # an honest neighbour arriving in the middle of the flood
    need = b.post("Someone to water plants next week", category="tools")
    wait_until(lambda: need in a.search("plants"), "A finds the honest neighbour and gets its need", 60)
    for _ in range(10):  # samples while the flood goes on
        candidates = a.metric("mutualaid_peer_candidates")
        links = a.metric("mutualaid_found_peer_links")
        dialing = a.metric('mutualaid_peers{state="connecting"}')
        assert candidates <= 4 + 1, candidates  # MAX_PER_HOST from the flooding host, and B
        assert links <= 8, links
        assert dialing <= 4, dialing
    assert flooder.poll() is None
    assert a.process.poll() is None


@pytest.mark.hosts(3)
def test_a_restart_while_only_an_attacker_answers_still_reconnects_to_the_pinned_anchors(lan: LanNodes) -> None:
    a = lan.start(0, "a")
    b = lan.start(1, "b")
    wait_until(lambda: _linked(a, b), "A found B on the LAN")
    b_key = bytes.fromhex(b.cli("status")["public_key"])
    a.stop()
    b.stop()

    # Now every mDNS answer on the LAN is the attacker's: B no longer
    # advertises, and the attacker floods fake nodes and claims B's key.
    b = lan.start(1, "b", mdns=False)
    lan.run(2, sys.executable, "-m", "tests.lan._attacker", "flood", lan.lan.address(2), "60")
    lan.run(2, sys.executable, "-m", "tests.lan._attacker", "impostor",
            lan.lan.address(2), "9", public_key_to_text(b_key))  # fmt: skip
    a = lan.start(0, "a")
    link = wait_until(lambda: _linked(a, b), "restarted A reconnects to B, its anchor")
    assert (link["source"], link["public_key"]) == ("anchor", b_key.hex())
    need = b.post("A lift to the station on Monday", category="transport")
    wait_until(lambda: need in a.search("station"), "records flow from B to A")
    assert a.metric("mutualaid_peer_candidates") <= 256


@pytest.mark.hosts(3)
def test_a_node_whose_name_is_taken_on_the_lan_renames_itself_and_carries_on(lan: LanNodes) -> None:
    # Another host already holds the exact instance name A is going to use.
    init = [sys.executable, "-m", "node", "init", "--data-dir", str(lan.root / "a"), "--json"]
    a_key = bytes.fromhex(json.loads(subprocess.run(init, capture_output=True, check=True).stdout)["public_key"])
    taken = instance_name(a_key)
    someone = public_key_to_text(NodeIdentity.generate().public_key)
    squatter = lan.run(2, sys.executable, "-m", "tests.lan._attacker", "impostor",
                       lan.lan.address(2), "9", someone, taken)  # fmt: skip
    time.sleep(2.5)  # the squatter's probing and announcement are done (about 1.2 s)
    a = lan.start(0, "a")
    advertised = wait_until(lambda: re.search(r"mDNS: advertising (.+?)\._mutualaid", a.log()), "A advertises")
    assert advertised.group(1) != taken and advertised.group(1).startswith("mutualaid ")
    b = lan.start(1, "b")
    need = a.post("Company for a hospital visit", category="company")
    wait_until(lambda: need in b.search("hospital"), "B finds A under its new name and gets its need")
    assert squatter.poll() is None and a.process.poll() is None
