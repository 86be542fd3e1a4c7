"""A hostile host on the test LAN (run inside its namespace by the tests).

    python -m tests.lan._attacker impostor ADDR PORT KEYTEXT [NAME]
        advertise _mutualaid._tcp at ADDR:PORT with someone else's key
        (under the instance NAME if given, to take another node's name).
    python -m tests.lan._attacker flood ADDR COUNT
        every half second, multicast unsolicited answers announcing COUNT
        new fake nodes (random keys, ports at ADDR where nothing listens).

Runs until killed.
"""

from __future__ import annotations

import asyncio
import secrets
import socket
import sys
import time

from zeroconf import IPVersion, const
from zeroconf._dns import DNSAddress, DNSPointer, DNSService, DNSText
from zeroconf._protocol.outgoing import DNSOutgoing
from zeroconf.asyncio import AsyncServiceInfo, AsyncZeroconf

from crypto import public_key_to_text
from node.peering.discovery import SERVICE_TYPE

UNIQUE = const._CLASS_IN | const._CLASS_UNIQUE


async def impostor(address: str, port: int, keytext: str, name: str | None = None) -> None:
    zc = AsyncZeroconf(interfaces=[address], ip_version=IPVersion.V4Only)
    info = AsyncServiceInfo(
        SERVICE_TYPE, f"{name or 'impostor ' + secrets.token_hex(3)}.{SERVICE_TYPE}", port=port,
        properties={"v": "1", "pk": keytext}, server="impostor.local.", parsed_addresses=[address],
    )  # fmt: skip
    await (await zc.async_register_service(info, allow_name_change=True))
    print("registered", flush=True)
    await asyncio.Event().wait()


def _txt(pairs: dict[str, str]) -> bytes:
    out = b""
    for key, value in pairs.items():
        item = f"{key}={value}".encode()
        out += bytes([len(item)]) + item
    return out


def flood(address: str, count: int) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(("", 5353))
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(address))
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 255)
    packed = socket.inet_aton(address)
    rounds = 0
    while True:
        out = DNSOutgoing(const._FLAGS_QR_RESPONSE | const._FLAGS_AA)
        for i in range(count):
            tag = secrets.token_hex(4)
            name = f"fake {tag}.{SERVICE_TYPE}"
            host = f"fake-{tag}.local."
            key = public_key_to_text(secrets.token_bytes(32))
            out.add_answer_at_time(DNSPointer(SERVICE_TYPE, const._TYPE_PTR, const._CLASS_IN, 4500, name), 0)
            out.add_answer_at_time(DNSService(name, const._TYPE_SRV, UNIQUE, 120, 0, 0, 20000 + i, host), 0)
            out.add_answer_at_time(DNSText(name, const._TYPE_TXT, UNIQUE, 4500, _txt({"v": "1", "pk": key})), 0)
            out.add_answer_at_time(DNSAddress(host, const._TYPE_A, UNIQUE, 120, packed), 0)
        for packet in out.packets():
            sock.sendto(packet, ("224.0.0.251", 5353))
        rounds += 1
        if rounds == 1:
            print("flooding", flush=True)
        time.sleep(0.5)


def main() -> None:
    mode, address, *rest = sys.argv[1:]
    if mode == "impostor":
        asyncio.run(impostor(address, int(rest[0]), rest[1], rest[2] if len(rest) > 2 else None))
    elif mode == "flood":
        flood(address, int(rest[0]))
    else:
        raise SystemExit(f"unknown mode {mode}")


if __name__ == "__main__":
    main()
