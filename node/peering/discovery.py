"""Finding peers on the LAN with mDNS / DNS-SD (python-zeroconf, asyncio API).

Every node advertises ``_mutualaid._tcp.local.`` with its port and a TXT
record holding the protocol version (``v``) and its public key (``pk``, in
the ``ma1...`` text form), and browses for the others. An answer is only a
hint handed to ``on_found(key, urls)``: the peer link pins the advertised key
from its first request, so a host advertising someone else's key is refused
at the handshake (see node/peering/gossip.py), and nothing is trusted or stored
before that.

Bounded against a LAN full of announcements: an announcement that carries
its own address, port and TXT (the usual case) is read from zeroconf's cache
at once; the others wait in a queue of at most ``MAX_PENDING`` names (more
are dropped) for one resolver task; the candidate table they all feed is
bounded too (node/peering/peers.py), and so is how many of them are dialled.

Two nodes with the same name on one LAN: the instance name is made of the
start of the key, not the node's name, and zeroconf renames on a collision
(``allow_name_change``), so neither crashes. Registration probes for about
1.2 s; it runs in the background so the node serves meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
from collections.abc import Callable, Iterable

import ifaddr
from zeroconf import InterfaceChoice, IPVersion, ServiceStateChange, Zeroconf
from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

from crypto import InvalidKey, public_key_from_text, public_key_to_text

log = logging.getLogger("mutualaid.discovery")

SERVICE_TYPE = "_mutualaid._tcp.local."
PROTOCOL_VERSION = "1"
MAX_PENDING = 64
"""Announced service names waiting to be resolved; more are dropped."""
RESOLVE_TIMEOUT_MS = 3000

Found = Callable[[bytes, list[str]], None]


def lan_addresses(interfaces: Iterable[str] = ()) -> list[str]:
    """The IPv4 addresses to advertise: the chosen interfaces, or every
    non-loopback one (loopback only if there is nothing else)."""
    chosen = list(interfaces)
    if chosen:
        return chosen
    found: list[str] = []
    for adapter in ifaddr.get_adapters():
        for ip in adapter.ips:
            if isinstance(ip.ip, str) and not ipaddress.IPv4Address(ip.ip).is_loopback:
                found.append(ip.ip)
    return found or ["127.0.0.1"]


def instance_name(key: bytes) -> str:
    """``mutualaid <key start>``. Not the node's name: that is often a
    household's, and mDNS shouts it on every network the machine joins."""
    return f"mutualaid {key.hex()[:8]}"


class Discovery:
    def __init__(
        self,
        key: bytes,
        port: int,
        addresses: list[str],
        interfaces: tuple[str, ...],
        on_found: Found,
    ) -> None:
        self.key = key
        self.port = port
        self.addresses = addresses
        self.interfaces = interfaces
        self.on_found = on_found
        self._name = f"{instance_name(key)}.{SERVICE_TYPE}"
        self._zc: AsyncZeroconf | None = None
        self._browser: AsyncServiceBrowser | None = None
        self._pending: asyncio.Queue[str] = asyncio.Queue(MAX_PENDING)
        self._tasks: list[asyncio.Task[None]] = []
        self.dropped = 0
        """Announcements dropped because the resolve queue was full."""
        self.heard = 0
        """Valid announcements of other nodes handed on as hints."""
        self.registered_name: str | None = None

    async def start(self) -> None:
        interfaces: list[str] | InterfaceChoice = list(self.interfaces) if self.interfaces else InterfaceChoice.All
        self._zc = AsyncZeroconf(interfaces=interfaces, ip_version=IPVersion.V4Only)
        self._browser = AsyncServiceBrowser(self._zc.zeroconf, SERVICE_TYPE, handlers=[self._on_change])
        self._tasks = [
            asyncio.create_task(self._resolve_forever(), name="mdns resolver"),
            asyncio.create_task(self._register(), name="mdns register"),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._browser is not None:
            await self._browser.async_cancel()
        if self._zc is not None:
            with contextlib.suppress(Exception):  # sending goodbyes on a vanished interface
                await self._zc.async_unregister_all_services()
            await self._zc.async_close()

    async def _register(self) -> None:
        assert self._zc is not None
        try:
            info = AsyncServiceInfo(
                SERVICE_TYPE,
                self._name,
                port=self.port,
                properties={"v": PROTOCOL_VERSION, "pk": public_key_to_text(self.key)},
                server=f"mutualaid-{self.key.hex()[:16]}.local.",
                parsed_addresses=self.addresses,
            )
            done = await self._zc.async_register_service(info, allow_name_change=True)
            await done
        except Exception as exc:  # a LAN problem must not stop the node; peers still work
            log.warning("mDNS: could not advertise this node: %s", exc)
            return
        self.registered_name = info.name
        log.info("mDNS: advertising %s on port %d at %s", info.name, self.port, ", ".join(self.addresses))

    def _on_change(self, zeroconf: Zeroconf, service_type: str, name: str, state_change: ServiceStateChange) -> None:
        if state_change is ServiceStateChange.Removed or name == self.registered_name:
            return
        info = AsyncServiceInfo(SERVICE_TYPE, name)
        if info.load_from_cache(zeroconf):  # announcements usually carry every record: no query needed
            self._found(info)
            return
        try:
            self._pending.put_nowait(name)
        except asyncio.QueueFull:
            self.dropped += 1

    async def _resolve_forever(self) -> None:
        assert self._zc is not None
        while True:
            name = await self._pending.get()
            try:
                info = AsyncServiceInfo(SERVICE_TYPE, name)
                if not await info.async_request(self._zc.zeroconf, RESOLVE_TIMEOUT_MS):
                    continue
                self._found(info)
            except Exception as exc:  # one bad answer must not end discovery
                log.debug("mDNS: could not resolve an announcement: %s", exc.__class__.__name__)

    def _found(self, info: AsyncServiceInfo) -> None:
        props = info.properties or {}
        if props.get(b"v") != PROTOCOL_VERSION.encode() or info.port is None:
            return
        try:
            key = public_key_from_text(bytes(props.get(b"pk") or b"").decode("ascii"))
        except (InvalidKey, UnicodeDecodeError):
            log.debug("mDNS: ignoring an announcement without a valid key")
            return
        if key == self.key:
            return
        urls = [f"http://{address}:{info.port}" for address in info.parsed_addresses(IPVersion.V4Only)]
        if urls:
            self.heard += 1
            self.on_found(key, urls)
