"""The settings a chapter decides, and the chapter's state as it stands.

``SETTINGS`` is the one table of what members may change by a ``settings``
decision: each row's name, default, bounds and meaning. The API's proposal
body, the CLI's options, the OpenAPI document and docs/CHAPTER.md are made
from it. ``ChapterState`` holds what is in force (the categories, these
settings, whether the founding period is over); the node reads it on every
request and replaces it whole when a decision changes it, then tells its
listeners (the web page re-makes the data it carries).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from node.chapter.categories import Categories
from protocol.ballots import THRESHOLDS


@dataclass(frozen=True)
class Setting:
    name: str
    default: int | str
    meaning: str
    low: int = 0
    high: int = 0
    choices: tuple[str, ...] = ()

    def schema(self) -> dict[str, Any]:
        if self.choices:
            return {"type": "string", "enum": list(self.choices), "description": self.meaning}
        return {"type": "integer", "minimum": self.low, "maximum": self.high, "description": self.meaning}

    def check(self, value: Any) -> int | str:
        """The value if it is allowed; ``ValueError`` saying what is otherwise."""
        if self.choices:
            if value not in self.choices or not isinstance(value, str):
                raise ValueError(f"{self.name} must be one of {', '.join(self.choices)}")
            return str(value)
        if isinstance(value, bool) or not isinstance(value, int) or not self.low <= value <= self.high:
            raise ValueError(f"{self.name} must be a whole number from {self.low} to {self.high}")
        return value


MINUTE = 60
MIN_CLOSES_IN_MINUTES, MAX_CLOSES_IN_MINUTES = 1, 30 * 24 * 60
SETTINGS: tuple[Setting, ...] = (
    Setting("invite_quota", 3, "invites each member may make in any 7 days", 0, 50),
    Setting("invite_days", 14, "days an invite code stays valid", 1, 60),
    Setting("closes_in_minutes", 7 * 24 * 60, "how long a proposal stays open unless its proposer says otherwise",
            MIN_CLOSES_IN_MINUTES, MAX_CLOSES_IN_MINUTES),
    Setting("quorum", 50, "percent of the electorate that must vote on a proposal: a proposal may ask for more, "
            "never less", 0, 100),
    Setting("threshold", "majority", "what a proposal needs to pass unless its proposer says otherwise",
            choices=THRESHOLDS),
    # Up to a year: posts live at most 90 days, and the expiry sweep keeps their counts (storage/schema.py 6).
    Setting("report_weeks", 13, "weeks the community report shows unless asked for another period", 1, 52),
)  # fmt: skip
BY_NAME = {s.name: s for s in SETTINGS}
DEFAULT_TERM_DAYS, MAX_TERM_DAYS = 180, 730
"""An organizer mandate's term in days unless its decision says another, and the longest one.
Kept here, beside the settings, and not in ``effects`` (which imports aiohttp): the CLI shows them."""
DEFAULTS: dict[str, int | str] = {s.name: s.default for s in SETTINGS}
CATEGORIES_KEY = "categories"
FOUNDED_KEY = "founded_at"
"""Stored beside the settings: the list of categories in force, and when the
founding period ended (the first ``organizers`` decision applied)."""


@dataclass(frozen=True)
class ChapterState:
    categories: Categories = field(default_factory=Categories)
    settings: Mapping[str, int | str] = field(default_factory=lambda: dict(DEFAULTS))
    founded_at: int | None = None
    """None during the founding period, when the operator's admin token may act as organizer."""

    @property
    def founding(self) -> bool:
        return self.founded_at is None

    def int_setting(self, name: str) -> int:
        return int(self.settings[name])

    @classmethod
    def from_stored(cls, stored: Mapping[str, Any]) -> ChapterState:
        """From what the chapter store keeps; a stored value out of today's bounds falls back to its default."""
        values: dict[str, int | str] = dict(DEFAULTS)
        for setting in SETTINGS:
            if setting.name in stored:
                with contextlib.suppress(ValueError):
                    values[setting.name] = setting.check(stored[setting.name])
        categories = Categories.from_json(stored[CATEGORIES_KEY]) if CATEGORIES_KEY in stored else Categories()
        founded = stored.get(FOUNDED_KEY)
        return cls(categories, values, None if founded is None else int(founded))

    def with_settings(self, changes: Mapping[str, int | str]) -> ChapterState:
        return replace(self, settings={**self.settings, **changes})


class ChapterBox:
    """The app's handle on the chapter's state: replaced whole, never changed in place."""

    def __init__(self, state: ChapterState | None = None) -> None:
        self.state = state or ChapterState()
        self._listeners: list[Callable[[ChapterState], None]] = []

    def on_change(self, listener: Callable[[ChapterState], None]) -> None:
        self._listeners.append(listener)

    def set(self, state: ChapterState) -> None:
        self.state = state
        for listener in self._listeners:
            listener(state)
