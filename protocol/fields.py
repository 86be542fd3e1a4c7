"""Field-level rules for record payloads: what each public field may hold.

Each validator takes the decoded value and either returns it (narrowed to its
type) or raises ``RecordInvalid`` with a reason slug and the field's name, so
a member or a peer operator learns exactly what was wrong. The rules mirror
docs/PROTOCOL.md section "Fields"; change them together.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from protocol.errors import RecordInvalid

GEOHASH_ALPHABET = "0123456789bcdefghjkmnpqrstuvwxyz"
MAX_AREA_PRECISION = 5  # ~5 km cells: nothing finer ever leaves a node
URGENCIES = ("low", "normal", "high", "urgent")
MAX_TIMESTAMP = 2**40  # seconds; far beyond any real date, keeps ints small

# Each rule is written once, as a pattern in the subset of regular expressions
# that JSON Schema (ECMA-262) and Python read alike: explicit classes, no \s or
# \d, anchored with ^ and $ (``compiled`` reads $ as the very end, as ECMA does).
SLUG_PATTERN = "^[a-z0-9]+(-[a-z0-9]+)*$"
SLOT_PATTERN = "^[A-Za-z0-9_-]{1,64}$"
LANGUAGE_PATTERN = "^[a-z]{2,3}(-[a-z0-9]{2,8}){0,2}$"
GEOHASH_PATTERN = f"^[{GEOHASH_ALPHABET}]{{1,{MAX_AREA_PRECISION}}}$"
_H = "[0-9A-Fa-f]{1,4}"
IPV6 = "|".join(
    [
        f"({_H}:){{7}}{_H}",
        f"({_H}:){{1,7}}:",
        f"({_H}:){{1,6}}:{_H}",
        *(f"({_H}:){{1,{k}}}(:{_H}){{1,{7 - k}}}" for k in range(5, 0, -1)),
        f":((:{_H}){{1,7}}|:)",
    ]
)
"""An IPv6 address in its text forms, :: compression included (no embedded IPv4, no zone)."""
_LABEL = "[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?"
URL_PATTERN = f"^https?://({_LABEL}(\\.{_LABEL})*|\\[({IPV6})\\])(:[0-9]{{1,5}})?(/[\\u0021-\\u007e]*)?$"
MAX_URL_CHARS = 200


FIRST_YEAR, LAST_YEAR = 1971, 2199
"""The years a date may name: a record's timestamps start at 1970 (from 1971,
no time zone offset can take a date before it), and a post lives at most 90
days, so a later "needed by" has no use."""


def date_pattern() -> str:
    """Exactly the real dates of FIRST_YEAR..LAST_YEAR, as a pattern JSON Schema and Python share."""
    year = "(?:197[1-9]|19[89][0-9]|20[0-9][0-9]|21[0-9][0-9])"
    leap = "|".join(str(y) for y in range(FIRST_YEAR, LAST_YEAR + 1) if y % 4 == 0 and (y % 100 or y % 400 == 0))
    days31 = "(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])"
    days30 = "(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)"
    february = "02-(?:0[1-9]|1[0-9]|2[0-8])"
    return f"(?:{year}-(?:{days31}|{days30}|{february})|(?:{leap})-02-29)"


DATE = date_pattern()
"""A real date, YYYY-MM-DD (no anchors: a piece of other patterns)."""
DATE_PATTERN = f"^{DATE}(?:T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9]))?$"
"""A date (YYYY-MM-DD) or an RFC 3339 date and time without fractions (a date alone is midnight UTC):
``needed_by`` as the API takes it, and the CLI's ``--since``."""
LOCAL_TIME_PATTERN = f"^{DATE}T(?:[01][0-9]|2[0-3]):[0-5][0-9]$"
"""A local date and time to the minute, ``2027-02-23T18:00``: an event's start and end in its time zone."""
TIME_ZONE_PATTERN = "^[A-Za-z][A-Za-z0-9_+-]{0,30}(/[A-Za-z0-9_+-]{1,30}){0,2}$"
"""What an IANA time zone name looks like (``America/Chicago``, ``UTC``); the node
checks it names a zone its time zone database knows."""


def compiled(pattern: str) -> re.Pattern[str]:
    """A pattern as the node applies it: to the whole string."""
    return re.compile(pattern.removeprefix("^").removesuffix("$") + "\\Z")


