"""The table of every record field: one row each, read by everything that checks a field.

A row (``Field``) names the field, the kinds it belongs to (required or optional
in each), its type with its bounds, and a one-line meaning. From the table come:
record validation (``protocol/records.py`` runs ``check_fields`` and then one
validator per kind for the rules that span fields), the member API's body
checks and the OpenAPI schemas (``node/core/bodies.py`` takes the types'
``json_schema``), the field tables of docs/PROTOCOL.md (``markdown_table``;
a test compares them with the file) and the limits the web page reads from the
node. Adding a kind is adding its rows here and its validator in records.py.

A type's ``check`` and its ``json_schema`` accept exactly the same values (a
Hypothesis test holds them to it): text rules are written once as regular
expressions in the subset JSON Schema and Python share (no ``\\s``, no ``\\d``:
explicit classes), so a client validating against the schema never sends
what the node would refuse.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from protocol import fields as f
from protocol import figures, recurrence

Schema = dict[str, Any]

# Characters never allowed in member text: C0 and C1 controls, DEL, line and
# paragraph separators, bidirectional overrides. Multi-line text allows tab and newline.
_CONTROL = "\\u0000-\\u001f\\u007f-\\u009f\\u2028\\u2029\\u202a-\\u202e\\u2066-\\u2069"
_CONTROL_MULTILINE = "\\u0000-\\u0008\\u000b-\\u001f\\u007f-\\u009f\\u2028\\u2029\\u202a-\\u202e\\u2066-\\u2069"
# What leaves a field blank: white space (what str.strip() removes, controls
# aside) and the invisible characters that make a blank field look filled.
_BLANK = "\\u0020\\u00a0\\u1680\\u2000-\\u200a\\u202f\\u205f\\u3000\\u200b\\u200c\\u200d\\u2060\\ufeff\\u00ad"


def text_pattern(multiline: bool) -> str:
    """Not blank, and no character a member's text may not hold."""
    control = _CONTROL_MULTILINE if multiline else _CONTROL
    blank = _BLANK + ("\\u0009\\u000a" if multiline else "")
    return f"^[^{control}]*[^{control}{blank}][^{control}]*$"


SLUG_PATTERN, SLOT_PATTERN, LANGUAGE_PATTERN = f.SLUG_PATTERN, f.SLOT_PATTERN, f.LANGUAGE_PATTERN
GEOHASH_PATTERN, URL_PATTERN, MAX_URL_CHARS = f.GEOHASH_PATTERN, f.URL_PATTERN, f.MAX_URL_CHARS


@dataclass(frozen=True)
class Text:
    """Member text: not blank, at most ``max_chars`` characters, one line unless ``multiline``."""

    max_chars: int
    multiline: bool = False
    wire = "str"

    def check(self, name: str, value: Any) -> str:
        return f.text(name, value, max_chars=self.max_chars, multiline=self.multiline)

    def json_schema(self) -> Schema:
        pattern = text_pattern(self.multiline)
        return {"type": "string", "minLength": 1, "maxLength": self.max_chars, "pattern": pattern}

    def rule(self) -> str:
        lines = "newline and tab allowed" if self.multiline else "one line"
        return f"1..{self.max_chars} characters, not blank, {lines}, no control characters (3.3)"


@dataclass(frozen=True)
class Slug:
    max_chars: int = 32
    wire = "str"

    def check(self, name: str, value: Any) -> str:
        return f.slug(name, value, max_chars=self.max_chars)

    def json_schema(self) -> Schema:
        return {"type": "string", "minLength": 1, "maxLength": self.max_chars, "pattern": SLUG_PATTERN}

    def rule(self) -> str:
        return f"slug: `[a-z0-9]+(-[a-z0-9]+)*`, at most {self.max_chars} characters"


@dataclass(frozen=True)
class Slot:
    wire = "str"

    def check(self, name: str, value: Any) -> str:
        return f.slot(name, value)

    def json_schema(self) -> Schema:
        return {"type": "string", "pattern": SLOT_PATTERN}

    def rule(self) -> str:
        return "1..64 characters of `A-Z a-z 0-9 _ -`"


