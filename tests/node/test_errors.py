# Hostile input at every member endpoint, datasette-style: each case is one
# request a careless or hostile client could send. Whatever it is, the node
# answers with a 4xx (a 5xx would mean the node blamed itself for the
# client's input), the body is exactly {"error": {"code": str, "message": str}},
# the node still serves /healthz afterwards, and nothing was stored: the ids
# and token hashes in the SQLite file are exactly what they were.

from __future__ import annotations

import base64
import io
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import msgpack
import pytest

from tests.node._support import assert_error_shape, need, offer
from tests.node.conftest import RunningNode

RECORDS = "/api/v1/records"
ONE = "/api/v1/records/{id}"
STATUS = "/api/v1/records/{id}/status"
JSON = "application/json"
MAX_BODY = 1024 * 1024  # NodeConfig.max_body_bytes, the default the fixture uses
INVALID = frozenset({400, 422})  # a wrong JSON type: refused as bad input or as an invalid record


@dataclass(frozen=True)
class Case:
    id: str
    method: str
    path: str
    expect: frozenset[int]
    body: bytes | Callable[[], AsyncIterator[bytes]] | None = None
    content_type: str | None = JSON
    headers: tuple[tuple[str, str], ...] = ()
    auth: bool = False
    """Send the seeded post's own manage token (so the case reaches the body checks)."""
    code: str | None = None
    """The error code, where the API defines it."""


def js(value: Any) -> bytes:
    return json.dumps(value).encode()


def case(
    id: str, method: str, path: str, expect: int | frozenset[int], body: Any = None, *, raw: bool = False, **kw: Any
) -> Case:
    """``body`` is sent as JSON unless ``raw`` (bytes as they are, or a chunk generator)."""
    data = body if raw or body is None else js(body)
    statuses = frozenset({expect}) if isinstance(expect, int) else expect
    return Case(id, method, path, statuses, data, **kw)


def oversized_json(**fields: Any) -> bytes:
    body = js(fields | {"details": "x" * MAX_BODY})
    assert len(body) > MAX_BODY
    return body


