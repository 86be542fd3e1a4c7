"""What each type of proposal changes on the node when it passes, declared once.

A proposal's ``type`` names one of ``EFFECTS``; each says what its
``effect`` object holds (a ``Body`` per action, so the API reads it and the
OpenAPI document shows it from the same declaration), whether the change
can be made now (``check``: at proposing time, and again when it passes,
since the node may have changed meanwhile), how to make it (``apply``), and
what of it a decision record may carry to peers (``public``: never a
member, not even their roll id). ``text`` changes nothing.

Every ``apply`` is safe to run twice: a node that stopped after applying
and before noting it applies again when it starts, to the same end.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from crypto import InvalidKey, public_key_from_text, public_key_to_text
from node.chapter.categories import MAX_CATEGORIES
from node.chapter.settings import (
    BY_NAME,
    CATEGORIES_KEY,
    DEFAULT_TERM_DAYS,
    FOUNDED_KEY,
    MAX_TERM_DAYS,
    SETTINGS,
    ChapterBox,
    ChapterState,
)
from node.core.bodies import Body, BodyField, Variants, choice, from_table, integer, matching
from node.core.errors import ApiError, Code
from node.peering.gossip import Gossip
from node.peering.policy import Policy
from protocol.fieldtable import Slug, Text, Url
from protocol.records import DAY
from storage import RecordStore
from storage.admin import AdminStore
from storage.chapter import Change, ChapterStore

MEMBER_ID = "^[0-9a-f]{32}$"
RECORD_ID = "^[0-9a-f]{64}$"
_CODE = Code.INVALID_PROPOSAL


@dataclass(frozen=True)
class Parts:
    """What applying a decision may touch."""

    chapter: ChapterStore
    box: ChapterBox
    store: RecordStore
    admin: AdminStore
    policy: Policy
    gossip: Gossip | None
    """None until peering has started (a decision applied at start-up reconnects later)."""


def _actions(actions: Mapping[str, list[BodyField]]) -> Variants:
    bodies = {
        name: Body([choice("action", (name,), required=True), *fields], _CODE) for name, fields in actions.items()
    }
    return Variants("action", bodies, _CODE)


def _names() -> list[BodyField]:
    return [from_table(Text(40), f"name_{lang}", required=True, description=f"its name in {word}")
            for lang, word in (("en", "English"), ("es", "Spanish"))]  # fmt: skip


def _member(description: str) -> BodyField:
    return matching("member", MEMBER_ID, "a member's id (32 hex characters)", required=True, description=description)


def _key(value: Any) -> str:
    try:
        return public_key_from_text(value).hex()
    except InvalidKey as exc:
        raise ApiError(_CODE, str(exc), field="key") from None


_KEY = BodyField("key", {"type": "string", "pattern": "^[0-9a-fA-F]{64}$"}, _key, required=True,
                 description="the node's public key: 64 hex digits (or its ma1... form)")  # fmt: skip
_URL = from_table(Url(), "url", required=True, description="the node's URL")
_SLUG = from_table(Slug(), "slug", required=True, description="the category's slug")

EFFECTS: dict[str, Variants | Body | None] = {
    "text": None,
    "categories": _actions({"add": [_SLUG, *_names()], "retire": [_SLUG], "rename": [_SLUG, *_names()]}),
    "peering": _actions({"start": [_URL, _KEY], "stop": [_URL, _KEY]}),
    "organizers": _actions({
        "grant": [_member("who is granted the mandate"),
                  integer("term_days", 1, MAX_TERM_DAYS, description=f"its term (default {DEFAULT_TERM_DAYS})")],
        "revoke": [_member("whose mandate ends")],
    }),
    "member": _actions({"retire": [_member("whose card is retired")]}),
    "settings": Body([integer(s.name, s.low, s.high, description=s.meaning) if not s.choices
                      else choice(s.name, s.choices, description=s.meaning) for s in SETTINGS],
                     _CODE, at_least_one=True),
    "removal": _actions({"reverse": [matching("record_id", RECORD_ID, "a removed post's id (64 hex characters)",
                                              required=True, description="the post whose removal is reversed")]}),
}  # fmt: skip
"""Each type's effect object (None: the type has none)."""


