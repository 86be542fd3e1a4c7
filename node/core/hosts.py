"""Whether a host name or address is this machine's loopback: one rule for
every place that asks (what to advertise, which URLs a node on loopback may
dial, which names a loopback connection answers to); which client a request
comes from behind trusted reverse proxies; and which client a remote address
counts as, for every per-address limit."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def is_loopback_host(host: str) -> bool:
    """``localhost`` (any case, a trailing dot allowed) or a loopback IP literal
    (127.0.0.0/8, ::1, with or without brackets). Other names are not
    resolved: a name could point anywhere, so it is not loopback here."""
    name = host.strip().rstrip(".").lower()
    if name == "localhost":
        return True
    if name.startswith("[") and name.endswith("]"):
        name = name[1:-1]
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def client_key(remote: str | None) -> str:
    """The client a remote address counts as: an IPv4 address (an IPv4-mapped
    IPv6 one as its IPv4), or an IPv6 address's /64 (one host usually holds
    a whole /64); ``?`` when the server does not know it."""
    if remote is None:
        return "?"
    try:
        address = ipaddress.ip_address(remote)
    except ValueError:
        return remote
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


def networks(entries: Iterable[str]) -> tuple[Network, ...]:
    """``trusted_proxies`` as networks (an address is a network of one)."""
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in entries)


def _within(address: str, proxies: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip in network for network in proxies)


def forwarded_client(peer: str | None, forwarded_for: Iterable[str], proxies: tuple[Network, ...]) -> str | None:
    """The client a request comes from. From a trusted proxy (``peer`` in
    ``proxies``): walking ``X-Forwarded-For`` from its end (the hop the proxy
    itself added), the first address that is no trusted proxy; anything
    before it was written by the client and proves nothing. A hop that is no
    address stops the walk at the last trusted one. From anyone else: ``peer``."""
    if peer is None or not _within(peer, proxies):
        return peer
    client = peer
    hops = [hop.strip() for value in forwarded_for for hop in value.split(",")]
    for hop in reversed(hops):
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            return client
        client = hop
        if not _within(hop, proxies):
            return hop
    return client
