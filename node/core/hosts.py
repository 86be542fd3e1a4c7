"""Whether a host name or address is this machine's loopback: one rule for
every place that asks (what to advertise, which URLs a node on loopback may
dial, which names a loopback connection answers to)."""

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
