"""Every error the HTTP API can answer, as data, and the one place errors become responses.

``Code`` is the registry: each member is an error code with its HTTP status
and what it means. Handlers raise ``ApiError(Code.X, message)`` and never pick
a status themselves; exceptions from the layers below carry a ``code`` string
(``protocol``, ``storage``) that is looked up here, so one table says what a
client sees for every failure. ``node/openapi.py`` documents the codes from
it, the page's translations (``node/members/static/i18n.js``) are checked
against it by a test, and ``docs/NODE.md`` lists it.

Every error body has one shape::

    {"error": {"code": str, "message": str, "field": str?, "reason": str?}}

``field`` names the request field at fault when there is one, and ``reason``
is a finer slug for ``invalid_record`` (``title_too_long``, ``area_too_precise``...).
A 5xx is a fault of ours: its message says nothing about the request.
"""

from __future__ import annotations

import enum
import json
import logging
import math
import re
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web, web_protocol, web_server
from aiohttp.http_exceptions import BadHttpMessage, LineTooLong
from aiohttp.web_request import BaseRequest

from protocol.errors import LocalProtocolError, ProtocolError, RecordInvalid, RemoteProtocolError
from storage.errors import StorageError

log = logging.getLogger("mutualaid.http")


class Code(enum.Enum):
    """code = (HTTP status, what it means)."""

    # 400: the request is malformed
    BAD_JSON = (400, "the body is not one JSON object, or holds a number this API does not take")
    BAD_QUERY = (400, "a query parameter is unknown, missing or out of range (a repeated one: given too often)")
    UNKNOWN_FIELD = (400, "the body has a field this endpoint does not take")
    DECODE_ERROR = (400, "bytes that are not one canonical msgpack value within the limits")
    BAD_RECONCILE_MESSAGE = (400, "a reconciliation message that cannot be understood")
    BAD_INPUT = (400, "input from a peer that breaks the protocol")
    BAD_SIGNATURE = (400, "a record's signature does not verify against its author key")
    BAD_REQUEST = (400, "an HTTP request the server could not parse")
    BAD_BUNDLE = (
        400,
        "a bundle of records that is not whole (not a bundle, truncated, over a limit, or its exporter's "
        "signature does not verify), or an export too large for one bundle",
    )
    # 401, 403: who may do this
    UNAUTHORIZED = (401, "a token (a post's manage token, the admin token) or a peer signature is missing or wrong")
    FORBIDDEN = (403, "the token given does not allow this")
    CROSS_SITE = (403, "a change sent by a page on another site")
    ADMIN_OFF = (403, "this node has no admin token, so its operator's and organizers' endpoints are off")
    NOT_THIS_NODE = (403, "only the node a post was made through holds its manage token (and opens its replies)")
    CARD_INVALID = (403, "the member card is not valid here: mistyped, replaced, retired, or its holder left")
    NO_MANDATE = (403, "organizer actions need a member card holding a live mandate from the members")
    NOT_IN_ELECTORATE = (403, "only members on the roll when a proposal opened vote on it")
    FOUNDING_OVER = (403, "the founding period is over: invites come from members, not the operator")
    # 404, 405: what is not here
    NOT_FOUND = (404, "no such record, path or file (it may have expired or been replaced)")
    REMOVED = (404, "this node's organizers removed the post; the message gives their reason")
    INVALID_INVITE = (404, "no live invite has this code: mistyped, already used or expired")
    METHOD_NOT_ALLOWED = (405, "this path does not take that method (the Allow header lists those it takes)")
    # 409: the state of things does not allow it
    CONFLICT = (409, "the post changed meanwhile; load it again")
    CLOSED = (409, "the post is fulfilled or withdrawn and takes no more replies")
    NO_PROFILE = (409, "this node does not hold the poster's node profile yet, so it cannot seal a reply")
    NOT_STORED = (409, "the node did not store the record")
    AMBIGUOUS_ID = (409, "the id prefix names more than one record; give more of it")
    WRONG_KIND = (
        409,
        "the record or field is not of the kind this takes (give_back is for needs, answers for "
        "findings, I'll come for events)",
    )
    NAME_TAKEN = (409, "a member already goes by this name on the roll")
    PROPOSAL_CLOSED = (409, "the proposal is closed: it takes no more ballots or comments")
    BALLOT_LOCKED = (409, "the member voted with an earlier card: that ballot counts and cannot be changed")
    NOT_APPLICABLE = (
        409,
        "the proposal's change does not fit the node as it stands (already in force, or naming "
        "what is not there), or asks less than the chapter's settings require",
    )
    NOT_OFFERED = (409, "a choice or ranking this proposal does not offer")
    NOT_IN_REPORT = (409, "a finding cites a row the community report does not show")
    UNKNOWN_REFERENCE = (409, "names a record this node does not hold, or not of the kind it must be")
    # 413, 414, 415, 431: too big, or not JSON
    BODY_TOO_LARGE = (413, "the request body is over the node's limit")
    URL_TOO_LONG = (414, "the request line (method, path and query) is over the limit")
    UNSUPPORTED_MEDIA_TYPE = (415, "the body is not sent as the content type this endpoint takes")
    HEADER_TOO_LARGE = (431, "a request header is over the limit")
    # 422: well formed, but not valid
    INVALID_RECORD = (422, "a field of a post is not valid; field and reason say which and why")
    INVALID_REPLY = (422, "the reply's message or contact is not valid")
    INVALID_FLAG = (422, "a flag's reason is not one of the reasons")
    INVALID_NOTE = (422, "a flag's note is not valid")
    INVALID_REASON = (422, "an organizer's reason for a removal is not valid")
    INVALID_ID = (422, "not a record id, or not a record this can be done to")
    BAD_KEY = (422, "not a public key (64 hex digits or the ma1... form)")
    BAD_POLICY = (422, "a policy rule that does not exist")
    BAD_URL = (422, "not an http(s) URL of at most 200 characters")
    INVALID_MEMBER = (422, "a name for the roll that is not valid")
    INVALID_INVITE_REQUEST = (422, "invites asked for in a number or for a time out of bounds")
    INVALID_PROPOSAL = (422, "a field of a proposal is not valid, or its change cannot be made now")
    INVALID_BALLOT = (422, "a choice the proposal does not offer")
    INVALID_COMMENT = (422, "a comment that is empty or too long")
    INVALID_FINDING = (422, "a field of a finding is not valid")
    INVALID_ANSWER = (422, "an answer to a finding is agree, partly or missed, with an optional short note")
    INVALID_PASSPHRASE = (422, "a passphrase to seal the node key in a backup that is too short or too long")
    INVALID_EVENT = (
        422,
        "a field of an event is not valid, or its fields do not fit together (an end before its "
        "start, a repeat its start does not fall on, an unknown time zone)",
    )
    # 429: slow down
    TOO_MANY_REQUESTS = (429, "too many changes from this address; Retry-After says when to try again")
    TOO_MANY_REPLIES = (429, "the post has had as many replies through this node as it takes")
    CLIENT_REPLY_LIMIT = (429, "this network address has sent as many replies to this post as one address may")
    TOO_MANY_FLAGS = (429, "the post has as many flags as one post keeps")
    INVITE_QUOTA = (429, "the member has made as many invites this week as the chapter's quota allows")
    TOO_MANY_ATTEMPTS = (429, "too many invite codes tried; Retry-After says when to try again")
    TOO_MANY_PROPOSALS = (429, "the member has as many open proposals as one member may")
    MEMBER_RATE = (429, "too many changes with this member card; Retry-After says when to try again")
    TOO_MANY_ANSWERS = (429, "the finding has as many answers as one finding keeps")
    TOO_MANY_SUGGESTIONS = (429, "the organizers have as many suggested events as they keep")
    TOO_MANY_COMMENTS = (429, "the proposal has as many comments as it takes (or as one member may add)")
    # 5xx: our fault
    INTERNAL = (500, "the node failed; its log says more (never the request's content)")
    BUSY = (503, "the node is too busy to answer now; try again later")

    def __init__(self, status: int, meaning: str) -> None:
        self.status = status
        self.meaning = meaning

    @property
    def code(self) -> str:
        """The code as it travels: the member's name in lower case."""
        return self.name.lower()

    @classmethod
    def of(cls, code: str) -> Code:
        """The member for a code string from a lower layer; ``INTERNAL`` for one we do not know."""
        return _BY_CODE.get(code, cls.INTERNAL)


