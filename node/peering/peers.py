"""Which found peers to connect to: a bounded table of hints and a choice.

Peers are *found* two ways besides the operator's list: mDNS answers on the
LAN, and node profiles (signed, carrying URLs) that peers relay (peer
exchange). Either is only a hint: a (key, URL) pair that the handshake must
prove, since a found peer's link is pinned to the advertised key from the
first request and any other key behind that URL is refused.

This module holds no sockets and does no I/O. ``Candidates`` is a table of
hints bounded at ``MAX_CANDIDATES``, and at ``MAX_PER_HOST`` keys announced
at one address, so a LAN host announcing hundreds of fake nodes holds a few
entries, not the table. A URL the handshake proved is never displaced by a
later hint (an impostor's answer adds its URL beside it, and is refused on
its own); a refusal is remembered per URL. ``choose`` picks which to dial
when a slot is free: anchors, then LAN peers, then exchanged ones; peers
that stayed connected longest first; one per host or network before any
second one; ties in random order, so a flood of fresh hints cannot always
come first. Candidates that failed rest, longer after every failure, and an
exchanged candidate that keeps failing is forgotten.
"""

from __future__ import annotations

import ipaddress
import random
import urllib.parse
from collections import Counter, OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field

MAX_CANDIDATES = 256
MAX_PER_HOST = 4
"""Keys remembered at one host address (a LAN host running a few nodes is fine)."""
MAX_URLS = 4
REST_S = 5.0
"""A candidate that failed rests this long, doubled per failure up to MAX_REST_S."""
MAX_REST_S = 600.0
FORGET_AFTER = 6
"""Failures (not refusals) after which a never-connected candidate is forgotten."""
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
    proven: str | None = None
    """The URL at which the handshake proved this key, if any."""
    refused: set[str] = field(default_factory=set)
    """URLs where another key answered: never tried again for this key."""
    failures: int = 0
    rest_until: float = 0.0
    _next: int = 0

    def failed(self, now: float) -> None:
        self.failures += 1
        self.rest_until = now + min(MAX_REST_S, REST_S * 2 ** min(self.failures - 1, 10))

    def usable(self) -> list[str]:
        return [url for url in self.urls if url not in self.refused]

    def next_url(self) -> str:
        """The proven URL if there is one, else the usable ones in turn."""
        if self.proven is not None and self.proven not in self.refused:
            return self.proven
        usable = self.usable()
        url = usable[self._next % len(usable)]
        self._next += 1
        return url


def host_of(url: str) -> str:
    return (urllib.parse.urlsplit(url).hostname or "").lower()


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
    if address.is_loopback:
        return f"{address}:{parts.port}"  # nodes sharing one machine in development
    if address.is_private:
        return str(address)
    prefix = 24 if address.version == 4 else 48
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))


def usable_url(url: str, *, allow_loopback: bool, allow_private: bool = True) -> bool:
    """http(s) with a host and port; loopback only for a node that itself
    listens on loopback (nodes sharing one machine, as in development);
    private and shared (CGNAT) addresses only when ``allow_private`` (mDNS
    answers from our own LAN, not URLs relayed from far away)."""
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError:
        return False
    if parts.scheme not in ("http", "https") or not parts.hostname or port is None:
        return False
    host = parts.hostname.rstrip(".")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        if all(ch in "0123456789abcdefx." for ch in host) and any(ch.isdigit() for ch in host):
            return False  # 127.1, 2130706433, 0x7f000001: addresses in a form only some resolvers read
        if host == "localhost" or host.endswith(".localhost"):
            return allow_loopback
        return True
    if address.is_loopback:
        return allow_loopback
    if address.is_multicast or address.is_unspecified or address.is_link_local or address.is_reserved:
        return False
    shared = isinstance(address, ipaddress.IPv4Address) and address in ipaddress.IPv4Network("100.64.0.0/10")
    return allow_private or not (address.is_private or shared)


