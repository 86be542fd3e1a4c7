"""Whether a host name or address is this machine's loopback: one rule for
every place that asks (what to advertise, which URLs a node on loopback may
dial, which names a loopback connection answers to); and which client a
remote address counts as, for every per-address limit."""

from __future__ import annotations

import ipaddress


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