def chunked_oversized() -> AsyncIterator[bytes]:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"kind": "need", "title": "t", "category": "food", "area": "u4pr", "details": "'
        for _ in range(MAX_BODY // 65536 + 2):
            yield b"x" * 65536
        yield b'"}'

    return chunks()


def cursor_of(*items: Any) -> str:
    """A cursor as the node encodes one (base64url of a msgpack array), with chosen contents."""
    return base64.urlsafe_b64encode(msgpack.packb(list(items), use_bin_type=True)).decode().rstrip("=")


# --- the cases -------------------------------------------------------------------------------------

NOT_OBJECTS = [
    ("array", b"[]"),
    ("array-of-object", js([need()])),
    ("number", b"42"),
    ("string", b'"need"'),
    ("null", b"null"),
    ("true", b"true"),
    # Python refuses integers of 4,300 digits with a plain ValueError; the node stops at 20.
    ("huge-integer", b'{"kind": "need", "expires_in_days": ' + b"9" * 5000 + b"}"),
    ("long-integer", b'{"kind": "need", "expires_in_days": ' + b"1" * 101 + b"}"),
]
BAD_BYTES = [
    ("garbage", b"\x00\xff\xfe\x80\x81garbage\x00"),
    ("empty", b""),
    ("truncated", js(need())[:-7]),
    ("trailing-junk", js(need()) + b"}}"),
    ("single-quotes", b"{'kind': 'need'}"),
    ("invalid-utf8-in-string", b'{"kind": "need", "title": "\xff\xfe", "category": "food", "area": "u4pr"}'),
    ("deeply-nested-array", b"[" * 100_000),
    ("deeply-nested-object", b'{"a":' * 50_000),
    ("deeply-nested-field", b'{"kind": "need", "details": ' + b"[" * 5_000 + b"]" * 5_000 + b"}"),
]
WRONG_CONTENT_TYPES = [
    ("text-plain", "text/plain"),
    ("form", "application/x-www-form-urlencoded"),
    ("octet-stream", "application/octet-stream"),
    ("merge-patch", "application/merge-patch+json"),
    ("msgpack", "application/msgpack"),
    ("none", None),
]
# Values of the wrong JSON type (or shape) for a field; None is fine for the optional
# fields (it means "leave out"), so it is only tried on the required ones.
WRONG_VALUES: list[tuple[str, Any]] = [
    ("int", 0),
    ("float", 1.5),
    ("bool", True),
    ("object", {"a": "b"}),
    ("list", ["X Y"]),
    ("huge-int", 10**30),
    ("empty-string", ""),
]
POST_REQUIRED = ("kind", "title", "category", "area")
POST_OPTIONAL = ("details", "tags", "quantity", "urgency", "needed_by", "languages", "give_back", "expires_in_days")
POST_FIELDS = POST_REQUIRED + POST_OPTIONAL
EDIT_FIELDS = POST_FIELDS[1:]
BAD_VALUES: list[tuple[str, dict[str, Any]]] = [
    ("area-6-chars", {"area": "u4pruu"}),
    ("area-uppercase", {"area": "U4PR"}),
    ("area-not-geohash", {"area": "a1"}),
    ("category-uppercase", {"category": "Food"}),
    ("category-underscore", {"category": "child_care"}),
    ("category-33-chars", {"category": "a" * 33}),
    ("title-121-chars", {"title": "x" * 121}),
    ("title-blank", {"title": "   "}),
    ("title-invisible", {"title": "\u200b\u200d"}),
    ("title-newline", {"title": "two\nlines"}),
    ("title-bidi-override", {"title": "abc\u202edef"}),
    ("title-nul", {"title": "a\x00b"}),
    ("details-2001-chars", {"details": "x" * 2001}),
    ("tags-11", {"tags": [f"t{i}" for i in range(11)]}),
    ("tags-duplicate", {"tags": ["food", "food"]}),
    ("quantity-41-chars", {"quantity": "x" * 41}),
    ("urgency-unknown", {"urgency": "critical"}),
    ("needed-by-words", {"needed_by": "tomorrow"}),
    ("needed-by-feb-30", {"needed_by": "2031-02-30"}),
    ("needed-by-before-1970", {"needed_by": "1969-07-20"}),
    ("needed-by-number", {"needed_by": 1924992000}),
    ("languages-uppercase", {"languages": ["EN"]}),
    ("languages-duplicate", {"languages": ["en", "en"]}),
    ("give-back-281-chars", {"give_back": "x" * 281}),
    ("expires-0", {"expires_in_days": 0}),
    ("expires-91", {"expires_in_days": 91}),
    ("expires-negative", {"expires_in_days": -5}),
    ("expires-string", {"expires_in_days": "30"}),
]
# Values with no place in a record: nested deeper than a record allows, or text that is
# not Unicode. Refused as bad input or as an invalid record.
TOO_DEEP: list[tuple[str, dict[str, Any]]] = [
    ("title-lone-surrogate", {"title": "\ud800"}),
    ("tags-nested", {"tags": [["food"]]}),
    ("details-nested", {"details": [[["x"]]]}),
    ("quantity-nested-object", {"quantity": {"a": {"b": "c"}}}),
]
UNKNOWN_FIELDS = ["author", "id", "slot", "status", "created_at", "expires_at", "signature", "v", "colour", ""]


def post_cases() -> list[Case]:
    cases = [
        case(f"post-{name}", "POST", RECORDS, 400, raw_body, raw=True, code="bad_json")
        for name, raw_body in NOT_OBJECTS
    ]
    cases += [case(f"post-{name}", "POST", RECORDS, 400, raw_body, raw=True) for name, raw_body in BAD_BYTES]
    cases += [
        case(
            "post-nan",
            "POST",
            RECORDS,
            INVALID,
            b'{"kind": "need", "title": "t", "category": "food", "area": "u4pr", "quantity": NaN}',
            raw=True,
        ),
        case(
            "post-infinity",
            "POST",
            RECORDS,
            INVALID,
            b'{"kind": "need", "title": Infinity, "category": "food", "area": "u4pr"}',
            raw=True,
        ),
        case(
            "post-utf8-encoded-surrogate",
            "POST",
            RECORDS,
            INVALID,
            b'{"kind": "need", "title": "\xed\xa0\x80", "category": "food", "area": "u4pr"}',
            raw=True,
        ),
    ]
    cases += [
        case(
            f"post-content-type-{name}", "POST", RECORDS, 415, need(), content_type=ctype, code="unsupported_media_type"
        )
        for name, ctype in WRONG_CONTENT_TYPES
    ]
    cases += [
        case("post-oversized", "POST", RECORDS, 413, oversized_json(**need()), raw=True, code="body_too_large"),
        case("post-oversized-chunked", "POST", RECORDS, 413, chunked_oversized, raw=True, code="body_too_large"),
    ]
    cases += [
        case(f"post-unknown-field-{name or 'empty'}", "POST", RECORDS, 400, need(**{name: "x"}), code="unknown_field")
        for name in UNKNOWN_FIELDS
    ]
    for name in ("kind", "title", "category", "area"):
        missing = {k: v for k, v in need().items() if k != name}
        cases.append(case(f"post-missing-{name}", "POST", RECORDS, 422, missing, code="invalid_record"))
        cases.append(case(f"post-null-{name}", "POST", RECORDS, 422, need(**{name: None}), code="invalid_record"))
    cases.append(case("post-kind-node", "POST", RECORDS, 422, need(kind="node"), code="invalid_record"))
    cases.append(case("post-kind-uppercase", "POST", RECORDS, 422, need(kind="Need"), code="invalid_record"))
    cases.append(case("post-expires-null", "POST", RECORDS, 422, need(expires_in_days=None), code="invalid_record"))
    cases += [
        case(f"post-{field}-{label}", "POST", RECORDS, INVALID, need(**{field: value}))
        for field in POST_FIELDS
        for label, value in WRONG_VALUES
    ]
    cases += [
        case(f"post-{label}", "POST", RECORDS, 422, need(**fields), code="invalid_record")
        for label, fields in BAD_VALUES
    ]
    cases += [case(f"post-{label}", "POST", RECORDS, INVALID, need(**fields)) for label, fields in TOO_DEEP]
    cases.append(case("post-give-back-on-offer", "POST", RECORDS, 400, offer(give_back="x"), code="unknown_field"))
    return cases


def status_cases() -> list[Case]:
    cases = [
        case("status-no-token", "POST", STATUS, 401, {"status": "claimed"}, code="unauthorized"),
        case("status-no-token-bad-body", "POST", STATUS, 401, b"\x00garbage", raw=True, code="unauthorized"),
        case(
            "status-wrong-token",
            "POST",
            STATUS,
            403,
            {"status": "claimed"},
            headers=(("Authorization", "Bearer not-it"),),
            code="forbidden",
        ),
        case(
            "status-bad-id",
            "POST",
            STATUS.replace("{id}", "xyz"),
            404,
            {"status": "claimed"},
            auth=True,
            code="not_found",
        ),
        case(
            "status-unknown-id",
            "POST",
            STATUS.replace("{id}", "ab" * 32),
            404,
            {"status": "claimed"},
            auth=True,
            code="not_found",
        ),
        case("status-empty-object", "POST", STATUS, 422, {}, auth=True, code="invalid_record"),
        case("status-unknown-status", "POST", STATUS, 422, {"status": "done"}, auth=True, code="invalid_record"),
        case("status-uppercase", "POST", STATUS, 422, {"status": "CLAIMED"}, auth=True, code="invalid_record"),
        case(
            "status-extra-field",
            "POST",
            STATUS,
            400,
            {"status": "claimed", "note": "x"},
            auth=True,
            code="unknown_field",
        ),
        case(
            "status-oversized",
            "POST",
            STATUS,
            413,
            oversized_json(status="claimed"),
            raw=True,
            auth=True,
            code="body_too_large",
        ),
        case(
            "status-text-plain",
            "POST",
            STATUS,
            415,
            {"status": "claimed"},
            content_type="text/plain",
            auth=True,
            code="unsupported_media_type",
        ),
    ]
    cases += [
        case(f"status-value-{label}", "POST", STATUS, 422, {"status": value}, auth=True, code="invalid_record")
        for label, value in [*WRONG_VALUES, ("null", None)]
    ]
    cases += [
        case(f"status-{name}", "POST", STATUS, 400, raw_body, raw=True, auth=True)
        for name, raw_body in [*NOT_OBJECTS, *BAD_BYTES]
    ]
    return cases


def edit_cases() -> list[Case]:
    cases = [
        case("edit-no-token", "PATCH", ONE, 401, {"title": "x"}, code="unauthorized"),
        case(
            "edit-wrong-token",
            "PATCH",
            ONE,
            403,
            {"title": "x"},
            headers=(("Authorization", "Bearer x"),),
            code="forbidden",
        ),
        case(
            "edit-unknown-id", "PATCH", ONE.replace("{id}", "cd" * 32), 404, {"title": "x"}, auth=True, code="not_found"
        ),
        case("edit-nothing", "PATCH", ONE, 422, {}, auth=True, code="invalid_record"),
        case(
            "edit-oversized", "PATCH", ONE, 413, oversized_json(title="x"), raw=True, auth=True, code="body_too_large"
        ),
        case(
            "edit-text-plain",
            "PATCH",
            ONE,
            415,
            {"title": "x"},
            content_type="text/plain",
            auth=True,
            code="unsupported_media_type",
        ),
        case("edit-null-title", "PATCH", ONE, 422, {"title": None}, auth=True, code="invalid_record"),
    ]
    cases += [
        case(f"edit-unknown-field-{name or 'empty'}", "PATCH", ONE, 400, {name: "x"}, auth=True, code="unknown_field")
        for name in [*UNKNOWN_FIELDS, "kind"]
    ]
    cases += [
        case(f"edit-{field}-{label}", "PATCH", ONE, INVALID, {field: value}, auth=True)
        for field in EDIT_FIELDS
        for label, value in WRONG_VALUES
    ]
    cases += [
        case(f"edit-{label}", "PATCH", ONE, 422, fields, auth=True, code="invalid_record")
        for label, fields in BAD_VALUES
    ]
    cases += [case(f"edit-{label}", "PATCH", ONE, INVALID, fields, auth=True) for label, fields in TOO_DEEP]
    cases += [
        case(f"edit-{name}", "PATCH", ONE, 400, raw_body, raw=True, auth=True)
        for name, raw_body in [*NOT_OBJECTS, *BAD_BYTES]
    ]
    return cases


def query_cases() -> list[Case]:
    params = [
        ("limit-0", "limit=0"),
        ("limit-abc", "limit=abc"),
        ("limit-1000", "limit=1000"),
        ("limit-501", "limit=501"),
        ("limit-negative", "limit=-1"),
        ("limit-fraction", "limit=1.5"),
        ("limit-empty", "limit="),
        ("limit-huge", "limit=" + "9" * 40),
        ("limit-superscript-two", "limit=%C2%B2"),
        ("limit-fullwidth-digit", "limit=%EF%BC%99%EF%BC%99%EF%BC%99%EF%BC%99"),
        ("kind-unknown", "kind=request"),
        ("kind-uppercase", "kind=NEED"),
        ("status-unknown", "status=deleted"),
        ("category-uppercase", "category=Food"),
        ("area-6-chars", "area=u4pruu"),
        ("area-uppercase", "area=U4"),
        ("area-not-geohash", "area=ail"),
        ("q-201-chars", "q=" + "x" * 201),
        ("order-unknown", "order=random"),
        ("cursor-garbage", "cursor=!!!"),
        ("cursor-short", "cursor=AAAA"),
        ("cursor-non-ascii", "cursor=%C3%A9t%C3%A9"),
        ("cursor-other-order", "cursor=" + cursor_of("urgency", 1, 2, 3)),
        ("cursor-wrong-width", "cursor=" + cursor_of("newest", 1)),
        ("cursor-text-in-key", "cursor=" + cursor_of("newest", "a", 1)),
        ("cursor-out-of-range", "cursor=" + cursor_of("newest", 2**64 - 1, 1)),
        ("cursor-not-a-list", "cursor=" + base64.urlsafe_b64encode(msgpack.packb({"a": 1})).decode()),
        ("unknown-parameter", "colour=red"),
        ("unknown-parameter-empty-name", "=x"),
    ]
    return [case(f"search-{name}", "GET", f"{RECORDS}?{query}", 400, code="bad_query") for name, query in params]


def route_cases() -> list[Case]:
    cases = [
        case(f"get-id-{name}", "GET", f"{RECORDS}/{text}", 404, code="not_found")
        for name, text in [
            ("words", "xyz"),
            ("63-hex", "a" * 63),
            ("65-hex", "a" * 65),
            ("64-non-hex", "g" * 64),
            ("unknown", "0" * 64),
            ("percent-ff", "%FF" * 32),
            ("nul", "%00" * 32),
            ("non-ascii", "%C3%A9" * 32),
            ("spaces", "%20" * 64),
        ]
    ]
    cases += [
        case(f"unknown-route-{name}", method, path, 404, code="not_found")
        for name, method, path in [
            ("root", "GET", "/nope"),
            ("v2", "GET", "/api/v2/records"),
            ("singular", "GET", "/api/v1/record"),
            ("status-extra", "POST", STATUS + "/extra"),
            ("trailing-slash", "GET", ONE + "/"),
            ("node-extra", "GET", "/api/v1/node/extra"),
        ]
    ]
    cases += [
        case(f"wrong-method-{method.lower()}-{name}", method, path, 405, code="method_not_allowed")
        for name, method, path in [
            ("records", "DELETE", RECORDS),
            ("records", "PUT", RECORDS),
            ("records", "PATCH", RECORDS),
            ("record", "DELETE", ONE),
            ("record", "PUT", ONE),
            ("record", "POST", ONE),
            ("status", "GET", STATUS),
            ("status", "PATCH", STATUS),
            ("healthz", "POST", "/healthz"),
            ("node", "POST", "/api/v1/node"),
            ("openapi", "DELETE", "/api/v1/openapi.json"),
        ]
    ]
    return cases


REPLIES = "/api/v1/records/{id}/replies"
FLAGS = "/api/v1/records/{id}/flags"
EVIL = (("Origin", "https://evil.example"), ("Sec-Fetch-Site", "cross-site"))
FORM = "application/x-www-form-urlencoded"


def community_cases() -> list[Case]:
    """Replies, flags, matches, the report, the organizers' view, and cross-site posts."""
    admin_free = (("Authorization", "Bearer not-the-admin-token"),)
    cases = [
        case(f"reply-{name}", "POST", REPLIES, 400, raw_body, raw=True) for name, raw_body in [*NOT_OBJECTS, *BAD_BYTES]
    ]
    cases += [
        case(f"reply-content-type-{name}", "POST", REPLIES, 415, {"message": "hi"}, content_type=ctype)
        for name, ctype in WRONG_CONTENT_TYPES
    ]
    cases += [
        case(f"reply-{label}", "POST", REPLIES, 422, body, code="invalid_reply")
        for label, body in [
            ("empty-message", {"message": ""}),
            ("missing", {}),
            ("blank", {"message": " \n\t "}),
            ("message-2001", {"message": "x" * 2001}),
            ("contact-501", {"message": "hi", "contact": "x" * 501}),
            ("message-object", {"message": {"a": "b"}}),
            ("message-nul", {"message": "a\u0000b"}),
            ("contact-bidi", {"message": "hi", "contact": "\u202e"}),
        ]
    ]
    cases += [
        case("reply-unknown-field", "POST", REPLIES, 400, {"message": "hi", "to": "me"}, code="unknown_field"),
        case("reply-oversized", "POST", REPLIES, 413, oversized_json(message="x"), raw=True, code="body_too_large"),
        case("reply-unknown-post", "POST", REPLIES.replace("{id}", "ab" * 32), 404, {"message": "hi"}),
        case("reply-bad-id", "POST", REPLIES.replace("{id}", "xyz"), 404, {"message": "hi"}),
        case("replies-no-token", "GET", REPLIES, 401, code="unauthorized"),
        case("replies-wrong-token", "GET", REPLIES, 403, headers=(("Authorization", "Bearer x"),), code="forbidden"),
        case("replies-unknown-post", "GET", REPLIES.replace("{id}", "ab" * 32), 404, auth=True),
        case("reply-cross-site", "POST", REPLIES, 403, {"message": "hi"}, headers=EVIL, code="cross_site"),
        case("flag-bad-reason", "POST", FLAGS, 422, {"reason": "ugly"}, code="invalid_flag"),
        case("flag-note-501", "POST", FLAGS, 422, {"reason": "other", "note": "x" * 501}, code="invalid_note"),
        case("flag-not-object", "POST", FLAGS, 400, b"[]", raw=True, code="bad_json"),
        case("flag-form", "POST", FLAGS, 415, b"reason=spam", raw=True, content_type=FORM),
        case("flag-cross-site-form", "POST", FLAGS, 403, b"reason=spam", raw=True, content_type=FORM, headers=EVIL,
             code="cross_site"),
        case("matches-limit-0", "GET", "/api/v1/records/{id}/matches?limit=0", 400, code="bad_query"),
        case("matches-unknown", "GET", "/api/v1/records/" + "ab" * 32 + "/matches", 404, code="not_found"),
        case("report-weeks-0", "GET", "/api/v1/report?weeks=0", 400, code="bad_query"),
        case("report-csv-weeks-99", "GET", "/api/v1/report.csv?weeks=99", 400, code="bad_query"),
        case("report-weeks-53", "GET", "/api/v1/report?weeks=53", 400, code="bad_query"),
        case("manage-no-token", "GET", "/api/v1/manage", 401, code="unauthorized"),
        case("manage-wrong-token", "GET", "/api/v1/manage", 403, headers=(("Authorization", "Bearer x"),),
             code="forbidden"),
        case("manage-unknown-parameter", "GET", "/api/v1/manage?all=1", 400, auth=True, code="bad_query"),
        case("manage-post", "POST", "/api/v1/manage", 405, {}, code="method_not_allowed"),
        case("flag-unknown-post", "POST", "/api/v1/records/" + "ab" * 32 + "/flags", 404, {"reason": "spam"},
             code="not_found"),
        case("dismiss-flags-no-token", "DELETE", "/api/v1/organizer/flags/{id}", 401, code="unauthorized"),
        case("dismiss-flags-manage-token", "DELETE", "/api/v1/organizer/flags/{id}", 403, auth=True,
             code="forbidden"),
        case("organizer-unanswered-no-token", "GET", "/api/v1/organizer/unanswered", 401, code="unauthorized"),
        case("organizer-flags-wrong-token", "GET", "/api/v1/organizer/flags", 403, headers=admin_free),
        case("organizer-remove-manage-token", "POST", "/api/v1/organizer/removals", 403, {"id": "ab" * 32,
             "reason": "spam"}, auth=True, code="forbidden"),
        case("post-from-another-site", "POST", RECORDS, 403, need(), headers=EVIL, code="cross_site"),
        case("status-from-another-site", "POST", STATUS, 403, {"status": "withdrawn"}, auth=True, headers=EVIL,
             code="cross_site"),
    ]  # fmt: skip
    return cases


CASES = [*post_cases(), *status_cases(), *edit_cases(), *query_cases(), *route_cases(), *community_cases()]


@dataclass
class Seeded:
    node: RunningNode
    record: dict[str, Any]
    token: str
    stored: tuple[frozenset[bytes], frozenset[bytes]] = field(default=(frozenset(), frozenset()))


@pytest.fixture
async def seeded(node: RunningNode) -> Seeded:
    """A node holding one post, so the count has something to keep and the case has an id and token."""
    record, token = await node.post(need(details="Sizes 6 and 8"))
    return Seeded(node, record, token, await node.stored())


async def send(seed: Seeded, c: Case) -> tuple[int, str, Any]:
    headers = dict(c.headers)
    if c.auth:
        headers["Authorization"] = f"Bearer {seed.token}"
    if c.content_type is not None:
        headers["Content-Type"] = c.content_type
    # Bytes go in a BytesIO: aiohttp warns (an error here) about large raw bytes bodies.
    data = c.body() if callable(c.body) else None if c.body is None else io.BytesIO(c.body)
    path = c.path.replace("{id}", seed.record["id"])
    async with seed.node.session.request(
        c.method, path, data=data, headers=headers, skip_auto_headers=["Content-Type"]
    ) as response:
        raw = await response.read()
        try:
            body = json.loads(raw)
        except ValueError:
            body = raw
        return response.status, response.content_type, body


def test_case_ids_are_unique() -> None:
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("c", CASES, ids=[c.id for c in CASES])
async def test_hostile_request_gets_one_error_shape_and_changes_nothing(seeded: Seeded, c: Case) -> None:
    node = seeded.node
    status, content_type, body = await send(seeded, c)
    code, _ = assert_error_shape(status, body)
    assert status in c.expect, (status, body)
    assert content_type == JSON
    if c.code is not None:
        assert code == c.code, body

    assert await node.call("GET", "/healthz") == (200, {"status": "ok"})
    assert await node.stored() == seeded.stored
    assert await node.call("GET", f"/api/v1/records/{seeded.record['id']}") == (200, seeded.record)