@dataclass(frozen=True)
class Geohash:
    wire = "str"

    def check(self, name: str, value: Any) -> str:
        return f.geohash(name, value)

    def json_schema(self) -> Schema:
        return {"type": "string", "pattern": GEOHASH_PATTERN}

    def rule(self) -> str:
        return (
            f"geohash of 1..{f.MAX_AREA_PRECISION} characters from `{f.GEOHASH_ALPHABET}`; "
            f"{f.MAX_AREA_PRECISION + 1} or more is refused (`area_too_precise`): nothing finer than ~5 km travels"
        )


@dataclass(frozen=True)
class Choice:
    values: tuple[str, ...]
    wire = "str"

    def check(self, name: str, value: Any) -> str:
        return f.choice(name, value, self.values)

    def json_schema(self) -> Schema:
        return {"type": "string", "enum": list(self.values)}

    def rule(self) -> str:
        return ", ".join(f"`{v}`" for v in self.values)


@dataclass(frozen=True)
class Timestamp:
    wire = "int"

    def check(self, name: str, value: Any) -> int:
        return f.timestamp(name, value)

    def json_schema(self) -> Schema:
        return {"type": "integer", "minimum": 0, "maximum": f.MAX_TIMESTAMP - 1}

    def rule(self) -> str:
        return "seconds since 1970-01-01 UTC, 0 <= t < 2^40"


@dataclass(frozen=True)
class Version:
    version: int
    wire = "int"

    def check(self, name: str, value: Any) -> int:
        if type(value) is not int or value != self.version:
            raise f.invalid(name, "unsupported_version", f"format version must be {self.version}")
        return value

    def json_schema(self) -> Schema:
        return {"type": "integer", "const": self.version}

    def rule(self) -> str:
        return f"format version, MUST be the integer {self.version} (not `true`)"


@dataclass(frozen=True)
class Key:
    """A 32-byte key or id."""

    what: str
    wire = "bin"

    def check(self, name: str, value: Any) -> bytes:
        return f.key32(name, value)

    def json_schema(self) -> Schema:
        return {"type": "string", "pattern": "^[0-9a-f]{64}$"}

    def rule(self) -> str:
        return f"32 bytes: {self.what}"


@dataclass(frozen=True)
class Bytes:
    min_bytes: int
    max_bytes: int
    what: str
    wire = "bin"

    def check(self, name: str, value: Any) -> bytes:
        if not isinstance(value, bytes):
            raise f.invalid(name, "wrong_type", "must be bytes")
        if not self.min_bytes <= len(value) <= self.max_bytes:
            raise f.invalid(name, f"bad_{name}", f"must be {self.min_bytes} to {self.max_bytes} bytes")
        return value

    def json_schema(self) -> Schema:
        return {"type": "string", "contentEncoding": "base64"}

    def rule(self) -> str:
        return f"{self.min_bytes}..{self.max_bytes} bytes: {self.what}"


@dataclass(frozen=True)
class Language:
    wire = "str"

    def check(self, name: str, value: Any) -> str:
        return f.language(name, value)

    def json_schema(self) -> Schema:
        return {"type": "string", "pattern": LANGUAGE_PATTERN}

    def rule(self) -> str:
        return "a lowercase tag like `en`, `pt-br`"


@dataclass(frozen=True)
class Url:
    wire = "str"

    def check(self, name: str, value: Any) -> str:
        return f.url(name, value)

    def json_schema(self) -> Schema:
        return {"type": "string", "maxLength": MAX_URL_CHARS, "pattern": URL_PATTERN}

    def rule(self) -> str:
        return f"an `http(s)://` URL of at most {MAX_URL_CHARS} characters"


