# The command line's help as a new user reads it: every command (and every
# action of one, such as members invite) has a description, every option and argument says what it is, its default where
# it has one and the variable it reads; the choices shown are the data's own
# (categories from node.chapter.categories.DEFAULT with their English names,
# urgencies, statuses, flag reasons, event kinds and access, answers, the
# report's sections), and every example names a real category;
# the card is read from $MUTUALAID_MEMBER_CARD or --card-file, as help says.
# The parser is read in process; what is printed is read from the real command.

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from node.chapter.categories import DEFAULT
from node.cli import build_parser
from node.cli.client import MEANINGS
from node.core.config import NodeConfig
from node.members.terms import DEFAULT_WEEKS, FLAG_REASONS
from protocol.fields import URGENCIES
from protocol.figures import SECTIONS
from protocol.records import EVENT_ACCESS, EVENT_KINDS, STATUSES
from storage.chapter.outreach import ANSWERS
from tests.node._cli import cli, cli_env

PARSER = build_parser()
SUBPARSERS = next(a for a in PARSER._actions if isinstance(a, argparse._SubParsersAction))
COMMANDS = dict(SUBPARSERS.choices)
SLUGS = [c.slug for c in DEFAULT]


def _actions_of(name: str, parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """A command's own actions, such as ``members invite``, by their full name."""
    nested = next((a for a in parser._actions if isinstance(a, argparse._SubParsersAction)), None)
    return {} if nested is None else {f"{name} {sub}": p for sub, p in nested.choices.items()}


ACTIONS = {full: p for name, parser in COMMANDS.items() for full, p in _actions_of(name, parser).items()}
EVERY = COMMANDS | ACTIONS
"""Every command and every command's action (``members list``...): each has its help."""


def summary_of(command: str) -> str | None:
    *outer, last = command.split()
    owner = PARSER if not outer else COMMANDS[outer[0]]
    chooser = next(a for a in owner._actions if isinstance(a, argparse._SubParsersAction))
    return next(a.help for a in chooser._choices_actions if a.dest == last)


def options(command: str) -> list[argparse.Action]:
    return [a for a in EVERY[command]._actions if not isinstance(a, argparse._HelpAction)]


def help_text(tmp_path: Path, command: str) -> str:
    result = cli(cli_env(tmp_path), *command.split(), "--help")
    assert result.returncode == 0, result.stderr
    return result.stdout


def flat(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.parametrize("command", EVERY)
def test_every_command_has_a_summary_and_a_description(command: str) -> None:
    summary = summary_of(command)
    assert summary and len(summary) > 10, command
    description = EVERY[command].description
    assert description and len(description) > len(summary), command


@pytest.mark.parametrize("command", EVERY)
def test_every_option_and_argument_says_what_it_is(command: str) -> None:
    for action in options(command):
        assert action.help and action.help != argparse.SUPPRESS and len(action.help) > 5, (command, action.dest)


@pytest.mark.parametrize("command", EVERY)
def test_options_with_a_default_say_it_and_name_the_variables_they_read(command: str) -> None:
    for action in options(command):
        text = flat(action.help or "")
        if action.default not in (None, False, [], argparse.SUPPRESS):
            assert f"default: {action.default}" in text, (command, action.dest)
        if action.dest == "node":
            assert "$MUTUALAID_NODE" in text and "default:" in text
        if action.dest == "token":
            assert "$MUTUALAID_MANAGE_TOKEN" in text
        if action.dest == "card_file":
            assert "$MUTUALAID_MEMBER_CARD" in text and "default:" in text
        if command == "run" or action.dest == "data_dir":
            assert "MUTUALAID_" in text and "default" in text, (command, action.dest)


def test_run_names_every_setting_and_its_variables() -> None:
    epilog = flat(COMMANDS["run"].epilog or "")
    assert "MUTUALAID_<SETTING>" in epilog
    for name in NodeConfig.__dataclass_fields__:
        if name != "data_dir":
            assert re.search(rf"\b{name}\b", epilog), name


@pytest.mark.parametrize("command", ["post", "search", "edit"])
def test_the_categories_shown_are_the_data(tmp_path: Path, command: str) -> None:
    text = help_text(tmp_path, command)
    block = text[text.index("\ncategories (") :].split("\n\n")[0].splitlines()[2:]
    shown = [line.split(maxsplit=1) for line in block]
    assert shown == [[c.slug, c.names["en"]] for c in DEFAULT]


def test_no_help_names_a_category_the_data_lacks(tmp_path: Path) -> None:
    for command in EVERY:  # as argparse prints it (in process: the real command is read below)
        text = EVERY[command].format_help()
        assert "child-care" not in text
        for slug in re.findall(r"--category ([a-z][a-z0-9-]*)", text):  # an example's, not the SLUG metavar
            assert slug in SLUGS, (command, slug)
    examples = help_text(tmp_path, "post")
    assert len(re.findall(r"mutualaid post \w+ .*--category [a-z]", examples)) == 3  # each checked above


def test_the_choices_are_the_protocols_and_the_apis() -> None:
    def choices(command: str, dest: str) -> list[str]:
        action = next(a for a in options(command) if a.dest == dest)
        return list(action.choices or [])

    assert choices("search", "status") == list(STATUSES)
    assert choices("mark", "status") == list(STATUSES)
    assert choices("search", "urgency") == list(URGENCIES)
    assert choices("post", "urgency") == list(URGENCIES)
    assert choices("edit", "urgency") == list(URGENCIES)
    assert choices("flag", "reason") == list(FLAG_REASONS)
    for command in ("events add", "events suggest"):
        assert choices(command, "what") == list(EVENT_KINDS)
        assert choices(command, "access") == list(EVENT_ACCESS)
    assert choices("events list", "what") == list(EVENT_KINDS)
    assert choices("answer", "answer") == list(ANSWERS)
    cite = flat(next(a for a in options("findings add") if a.dest == "cite").help or "")
    assert f"SECTION one of {', '.join(SECTIONS)}" in cite
    weeks = next(a for a in options("report") if a.dest == "weeks")
    assert weeks.default is None and f"{DEFAULT_WEEKS} unless the members decided another" in flat(weeks.help or "")


def test_csv_and_json_exclude_each_other() -> None:
    groups = COMMANDS["report"]._mutually_exclusive_groups
    assert [sorted(a.dest for a in g._group_actions) for g in groups] == [["csv", "json"]]


def test_docs_node_md_lists_every_command_and_the_exit_codes_as_the_code_has_them() -> None:
    text = (Path(__file__).resolve().parents[2] / "docs" / "NODE.md").read_text()
    section = text[text.index("## The command line") : text.index("## Operations")]
    documented = re.findall(r"^\| `(\w+)", section, re.MULTILINE)
    assert documented == list(COMMANDS)
    rows = re.findall(r"^\| (\d) \| (.+) \|$", section, re.MULTILINE)
    assert [(int(code), meaning) for code, meaning in rows] == [(int(c), m) for c, m in MEANINGS.items()]
    readme = " ".join((Path(__file__).resolve().parents[2] / "README.md").read_text().split())
    summary = "Exit codes: 0 done, 1 the node refused (its message is printed), 2 bad usage, 3 the node cannot be "
    summary += "reached"
    assert summary in readme
