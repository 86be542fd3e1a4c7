"""The peer protocol's wire forms: signed requests and responses, and bodies.

Every peer request carries four headers: the caller's Ed25519 key, a
timestamp, a random nonce, and a signature in the ``peer-request`` domain
over the canonical array ``[method, path, destination, timestamp, nonce,
SHA-256(body)]``, where ``destination`` is the ``host:port`` the caller meant
to reach: the receiver accepts only its own addresses there, so a request
recorded on its way to one node cannot be replayed to another. The receiver
refuses a request outside a short window or seen before (node/peer_api keeps
the replay cache); the nonce lets two identical requests in one second both
be legitimate. Every response is signed the same way over
``["response", request signature, timestamp, SHA-256(body)]``, which proves
to the caller that the node holding the pinned key answered.

Clocks differ (a Pi has no real-time clock): a request outside the window
whose signature verifies is refused with a *signed* 401, whose time tells the
caller the responder's clock; the caller signs its requests to that peer in
the peer's frame from then on (``RequestOutOfWindow``). The window and the
replay cache stay in the responder's own clock, so replay protection is the
same as without it.

Bodies are canonical msgpack (see docs/PROTOCOL.md section 8).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

from crypto import BadSignature, Domain, signing_message, verify_message
from protocol.codec import Limits, Value, decode, encode
from protocol.errors import DecodeError, RemoteProtocolError
from protocol.filters import SyncFilter
from protocol.records import KINDS

HEADER_KEY = "X-Mutualaid-Key"
HEADER_TIME = "X-Mutualaid-Time"
HEADER_SIGNATURE = "X-Mutualaid-Signature"
HEADER_NONCE = "X-Mutualaid-Nonce"
NONCE_SIZE = 16
REQUEST_WINDOW_S = 120
"""A request is accepted within this many seconds of the receiver's clock."""
MAX_BATCH = 500
"""Most records or ids in one peer message (500 records of at most 8 KiB stay
under a node's default 1 MiB... in the common case; senders also cut batches
by size)."""
MAX_BATCH_BYTES = 512 * 1024
"""A sender starts a new batch of records before this many bytes."""

_BODY_LIMITS = Limits(max_size=16 * 1024 * 1024, max_str=64, max_bin=64 * 1024, max_array=MAX_BATCH, max_map=8)


class PeerAuthError(RemoteProtocolError):
    """A peer request or response whose signature, time or address is wrong."""

    code = "unauthorized"


class RequestOutOfWindow(PeerAuthError):
    """A request whose time is more than REQUEST_WINDOW_S from the receiver's
    clock. Its signature is checked all the same (``check_signature``): when it
    verifies, the refusal is signed like a response, carrying the receiver's time."""


@dataclass(frozen=True)
class SignedHeaders:
    key: bytes
    timestamp: int
    signature: bytes
    nonce: bytes = b""  # requests only; a response is bound to its request's signature

    def as_dict(self) -> dict[str, str]:
        headers = {
            HEADER_KEY: self.key.hex(),
            HEADER_TIME: str(self.timestamp),
            HEADER_SIGNATURE: self.signature.hex(),
        }
        if self.nonce:
            headers[HEADER_NONCE] = self.nonce.hex()
        return headers


def request_message(method: str, path: str, destination: str, timestamp: int, nonce: bytes, body: bytes) -> bytes:
    payload = encode([method.upper(), path, destination.lower(), timestamp, nonce, hashlib.sha256(body).digest()])
    return signing_message(Domain.PEER_REQUEST, payload)


def response_message(request_signature: bytes, timestamp: int, body: bytes) -> bytes:
    payload = encode(["response", request_signature, timestamp, hashlib.sha256(body).digest()])
    return signing_message(Domain.PEER_REQUEST, payload)