def _refuse(message: str) -> ApiError:
    return ApiError(Code.NOT_APPLICABLE, message, field="effect")


async def check(parts: Parts, kind: str, effect: Mapping[str, Any], now: int) -> None:
    """Whether the change can be made now; ``not_applicable`` saying why not."""
    await _CHECKS[kind](parts, effect, now)


async def _check_nothing(parts: Parts, effect: Mapping[str, Any], now: int) -> None:
    return None


async def _check_categories(parts: Parts, effect: Mapping[str, Any], now: int) -> None:
    categories, slug = parts.box.state.categories, effect["slug"]
    if effect["action"] == "add" and slug in categories:
        raise _refuse(f"the chapter already has the category {slug}")
    if effect["action"] == "add" and len(categories.items) >= MAX_CATEGORIES:
        raise _refuse(f"the chapter has {MAX_CATEGORIES} categories, the most it keeps: retire one first")
    if effect["action"] != "add" and slug not in categories:
        raise _refuse(f"the chapter has no category {slug}")
    if effect["action"] == "retire" and slug == categories.items[-1].slug:
        raise _refuse(f"{slug} is where every other post goes: it cannot be retired")


async def _check_organizers(parts: Parts, effect: Mapping[str, Any], now: int) -> None:
    member = await _active(parts, effect["member"])
    if effect["action"] == "revoke" and await parts.chapter.mandates.live(member, now) is None:
        raise _refuse("this member holds no organizer mandate")


async def _check_member(parts: Parts, effect: Mapping[str, Any], now: int) -> None:
    await _active(parts, effect["member"])


async def _active(parts: Parts, member_hex: str) -> bytes:
    found = await parts.chapter.roll.by_id(bytes.fromhex(member_hex))
    if found is None or not found.active:
        raise _refuse("no active member has this id")
    return found.id


async def _check_settings(parts: Parts, effect: Mapping[str, Any], now: int) -> None:
    current = parts.box.state.settings
    if all(current.get(name) == value for name, value in effect.items()):
        raise _refuse("these settings are already in force")


async def _check_removal(parts: Parts, effect: Mapping[str, Any], now: int) -> None:
    if await parts.store.moderation.removal_reason(bytes.fromhex(effect["record_id"])) is None:
        raise _refuse("no post was removed under this id")


_CHECKS: dict[str, Callable[[Parts, Mapping[str, Any], int], Awaitable[None]]] = {
    "text": _check_nothing,
    "categories": _check_categories,
    "peering": _check_nothing,
    "organizers": _check_organizers,
    "member": _check_member,
    "settings": _check_settings,
    "removal": _check_removal,
}


async def apply(parts: Parts, proposal: bytes, kind: str, effect: Mapping[str, Any], now: int) -> str:
    """Make a passed proposal's change and note it applied: ``done``, ``none``
    (nothing to do), or ``failed: why`` when the change can no longer be made."""
    try:
        await check(parts, kind, effect, now)
    except ApiError as exc:
        applied = "done" if _in_force(parts.box.state, kind, effect) else f"failed: {exc}"
        await parts.chapter.apply(proposal, Change(), applied, now)
        return applied
    applied = "none" if kind == "text" else "done"
    change = await _APPLY[kind](parts, effect, now)
    await parts.chapter.apply(proposal, change, applied, now)
    if change.settings:
        parts.box.set(ChapterState.from_stored(await parts.chapter.settings.all()))
    return applied


def _in_force(state: ChapterState, kind: str, effect: Mapping[str, Any]) -> bool:
    """Whether what a decision asks for already holds (made by this very decision
    before a restart): its change is then done, not failed."""
    if kind == "removal":
        return True  # the check failed: no removal under that id any more, which is what was decided
    if kind not in {"categories", "settings"}:
        return False
    if kind == "settings":
        return all(state.settings.get(name) == value for name, value in effect.items())
    found = state.categories.get(effect["slug"])
    if effect["action"] == "retire":
        return found is None
    return found is not None and dict(found.names) == {"en": effect.get("name_en"), "es": effect.get("name_es")}


async def _apply_nothing(parts: Parts, effect: Mapping[str, Any], now: int) -> Change:
    return Change()


