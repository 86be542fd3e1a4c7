"""Which found peers to connect to: a bounded table of hints and a choice.

Peers are *found* two ways besides the operator's list: mDNS answers on the
LAN, and node profiles (signed, carrying URLs) that peers relay (peer
exchange). Either is only a hint: a (key, URL) pair that the handshake must
prove, since a found peer's link is pinned to the advertised key from the
first request and any other key behind that URL is refused.

This module holds no sockets and does no I/O: ``Candidates`` is a table of
hints bounded at ``MAX_CANDIDATES`` (the least recently heard-of forgotten
first, so a LAN full of fake announcements cannot grow it), and ``choose``
picks which to connect to when a slot is free: LAN peers before exchanged
ones, peers that stayed connected longest before new ones, and spread over
different networks (a /24 or a host already linked counts against a
candidate), so one operator with many addresses cannot fill every slot.
Candidates that failed are left to rest, longer after every failure.
"""

from __future__ import annotations

import ipaddress
import urllib.parse
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass

MAX_CANDIDATES = 256
MAX_URLS = 4
"""URLs kept per candidate (a profile may list several; the first few are tried)."""
REST_S = 5.0
"""A candidate that failed rests this long, doubled per failure up to MAX_REST_S."""
MAX_REST_S = 600.0
SOURCE_RANK = {"anchor": 0, "mdns": 1, "exchange": 2}


@dataclass
class Candidate:
    key: bytes
    urls: list[str]
    source: str
    """"anchor", "mdns" or "exchange"."""
    heard_at: float
    connected_s: float = 0.0
    """Seconds it stayed connected, over its whole history (from the peer table)."""
    failures: int = 0
    rest_until: float = 0.0
    refused: bool = False
    """The handshake proved another key behind its URL: never tried again
    (unless it is announced afresh with different URLs)."""

    def failed(self, now: float) -> None:
        self.failures += 1
        self.rest_until = now + min(MAX_REST_S, REST_S * 2 ** min(self.failures - 1, 10))


def network_of(url: str) -> str:
    """Where a URL points, coarsely, for spreading links: the /24 (IPv4) or
    /48 (IPv6) of a public address, whose nodes are likely one operator's; on
    a LAN or loopback, where every neighbour shares one prefix, the host
    itself (many services announced by one host are one operator's)."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host.lower()
    if address.is_private or address.is_loopback:
        return str(address) if not address.is_loopback else f"{address}:{parts.port}"
    prefix = 24 if address.version == 4 else 48
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))


def usable_url(url: str, *, allow_loopback: bool) -> bool:
    """http(s) with a host and port; loopback only for a node that itself
    listens on loopback (nodes sharing one machine, as in development)."""
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError:
        return False
    if parts.scheme not in ("http", "https") or not parts.hostname or port is None:
        return False
    try:
        address = ipaddress.ip_address(parts.hostname)
    except ValueError:
        return parts.hostname != "localhost" or allow_loopback
    if address.is_loopback:
        return allow_loopback
    return not (address.is_multicast or address.is_unspecified or address.is_link_local)


class Candidates:
    """Hints about peers, by key; bounded, least recently heard-of evicted."""

    def __init__(self, limit: int = MAX_CANDIDATES) -> None:
        self.limit = limit
        self._table: OrderedDict[bytes, Candidate] = OrderedDict()

    def __len__(self) -> int:
        return len(self._table)

    def get(self, key: bytes) -> Candidate | None:
        return self._table.get(key)

    def hear(
        self, key: bytes, urls: Iterable[str], source: str, now: float, *, busy: Iterable[bytes] = ()
    ) -> Candidate:
        """Record a hint. New URLs for a known key replace the old ones (a
        node that moved), and clear an earlier refusal and rest (it came back)."""
        urls = list(dict.fromkeys(urls))[:MAX_URLS]
        entry = self._table.pop(key, None)
        if entry is None:
            entry = Candidate(key, urls, source, now)
        else:
            if urls and urls != entry.urls:
                entry.urls = urls
                entry.refused = False
                entry.rest_until = 0.0
            if SOURCE_RANK.get(source, 9) < SOURCE_RANK.get(entry.source, 9):
                entry.source = source
            entry.heard_at = now
        self._table[key] = entry
        self._evict(set(busy))
        return entry

    def _evict(self, busy: set[bytes]) -> None:
        """Forget the least recently heard-of candidates past the limit, never
        one with a live link, nor an anchor."""
        if len(self._table) <= self.limit:
            return
        for key in list(self._table):
            if len(self._table) <= self.limit:
                break
            if key not in busy and self._table[key].source != "anchor":
                del self._table[key]

    def forget(self, key: bytes) -> None:
        self._table.pop(key, None)

    def choose(self, slots: int, linked: dict[bytes, str], now: float) -> list[Candidate]:
        """Up to ``slots`` candidates to connect to, given the keys already
        linked (with the URL of each link)."""
        if slots <= 0:
            return []
        networks = {network_of(url) for url in linked.values()}
        ready = [
            c
            for c in self._table.values()
            if c.key not in linked and not c.refused and c.urls and c.rest_until <= now
        ]
        ready.sort(key=lambda c: (SOURCE_RANK.get(c.source, 9), -c.connected_s, c.failures, -c.heard_at))
        chosen: list[Candidate] = []
        # Two passes: first one per network not yet linked, then the rest in order.
        for candidate in ready:
            if len(chosen) == slots:
                return chosen
            network = network_of(candidate.urls[0])
            if network not in networks:
                chosen.append(candidate)
                networks.add(network)
        for candidate in ready:
            if len(chosen) == slots:
                break
            if candidate not in chosen:
                chosen.append(candidate)
        return chosen
