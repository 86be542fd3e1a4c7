"""The pieces the OpenAPI document is made of: shared schemas, security
requirements, groups of error codes, and the helpers that make an operation
(its parameters, body, and for each status exactly the codes that come with
it, from the registry). ``node/openapi.py`` and ``node/openapi_chapter.py``
build their paths from these."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from node.core.errors import Code
from node.core.params import Param, openapi_params
from node.members import terms

Schema = dict[str, Any]

STR: Schema = {"type": "string"}
HEX64: Schema = {"type": "string", "pattern": "^[0-9a-f]{64}$"}
ID_OR_PREFIX: Schema = {"type": "string", "pattern": terms.ID_PATTERN}
TIME: Schema = {"type": "string", "format": "date-time"}
INT: Schema = {"type": "integer", "minimum": 0}
COUNT: Schema = {"type": ["integer", "null"], "minimum": 0, "description": "rounded to 5; null: 1 to 4"}

Security = list[dict[str, list[str]]]
MANAGE: Security = [{"manageToken": []}]
ADMIN: Security = [{"adminToken": []}]
PEER: Security = [{"peerSignature": []}]
CARD: Security = [{"memberCard": []}]
ORGANIZER: Security = [{"memberCard": []}, {"adminToken": []}]
"""An organizer: a member card holding a mandate, or the admin token in the founding period."""

# Codes most operations share.
JSON_BODY = (Code.BAD_JSON, Code.UNKNOWN_FIELD, Code.UNSUPPORTED_MEDIA_TYPE, Code.BODY_TOO_LARGE, Code.CROSS_SITE)
POST_PATH = (Code.NOT_FOUND, Code.REMOVED, Code.AMBIGUOUS_ID)
MANAGED = (Code.UNAUTHORIZED, Code.FORBIDDEN, Code.NOT_THIS_NODE)
ADMINISTERED = (Code.UNAUTHORIZED, Code.FORBIDDEN, Code.ADMIN_OFF)
MEMBER_WRITE = (Code.TOO_MANY_REQUESTS,)
MEMBER = (Code.UNAUTHORIZED, Code.CARD_INVALID)
ORGANIZING = (Code.UNAUTHORIZED, Code.FORBIDDEN, Code.ADMIN_OFF, Code.CARD_INVALID, Code.NO_MANDATE)

# --- making operations --------------------------------------------------------------------------------


def error_schema(codes: Iterable[Code]) -> Schema:
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "additionalProperties": False,
                "required": ["code", "message"],
                "properties": {
                    "code": {"type": "string", "enum": sorted(code.code for code in codes)},
                    "message": STR,
                    "field": {"type": "string", "description": "the request field at fault"},
                    "reason": {"type": "string", "description": "a finer reason (for invalid_record)"},
                },
            }
        },
    }


def responses(ok: dict[str, Any], errors: Iterable[Code]) -> dict[str, Any]:
    """The success answers and, per status, the error codes that come with it."""
    by_status: dict[int, list[Code]] = defaultdict(list)
    for code in {*errors, Code.INTERNAL}:
        by_status[code.status].append(code)
    out = dict(ok)
    for status, codes in sorted(by_status.items()):
        codes.sort(key=lambda c: c.code)
        meaning = "; ".join(f"`{c.code}`: {c.meaning}" for c in codes)
        out[str(status)] = {"description": meaning, "content": {"application/json": {"schema": error_schema(codes)}}}
    return out


def json_answer(schema: Schema, description: str = "ok", links: dict[str, Any] | None = None) -> dict[str, Any]:
    answer: dict[str, Any] = {"description": description, "content": {"application/json": {"schema": schema}}}
    if links:
        answer["links"] = links
    return answer


def body_of(schema: Schema) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def op(
    operation_id: str,
    summary: str,
    ok: dict[str, Any],
    errors: Sequence[Code] = (),
    *,
    params: Sequence[Param] | None = None,
    path: Sequence[dict[str, Any]] = (),
    body: Schema | None = None,
    security: Security | None = None,
) -> dict[str, Any]:
    codes = [*errors, *((Code.BAD_QUERY,) if params is not None else ())]  # () checks that there are none
    if body is not None:
        codes += JSON_BODY
    operation: dict[str, Any] = {"operationId": operation_id, "summary": summary}
    parameters = [*path, *openapi_params(params or ())]
    if parameters:
        operation["parameters"] = parameters
    if body is not None:
        operation["requestBody"] = body_of(body)
    if security is not None:
        operation["security"] = security
    operation["responses"] = responses(ok, codes)
    return operation


def path_id(
    name: str = "id",
    description: str = f"a record's id (64 hex characters), or its first {terms.MIN_ID_PREFIX} or more",
    schema: Schema = ID_OR_PREFIX,
) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": schema, "description": description}


def link(operation_id: str, **parameters: str) -> dict[str, Any]:
    return {"operationId": operation_id, "parameters": {k.replace("__", "."): v for k, v in parameters.items()}}
