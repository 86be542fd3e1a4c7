"""The chapter's categories: one list, with each category's name in English and Spanish.

Everything that names a category reads it from here: the member API (a post
must use one of them; the refusal lists them), the web page (the node serves
the list with its names, so the page holds no copy), the CLI's help and the
community report (a peer's category outside the list is counted under
``other``). The list starts as ``DEFAULT``; the chapter may change it (a
decided setting, in a later issue), so code asks the app's ``Categories``,
not this constant. ``other`` is always there and always last.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

OTHER = "other"
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


DEFAULT_SLUGS = Categories().slugs

if TYPE_CHECKING:
    from aiohttp import web

    CATEGORIES: web.AppKey[Categories]
    """The app's key for the chapter's list as it stands."""
else:

    def __getattr__(name: str) -> Any:
        # CATEGORIES is made on first use (PEP 562): the server imports aiohttp
        # anyway, and the CLI, which reads only DEFAULT, need not load it.
        if name != "CATEGORIES":
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        from aiohttp import web  # noqa: PLC0415

        key = globals().setdefault("CATEGORIES", web.AppKey("categories", Categories))
        return key
