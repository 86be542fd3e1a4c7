"""JSON request bodies: each declared once, read and documented from the same declaration.

A ``Body`` lists its fields, each with the JSON Schema of its value and how
the node reads it; ``Body.read`` checks a request's JSON object against them
(an unknown field is a 400 ``unknown_field``, a missing or bad one the body's
422 code, naming the field) and ``Body.schema`` is what the OpenAPI document
says, so the document allows exactly what the node takes. Record fields come
from the field table (``from_table``), whose checks and schemas agree by
construction and by test.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from node.core.errors import ApiError, Code
from protocol.errors import RecordInvalid
from protocol.fields import DATE_PATTERN, FIRST_YEAR, LAST_YEAR, compiled
from protocol.fieldtable import Field, ListOf, Type

Schema = dict[str, Any]
Reader = Callable[[Any], Any]


@dataclass(frozen=True)
class BodyField:
    name: str
    schema: Schema
    read: Reader
    """The JSON value (never null) to what the node keeps; raises ``ApiError`` or ``RecordInvalid``."""
    required: bool = False
    nullable: bool = False
    """null may be sent: it means "none" (on an edit, "remove it")."""
    description: str = ""
    code: Code | None = None
    """The error code of a bad value, if not the body's."""

    def value_schema(self) -> Schema:
        schema = dict(self.schema)
        if self.description:
            schema["description"] = self.description
        return {"anyOf": [schema, {"type": "null"}]} if self.nullable else schema


def from_table(row: Field | Type, name: str | None = None, **options: Any) -> BodyField:
    """A body field that takes what the field table's type takes."""
    kind = row.type if isinstance(row, Field) else row
    field_name = name or (row.name if isinstance(row, Field) else "")
    description = options.pop("description", row.meaning if isinstance(row, Field) else "")
    return BodyField(field_name, kind.json_schema(), lambda value: kind.check(field_name, value), **options,
                     description=description)  # fmt: skip


def choice(name: str, values: Sequence[str], **options: Any) -> BodyField:
    def read(value: Any) -> str:
        if value not in values or not isinstance(value, str):
            raise ApiError(Code.INVALID_RECORD, f"{name} must be one of {', '.join(values)}", field=name)
        return value

    return BodyField(name, {"type": "string", "enum": list(values)}, read, **options)


def integer(name: str, low: int, high: int, **options: Any) -> BodyField:
    def read(value: Any) -> int:
        # JSON Schema counts 30.0 as an integer; JSON parsers hand it over as a float.
        whole = isinstance(value, float) and value.is_integer()
        if isinstance(value, bool) or (not isinstance(value, int) and not whole) or not low <= value <= high:
            raise ApiError(Code.INVALID_RECORD, f"{name} must be a whole number from {low} to {high}", field=name)
        return int(value)

    return BodyField(name, {"type": "integer", "minimum": low, "maximum": high}, read, **options)


def matching(name: str, pattern: str, what: str, **options: Any) -> BodyField:
    whole = compiled(pattern)

    def read(value: Any) -> str:
        if not isinstance(value, str) or not whole.match(value):
            raise ApiError(Code.INVALID_RECORD, f"{name} must be {what}", field=name)
        return value

    return BodyField(name, {"type": "string", "pattern": pattern}, read, **options)


HEX64 = "^[0-9a-f]{64}$"
_HEX64 = compiled(HEX64)


def id_list(row: Field, **options: Any) -> BodyField:
    """A field-table list of record ids as the API takes them: distinct, 64 lowercase hex characters each."""
    if not isinstance(row.type, ListOf):
        raise TypeError(f"{row.name} is not a list")
    name, max_items = row.name, row.type.max_items

    def read(value: Any) -> list[str]:
        ids = [item for item in value if isinstance(item, str) and _HEX64.match(item)]
        if len(ids) != len(value) or len(set(ids)) != len(ids) or len(ids) > max_items:
            raise ApiError(Code.INVALID_RECORD, f"{name} lists at most {max_items} distinct record ids, 64 lowercase "
                           "hex characters each", field=name)  # fmt: skip
        return ids

    item = {"type": "string", "pattern": HEX64}
    schema = {"type": "array", "maxItems": max_items, "uniqueItems": True, "items": item}
    return BodyField(name, schema, read, **options)