async def _apply_categories(parts: Parts, effect: Mapping[str, Any], now: int) -> Change:
    categories, slug = parts.box.state.categories, effect["slug"]
    if effect["action"] == "retire":
        new = categories.retired(slug)
    else:
        names = {"en": effect["name_en"], "es": effect["name_es"]}
        new = categories.added(slug, names) if effect["action"] == "add" else categories.renamed(slug, names)
    return Change(settings={CATEGORIES_KEY: new.as_json()})


async def _apply_settings(parts: Parts, effect: Mapping[str, Any], now: int) -> Change:
    return Change(settings={name: BY_NAME[name].check(value) for name, value in effect.items()})


async def _apply_organizers(parts: Parts, effect: Mapping[str, Any], now: int) -> Change:
    member = bytes.fromhex(effect["member"])
    founded = {FOUNDED_KEY: now} if parts.box.state.founding else {}
    if effect["action"] == "revoke":
        return Change(settings=founded, revoke=member)
    term = int(effect.get("term_days") or DEFAULT_TERM_DAYS)
    return Change(settings=founded, grant=(member, now + term * DAY))


async def _apply_member(parts: Parts, effect: Mapping[str, Any], now: int) -> Change:
    return Change(retire=bytes.fromhex(effect["member"]))


async def _apply_peering(parts: Parts, effect: Mapping[str, Any], now: int) -> Change:
    url, key = str(effect["url"]).rstrip("/"), bytes.fromhex(effect["key"])
    if effect["action"] == "start":
        await parts.admin.set_policy("peer", key, None)  # a block from before is lifted
        await parts.admin.add_peer(url, now, "decision")
        await parts.admin.repin(url, key)  # the decided key, even over one pinned before
        parts.policy.load(await parts.admin.policy())
        if parts.gossip is not None:
            await parts.gossip.remove(url)  # a link pinned to another key starts again
            await parts.gossip.add(url, key, "decision")
    else:
        await parts.admin.remove_peer(url)
        await parts.admin.set_policy("peer", key, "block")
        parts.policy.load(await parts.admin.policy())
        if parts.gossip is not None:
            await parts.gossip.remove(url)
    return Change()


async def _apply_removal(parts: Parts, effect: Mapping[str, Any], now: int) -> Change:
    await parts.store.writer.restore(bytes.fromhex(effect["record_id"]))
    return Change()


_APPLY: dict[str, Callable[[Parts, Mapping[str, Any], int], Awaitable[Change]]] = {
    "text": _apply_nothing,
    "categories": _apply_categories,
    "peering": _apply_peering,
    "organizers": _apply_organizers,
    "member": _apply_member,
    "settings": _apply_settings,
    "removal": _apply_removal,
}


def public(kind: str, effect: Mapping[str, Any]) -> dict[str, str]:
    """What a decision record carries of the effect: every parameter but a member's id."""
    out = {name: str(value) for name, value in effect.items() if name != "member"}
    if "key" in out:
        out["key"] = public_key_to_text(bytes.fromhex(out["key"]))
    return {name.replace("_", "-"): value for name, value in out.items()}


def public_title(kind: str, effect: Mapping[str, Any]) -> str:
    """The title a decision about a member travels under (what members wrote may name them)."""
    if kind == "member":
        return "A member's card retired"
    return "An organizer mandate granted" if effect.get("action") == "grant" else "An organizer mandate revoked"


def summary(kind: str, effect: Mapping[str, Any], member_name: str | None = None) -> str:
    """The change in a line of English (the CLI; the page words it in the member's language)."""
    action = effect.get("action", "")
    who = member_name or "a member"
    if kind == "categories":
        names = f" ({effect['name_en']} / {effect['name_es']})" if "name_en" in effect else ""
        return f"{action} category {effect['slug']}{names}"
    if kind == "peering":
        return f"{action} peering with {effect['url']}"
    if kind == "organizers":
        term = f" for {effect.get('term_days') or DEFAULT_TERM_DAYS} days" if action == "grant" else ""
        return f"{action} an organizer mandate: {who}{term}"
    if kind == "member":
        return f"retire the card of {who}"
    if kind == "settings":
        return "set " + ", ".join(f"{name} to {value}" for name, value in effect.items())
    if kind == "removal":
        return f"reverse the removal of post {effect['record_id'][:12]}"
    return "no change to the node"
