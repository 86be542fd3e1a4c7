"""The one JSON error shape of the HTTP API, and the one place errors map to it.

Every error body is ``{"error": {"code": str, "message": str}}``. Exceptions
from the layers below are translated here (``error_middleware``), so handlers
raise what they mean and never build error responses themselves. A 5xx means
a fault of ours; its message says nothing about the request's content.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from crypto import CryptoError
from protocol.errors import DecodeError, LocalProtocolError, RecordInvalid, RemoteProtocolError
from protocol.peerwire import PeerAuthError
from storage.errors import InvalidQuery, StorageError

log = logging.getLogger("mutualaid.http")


class ApiError(Exception):
    """An error a handler raises on purpose, with its HTTP status and code."""

    def __init__(self, status: int, code: str, message: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.headers = headers or {}
        """Sent with the error (``Retry-After`` on a 429)."""


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status, headers=headers)


_HTTP_CODES = {
    404: "not_found",
    405: "method_not_allowed",
    413: "body_too_large",
    415: "unsupported_media_type",
}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as exc:
        return error_response(exc.status, exc.code, str(exc), exc.headers)
    except RecordInvalid as exc:
        return error_response(422, "invalid_record", str(exc))
    except InvalidQuery as exc:
        return error_response(400, "bad_query", str(exc))
    except DecodeError as exc:
        return error_response(400, "decode_error", str(exc))
    except PeerAuthError as exc:
        return error_response(401, exc.code, str(exc))
    except RemoteProtocolError as exc:
        return error_response(400, exc.code, str(exc))
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = _HTTP_CODES.get(exc.status, "http_error")
        return error_response(exc.status, code, exc.reason)
    except (LocalProtocolError, StorageError, CryptoError, OSError, Exception):
        # A fault of ours. The log names the route, never the body's content.
        log.exception("request failed: %s %s", request.method, request.match_info.route.resource)
        return error_response(500, "internal", "the node failed to handle this request; see its log")


def _refuse_constant(name: str) -> object:
    raise ApiError(400, "bad_json", f"{name} is not a number this API accepts")


async def read_json_object(request: web.Request) -> dict[str, object]:
    """The request body as a JSON object, or a precise 4xx."""
    if request.content_type != "application/json":
        raise ApiError(415, "unsupported_media_type", "send the body as application/json")
    raw = await request.read()
    try:
        value = json.loads(raw, parse_constant=_refuse_constant)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ApiError(400, "bad_json", f"the body is not valid JSON: {exc}") from None
    except RecursionError:
        raise ApiError(400, "bad_json", "the body is nested too deeply") from None
    if not isinstance(value, dict):
        raise ApiError(400, "bad_json", "the body must be a JSON object")
    return value
