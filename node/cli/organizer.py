"""Acting as an organizer from the command line: a member card holding a mandate, or the operator's token.

Organizer commands (``findings add``, ``findings notes``, ``events add``,
``events cancel``) read the member card as every member command does
(``$MUTUALAID_MEMBER_CARD`` or ``--card-file``), and the node checks that it
holds a live mandate the members granted. Without a card (or with
``--operator``) they act with the admin token read from the node's data
directory (``--data-dir``), as ``peers`` and ``members invite`` do: the
node takes it as organizer only in the founding period, before the members
grant a first mandate.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from node.cli.admin import data_dir_option
from node.cli.client import AdminToken, CliError, add_card_option, add_node_options, has_card, member_card
from node.core.config import MEMBER_CARD_VARIABLE, chosen_data_dir
from node.core.datadir import ADMIN_TOKEN_FILE, DataDirError, read_admin_token

ORGANIZER_NEEDED = (
    f"Acts as an organizer: needs your member card holding a mandate (${MEMBER_CARD_VARIABLE} or --card-file "
    f"FILE), or, in the chapter's founding period, the operator's admin token, read from {ADMIN_TOKEN_FILE} in "
    "the node's data directory (--data-dir DIR) when no card is given."
)


@dataclass(frozen=True)
class Acting:
    """The credential an organizer command sends, and plainer words for its refusals."""

    token: str
    explain: dict[str, str]


def add_organizer_options(parser: argparse.ArgumentParser) -> None:
    """The card, ``--operator`` and ``--data-dir`` (the founding period's admin token), ``--node`` and ``--json``."""
    add_card_option(parser)
    parser.add_argument(
        "--operator",
        action="store_true",
        help=f"act with the admin token from --data-dir even when ${MEMBER_CARD_VARIABLE} is set (founding period "
        "only)",
    )
    data_dir_option(parser, f"the node's data directory, where {ADMIN_TOKEN_FILE} is (without a card)")
    add_node_options(parser)


def organizer(args: argparse.Namespace, node: str, command: str) -> Acting:
    """The card if one is given (and not ``--operator``), else the admin token from the data directory."""
    if has_card(args) and not args.operator:
        card = member_card(args)
        return Acting(card.text, card.explain())
    directory = chosen_data_dir(args.data_dir)
    try:
        token = AdminToken(read_admin_token(directory))
    except DataDirError as exc:
        raise CliError(
            f"{command} acts as an organizer and needs your member card holding a mandate: set "
            f"{MEMBER_CARD_VARIABLE}=card-... or give --card-file FILE. In the founding period the operator acts "
            f"with the node's admin token instead: give the node's data directory with --data-dir DIR ({exc})"
        ) from None
    wrong = f"the admin token in {directory} is not the one of the node at {node}: give that node's --data-dir"
    explain = {
        "forbidden": wrong,
        "card_invalid": wrong,
        "admin_off": f"the node at {node} has no admin token: organizers act with their member card",
        "no_mandate": "the founding period is over (the members granted a first organizer mandate), so the "
        "operator's admin token no longer acts as organizer: act with a member card holding a mandate "
        f"(${MEMBER_CARD_VARIABLE} or --card-file) (no_mandate)",
    }
    return Acting(token, explain)
