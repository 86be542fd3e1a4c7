"""``mutualaid propose``: a proposal of any type, its change given by that type's own options.

What each type changes is ``node/chapter/effects.py``'s ``EFFECTS``, which
the API reads. The CLI cannot import it (it loads aiohttp, and the command
must start fast), so the options are a table here: ``EFFECT_OPTIONS`` says
which type each option belongs to and which effect field it fills, and
``ACTIONS`` which details each action takes; tests/node/test_cli_chapter.py
holds both to ``EFFECTS``. The settings' options are made from
``node/chapter/settings.py``'s ``SETTINGS``, the types and thresholds are
the protocol's. An option of another type, or an action without its
details, is a usage error before anything is sent; a change the node cannot
make (a category it already has) is the node's refusal.

Members are named by their name on the roll, resolved to their id through
``GET /api/v1/members``; a DURATION is minutes, hours or days (``30m``,
``2h``, ``7d``, ``1d12h``).
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from node.chapter.settings import (
    DEFAULT_TERM_DAYS,
    MAX_CLOSES_IN_MINUTES,
    MAX_TERM_DAYS,
    MIN_CLOSES_IN_MINUTES,
    SETTINGS,
    Setting,
)
from node.cli.client import (
    Card,
    CliError,
    ExitCode,
    add_card_option,
    add_node_options,
    call,
    member_card,
    node_of,
    print_answer,
    time_left,
    when,
    whole_number,
)
from node.cli.findings import chars
from protocol.ballots import MAX_OPTIONS, THRESHOLDS
from protocol.records import DECISION_TYPES

# --- durations ------------------------------------------------------------------------------------------

_DURATION = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?")


def minutes_text(minutes: int) -> str:
    """Minutes as a DURATION: ``7d``, ``1d12h``, ``90m`` -> ``1h30m``."""
    parts = [(minutes // 1440, "d"), (minutes % 1440 // 60, "h"), (minutes % 60, "m")]
    return "".join(f"{n}{unit}" for n, unit in parts if n) or "0m"


def duration(low: int, high: int) -> Callable[[str], int]:
    """An argparse type: a DURATION from ``low`` to ``high`` minutes, as minutes."""

    def read(value: str) -> int:
        text = value.strip().lower().replace(" ", "")
        match = _DURATION.fullmatch(text)
        if not text or match is None:
            raise argparse.ArgumentTypeError(
                f"{value!r} is not a duration: give minutes, hours or days, such as 30m, 2h, 7d or 1d12h"
            )
        days, hours, minutes = (int(n or 0) for n in match.groups())
        total = days * 1440 + hours * 60 + minutes
        if not low <= total <= high:
            raise argparse.ArgumentTypeError(
                f"{value!r} is out of range: from {minutes_text(low)} to {minutes_text(high)}"
            )
        return total

    read.__name__ = "duration"
    return read


CLOSES_IN = duration(MIN_CLOSES_IN_MINUTES, MAX_CLOSES_IN_MINUTES)

# --- the options of each type ---------------------------------------------------------------------------


@dataclass(frozen=True)
class EffectOption:
    """An option that fills a field of a proposal's effect."""

    flag: str
    kind: str
    """The proposal type it belongs to."""
    field: str
    """The effect field its value fills."""
    metavar: str
    help: str
    action: str | None = None
    """The effect's action this option chooses; None for a detail of an action (or a setting)."""
    member: bool = False
    """Its value is a member's name on the roll, sent as their id."""
    type: Callable[[str], Any] | None = None
    choices: tuple[str, ...] | None = None

    @property
    def dest(self) -> str:
        return "effect_" + self.flag.lstrip("-").replace("-", "_")


def _setting_option(setting: Setting) -> EffectOption:
    flag = SETTING_FLAGS.get(setting.name, "--" + setting.name.replace("_", "-"))
    if setting.choices:
        values, default = ", ".join(setting.choices), str(setting.default)
        return EffectOption(flag, "settings", setting.name, "CHOICE", _setting_help(setting, values, default),
                            choices=setting.choices)  # fmt: skip
    if setting.name == "closes_in_minutes":
        values = f"from {minutes_text(setting.low)} to {minutes_text(setting.high)}"
        return EffectOption(flag, "settings", setting.name, "DURATION",
                            _setting_help(setting, values, minutes_text(int(setting.default))),
                            type=duration(setting.low, setting.high))  # fmt: skip
    values = f"{setting.low} to {setting.high}"
    return EffectOption(flag, "settings", setting.name, "N", _setting_help(setting, values, str(setting.default)),
                        type=whole_number(setting.low, setting.high))  # fmt: skip


