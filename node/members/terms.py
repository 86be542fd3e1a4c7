"""The member API's terms that a client needs, as plain data: ids, defaults, choices, the report's blur.

The handlers (``api``, ``organizer``, ``report``) enforce these and the CLI
shows and checks them, both reading them here, so a change is made once.
Nothing here imports aiohttp or the store (only the pure field table): the ``mutualaid`` command reads
this module on every start, and a member command should start fast even on
a Raspberry Pi.
"""

from __future__ import annotations

from node.chapter.settings import BY_NAME
from protocol import figures
from protocol.records import COMMON_FIELDS, FIELDS

MIN_ID_PREFIX = 8
"""The fewest leading hex characters of an id that name a record in a path
(``/api/v1/records/{id}...``): what a terminal shows fits on a line, and 32
bits leave two live records sharing them likely only in a very big store
(then 409 ``ambiguous_id`` asks for more)."""
ID_PATTERN = f"^[0-9a-f]{{{MIN_ID_PREFIX},64}}$"
"""A record id or its first characters, as a path takes it (node/openapi.py documents it)."""

_SET_BY_THE_NODE = COMMON_FIELDS | {"status"}
_MEMBER_ROWS = [row for row in FIELDS if "need" in row.kinds and row.name not in _SET_BY_THE_NODE]
REQUIRED = tuple(row.name for row in _MEMBER_ROWS if "need" in row.required)
"""The fields every new post has (title, category, area): the field table's."""
OPTIONAL = tuple(row.name for row in _MEMBER_ROWS if "need" in row.optional)
"""The optional fields a member sets (the record's optional post fields); an edit may remove them."""
DEFAULT_TTL_DAYS = 30
"""A post's lifetime, and a renewal's, unless the member gives another."""

FLAG_REASONS = ("spam", "abuse", "personal_info", "other")
"""Why a member may flag a post for the node's organizers."""
MAX_NOTE_CHARS = 500
"""A flag's note."""

SUPPRESS_BELOW, ROUNDED_TO = figures.SUPPRESS_BELOW, figures.ROUNDED_TO
"""The community report gives a count under SUPPRESS_BELOW (1 to 4) as "fewer
than 5", and every other one rounded to the nearest multiple of ROUNDED_TO
(protocol/figures.py: a finding cites counts so blurred)."""
_WEEKS = BY_NAME["report_weeks"]
MAX_WEEKS = _WEEKS.high
"""The report's longest period, a year: posts live at most 90 days, and the counts of
those the expiry sweep deletes are kept (``report_archive``)."""
DEFAULT_WEEKS = int(_WEEKS.default)
"""The period the API, the CLI and the page show unless asked for another, until
the chapter decides another (its ``report_weeks`` setting)."""

MAX_ANSWER_NOTE_CHARS = 500
"""The note that may come with an answer to a finding (for the organizers only)."""
MAX_FINDINGS_LIST = 200
"""Findings listed at once (``GET /api/v1/findings?limit=``; 50 unless asked)."""
DEFAULT_FINDINGS_LIST = 50
EVENT_DAYS, MAX_EVENT_DAYS = 60, 400
"""How far ahead the coming events are listed unless asked, and at most (``?days=``)."""
MAX_EVENTS_LIST = 500
"""Events listed at once (``GET /api/v1/events?limit=``; 100 unless asked)."""
DEFAULT_EVENTS_LIST = 100

MAX_REASON_CHARS = 300
"""An organizer's reason for a removal or a dismissal: shown on the post, kept in the log."""
MAX_ORGANIZER_LIST = 500
"""The most flags, removals or unanswered needs the organizers' lists give at once."""
