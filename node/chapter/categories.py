"""The chapter's categories: one list, with each category's name in English and Spanish.

Everything that names a category reads it from here: the member API (a post
must use one of them; the refusal lists them), the web page (the node serves
the list with its names, so the page holds no copy), the CLI's help and the
community report (a peer's category outside the list is counted under
``other``). The list starts as ``DEFAULT``; members change it by a
``categories`` decision (``node/chapter/effects.py``), which makes a new
``Categories`` (``added``, ``retired``, ``renamed``), so code asks the
chapter's state for the list in force, never this constant. ``other`` is
always there and always last, and cannot be retired.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

OTHER = "other"
MAX_CATEGORIES = 40
"""Categories a chapter keeps at most (``other`` included): a list a member can
still read through on a phone, and a bound on what a decision may grow."""
LANGUAGES = ("en", "es")
"""The languages every category is named in (those of the web page)."""


@dataclass(frozen=True)
class Category:
    slug: str
    names: Mapping[str, str]
    """Its name in each of ``LANGUAGES``."""

    def as_json(self) -> dict[str, Any]:
        return {"slug": self.slug, "names": dict(self.names)}


def _category(slug: str, en: str, es: str) -> Category:
    return Category(slug, {"en": en, "es": es})


DEFAULT: tuple[Category, ...] = (
    _category("food", "Food", "Comida"),
    _category("housing", "Housing", "Vivienda"),
    _category("clothing", "Clothing", "Ropa"),
    _category("health", "Health", "Salud"),
    _category("transport", "Transport", "Transporte"),
    _category("childcare", "Childcare", "Cuidado infantil"),
    _category("household", "Household", "Hogar"),
    _category("learning", "Learning", "Aprendizaje"),
    _category("company", "Company and care", "Compañía y cuidados"),
    _category("tools", "Tools", "Herramientas"),
    _category(OTHER, "Other", "Otra cosa"),
)


class Categories:
    """The chapter's list as it stands."""

    def __init__(self, items: Iterable[Category] = DEFAULT) -> None:
        items = tuple(items)
        listed = [item for item in items if item.slug != OTHER]
        other = next((item for item in items if item.slug == OTHER), DEFAULT[-1])
        self.items: tuple[Category, ...] = (*listed, other)
        self.slugs: tuple[str, ...] = tuple(item.slug for item in self.items)
        self._known = frozenset(self.slugs)

    def __contains__(self, slug: object) -> bool:
        return slug in self._known

    def fold(self, slug: str) -> str:
        """The category a post is counted under: its own, or ``other``."""
        return slug if slug in self._known else OTHER

    def as_json(self) -> list[dict[str, Any]]:
        return [item.as_json() for item in self.items]

    @classmethod
    def from_json(cls, items: Iterable[Mapping[str, Any]]) -> Categories:
        return cls(Category(str(i["slug"]), {lang: str(i["names"][lang]) for lang in LANGUAGES}) for i in items)

    def get(self, slug: str) -> Category | None:
        return next((item for item in self.items if item.slug == slug), None)

    def added(self, slug: str, names: Mapping[str, str]) -> Categories:
        """The list with a new category (before ``other``)."""
        return Categories([*self.items, Category(slug, dict(names))])

    def retired(self, slug: str) -> Categories:
        """The list without ``slug``: new posts can no longer use it, and the
        report counts the posts that still do under ``other``."""
        return Categories(item for item in self.items if item.slug != slug)

    def renamed(self, slug: str, names: Mapping[str, str]) -> Categories:
        return Categories(Category(slug, dict(names)) if item.slug == slug else item for item in self.items)


DEFAULT_SLUGS = Categories().slugs