_SLUG = compiled(SLUG_PATTERN)
_SLOT = compiled(SLOT_PATTERN)
_LANGUAGE = compiled(LANGUAGE_PATTERN)
_GEOHASH = re.compile(f"[{GEOHASH_ALPHABET}]+\\Z")
_URL = compiled(URL_PATTERN)
_LOCAL_TIME = compiled(LOCAL_TIME_PATTERN)
_TIME_ZONE = compiled(TIME_ZONE_PATTERN)
# Control characters (C0, DEL, C1), line and paragraph separators and the
# bidirectional overrides that can make text display as something else never
# belong in member text; multi-line fields allow tab and newline only.
_BIDI = "\u202a-\u202e\u2066-\u2069"
_CONTROL_MULTILINE = re.compile(f"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029{_BIDI}]")
_CONTROL_LINE = re.compile(f"[\x00-\x1f\x7f-\x9f\u2028\u2029{_BIDI}]")
# Invisible characters that make a field look filled when it is blank.
_INVISIBLE = str.maketrans("", "", "\u200b\u200c\u200d\u2060\ufeff\u00ad")


def invalid(field: str, reason: str, message: str) -> RecordInvalid:
    return RecordInvalid(reason, f"{field}: {message}", field=field)


def text(field: str, value: Any, *, max_chars: int, multiline: bool = False) -> str:
    if not isinstance(value, str):
        raise invalid(field, "wrong_type", "must be a string")
    if not value.translate(_INVISIBLE).strip():
        raise invalid(field, "empty", "must not be empty")
    if len(value) > max_chars:
        raise invalid(field, f"{field}_too_long", f"{len(value)} characters, at most {max_chars}")
    pattern = _CONTROL_MULTILINE if multiline else _CONTROL_LINE
    if pattern.search(value):
        raise invalid(field, "control_character", "contains a control character")
    return value


def slug(field: str, value: Any, *, max_chars: int = 32) -> str:
    if not isinstance(value, str):
        raise invalid(field, "wrong_type", "must be a string")
    if not 1 <= len(value) <= max_chars or not _SLUG.match(value):
        raise invalid(field, "bad_slug", f"{value[:40]!r} is not a slug (a-z, 0-9 and inner hyphens, 1-{max_chars})")
    return value


def slot(field: str, value: Any) -> str:
    if not isinstance(value, str) or not _SLOT.match(value):
        raise invalid(field, "bad_slot", "must be 1-64 characters of A-Z, a-z, 0-9, _ and -")
    return value


def geohash(field: str, value: Any) -> str:
    if not isinstance(value, str):
        raise invalid(field, "wrong_type", "must be a geohash string")
    if not value or not _GEOHASH.match(value):
        raise invalid(field, "bad_area", f"{value[:40]!r} is not a lowercase geohash")
    if len(value) > MAX_AREA_PRECISION:
        raise invalid(
            field,
            "area_too_precise",
            f"geohash of {len(value)} characters is finer than the {MAX_AREA_PRECISION} allowed (~5 km)",
        )
    return value


def timestamp(field: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < MAX_TIMESTAMP:
        raise invalid(field, "bad_timestamp", "must be whole seconds since 1970 (UTC)")
    return value


def choice(field: str, value: Any, allowed: tuple[str, ...]) -> str:
    if value not in allowed or not isinstance(value, str):
        raise invalid(field, f"bad_{field}", f"must be one of {', '.join(allowed)}")
    return value


def key32(field: str, value: Any) -> bytes:
    if not isinstance(value, bytes) or len(value) != 32:
        raise invalid(field, "bad_key", "must be 32 bytes")
    return value


def language(field: str, value: Any) -> str:
    if not isinstance(value, str) or not _LANGUAGE.match(value):
        raise invalid(
            field, "bad_language", f"{str(value)[:20]!r} is not a lowercase language tag like 'en' or 'pt-br'"
        )
    return value


def url(field: str, value: Any) -> str:
    if not isinstance(value, str) or len(value) > MAX_URL_CHARS or not _URL.match(value):
        raise invalid(field, "bad_url", f"must be an http(s) URL of at most {MAX_URL_CHARS} characters")
    return value


def unique_list(
    field: str, value: Any, item: Callable[[str, Any], Any], *, max_items: int, min_items: int = 0
) -> list[Any]:
    if not isinstance(value, list):
        raise invalid(field, "wrong_type", "must be a list")
    if not min_items <= len(value) <= max_items:
        raise invalid(field, f"too_many_{field}", f"{len(value)} items, allowed {min_items}-{max_items}")
    items = [item(field, element) for element in value]
    if len(set(items)) != len(items):
        raise invalid(field, "duplicate_item", "lists the same item twice")
    return items


def local_time(field: str, value: Any) -> str:
    if not isinstance(value, str) or not _LOCAL_TIME.match(value):
        raise invalid(
            field, f"bad_{field}", f"must be a local date and time such as 2027-02-23T18:00 ({FIRST_YEAR}-{LAST_YEAR})"
        )
    return value


def time_zone(field: str, value: Any) -> str:
    if not isinstance(value, str) or not _TIME_ZONE.match(value):
        raise invalid(field, "bad_tz", "must be an IANA time zone name such as America/Chicago")
    return value