def parse_headers(headers: Mapping[str, str], *, request: bool = True) -> SignedHeaders:
    """The auth headers of a request (or a response), or ``PeerAuthError``."""
    key, stamp, signature = headers.get(HEADER_KEY), headers.get(HEADER_TIME), headers.get(HEADER_SIGNATURE)
    nonce = headers.get(HEADER_NONCE, "")
    if not key or not stamp or not signature or (request and not nonce):
        raise PeerAuthError("peer requests must be signed (X-Mutualaid-Key, -Time, -Nonce and -Signature headers)")
    try:
        parsed = SignedHeaders(bytes.fromhex(key), int(stamp), bytes.fromhex(signature), bytes.fromhex(nonce))
    except ValueError:
        raise PeerAuthError("malformed peer authentication headers") from None
    if len(parsed.key) != 32 or len(parsed.signature) != 64 or (request and len(parsed.nonce) != NONCE_SIZE):
        raise PeerAuthError("malformed peer authentication headers")
    return parsed


def check_request(auth: SignedHeaders, method: str, path: str, destination: str, body: bytes, now: int) -> None:
    """Window first (cheap), then the signature."""
    if abs(auth.timestamp - now) > REQUEST_WINDOW_S:
        raise RequestOutOfWindow(f"request time is more than {REQUEST_WINDOW_S} s from ours; check the clocks")
    check_signature(auth, method, path, destination, body)


def check_signature(auth: SignedHeaders, method: str, path: str, destination: str, body: bytes) -> None:
    message = request_message(method, path, destination, auth.timestamp, auth.nonce, body)
    try:
        verify_message(auth.key, message, auth.signature)
    except BadSignature:
        raise PeerAuthError("the request signature does not verify (wrong key, body or destination)") from None


def check_response(key: bytes, request_signature: bytes, auth: SignedHeaders, body: bytes) -> None:
    if auth.key != key:
        raise PeerAuthError("the response is signed by another key than the one we expected")
    try:
        verify_message(key, response_message(request_signature, auth.timestamp, body), auth.signature)
    except BadSignature:
        raise PeerAuthError("the response signature does not verify") from None


def decode_body(data: bytes) -> Value:
    return decode(data, _BODY_LIMITS)


MAX_WIRE_KINDS = 16


def filter_to_wire(sync_filter: SyncFilter) -> Value:
    kinds: list[Value] = list(sorted(sync_filter.kinds))
    areas: Value = None if sync_filter.areas is None else list(sync_filter.areas)
    return {"kinds": kinds, "areas": areas}


def filter_from_wire(value: Value) -> SyncFilter:
    if not isinstance(value, dict) or set(value) != {"kinds", "areas"}:
        raise DecodeError("a filter is the map {kinds, areas}")
    kinds, areas = value["kinds"], value["areas"]
    if not isinstance(kinds, list) or len(kinds) > MAX_WIRE_KINDS or not all(isinstance(k, str) for k in kinds):
        raise DecodeError(f"filter kinds must be a list of at most {MAX_WIRE_KINDS} strings")
    if areas is not None and (not isinstance(areas, list) or not all(isinstance(a, str) for a in areas)):
        raise DecodeError("filter areas must be nil or a list of strings")
    # A kind this node does not know is one it never holds: dropped, not refused,
    # so a newer peer that serves more kinds (as `reply` once was) still peers.
    known = frozenset(k for k in kinds if k in KINDS)
    return SyncFilter(known, None if areas is None else tuple(areas))  # type: ignore[arg-type]


def byte_list(value: Value, what: str, size: int | None = None) -> list[bytes]:
    """A msgpack array of bin (records or ids), bounded by MAX_BATCH."""
    if not isinstance(value, list) or len(value) > MAX_BATCH:
        raise DecodeError(f"{what} must be an array of at most {MAX_BATCH} items")
    if not all(isinstance(v, bytes) and (size is None or len(v) == size) for v in value):
        raise DecodeError(f"every item of {what} must be {'bytes' if size is None else f'{size} bytes'}")
    return value  # type: ignore[return-value]