@dataclass(frozen=True)
class Integer:
    """A whole number from ``low`` to ``high`` (never a bool)."""

    low: int
    high: int
    wire = "int"

    def check(self, name: str, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not self.low <= value <= self.high:
            raise f.invalid(name, f"bad_{name}", f"must be a whole number from {self.low} to {self.high}")
        return value

    def json_schema(self) -> Schema:
        return {"type": "integer", "minimum": self.low, "maximum": self.high}

    def rule(self) -> str:
        return f"a whole number, {self.low}..{self.high}"


@dataclass(frozen=True)
class LocalTime:
    """A local date and time to the minute (an event's start or end, in its time zone)."""

    wire = "str"

    def check(self, name: str, value: Any) -> str:
        return f.local_time(name, value)

    def json_schema(self) -> Schema:
        return {"type": "string", "pattern": f.LOCAL_TIME_PATTERN}

    def rule(self) -> str:
        return f"`YYYY-MM-DDTHH:MM`, a real date of {f.FIRST_YEAR}..{f.LAST_YEAR}, local to the record's `tz`"


@dataclass(frozen=True)
class TimeZone:
    wire = "str"

    def check(self, name: str, value: Any) -> str:
        return f.time_zone(name, value)

    def json_schema(self) -> Schema:
        return {"type": "string", "pattern": f.TIME_ZONE_PATTERN}

    def rule(self) -> str:
        return "an IANA time zone name such as `America/Chicago`"


@dataclass(frozen=True)
class Rrule:
    """A recurrence rule of the subset ``protocol/recurrence.py`` reads."""

    wire = "str"

    def check(self, name: str, value: Any) -> str:
        if not isinstance(value, str):
            raise f.invalid(name, "wrong_type", "must be a string")
        return recurrence.parse(value).text()

    def json_schema(self) -> Schema:
        return {"type": "string", "maxLength": recurrence.MAX_RULE_CHARS, "pattern": recurrence.RULE_PATTERN}

    def rule(self) -> str:
        return (
            "RFC 5545 RRULE, the subset of `protocol/recurrence.py`: `FREQ` `DAILY`/`WEEKLY`/`MONTHLY`, "
            "`INTERVAL`, one of `COUNT` or `UNTIL` (a date), `BYDAY` (weekly)"
        )


Item = Slug | Geohash | Choice | Language | Url | Text | Key


@dataclass(frozen=True)
class ListOf:
    """Distinct items of one type."""

    item: Item
    max_items: int
    min_items: int = 0
    wire = "array"

    def check(self, name: str, value: Any) -> list[Any]:
        return f.unique_list(name, value, self.item.check, max_items=self.max_items, min_items=self.min_items)

    def json_schema(self) -> Schema:
        schema: Schema = {"type": "array", "items": self.item.json_schema(), "maxItems": self.max_items}
        if self.min_items:
            schema["minItems"] = self.min_items
        schema["uniqueItems"] = True
        return schema

    def rule(self) -> str:
        low = f"{self.min_items}.." if self.min_items else "up to "
        return f"{low}{self.max_items} distinct items, each {self.item.rule()}"


@dataclass(frozen=True)
class MapOf:
    """A map from slugs (at most ``max_items``) to values of one type: a
    decision's counts by choice, its effect's parameters."""

    value: Integer | Text | Slug
    max_items: int
    wire = "map"

    def check(self, name: str, value: Any) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise f.invalid(name, "wrong_type", "must be a map")
        if len(value) > self.max_items:
            raise f.invalid(name, f"too_many_{name}", f"{len(value)} entries, at most {self.max_items}")
        for key, item in value.items():
            f.slug(name, key)
            self.value.check(name, item)
        return value

    def json_schema(self) -> Schema:
        return {
            "type": "object",
            "propertyNames": Slug().json_schema(),
            "additionalProperties": self.value.json_schema(),
            "maxProperties": self.max_items,
        }

    def rule(self) -> str:
        return f"a map of up to {self.max_items} slugs to {self.value.rule()}"


@dataclass(frozen=True)
class Figures:
    """A finding's cited report rows, each ``[section, key, needs, offers,
    fulfilled]`` with every count a multiple of ``ROUNDED_TO`` or nil (1 to 4):
    never finer than the report (``protocol/figures.py``)."""

    max_items: int = figures.MAX_FIGURES
    wire = "array"

    def check(self, name: str, value: Any) -> list[figures.Figure]:
        if not isinstance(value, list):
            raise f.invalid(name, "wrong_type", "must be a list")
        if len(value) > self.max_items:
            raise f.invalid(name, f"too_many_{name}", f"{len(value)} figures, at most {self.max_items}")
        rows = [figures.figure(name, item) for item in value]
        if len({(r.section, r.key) for r in rows}) != len(rows):
            raise f.invalid(name, "duplicate_item", "cites the same row twice")
        return rows

    def json_schema(self) -> Schema:
        count = {"anyOf": [{"type": "integer", "minimum": 0, "multipleOf": figures.ROUNDED_TO}, {"type": "null"}]}
        key = {"type": "string", "minLength": 1, "maxLength": figures.MAX_KEY_CHARS, "pattern": text_pattern(False)}
        # Each item's own schema would need prefixItems, which not every OpenAPI
        # tool reads yet; the five items are described together instead.
        section = {"type": "string", "enum": list(figures.SECTIONS)}
        row = {"type": "array", "minItems": 5, "maxItems": 5, "items": {"anyOf": [section, key, *count["anyOf"]]},
               "description": "[section, key, needs, offers, fulfilled]"}  # fmt: skip
        return {"type": "array", "maxItems": self.max_items, "items": row}

    def rule(self) -> str:
        return (
            f"up to {self.max_items} distinct rows `[section, key, needs, offers, fulfilled]`: section one of "
            f"{', '.join(f'`{s}`' for s in figures.SECTIONS)}, key 1..{figures.MAX_KEY_CHARS} characters, each "
            f"count a multiple of {figures.ROUNDED_TO} or nil (1 to {figures.SUPPRESS_BELOW - 1}): never finer "
            "than the report"
        )


Type = (
    Text
    | Slug
    | Slot
    | Geohash
    | Choice
    | Timestamp
    | Version
    | Key
    | Bytes
    | Language
    | Url
    | ListOf
    | Integer
    | MapOf
    | Figures
    | LocalTime
    | TimeZone
    | Rrule
)


@dataclass(frozen=True)
class Field:
    """One row: a field, its type, the kinds it belongs to, what it means."""

    name: str
    type: Type
    required: frozenset[str]
    """Kinds where a record must carry it."""
    optional: frozenset[str]
    """Kinds where a record may carry it."""
    meaning: str
    note: str = ""
    """A rule beyond the type, for the docs (checked by the kind's validator)."""

    def check(self, value: Any) -> Any:
        return self.type.check(self.name, value)

    @property
    def kinds(self) -> frozenset[str]:
        return self.required | self.optional


def _kinds(*names: str) -> frozenset[str]:
    return frozenset(names)


@dataclass(frozen=True)
class Plan:
    """What one kind's payload must and may hold, the table's rows in order."""

    required: frozenset[str]
    allowed: frozenset[str]
    checks: tuple[tuple[str, Field], ...] = field(default=())


def plan(table: Iterable[Field], kind: str) -> Plan:
    rows = [row for row in table if kind in row.kinds]
    return Plan(
        required=frozenset(row.name for row in rows if kind in row.required),
        allowed=frozenset(row.name for row in rows),
        checks=tuple((row.name, row) for row in rows),
    )


def check_fields(body: Mapping[str, Any], kind: str, plans: Mapping[str, Plan]) -> None:
    """Every field of a payload of ``kind`` against the table: none missing, none
    unknown, each by its type. Raises RecordInvalid naming the first at fault
    (missing and unknown fields by name order, then in table order)."""
    rules = plans[kind]
    missing = rules.required - body.keys()
    if missing:
        raise f.invalid(sorted(missing)[0], "missing_field", "is required")
    unknown = body.keys() - rules.allowed
    if unknown:
        raise f.invalid(sorted(unknown)[0], "unknown_field", f"is not a field of a {kind} record")
    for name, row in rules.checks:
        if name in body:
            row.type.check(name, body[name])


def markdown_table(table: Iterable[Field], kind: str, *, common: frozenset[str] = frozenset()) -> str:
    """The docs/PROTOCOL.md table of one kind's fields (less the ``common`` ones)."""
    lines = ["| field | req. | type | rule | meaning |", "|---|---|---|---|---|"]
    for row in table:
        if kind not in row.kinds or row.name in common:
            continue
        required = "yes" if kind in row.required else "no"
        rule = row.type.rule() + (f"; {row.note}" if row.note else "")
        lines.append(f"| `{row.name}` | {required} | {row.type.wire} | {rule} | {row.meaning} |")
    return "\n".join(lines)