def _setting_help(setting: Setting, values: str, default: str) -> str:
    return f"the {setting.name} setting, {setting.meaning}: {values} (the chapter starts with {default})"


SETTING_FLAGS = {
    "closes_in_minutes": "--default-closes-in",
    "quorum": "--default-quorum",
    "threshold": "--default-threshold",
}
"""Settings whose option is not simply their name (``--invite-quota``): they set the chapter's defaults."""

_NAMES = "(with --add or --rename)"
EFFECT_OPTIONS: tuple[EffectOption, ...] = (
    EffectOption("--add", "categories", "slug", "SLUG", "add a category: its slug (lowercase letters, digits, "
                 "hyphens); needs --name-en and --name-es", action="add"),
    EffectOption("--retire", "categories", "slug", "SLUG", "retire a category: new posts can no longer use it, "
                 "the report counts it under other", action="retire"),
    EffectOption("--rename", "categories", "slug", "SLUG", "rename a category; needs --name-en and --name-es",
                 action="rename"),
    EffectOption("--name-en", "categories", "name_en", "NAME", f"the category's name in English {_NAMES}"),
    EffectOption("--name-es", "categories", "name_es", "NAME", f"the category's name in Spanish {_NAMES}"),
    EffectOption("--start", "peering", "url", "URL", "start peering with the node at URL; needs --key",
                 action="start"),
    EffectOption("--stop", "peering", "url", "URL", "stop peering with the node at URL and block its key; needs "
                 "--key", action="stop"),
    EffectOption("--key", "peering", "key", "KEY", "that node's key, its ma1... form (mutualaid status shows it) "
                 "or 64 hex digits (with --start or --stop)"),
    EffectOption("--grant", "organizers", "member", "NAME", "grant an organizer mandate to the member of this "
                 "name on the roll", action="grant", member=True),
    EffectOption("--term-days", "organizers", "term_days", "N", f"the mandate's term, 1 to {MAX_TERM_DAYS} days "
                 f"(with --grant; default: {DEFAULT_TERM_DAYS})", type=whole_number(1, MAX_TERM_DAYS)),
    EffectOption("--revoke", "organizers", "member", "NAME", "end the organizer mandate of the member of this name",
                 action="revoke", member=True),
    EffectOption("--retire-member", "member", "member", "NAME", "retire the card of the member of this name: "
                 "they are no longer a member", action="retire", member=True),
    *(_setting_option(s) for s in SETTINGS),
    EffectOption("--reverse", "removal", "record_id", "RECORD_ID", "reverse an organizer's removal of a post: its "
                 "id, 64 hex characters (members log shows it)", action="reverse"),
)  # fmt: skip
"""Every option that fills a field of an effect, with the type it belongs to."""

ACTIONS: dict[str, dict[str, tuple[tuple[str, ...], tuple[str, ...]]]] = {
    "categories": {"add": (("name_en", "name_es"), ()), "retire": ((), ()), "rename": (("name_en", "name_es"), ())},
    "peering": {"start": (("key",), ()), "stop": (("key",), ())},
    "organizers": {"grant": ((), ("term_days",)), "revoke": ((), ())},
    "member": {"retire": ((), ())},
    "removal": {"reverse": ((), ())},
}
"""Each type's actions, and the details (effect fields besides the action's own) each requires and allows.
``settings`` takes any of its options, at least one; ``text`` changes nothing (``--option`` ranks options)."""

_BY_KIND = {kind: [o for o in EFFECT_OPTIONS if o.kind == kind] for kind in DECISION_TYPES}


