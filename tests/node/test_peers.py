"""The found-peer table and choice (node/peering/peers.py): pure, with a seeded random."""

from __future__ import annotations

import random

import pytest

from node.peering.peers import MAX_CANDIDATES, MAX_PER_HOST, Candidates, network_of, usable_url


def key(n: int) -> bytes:
    return n.to_bytes(32, "big")


def table() -> Candidates:
    return Candidates(rng=random.Random(7))


def test_an_impostors_hint_does_not_displace_the_proven_url_and_is_refused_alone() -> None:
    peers = table()
    peers.hear(key(1), ["http://10.0.0.2:8440"], "mdns", 0.0)
    peers.proved(key(1), "http://10.0.0.2:8440")
    peers.hear(key(1), ["http://10.0.0.66:8440"], "mdns", 1.0)  # an impostor claims the key
    entry = peers.get(key(1))
    assert entry is not None
    assert entry.urls[0] == "http://10.0.0.2:8440"
    assert entry.next_url() == "http://10.0.0.2:8440"
    peers.refused(key(1), "http://10.0.0.66:8440")
    assert entry.usable() == ["http://10.0.0.2:8440"]
    # Announced again with the refused URL: nothing changes.
    peers.hear(key(1), ["http://10.0.0.66:8440"], "mdns", 2.0)
    assert entry.usable() == ["http://10.0.0.2:8440"]


def test_hearing_known_urls_in_another_order_keeps_rest_and_refusals() -> None:
    peers = table()
    peers.hear(key(1), ["http://198.51.100.1:1", "http://198.51.100.2:1"], "exchange", 0.0)
    entry = peers.get(key(1))
    assert entry is not None
    peers.failed(key(1), 10.0)
    rest = entry.rest_until
    assert rest > 10.0
    entry.next_url()
    peers.hear(key(1), ["http://198.51.100.2:1", "http://198.51.100.1:1"], "exchange", 11.0)
    assert entry.rest_until == rest
    peers.hear(key(1), ["http://198.51.100.3:1"], "exchange", 12.0)  # a new address: worth a try now
    assert entry.rest_until == 0.0


def test_one_host_holds_at_most_a_few_entries_and_the_table_stays_bounded() -> None:
    peers = table()
    for n in range(1000):
        peers.hear(key(n), [f"http://10.0.0.9:{20000 + n}"], "mdns", float(n))
    assert len(peers) == MAX_PER_HOST
    for n in range(1000, 3000):
        peers.hear(key(n), [f"http://10.{n // 250}.{n % 250}.1:8440"], "mdns", float(n))
    assert len(peers) == MAX_CANDIDATES


def test_eviction_spares_linked_peers_anchors_and_those_that_connected() -> None:
    peers = table()
    peers.hear(key(1), ["http://10.1.0.1:1"], "anchor", 0.0)
    peers.hear(key(2), ["http://10.1.0.2:1"], "mdns", 0.0)
    peers.hear(key(3), ["http://10.1.0.3:1"], "mdns", 0.0)
    entry = peers.get(key(3))
    assert entry is not None
    entry.connected_s = 60.0
    for n in range(10, 10 + MAX_CANDIDATES * 2):
        peers.hear(key(n), [f"http://10.{n // 250}.{n % 250}.7:1"], "mdns", float(n), busy=[key(2)])
    assert peers.get(key(1)) is not None
    assert peers.get(key(2)) is not None
    assert peers.get(key(3)) is not None
    assert len(peers) == MAX_CANDIDATES


def test_a_candidate_that_keeps_failing_is_forgotten_unless_it_ever_connected() -> None:
    peers = table()
    peers.hear(key(1), ["http://198.51.100.1:1"], "exchange", 0.0)
    peers.hear(key(2), ["http://198.51.100.2:1"], "exchange", 0.0)
    peers.proved(key(2), "http://198.51.100.2:1")
    for _ in range(10):
        peers.failed(key(1), 0.0)
        peers.failed(key(2), 0.0)
    assert peers.get(key(1)) is None
    assert peers.get(key(2)) is not None


def test_choice_puts_anchors_first_then_spreads_over_hosts() -> None:
    peers = table()
    for n in range(8):
        peers.hear(key(n), [f"http://10.0.0.9:{9000 + n}"], "mdns", 0.0)  # one host (capped at 4)
    peers.hear(key(50), ["http://10.0.0.2:8440"], "mdns", 0.0)
    peers.hear(key(60), ["http://10.0.0.3:8440"], "anchor", 0.0)
    chosen = peers.choose(3, {}, 1.0)
    assert chosen[0][0].key == key(60)
    assert {network_of(url) for _, url in chosen} == {"10.0.0.3", "10.0.0.2", "10.0.0.9"}
    # Already linked keys are not chosen again.
    linked = {c.key: url for c, url in chosen}
    assert not {c.key for c, _ in peers.choose(8, linked, 1.0)} & set(linked)


@pytest.mark.parametrize(
    ("url", "loopback", "private", "ok"),
    [
        ("http://10.1.2.3:8440", False, True, True),
        ("http://10.1.2.3:8440", False, False, False),  # a private address relayed from afar
        ("http://100.64.1.1:8440", False, False, False),  # CGNAT
        ("http://93.184.216.34:8440", False, False, True),
        ("https://node.example:443", False, False, True),
        ("http://127.0.0.1:8440", False, True, False),
        ("http://127.0.0.1:8440", True, False, True),
        ("http://224.0.0.251:5353", False, True, False),
        ("http://169.254.1.1:8440", False, True, False),
        ("http://0.0.0.0:8440", False, True, False),
        ("ftp://203.0.113.9:21", False, True, False),
        ("http://203.0.113.9", False, True, False),  # no port
        ("http://[::1]:x", True, True, False),
        ("http://127.1:80", True, True, False),  # numeric forms only some resolvers read
        ("http://2130706433:80", True, True, False),
        ("http://0x7f000001:80", True, True, False),
        ("http://10.1:80", False, True, False),
        ("http://a.localhost:80", False, True, False),
        ("http://localhost.:80", False, True, False),
        ("http://node.example.:8440", False, False, True),
    ],
)
def test_which_urls_a_node_will_dial(url: str, loopback: bool, private: bool, ok: bool) -> None:
    assert usable_url(url, allow_loopback=loopback, allow_private=private) is ok
