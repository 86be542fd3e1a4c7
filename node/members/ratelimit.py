"""Member writes, limited per client address: a token bucket each.

Posting stays open to anyone, so a script on one machine could otherwise
post, reply or flag as fast as the node can sign. Every member write (post,
edit, status, reply, flag, an answer to a finding, an "I'll come": a POST or
PATCH under ``/api/v1/records``) takes
one token from its client address's bucket, valid or not; a bucket holds
``member_write_burst`` tokens and gains one every ``member_write_every_s``
seconds. An empty bucket answers 429 ``too_many_requests`` with
``Retry-After``. IPv6 clients are counted by their /64 (one host usually
holds a whole /64). The table keeps the ``MAX_CLIENTS`` addresses used most
recently: one forgotten starts again with a full bucket. This holds back a
script on one machine; it does not stop someone who controls thousands of
addresses (a whole IPv6 /48), which only a coarser limit upstream could.

Clients on loopback are not limited unless ``member_write_limit_loopback``:
behind a reverse proxy on the same machine every member arrives from
127.0.0.1, and one bucket for all of them would lock the whole chapter out;
a proxy listed in ``trusted_proxies`` has each request counted as from the
client it forwards (``node.core.hosts.forwarded_client``) instead.
"""

from __future__ import annotations

from aiohttp import web

from node.core.bounded import TokenBuckets
from node.core.clock import SYSTEM_CLOCK, Clock
from node.core.errors import ApiError, Code, Handler
from node.core.hosts import client_key, is_loopback_host

MAX_CLIENTS = 10_000
_WRITES = frozenset({"POST", "PATCH", "PUT", "DELETE"})
_PREFIX = "/api/v1/records"


class WriteLimiter:
    def __init__(
        self,
        burst: int,
        every_s: float,
        *,
        limit_loopback: bool = False,
        max_clients: int = MAX_CLIENTS,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.burst = burst
        self.every_s = every_s
        self.limit_loopback = limit_loopback
        self.max_clients = max_clients
        self._clock = clock
        self._buckets: TokenBuckets[str] = TokenBuckets(1 / every_s, burst, max_clients)

    def __len__(self) -> int:
        return len(self._buckets)

    def key(self, remote: str | None) -> str | None:
        """The bucket a client address draws on; None when it is not limited."""
        key = client_key(remote)
        if not self.limit_loopback and remote is not None and (is_loopback_host(remote) or is_loopback_host(key)):
            return None  # ::1, 127.0.0.0/8, and 127.x as an IPv4-mapped IPv6 address
        return key

    def take(self, remote: str | None) -> float:
        """Spend one write for ``remote``: 0 if allowed, else the seconds until it would be."""
        key = self.key(remote)
        if key is None:
            return 0.0
        now = self._clock.monotonic()
        return 0.0 if self._buckets.take(key, now) else self._buckets.wait_s(key, now)


WRITE_LIMITER = web.AppKey("write_limiter", WriteLimiter)


@web.middleware
async def write_limit_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.method in _WRITES and request.path.startswith(_PREFIX):
        wait = request.app[WRITE_LIMITER].take(request.remote)
        if wait > 0:
            raise ApiError.retry_later(Code.TOO_MANY_REQUESTS, "too many changes from this address", wait)
    return await handler(request)
