"""The chapter's roll from the command line: join, and ``members`` (invite, list, me, leave, new-card, log).

A member is their card: whoever holds it acts as them. So the card is
printed once, when it is made (``join``, ``members new-card``), and is read
back only from ``$MUTUALAID_MEMBER_CARD`` or ``--card-file``, never from an
argument, which would stay in shell history. An invite code is an argument:
it is used once, and is worthless after.

``members invite`` is the operator's founding sheet with the admin token
read from the node's data directory (like ``peers``), or, given a card, a
member's own invites within the chapter's weekly quota.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from node.chapter import cards
from node.chapter.settings import BY_NAME
from node.cli.admin import admin_token, data_dir_option
from node.cli.client import (
    Card,
    CliError,
    ExitCode,
    add_actions,
    add_card_option,
    add_node_options,
    call,
    confirm,
    has_card,
    member_card,
    node_of,
    print_answer,
    when,
    whole_number,
)
from node.core.config import MEMBER_CARD_VARIABLE, chosen_data_dir
from node.core.datadir import ADMIN_TOKEN_FILE

_INVITE_DAYS = BY_NAME["invite_days"]
_QUOTA = BY_NAME["invite_quota"]
CARD_NEEDED = f"Acts as a member: needs your card in ${MEMBER_CARD_VARIABLE} or --card-file FILE."


def register(sub: Any) -> None:
    _register_join(sub)
    members = sub.add_parser(
        "members",
        help="the chapter's roll: invite, list, me, leave, new-card, log",
        description="The chapter's members. Joining takes an invite code and a name (mutualaid join); members "
        "see the roll, invite others within the chapter's weekly quota, and may leave at any time. "
        f"{CARD_NEEDED} (members invite without a card makes the operator's founding sheet.)",
    )
    rooms = add_actions(members, "members_command")
    _register_invite(rooms)
    listing = rooms.add_parser(
        "list",
        help="the roll: name, invited by, joined, status, organizer",
        description=f"The chapter's roll, by name: who invited each member, when they joined, whether they are "
        f"still members (active, left, retired) and who holds an organizer mandate. {CARD_NEEDED}",
    )
    me = rooms.add_parser(
        "me",
        help="your own entry: status, mandate, invites left this week",
        description=f"Your entry on the roll, your organizer mandate if you hold one, and how many invites you "
        f"may still make this week. {CARD_NEEDED}",
    )
    log = rooms.add_parser(
        "log",
        help="what organizers did, who and why",
        description="The organizers' log, newest first: every removal of a post and every dismissal of flags, "
        f"with the organizer's name (or the operator's, in the founding period) and the reason. {CARD_NEEDED}",
    )
    log.add_argument(
        "--limit", type=whole_number(1, 500), metavar="N", help="at most this many entries, 1 to 500 (default: 100)"
    )
    leave = rooms.add_parser(
        "leave",
        help="leave the chapter (your card stops working; asks first)",
        description="Leave the chapter: your card stops working at once and your name stays on the roll as "
        f"having left. Asks first, unless --yes. {CARD_NEEDED}",
    )
    leave.add_argument("--yes", action="store_true", help="do not ask first")
    new_card = rooms.add_parser(
        "new-card",
        help="replace your card (one someone else may have seen); asks first",
        description="Retire your card and get a new one, printed once: the old one stops working at once. "
        "Ballots cast with the old card still count, but can no longer be changed. Asks first, unless --yes. "
        f"{CARD_NEEDED}",
    )
    new_card.add_argument("--yes", action="store_true", help="do not ask first")
    _qr_option(new_card)
    for parser, handler in ((listing, cmd_list), (me, cmd_me), (log, cmd_log), (leave, cmd_leave),
                            (new_card, cmd_new_card)):  # fmt: skip
        add_card_option(parser)
        add_node_options(parser)
        parser.set_defaults(handler=handler)


def _register_join(sub: Any) -> None:
    join = sub.add_parser(
        "join",
        help="join the chapter with an invite code; prints your member card, once",
        description="Join the chapter with an invite code and the name you go by (a pseudonym is fine; no "
        "email, phone or address is asked for). Prints your member card, once: keep it secret, it is what lets "
        f"you vote, propose and invite. Use it with ${MEMBER_CARD_VARIABLE} or --card-file FILE, or open the "
        "page link printed with it.",
        epilog='example:\n  mutualaid join 7KQ2M-XW4RT --name "Ama" --qr card.svg',
    )
    join.add_argument("code", metavar="CODE", help="the invite code, as written (case and dashes do not matter)")
    join.add_argument("--name", required=True, help="the name you go by in the chapter, unique on its roll")
    _qr_option(join)
    add_node_options(join)
    join.set_defaults(handler=cmd_join)


def _qr_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--qr",
        type=Path,
        metavar="FILE",
        help="also write the card's page link as a QR code (SVG) to FILE, readable only by you, to sign in on "
        "a phone (default: none; on a terminal the QR code is also printed)",
    )


def _register_invite(rooms: Any) -> None:
    invite = rooms.add_parser(
        "invite",
        help="make invite codes: the operator's founding sheet, or a member's own",
        description="Make single-use invite codes and print them, one a line with when it expires, so the page "
        "can be printed and cut into slips. Without a card it is the operator's founding sheet: the admin token "
        f"is read from {ADMIN_TOKEN_FILE} in the node's data directory (as for peers), and the node makes "
        "sheets only in the founding period, before the members grant a first organizer mandate. With a card "
        f"(${MEMBER_CARD_VARIABLE} or --card-file) the member invites, within the chapter's weekly quota "
        f"({_QUOTA.default} unless the members decided another).",
    )
    invite.add_argument(
        "--count",
        type=whole_number(1, cards.MAX_INVITES),
        metavar="N",
        help=f"how many codes, 1 to {cards.MAX_INVITES} (a member's are bounded by the chapter's weekly quota too; "
        "default: 1)",
    )
    invite.add_argument(
        "--days",
        type=whole_number(_INVITE_DAYS.low, _INVITE_DAYS.high),
        metavar="D",
        help=f"how many days each code stays valid, {_INVITE_DAYS.low} to {_INVITE_DAYS.high} (default: the "
        f"chapter's invite_days setting, {_INVITE_DAYS.default} unless the members decided another)",
    )
    invite.add_argument(
        "--operator",
        action="store_true",
        help=f"make the founding sheet with the admin token even when ${MEMBER_CARD_VARIABLE} is set",
    )
    data_dir_option(invite, f"the node's data directory, where {ADMIN_TOKEN_FILE} is (operator only)")
    add_card_option(invite)
    add_node_options(invite)
    invite.set_defaults(handler=cmd_invite)


# --- the commands ---------------------------------------------------------------------------------------


def cmd_invite(args: argparse.Namespace) -> int:
    node = node_of(args)
    body = {name: getattr(args, name) for name in ("count", "days") if getattr(args, name) is not None}
    if has_card(args) and not args.operator:
        card = member_card(args)
        result = call(node, "POST", "/api/v1/invites", body, token=card.text, explain=card.explain())
    else:
        directory = chosen_data_dir(args.data_dir)
        token = admin_token(directory, "members invite (without a member card)")
        wrong = f"the admin token in {directory} is not the one of the node at {node}: give that node's --data-dir"
        explain = {
            "card_invalid": wrong,
            "founding_over": "the founding period is over (the members granted a first organizer mandate), so "
            "the operator makes no more sheets: members invite each other now, with their card "
            f"(${MEMBER_CARD_VARIABLE} or --card-file)",
        }
        result = call(node, "POST", "/api/v1/invites", body, token=token, explain=explain)
    invites = result["invites"]
    lines = [f"{i['code']}    valid until {when(i['expires_at'])}    join at {node}" for i in invites]
    if not args.json:
        print(f"{len(invites)} invite code{'s' if len(invites) != 1 else ''}, each for one person, used once: "
              "mutualaid join CODE --name NAME", file=sys.stderr)  # fmt: skip
    print_answer(args, result, "\n".join(lines))
    return ExitCode.DONE


def cmd_join(args: argparse.Namespace) -> int:
    node = node_of(args)
    with _qr_file(args.qr) as qr:  # ready first: a card is never made that cannot be saved as asked
        result = call(node, "POST", "/api/v1/members", {"code": args.code, "name": args.name})
        headline = f"joined the chapter at {node} as {result['member']['name']}"
        _show_card(args, node, result, result["card"], qr, headline)
    return ExitCode.DONE


def _show_card(
    args: argparse.Namespace, node: str, answer: dict[str, Any], card: str, qr: _QrFile | None, headline: str
) -> None:
    link = cards.card_link(node, card)
    if qr is not None:
        qr.write(cards.qr_svg(link))
    lines = [
        headline,
        "",
        "your member card, shown this once:",
        "",
        f"    {card}",
        "",
        "Keep it secret: whoever holds it acts as you (votes, proposes, invites). Write it down, or keep it in a",
        "file only you can read. To use it:",
        f"  from the command line: export {MEMBER_CARD_VARIABLE}=<the card>, or --card-file FILE",
        f"  on the page: {link}",
        "  (that link signs the page in as you: open it yourself, never share it)",
    ]
    if qr is not None:
        lines.append(f"  the link as a QR code, to scan with a phone: {qr.path}")
    print_answer(args, answer, "\n".join(lines))
    if not args.json and sys.stdout.isatty():
        print("\n" + cards.qr_text(link), end="")


class _QrFile:
    """Where a card's QR code goes: a file beside it made (owner-only) before the card is
    asked for, renamed over it once written; nothing is touched if no card is made."""

    def __init__(self, path: Path) -> None:
        self.path = path
        if path.is_dir():
            raise CliError(f"--qr: {path} is a directory; give the file to write, such as {path / 'card.svg'}")
        try:
            self._fd, self._temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        except OSError as exc:
            raise CliError(f"--qr: cannot write in {path.parent}: {exc.strerror or exc}") from None
        self._written = False

    def write(self, svg: str) -> None:
        with os.fdopen(self._fd, "w", encoding="utf-8") as handle:
            handle.write(svg)
        os.replace(self._temp, self.path)
        self._written = True

    def discard(self) -> None:
        """Remove the file beside it, unless the code was written."""
        if not self._written:
            os.close(self._fd)
            Path(self._temp).unlink(missing_ok=True)


@contextlib.contextmanager
def _qr_file(path: Path | None) -> Iterator[_QrFile | None]:
    if path is None:
        yield None
        return
    qr = _QrFile(path)
    try:
        yield qr
    finally:
        qr.discard()


def _invited_by(member: dict[str, Any]) -> str:
    by = member.get("invited_by")
    return by["name"] if by else "the founding sheet"


def cmd_list(args: argparse.Namespace) -> int:
    card = member_card(args)
    result = call(node_of(args), "GET", "/api/v1/members", token=card.text, explain=card.explain())
    members = result["members"]
    width = max([len("name"), *(len(m["name"]) for m in members)])
    by_width = max([len("invited by"), *(len(_invited_by(m)) for m in members)])
    lines = [f"{'name':{width}}  {'invited by':{by_width}}  {'joined':10}  {'status':8}  organizer"]
    lines += [
        f"{m['name']:{width}}  {_invited_by(m):{by_width}}  {m['joined_at'][:10]:10}  {m['status']:8}  "
        f"{'yes' if m['organizer'] else ''}".rstrip()
        for m in members
    ]
    if result.get("founding"):
        lines += ["", "the chapter is in its founding period: the operator acts as organizer until the members "
                  "grant a first organizer mandate"]  # fmt: skip
    print_answer(args, result, "\n".join(lines))
    return ExitCode.DONE


def cmd_me(args: argparse.Namespace) -> int:
    card = member_card(args)
    result = call(node_of(args), "GET", "/api/v1/members/me", token=card.text, explain=card.explain())
    member, mandate = result["member"], result["mandate"]
    lines = [
        f"{member['name']}, {member['status']}, joined {when(member['joined_at'])}, invited by {_invited_by(member)}",
        f"organizer mandate until {when(mandate['ends_at'])}" if mandate else "no organizer mandate",
        f"invites left this week: {result['invites_left']}",
    ]
    if result.get("founding"):
        lines.append("the chapter is in its founding period")
    print_answer(args, result, "\n".join(lines))
    return ExitCode.DONE


def cmd_log(args: argparse.Namespace) -> int:
    card = member_card(args)
    path = "/api/v1/organizer/log" + (f"?limit={args.limit}" if args.limit else "")
    result = call(node_of(args), "GET", path, token=card.text, explain=card.explain())
    lines = [
        f"{when(e['at'])}  {e['organizer'] or 'the operator'}: {e['action']} {e['target']}"
        + (f"\n    {e['reason']}" if e["reason"] else "")
        for e in result["entries"]
    ]
    print_answer(args, result, "\n".join(lines) if lines else "no organizer actions yet")
    return ExitCode.DONE


def _me(node: str, card: Card) -> dict[str, Any]:
    answer: dict[str, Any] = call(node, "GET", "/api/v1/members/me", token=card.text, explain=card.explain())
    return answer


def cmd_leave(args: argparse.Namespace) -> int:
    node, card = node_of(args), member_card(args)
    name = _me(node, card)["member"]["name"]
    if not args.yes:
        confirm(f"Leave the chapter as {name}? Your card stops working at once; your name stays on the roll as "
                "having left.")  # fmt: skip
    result = call(node, "DELETE", "/api/v1/members/me", token=card.text, explain=card.explain())
    print_answer(args, result, f"{name} left the chapter: the card no longer works")
    return ExitCode.DONE


def cmd_new_card(args: argparse.Namespace) -> int:
    node, card = node_of(args), member_card(args)
    name = _me(node, card)["member"]["name"]
    if not args.yes:
        confirm(f"Replace the card of {name} (from {card.source})? It stops working at once; the new one is "
                "shown once.")  # fmt: skip
    with _qr_file(args.qr) as qr:
        result = call(node, "POST", "/api/v1/members/me/card", token=card.text, explain=card.explain())
        headline = f"a new card for {name}: the one from {card.source} no longer works"
        if card.source.startswith("$"):
            headline += f" (set {MEMBER_CARD_VARIABLE} to the new one)"
        elif card.source != "standard input":
            headline += f" (put the new one in {card.source})"
        _show_card(args, node, result, result["card"], qr, headline)
    return ExitCode.DONE
