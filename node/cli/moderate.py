"""``mutualaid organizer``: the organizers' view and acts for a node without a screen.

What the page's organizer view does, from a terminal: the flags on posts and
their dismissal, removals and the list of them, and the needs nobody has
answered. Each acts as an organizer (``node/cli/organizer.py``): a member
card holding a mandate, or in the founding period the admin token from
``--data-dir``. Every act is in the organizers' log members read, with the
reason given.
"""

from __future__ import annotations

import argparse
from typing import Any

from node.cli.client import (
    ExitCode,
    add_actions,
    call,
    full_id,
    node_of,
    print_answer,
    query_string,
    when,
    whole_number,
)
from node.cli.organizer import ORGANIZER_NEEDED, add_organizer_options, organizer
from node.members.terms import MAX_ORGANIZER_LIST, MAX_REASON_CHARS

DEFAULT_LIST = 100


def _reason(value: str) -> str:
    text = value.strip()
    if not text or len(text) > MAX_REASON_CHARS:
        raise argparse.ArgumentTypeError(f"a reason is 1 to {MAX_REASON_CHARS} characters")
    return text


_reason.__name__ = "reason"


def register(sub: Any) -> None:
    organizing = sub.add_parser(
        "organizer",
        help="the organizers' view from a terminal: flags, removals, unanswered needs",
        description="What the page's organizer view does, for a node without a screen: read the flags on posts "
        "and dismiss them, remove a post and list the removals, list the needs nobody has answered. "
        + ORGANIZER_NEEDED,
    )
    actions = add_actions(organizing, "organizer_command")
    for name, summary in (("flags", "the posts members flagged, most flagged first"),
                          ("removals", "the posts the organizers removed, newest first"),
                          ("unanswered", "open needs nobody has replied to, longest waiting first")):  # fmt: skip
        listing = actions.add_parser(name, help=summary, description=f"List {summary}. " + ORGANIZER_NEEDED)
        listing.add_argument(
            "--limit", type=whole_number(1, MAX_ORGANIZER_LIST), metavar="N",
            help=f"at most this many, 1 to {MAX_ORGANIZER_LIST} (default: {DEFAULT_LIST})",
        )  # fmt: skip
        add_organizer_options(listing)
        listing.set_defaults(handler=cmd_list, listing=name)
    dismiss = actions.add_parser(
        "dismiss", help="dismiss every flag on a post, once looked at",
        description="Dismiss every flag on a post (the post stays up), with the reason kept in the organizers' "
        "log. " + ORGANIZER_NEEDED,
    )  # fmt: skip
    dismiss.add_argument("id", metavar="ID", help="the flagged post's id, or its first 8 hex characters or more")
    dismiss.add_argument("--reason", type=_reason, help=f"why, for the log, at most {MAX_REASON_CHARS} characters "
                         "(default: the flags were looked at)")  # fmt: skip
    add_organizer_options(dismiss)
    dismiss.set_defaults(handler=cmd_dismiss)
    remove = actions.add_parser(
        "remove", help="remove a post from this node, with a reason shown on it",
        description="Remove a need or an offer from this node: it is no longer shown or passed to peers, and "
        "stays removed if a peer sends it again; the reason is shown on it and kept in the organizers' log. "
        + ORGANIZER_NEEDED,
    )  # fmt: skip
    remove.add_argument("id", metavar="ID", help="the post's id, or its first 8 hex characters or more")
    remove.add_argument("--reason", type=_reason, required=True,
                        help=f"why, shown on the post, at most {MAX_REASON_CHARS} characters")  # fmt: skip
    add_organizer_options(remove)
    remove.set_defaults(handler=cmd_remove)


def _lines(listing: str, item: dict[str, Any]) -> str:
    if listing == "flags":
        title = item["record"]["title"] if item["record"] else "(no longer held)"
        last = when(item["flagged_at"])
        return f"{item['record_id'][:12]}  {item['count']} flag(s), last {last}: {item['reason']}  {title}"
    if listing == "removals":
        return f"{item['record_id'][:12]}  {item['kind']} removed {when(item['removed_at'])}: {item['reason']}"
    return f"{item['id'][:12]}  open {item['days_open']} day(s)  {item['title']}"


def cmd_list(args: argparse.Namespace) -> int:
    node = node_of(args)
    acting = organizer(args, node, f"organizer {args.listing}")
    path = f"/api/v1/organizer/{args.listing}" + query_string({"limit": args.limit})
    result = call(node, "GET", path, token=acting.token, explain=acting.explain)
    items = result["records" if args.listing == "unanswered" else args.listing]
    if args.listing == "flags":  # one line a post: the node lists each flag, with the post's count
        items = list({item["record_id"]: item for item in reversed(items)}.values())[::-1]
    print_answer(args, result, "\n".join(_lines(args.listing, i) for i in items) or f"no {args.listing}")
    return ExitCode.DONE


def cmd_dismiss(args: argparse.Namespace) -> int:
    node = node_of(args)
    acting = organizer(args, node, "organizer dismiss")
    record_id = args.id if len(args.id) == 64 else _flagged_id(node, acting.token, acting.explain, args.id)
    path = f"/api/v1/organizer/flags/{record_id}" + query_string({"reason": args.reason})
    result = call(node, "DELETE", path, token=acting.token, explain=acting.explain)
    print_answer(args, result, f"dismissed {result['dismissed']} flag(s) on {record_id[:12]}")
    return ExitCode.DONE


def _flagged_id(node: str, token: str, explain: dict[str, str], given: str) -> str:
    """A flagged post's whole id from its start: among the flags (the post may be
    gone), else as the node resolves it."""
    flags = call(node, "GET", f"/api/v1/organizer/flags?limit={MAX_ORGANIZER_LIST}", token=token, explain=explain)
    matching = {f["record_id"] for f in flags["flags"] if f["record_id"].startswith(given.lower())}
    return matching.pop() if len(matching) == 1 else full_id(node, given)


def cmd_remove(args: argparse.Namespace) -> int:
    node = node_of(args)
    acting = organizer(args, node, "organizer remove")
    body = {"id": full_id(node, args.id), "reason": args.reason}
    result = call(node, "POST", "/api/v1/organizer/removals", body, token=acting.token, explain=acting.explain)
    print_answer(args, result, f"removed {result['removal']['record_id'][:12]}: {result['removal']['reason']}")
    return ExitCode.DONE
