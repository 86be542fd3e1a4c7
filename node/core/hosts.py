"""Whether a host name or address is this machine's loopback: one rule for
every place that asks (what to advertise, which URLs a node on loopback may
dial, which names a loopback connection answers to); which client a request
comes from behind trusted reverse proxies, and which scheme and host it was
sent to there; and which client a remote address counts as, for every
per-address limit."""

from __future__ import annotations

import ipaddress
import re
import socket
import urllib.parse
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


def is_trusted_proxy(peer: str | None, proxies: tuple[Network, ...]) -> bool:
    """Whether a connection from ``peer`` comes from a proxy in ``trusted_proxies``."""
    return peer is not None and _within(peer, proxies)


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


_HOST = re.compile(
    r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.?|\[[0-9a-f:.]+\]"
)


def _nearest(values: Iterable[str]) -> str:
    """The value the proxy nearest the node set: the last one of the last header."""
    hops = [hop.strip() for value in values for hop in value.split(",")]
    return hops[-1] if hops else ""


def forwarded_scheme(values: Iterable[str]) -> str | None:
    """``X-Forwarded-Proto`` as the nearest proxy set it: ``http`` or
    ``https``, else None (the header is absent or makes no sense)."""
    scheme = _nearest(values).lower()
    return scheme if scheme in ("http", "https") else None


def forwarded_host(values: Iterable[str]) -> str | None:
    """``X-Forwarded-Host`` as the nearest proxy set it, lower-cased, when it
    is a plain ``host[:port]`` (a DNS name, an IPv4 address or a bracketed
    IPv6 one); else None."""
    value = _nearest(values).lower()
    name, colon, port = value.rpartition(":") if not value.endswith("]") else (value, "", "")
    if not colon:
        name, port = value, ""
    elif not (port.isascii() and port.isdigit() and 0 < int(port) < 65536):
        return None
    if not name or len(name) > 253 or not _HOST.fullmatch(name):
        return None
    if name.startswith("["):
        try:
            ipaddress.IPv6Address(name[1:-1])
        except ValueError:
            return None
    return value


def private_channel(url: str) -> bool:
    """Whether a request to ``url`` stays private: https, or this machine (loopback,
    or an address of one of its own interfaces, as an operator on the Pi gives its
    LAN address). The admin token (and a backup) travel only so."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    return parts.scheme == "https" or is_loopback_host(host) or _own_address(host)


def _own_address(host: str) -> bool:
    """Whether ``host`` is an IP address of this machine: binding a socket to it
    succeeds only then (nothing is sent)."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as probe:
            probe.bind((str(address), 0))
    except OSError:
        return False
    return True
