"""The ``mutualaid`` command: run a node, and talk to one.

Human output by default, ``--json`` for scripts. Member commands talk to a
node's member API over HTTP (``--node URL`` or ``MUTUALAID_NODE``), so they
work against any node; ``peers`` uses the operator API with the admin token
from the node's data directory. The chapter's commands act as a member with
the member's card, read from ``MUTUALAID_MEMBER_CARD`` or ``--card-file``,
never from an argument. One module a room of commands, each
registering its parsers with their handler:

    client     the node's URL, HTTP calls, ids, exit codes (``ExitCode``)
    posts      post, search, show; mark, withdraw, edit, renew (one's own post); flag
    community  reply, replies, report, status
    roll       join, members (invite, list, me, leave, new-card, log): the chapter's roll
    propose    propose: a proposal of any type, with that type's options
    decide     proposals, proposal, vote, comment, decisions
    findings   findings (add, list, notes), answer: the report returned to the community
    events     events (add, list, cancel, come, suggest): meetings, teach-ins, study groups
    organizer  how organizer commands act: a card with a mandate, or the founding admin token
    moderate   organizer (flags, dismiss, remove, removals, unanswered): the organizers' view in a terminal
    admin      init, run, peers
    bundle     bundle (export, import): records carried offline, in one signed file
    operate    backup, restore: a data directory in one file (from a running node too), and back;
               service install; doctor
    keys       key (show, recovery, rotate): the node key and the chapter's recovery key

Exit codes are ``ExitCode``'s, listed at the end of ``mutualaid --help``.
"""

from __future__ import annotations

import argparse
import sys

from node import __version__
from node.cli import admin, bundle, community, decide, events, findings, keys, moderate, operate, posts, propose, roll
from node.cli.client import CliError, ExitCode, exit_codes_text
from node.cli.helptext import HelpFormatter
from node.core.config import ConfigError
from node.core.datadir import DataDirError

__all__ = ["ExitCode", "build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mutualaid",
        description="A mutual aid node and its command line: run a node, post needs and offers through one, "
        "search them, reply, and manage your own posts; join the node's chapter, propose, vote and read its "
        "decisions. Every command has its own --help.",
        epilog=exit_codes_text(),
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"mutualaid {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", title="commands")
    admin.register(sub)  # init, run
    posts.register(sub)  # post, search, show, mark, withdraw, edit, renew, flag
    community.register(sub)  # reply, replies, report, status
    roll.register(sub)  # join, members
    propose.register(sub)  # propose
    decide.register(sub)  # proposals, proposal, vote, comment, decisions
    findings.register(sub)  # findings, answer
    events.register(sub)  # events
    moderate.register(sub)  # organizer
    admin.register_peers(sub)
    bundle.register(sub)  # bundle export, bundle import
    operate.register(sub)  # backup, restore, service, doctor
    keys.register(sub)  # key
    _finish(sub)
    return parser


def _finish(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Every command's help (and every action's, such as members list) ends with the exit codes."""
    for command in sub.choices.values():
        command.epilog = "\n\n".join(filter(None, [command.epilog, exit_codes_text()]))
        command.formatter_class = HelpFormatter
        for action in command._actions:
            if isinstance(action, argparse._SubParsersAction):
                _finish(action)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except CliError as exc:
        print(f"mutualaid: {exc}", file=sys.stderr)
        return int(exc.code)
    except (ConfigError, DataDirError) as exc:
        print(f"mutualaid: {exc}", file=sys.stderr)
        return int(ExitCode.USAGE)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