class Candidates:
    """Hints about peers, by key; bounded."""

    def __init__(self, limit: int = MAX_CANDIDATES, rng: random.Random | None = None) -> None:
        self.limit = limit
        self._table: OrderedDict[bytes, Candidate] = OrderedDict()
        self._rng = rng or random.Random()

    def __len__(self) -> int:
        return len(self._table)

    def get(self, key: bytes) -> Candidate | None:
        return self._table.get(key)

    def hear(
        self, key: bytes, urls: Iterable[str], source: str, now: float, *, busy: Iterable[bytes] = ()
    ) -> Candidate | None:
        """Record a hint; None if it was not kept (its host already holds
        MAX_PER_HOST keys). URLs new for this key are added beside the
        known ones (a proven URL always stays) and end its rest."""
        urls = list(dict.fromkeys(urls))
        busy_keys = set(busy)
        entry = self._table.pop(key, None)
        if entry is None:
            hosts = Counter(host_of(u) for c in self._table.values() for u in c.urls)
            urls = [u for u in urls if hosts[host_of(u)] < MAX_PER_HOST]
            if not urls:
                return None
            entry = Candidate(key, urls[:MAX_URLS], source, now)
        else:
            fresh = [u for u in urls if u not in entry.urls and u not in entry.refused]
            if fresh:
                keep = [u for u in entry.urls if u == entry.proven]
                others = [u for u in entry.urls if u != entry.proven]
                entry.urls = (keep + fresh + others)[:MAX_URLS]
                entry.rest_until = 0.0
            if SOURCE_RANK.get(source, 9) < SOURCE_RANK.get(entry.source, 9):
                entry.source = source
            entry.heard_at = now
        self._table[key] = entry
        self._evict(busy_keys | {key})
        return entry

    def _evict(self, keep: set[bytes]) -> None:
        """Past the limit, forget the least recently heard-of candidates that
        never connected, then any; never one with a live link, nor an anchor."""
        if len(self._table) <= self.limit:
            return
        for pass_ in (0, 1):
            for key in list(self._table):
                if len(self._table) <= self.limit:
                    return
                entry = self._table[key]
                if key in keep or entry.source == "anchor" or (pass_ == 0 and entry.connected_s > 0):
                    continue
                del self._table[key]

    def forget(self, key: bytes) -> None:
        self._table.pop(key, None)

    def refused(self, key: bytes, url: str) -> None:
        entry = self._table.get(key)
        if entry is not None:
            entry.refused.add(url)
            if entry.proven == url:
                entry.proven = None
            if not entry.usable():
                del self._table[key]

    def failed(self, key: bytes, now: float) -> None:
        entry = self._table.get(key)
        if entry is None:
            return
        entry.failed(now)
        if entry.failures >= FORGET_AFTER and entry.connected_s == 0 and entry.proven is None:
            del self._table[key]

    def proved(self, key: bytes, url: str) -> None:
        entry = self._table.get(key)
        if entry is not None:
            entry.proven = url
            entry.failures = 0
            if url not in entry.urls:
                entry.urls = [url, *entry.urls][:MAX_URLS]

    def choose(self, slots: int, linked: dict[bytes, str], now: float) -> list[tuple[Candidate, str]]:
        """Up to ``slots`` (candidate, URL) pairs to dial, given the keys
        already linked (with the URL of each link)."""
        if slots <= 0:
            return []
        networks = Counter(network_of(url) for url in linked.values())
        ready = [c for c in self._table.values() if c.key not in linked and c.rest_until <= now and c.usable()]
        self._rng.shuffle(ready)
        ready.sort(key=lambda c: (SOURCE_RANK.get(c.source, 9), -c.connected_s, c.failures))
        chosen: list[tuple[Candidate, str]] = []
        # One per network not yet linked first; then a second per network, and so on.
        for allowed in range(1, slots + 1):
            for candidate in ready:
                if len(chosen) == slots:
                    return chosen
                if any(c is candidate for c, _ in chosen):
                    continue
                url = candidate.proven or candidate.usable()[0]
                network = network_of(url)
                if networks[network] < allowed:
                    chosen.append((candidate, candidate.next_url()))
                    networks[network] += 1
        return chosen