def register(sub: Any) -> None:
    examples = (
        "examples:\n"
        '  mutualaid propose --type categories --title "A category for pets" --add pets --name-en Pets '
        "--name-es Mascotas\n"
        '  mutualaid propose --type organizers --title "Ama organizes" --grant Ama --term-days 90 --closes-in 3d\n'
        '  mutualaid propose --type settings --title "Two invites a week" --invite-quota 2 --invite-days 7\n'
        '  mutualaid propose --type text --title "Where we meet" --option "The library" --option "The church hall"'
    )
    propose = sub.add_parser(
        "propose",
        help="propose a change for the members to decide; prints its id",
        description="Propose something for the chapter's members to decide. Each type's options say what "
        "changes on the node if it passes; a text proposal changes nothing (with --option, members rank the "
        "options instead of agreeing or not). It stays open until --closes-in has passed or everyone has voted, "
        "then it is counted and a passed change is made. Prints the proposal's id (its first 12 characters name "
        "it in vote, proposal, comment) and when it closes. Acts as a member: needs your card "
        "($MUTUALAID_MEMBER_CARD or --card-file). The title, the text and the options are published with the "
        "decision, to neighbouring chapters too: name no one in them.",
        epilog=examples,
    )
    propose.add_argument("--type", required=True, choices=DECISION_TYPES, help="what the proposal is about")
    propose.add_argument("--title", required=True, help="what is proposed, in a few words (at most 120 characters)")
    propose.add_argument("--text", help=f"the proposal in full (at most {chars('text')} characters; default: none)")
    propose.add_argument(
        "--closes-in", type=CLOSES_IN, metavar="DURATION",
        help=f"how long it stays open, from {minutes_text(MIN_CLOSES_IN_MINUTES)} to "
        f"{minutes_text(MAX_CLOSES_IN_MINUTES)}: 30m, 2h, 7d, 1d12h (default: the chapter's closes_in_minutes "
        "setting, 7d unless the members decided another)",
    )  # fmt: skip
    propose.add_argument(
        "--quorum", type=whole_number(0, 100), metavar="PERCENT",
        help="the percent of the members who must vote, 0 to 100; at least the chapter's (default: the chapter's "
        "quorum setting, 50 unless the members decided another)",
    )  # fmt: skip
    propose.add_argument(
        "--threshold", choices=THRESHOLDS,
        help="what it needs to pass: majority (more agree than disagree), two_thirds (agree at least twice "
        "disagree) or consent (nobody blocks) (default: the chapter's threshold setting, majority unless the "
        "members decided another)",
    )  # fmt: skip
    propose.add_argument(
        "--open-ballot", action="store_true",
        help="an open ballot: once it closes, members see who voted how (default: secret, with receipts)",
    )  # fmt: skip
    for kind in DECISION_TYPES:
        group = propose.add_argument_group(f"--type {kind}")
        for option in _BY_KIND[kind]:
            extra: dict[str, Any] = {"type": option.type} if option.type else {}
            if option.choices:
                extra["choices"] = option.choices
            group.add_argument(option.flag, dest=option.dest, metavar=option.metavar, help=option.help, **extra)
        if kind == "text":
            group.add_argument(
                "--option", action="append", dest="options", metavar="TEXT",
                help=f"an option to rank (at most 80 characters); repeat, 2 to {MAX_OPTIONS}: members rank them "
                "and instant runoff picks one (default: none, members agree or not)",
            )  # fmt: skip
    add_card_option(propose)
    add_node_options(propose)
    propose.set_defaults(handler=cmd_propose)


# --- reading the options into a proposal ---------------------------------------------------------------


def _given(args: argparse.Namespace) -> list[EffectOption]:
    return [o for o in EFFECT_OPTIONS if getattr(args, o.dest) is not None]


def _flags(options: list[EffectOption], metavar: bool = False) -> str:
    names = [f"{o.flag} {o.metavar}" if metavar else o.flag for o in options]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


def effect_of(args: argparse.Namespace) -> tuple[dict[str, Any], list[EffectOption]]:
    """The effect the options give (members still named), and the member options to resolve; or a usage error."""
    kind, given = args.type, _given(args)
    strangers = [o for o in given if o.kind != kind]
    if strangers:
        raise CliError(f"{strangers[0].flag} is for --type {strangers[0].kind}, not --type {kind}")
    if args.options and kind != "text":
        raise CliError(f"--option is for --type text, not --type {kind}")
    if kind == "text":
        if args.options is not None and not 2 <= len(args.options) <= MAX_OPTIONS:
            raise CliError(f"a ranked proposal has 2 to {MAX_OPTIONS} options (--option, repeated); "
                           "without any, members agree or not")  # fmt: skip
        return {}, []
    if kind == "settings":
        if not given:
            raise CliError(f"--type settings needs at least one of {_flags(_BY_KIND['settings'])}")
        return {o.field: getattr(args, o.dest) for o in given}, []
    return _action_effect(kind, args, given)