class Body:
    """One endpoint's JSON object: its fields, and the code a bad value answers with."""

    def __init__(self, fields: Sequence[BodyField], code: Code, *, at_least_one: bool = False) -> None:
        self.fields = {f.name: f for f in fields}
        self.code = code
        self.at_least_one = at_least_one
        """An empty object is refused (nothing to do)."""

    def schema(self, **extra: Any) -> Schema:
        schema: Schema = {
            "type": "object",
            "additionalProperties": False,
            "properties": {name: f.value_schema() for name, f in self.fields.items()},
            **extra,
        }
        required = [name for name, f in self.fields.items() if f.required]
        if required:
            schema["required"] = required
        if self.at_least_one:
            schema["minProperties"] = 1
        return schema

    def read(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """The given fields' values (None where null was sent), or the error for the first at fault."""
        unknown = sorted(body.keys() - self.fields.keys())
        if unknown:
            allowed = ", ".join(self.fields)
            message = f"unknown field {unknown[0][:40]!r}; allowed: {allowed}"
            raise ApiError(Code.UNKNOWN_FIELD, message, field=unknown[0] or None)
        if self.at_least_one and not body:
            raise ApiError(self.code, "nothing to change: send at least one field")
        values: dict[str, Any] = {}
        for name, spec in self.fields.items():
            if name not in body:
                if spec.required:
                    raise ApiError(spec.code or self.code, f"{name} is required", field=name)
                continue
            value = body[name]
            code = spec.code or self.code
            if value is None:
                if not spec.nullable:
                    raise ApiError(code, f"{name} cannot be null", field=name)
                values[name] = None
                continue
            if not _has_type(spec.schema, value):
                raise ApiError(code, f"{name} must be {_type_names(spec.schema)}", field=name, reason="wrong_type")
            _unicode(name, value, code)
            try:
                values[name] = spec.read(value)
            except RecordInvalid as exc:
                raise ApiError(code, str(exc), field=name, reason=exc.reason) from None
            except ApiError as exc:
                raise ApiError(code, str(exc), field=name, reason=exc.reason) from None
        return values


class Variants:
    """A JSON object whose fields depend on the value of one of them (``key``):
    one ``Body`` per value, each taking ``key`` as a required one-value choice."""

    def __init__(self, key: str, bodies: Mapping[str, Body], code: Code) -> None:
        self.key = key
        self.bodies = dict(bodies)
        self.code = code

    def schema(self) -> Schema:
        return {"oneOf": [body.schema() for body in self.bodies.values()]}

    def read(self, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise ApiError(self.code, "must be a JSON object", reason="wrong_type")
        value = body.get(self.key)
        if not isinstance(value, str) or value not in self.bodies:
            raise ApiError(self.code, f"{self.key} must be one of {', '.join(self.bodies)}", field=self.key)
        return self.bodies[value].read(body)

    def field(self, name: str, **options: Any) -> BodyField:
        """This object as the value of a field of another body."""
        return BodyField(name, self.schema(), self.read, **options)


_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int, float),
    "number": (int, float),
    "array": (list,),
    "object": (dict,),
    "boolean": (bool,),
}


def _types(schema: Schema) -> set[str]:
    if "anyOf" in schema:
        return {name for branch in schema["anyOf"] for name in _types(branch)}
    kind = schema.get("type")
    return set(kind) if isinstance(kind, list) else {kind} if isinstance(kind, str) else set(_JSON_TYPES)


def _has_type(schema: Schema, value: Any) -> bool:
    """Whether a JSON value is of a type the schema names (a reader then checks the rest)."""
    wanted = _types(schema)
    if isinstance(value, bool):
        return "boolean" in wanted
    return any(isinstance(value, _JSON_TYPES[name]) for name in wanted if name in _JSON_TYPES)


def _type_names(schema: Schema) -> str:
    return " or ".join(f"a JSON {name}" for name in sorted(_types(schema)))


def _unicode(name: str, value: Any, code: Code) -> None:
    """JSON escapes can carry a lone surrogate, which no record can hold."""
    texts = value if isinstance(value, list) else [value]
    for text in texts:
        if isinstance(text, str):
            try:
                text.encode("utf-8")
            except UnicodeEncodeError:
                raise ApiError(code, f"{name} is not valid Unicode text", field=name, reason="not_unicode") from None


# --- dates -----------------------------------------------------------------------------------

_DATE = compiled(DATE_PATTERN)


def read_date(name: str) -> Reader:
    def read(value: Any) -> int:
        if not isinstance(value, str) or not _DATE.match(value):
            raise ApiError(
                Code.INVALID_RECORD,
                f"{name} must be a date such as 2026-12-24 (or 2026-12-24T18:00:00Z), from {FIRST_YEAR} to {LAST_YEAR}",
                field=name,
            )
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return int((moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp())

    return read
