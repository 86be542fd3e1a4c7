"""Browser-facing protection: no cross-site writes, no referrers.

A page on another site can make a member's browser send a form POST to this
node (no preflight for ``application/x-www-form-urlencoded``, ``multipart``
or ``text/plain``). Two independent locks keep such a request from changing
anything:

1. ``cross_site_middleware``: a request under ``/api/`` with any method but
   GET, HEAD and OPTIONS is refused (403 ``cross_site``) when the browser says
   it comes from another site (``Sec-Fetch-Site: cross-site`` or
   ``same-site``) or its ``Origin`` is not this node (the host the request
   was sent to, if that is an IP address, localhost, a .local name or this
   machine's name, or one of the configured public URLs: a DNS-rebound name
   is not this node). A request with
   neither header (the CLI, curl, another program) is not a browser's
   cross-site request and passes.
2. Every JSON body must be ``Content-Type: application/json``
   (``node.core.errors.read_json_object`` answers 415 otherwise), a type no HTML
   form can send.

``Referrer-Policy: no-referrer`` on every response keeps a manage link (its
token is in the URL fragment, which browsers never send, but belt and
braces) and any page address out of other sites' logs.
"""

from __future__ import annotations

import ipaddress
import socket
import urllib.parse

from aiohttp import web

from node.core.errors import ApiError, Code, Handler
from node.core.state import CONFIG

_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _own_hosts(request: web.Request) -> set[str]:
    hosts = set(_public_hosts(request))
    if _plausibly_ours(request.host.lower()):
        hosts.add(request.host.lower())
    return hosts


def _public_hosts(request: web.Request) -> set[str]:
    return {urllib.parse.urlsplit(url).netloc.lower() for url in request.app[CONFIG].public_urls}


def _plausibly_ours(host: str) -> bool:
    """Whether a Host header can name this node without being configured:
    an IP address, localhost, a .local (mDNS) name or this machine's name.
    Any other name must be in ``public_urls``: with DNS rebinding, a page on
    evil.example can point its own name at this node's LAN address, and then
    its Origin and Host agree."""
    name = urllib.parse.urlsplit(f"//{host}").hostname or ""
    try:
        ipaddress.ip_address(name)
        return True
    except ValueError:
        pass
    machine = socket.gethostname().lower()
    return name in ("localhost", machine) or name.endswith(".local") or name == f"{machine}.local"


@web.middleware
async def cross_site_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.method in _SAFE_METHODS or not request.path.startswith("/api/"):
        return await handler(request)
    site = request.headers.get("Sec-Fetch-Site", "").lower()
    if site in ("cross-site", "same-site"):
        raise ApiError(Code.CROSS_SITE, "this node does not accept changes sent from another site")
    origin = request.headers.get("Origin")
    if origin is not None:
        parts = urllib.parse.urlsplit(origin.strip())
        if parts.scheme not in ("http", "https") or parts.netloc.lower() not in _own_hosts(request):
            raise ApiError(Code.CROSS_SITE, "this node does not accept changes sent from another site")
    return await handler(request)


async def add_security_headers(request: web.Request, response: web.StreamResponse) -> None:
    response.headers["Referrer-Policy"] = "no-referrer"
    if "Authorization" in request.headers:  # a manage or admin token: whatever the answer, no cache keeps it
        response.headers["Cache-Control"] = "no-store"
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