def _action_effect(
    kind: str, args: argparse.Namespace, given: list[EffectOption]
) -> tuple[dict[str, Any], list[EffectOption]]:
    chosen = [o for o in given if o.action is not None]
    if len(chosen) != 1:
        actions = [o for o in _BY_KIND[kind] if o.action is not None]
        few = "needs one of" if not chosen else "takes one of"
        raise CliError(f"--type {kind} {few} {_flags(actions, metavar=True)}")
    action = chosen[0]
    required, allowed = ACTIONS[kind][action.action or ""]
    details = {o.field: o for o in given if o.action is None}
    missing = [field for field in required if field not in details]
    if missing:
        flags = [o for o in _BY_KIND[kind] if o.field in missing and o.action is None]
        raise CliError(f"{action.flag} needs {_flags(flags, metavar=True).replace(' or ', ' and ')}")
    for field, option in details.items():
        if field not in required and field not in allowed:
            raise CliError(f"{option.flag} does not go with {action.flag}")
    effect = {"action": action.action, action.field: getattr(args, action.dest)}
    effect |= {field: getattr(args, option.dest) for field, option in details.items()}
    return effect, [action] if action.member else []


def member_id(node: str, card: Card, name: str) -> str:
    """The id of the active member who goes by ``name`` on the roll (case and spacing aside)."""
    roll = call(node, "GET", "/api/v1/members", token=card.text, explain=card.explain())["members"]
    key = " ".join(name.casefold().split())
    named = [m for m in roll if " ".join(m["name"].casefold().split()) == key]
    active = [m for m in named if m["status"] == "active"]
    if len(active) == 1:
        return str(active[0]["id"])
    if len(active) > 1:
        raise CliError(f"{len(active)} members go by {name!r}; the node cannot tell them apart", ExitCode.REFUSED)
    if named:
        raise CliError(f"{named[0]['name']} is no longer a member ({named[0]['status']})", ExitCode.REFUSED)
    raise CliError(f"no member goes by {name!r} on the roll (mutualaid members list shows it)", ExitCode.REFUSED)


def cmd_propose(args: argparse.Namespace) -> int:
    effect, members = effect_of(args)
    node, card = node_of(args), member_card(args)
    for option in members:
        effect[option.field] = member_id(node, card, getattr(args, option.dest))
    body: dict[str, Any] = {"type": args.type, "title": args.title}
    optional = {"text": args.text, "closes_in_minutes": args.closes_in, "quorum": args.quorum,
                "threshold": args.threshold, "options": args.options}  # fmt: skip
    body |= {name: value for name, value in optional.items() if value is not None}
    if args.open_ballot:
        body["ballot"] = "open"
    if effect:
        body["effect"] = effect
    answer = call(node, "POST", "/api/v1/proposals", body, token=card.text, explain=card.explain())
    print_answer(args, answer, describe_new(answer["proposal"]))
    return ExitCode.DONE


def describe_new(p: dict[str, Any]) -> str:
    how = "rank the options" if p["method"] == "ranked" else "|".join(p["choices"])
    rules = f"quorum {p['quorum']}%, {'' if p['method'] == 'ranked' else p['threshold'] + ', '}{p['ballot']} ballot"
    lines = [
        f"proposed {p['id']}: {p['title']}",
        f"  {p['type']}: {p['summary']}",
        f"  closes {when(p['closes_at'])} ({time_left(p['closes_at'])}), or once all {p['electorate']} members "
        f"who may vote have; {rules}",
    ]
    lines += [f"  option {n}: {text}" for n, text in enumerate(p["options"], 1)]
    lines.append(f"  vote: mutualaid vote {p['id'][:12]} {how}")
    return "\n".join(lines)