_BY_CODE = {member.code: member for member in Code}


class ApiError(Exception):
    """An error a handler raises on purpose."""

    def __init__(
        self,
        code: Code,
        message: str,
        *,
        field: str | None = None,
        reason: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.field = field
        self.reason = reason
        self.headers = headers or {}
        """Sent with the error (``Retry-After`` on a 429, ``Allow`` on a 405)."""

    @property
    def status(self) -> int:
        return self.code.status

    @classmethod
    def retry_later(cls, code: Code, what: str, wait: float) -> ApiError:
        """A 429 saying ``what`` and when to try again, in the message and in ``Retry-After``."""
        seconds = max(1, math.ceil(wait))
        return cls(code, f"{what}; try again in {seconds} seconds", headers={"Retry-After": str(seconds)})


def error_body(code: Code, message: str, *, field: str | None = None, reason: str | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code.code, "message": message}
    if field is not None:
        error["field"] = field
    if reason is not None:
        error["reason"] = reason
    return {"error": error}


def error_response(error: ApiError) -> web.Response:
    body = error_body(error.code, str(error), field=error.field, reason=error.reason)
    return web.json_response(body, status=error.status, headers=error.headers)


def translate(exc: BaseException, request: web.Request) -> ApiError | None:
    """The ``ApiError`` an exception from a lower layer (or aiohttp) means, or
    None for a fault of ours. The one place such exceptions are mapped."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, RecordInvalid):
        return ApiError(Code.INVALID_RECORD, str(exc), field=exc.field, reason=exc.reason)
    if isinstance(exc, LocalProtocolError):
        return None
    if isinstance(exc, ProtocolError | StorageError) and exc.code in _BY_CODE and Code.of(exc.code).status < 500:
        return ApiError(Code.of(exc.code), str(exc))
    if isinstance(exc, RemoteProtocolError):  # the caller's fault, whatever its code
        return ApiError(Code.BAD_INPUT, str(exc))
    if isinstance(exc, web.HTTPException) and exc.status >= 400:
        return _http_error(exc, request)
    return None


def _http_error(exc: web.HTTPException, request: web.Request) -> ApiError:
    """aiohttp's own refusals, in our shape: they say the limit, never echo the request."""
    if isinstance(exc, web.HTTPRequestEntityTooLarge):
        limit = request.app._client_max_size
        return ApiError(Code.BODY_TOO_LARGE, f"the request body is over the limit of {limit} bytes")
    if isinstance(exc, web.HTTPMethodNotAllowed):
        allowed = ", ".join(sorted(exc.allowed_methods))
        return ApiError(
            Code.METHOD_NOT_ALLOWED, f"this path takes {allowed}, not {exc.method}", headers={"Allow": allowed}
        )
    if isinstance(exc, web.HTTPNotFound):
        return ApiError(Code.NOT_FOUND, "no such path on this node")
    if isinstance(exc, web.HTTPUnsupportedMediaType):
        return ApiError(Code.UNSUPPORTED_MEDIA_TYPE, "send the body with the content type this endpoint takes")
    return ApiError(Code.BAD_REQUEST, f"the request was refused ({exc.status} {exc.reason})")


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return error_response(_http_error(exc, request))
    except Exception as exc:
        error = translate(exc, request)
        if error is not None:
            return error_response(error)
        # A fault of ours. The log names the route, never the body's content.
        log.exception("request failed: %s %s", request.method, request.match_info.route.resource)
        return error_response(ApiError(Code.INTERNAL, "the node failed to handle this request; see its log"))


def _refuse_constant(name: str) -> object:
    raise ApiError(Code.BAD_JSON, f"{name} is not a number this API accepts")


MAX_INTEGER_DIGITS = 100
"""No field takes an integer near so long; Python would refuse one of 4,300 digits
with a plain ValueError, and converting a long one costs quadratic time."""


def _integer(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INTEGER_DIGITS:
        raise ApiError(Code.BAD_JSON, f"an integer of {len(text)} digits; at most {MAX_INTEGER_DIGITS}")
    return int(text)


async def read_json_object(request: web.Request) -> dict[str, object]:
    """The request body as a JSON object, or a precise 4xx."""
    if request.content_type != "application/json":
        raise ApiError(Code.UNSUPPORTED_MEDIA_TYPE, "send the body as application/json")
    raw = await request.read()
    try:
        value = json.loads(raw, parse_constant=_refuse_constant, parse_int=_integer)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ApiError(Code.BAD_JSON, f"the body is not valid JSON: {exc}") from None
    except RecursionError:
        raise ApiError(Code.BAD_JSON, "the body is nested too deeply") from None
    if not isinstance(value, dict):
        raise ApiError(Code.BAD_JSON, "the body must be a JSON object")
    return value


# --- aiohttp's own refusals, before any handler or middleware runs -----------------------------

MAX_LINE_BYTES = 8190
"""aiohttp's limit on the request line and on each header line (its default)."""


class _JsonErrorHandler(web_protocol.RequestHandler):
    """aiohttp's connection handler, answering a request its parser refused
    (a URL or header too long, too many headers, not HTTP) in the one JSON
    shape, with the limit and never with the request's own bytes (aiohttp's
    text echoes the offending line). Nothing about the client is logged."""

    def handle_error(
        self, request: BaseRequest, status: int = 500, exc: BaseException | None = None, message: str | None = None
    ) -> web.StreamResponse:
        if request.writer.output_size > 0:
            raise ConnectionError("the response has begun: no error can be sent") from exc
        if status >= 500:
            log.error("the HTTP server failed: %s", exc.__class__.__name__ if exc else "unknown")
        error = parser_error(exc) if status < 500 else ApiError(Code.INTERNAL, "the node failed on this request")
        response = error_response(error)
        response.force_close()
        return response


def parser_error(exc: BaseException | None) -> ApiError:
    """What aiohttp's HTTP parser refused, as an ``ApiError`` of ours."""
    if isinstance(exc, LineTooLong):
        line = exc.args[0] if exc.args else b""
        if (isinstance(line, bytes | bytearray) and line[:1] == b"/") or (isinstance(line, str) and line[:1] == "/"):
            return ApiError(Code.URL_TOO_LONG, f"the request line is over the limit of {MAX_LINE_BYTES} bytes")
        return ApiError(Code.HEADER_TOO_LARGE, f"a request header is over the limit of {MAX_LINE_BYTES} bytes")
    if isinstance(exc, BadHttpMessage) and "headers" in str(exc.message):
        return ApiError(Code.HEADER_TOO_LARGE, "the request has more headers than the node reads")
    return ApiError(Code.BAD_REQUEST, "the node could not read this as an HTTP request")


_REQUEST_LINE = re.compile(rb"/|[A-Z]+ /")


def _is_request_line(line: object) -> bool:
    """Whether the line aiohttp found too long was the request line: its C
    parser hands over the target (a bytearray starting with "/"), its Python
    parser the whole line ("GET /..."); a header line is neither."""
    if isinstance(line, str):
        line = line.encode("latin-1", "replace")
    return isinstance(line, bytes | bytearray) and _REQUEST_LINE.match(bytes(line[:16])) is not None


class _JsonErrorServer(web_server.Server):
    def __call__(self) -> web_protocol.RequestHandler:
        return _JsonErrorHandler(self, loop=self._loop, **self._kwargs)


class AppRunner(web.AppRunner):
    """``web.AppRunner`` whose server answers parser errors as JSON (see
    ``_JsonErrorHandler``), with the line limits the messages name set
    explicitly; the node and its tests run the app with it."""

    def __init__(self, app: web.Application, **kwargs: Any) -> None:
        kwargs.setdefault("max_line_size", MAX_LINE_BYTES)
        kwargs.setdefault("max_field_size", MAX_LINE_BYTES)
        super().__init__(app, **kwargs)

    async def _make_server(self) -> web_server.Server:
        server = await super()._make_server()
        assert type(server) is web_server.Server, "aiohttp changed how it makes its server"
        server.__class__ = _JsonErrorServer
        return server
