"""Who may use the operator's and organizers' endpoints: the admin token.

The token is made at init (``admin.token`` in the data directory, mode 0600)
and sent as ``Authorization: Bearer``; the CLI on the same machine reads it
from there. Members never need it: posting stays open.
"""

from __future__ import annotations

import hmac

from aiohttp import web

from node.core.errors import ApiError, Code
from node.core.state import ADMIN_TOKEN


def require_admin(request: web.Request) -> None:
    expected = request.app[ADMIN_TOKEN]
    if not expected:
        raise ApiError(Code.ADMIN_OFF, "the operator's endpoints are off: this node has no admin token")
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise ApiError(Code.UNAUTHORIZED, "send the admin token (admin.token in the data directory) as a Bearer token")
    if not hmac.compare_digest(token.strip().encode(), expected.encode()):
        raise ApiError(Code.FORBIDDEN, "wrong admin token")


def private(response: web.Response) -> web.Response:
    """An answer meant for the holder of a token (a manage token, a member card,
    the admin token): no cache may keep it."""
    response.headers["Cache-Control"] = "no-store"
    return response
