"""Query parameters: each declared once, read and documented from the same declaration.

An endpoint lists its ``Param``s; ``read_params`` turns ``request.query`` into
values or a 400 ``bad_query`` naming the parameter, and ``openapi_params`` is
what the OpenAPI document says about them, so what the document allows is
exactly what the node takes. A parameter may be given once (the first is
read), or, if it is ``repeated``, several times.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from multidict import MultiMapping

from node.core.errors import ApiError, Code
from protocol.fields import compiled

Schema = dict[str, Any]


@dataclass(frozen=True)
class Param:
    """One query parameter: its name, its JSON Schema (of one value), and a
    default used when it is left out."""

    name: str
    schema: Schema
    description: str = ""
    default: Any = None
    repeated: bool = False
    required: bool = False
    _pattern: re.Pattern[str] | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        pattern = self.schema.get("pattern")
        if pattern is not None:
            object.__setattr__(self, "_pattern", compiled(pattern))

    def parse(self, text: str) -> Any:
        """One value as the schema reads it, or a ``bad_query`` error."""
        kind = self.schema.get("type", "string")
        if kind == "integer":
            return self._integer(text)
        if kind == "number":
            return self._number(text)
        return self._string(text)

    def _fail(self, what: str) -> ApiError:
        return ApiError(Code.BAD_QUERY, f"{self.name} must be {what}", field=self.name)

    def _integer(self, text: str) -> int:
        return int(self._bounded(text, r"-?[0-9]{1,19}", "a whole number"))

    def _number(self, text: str) -> float:
        return self._bounded(text, r"-?[0-9]{1,19}(\.[0-9]{1,9})?", "a number")

    def _bounded(self, text: str, form: str, what: str) -> float:
        """A number written plainly (no exponent, no sign but minus) within the schema's bounds."""
        low, high = self.schema.get("minimum"), self.schema.get("maximum")
        if not re.fullmatch(form, text):
            raise self._fail(f"{what} from {low} to {high}")
        value = float(text) if "." in text else int(text)
        if (low is not None and value < low) or (high is not None and value > high):
            raise self._fail(f"{what} from {low} to {high}")
        return value

    def _string(self, text: str) -> str:
        choices = self.schema.get("enum")
        if choices is not None and text not in choices:
            raise self._fail(f"one of {', '.join(choices)}")
        high = self.schema.get("maxLength")
        if high is not None and len(text) > high:
            raise self._fail(f"at most {high} characters")
        low = self.schema.get("minLength")
        if low is not None and len(text) < low:
            raise self._fail(f"at least {low} characters")
        if self._pattern is not None and not self._pattern.match(text):
            raise self._fail(self.description or f"text matching {self.schema['pattern']}")
        return text


def read_params(query: MultiMapping[str], params: Sequence[Param]) -> dict[str, Any]:
    """The query's values by name (a list for a repeated parameter), defaults
    filled in; unknown parameters and bad values are a 400 ``bad_query``."""
    known = {p.name: p for p in params}
    unknown = sorted(set(query) - known.keys())
    if unknown:
        allowed = ", ".join(sorted(known)) or "none"
        raise ApiError(
            Code.BAD_QUERY, f"unknown parameter {unknown[0][:40]!r}; allowed: {allowed}", field=unknown[0] or None
        )
    values: dict[str, Any] = {}
    for param in params:
        given = query.getall(param.name, [])
        if not given:
            if param.required:
                raise ApiError(Code.BAD_QUERY, f"{param.name} is required", field=param.name)
            values[param.name] = [] if param.repeated else param.default
        elif param.repeated:
            most = param.schema.get("maxItems")
            if most is not None and len(given) > most:
                raise ApiError(Code.BAD_QUERY, f"{param.name} may be given at most {most} times", field=param.name)
            values[param.name] = [param.parse(text) for text in given]
        else:
            values[param.name] = param.parse(given[0])
    return values


def openapi_params(params: Sequence[Param]) -> list[dict[str, Any]]:
    out = []
    for param in params:
        schema: Schema = dict(param.schema)
        if param.default is not None:
            schema["default"] = param.default
        if param.repeated:
            items = dict(param.schema)
            max_items = items.pop("maxItems", None)
            schema = {"type": "array", "items": items}
            if max_items is not None:
                schema["maxItems"] = max_items
        entry: dict[str, Any] = {"name": param.name, "in": "query", "required": param.required, "schema": schema}
        if param.repeated:
            entry |= {"style": "form", "explode": True}
        if param.description:
            entry["description"] = param.description
        out.append(entry)
    return out


def limit_param(default: int, maximum: int) -> Param:
    """How many items a list answers with."""
    return Param("limit", {"type": "integer", "minimum": 1, "maximum": maximum}, f"at most {maximum}", default)
