"""The member's commands about the community: reply, replies, report, status.

A reply is asked for on the terminal when it is not given, so neither the
message nor how to reach the poster lands in shell history; ``replies``
opens the answers to one's own post, which only the node it was posted
through can do (it alone holds the key they are sealed to, and the token).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from crypto import public_key_to_text
from node.cli.client import (
    CliError,
    ExitCode,
    add_node_options,
    add_token_option,
    call,
    manage_token,
    node_of,
    post_id,
    print_answer,
    query_string,
    quoted,
    whole_number,
)
from node.core.clock import ClockSkew
from node.members.terms import DEFAULT_WEEKS, MAX_WEEKS, ROUNDED_TO, SUPPRESS_BELOW

REPLIES_EXPLAIN = {
    "not_this_node": "only the post's own node (the one it was posted through) can open its replies: "
    "give that node with --node or MUTUALAID_NODE",
}


def register(sub: Any) -> None:
    reply = sub.add_parser(
        "reply",
        help="reply privately to a need or an offer",
        description="Reply privately to a need or an offer: the node seals the message and how to reach you to "
        "the poster's node, which alone can open them. Left out, both are asked for on the terminal, so they "
        "need not be on the command line or in shell history.",
    )
    reply.add_argument("id", type=post_id, metavar="ID", help="the post's id, or its first 8 characters or more")
    reply.add_argument(
        "--message",
        metavar="TEXT",
        help="the message; '-' reads it from standard input (default: asked for on the terminal)",
    )
    reply.add_argument(
        "--contact",
        metavar="TEXT",
        help="how the poster can reach you (only they will see it); '-' reads it from standard input "
        "(default: asked for when the message is, else none)",
    )
    add_node_options(reply)
    reply.set_defaults(handler=cmd_reply)

    replies = sub.add_parser(
        "replies",
        help="read the replies to your post (needs its manage token)",
        description="Read the replies to your post, newest first. Needs the post's manage token, and the node "
        "it was posted through: only that node can open them.",
    )
    replies.add_argument("id", type=post_id, metavar="ID", help="the post's id, or its first 8 characters or more")
    add_token_option(replies)
    add_node_options(replies)
    replies.set_defaults(handler=cmd_replies)

    report = sub.add_parser(
        "report",
        help=f"the community needs report (counts rounded to {ROUNDED_TO}, under {SUPPRESS_BELOW} shown as <5)",
        description="The community needs report: needs and offers by category, what was fulfilled, and where "
        f"needs outrun offers. Every count is rounded to {ROUNDED_TO}; a count from 1 to {SUPPRESS_BELOW - 1} "
        f"shows as <{SUPPRESS_BELOW}, so no one is singled out.",
    )
    report.add_argument(
        "--weeks",
        type=whole_number(1, MAX_WEEKS),
        help=f"how many weeks back, 1 to {MAX_WEEKS} (default: the chapter's report_weeks setting, "
        f"{DEFAULT_WEEKS} unless the members decided another)",
    )
    output = report.add_mutually_exclusive_group()
    output.add_argument("--csv", action="store_true", help="print the report as CSV")
    output.add_argument("--json", action="store_true", help="print the node's answer as JSON, for scripts")
    add_node_options(report, json_flag=False)
    report.set_defaults(handler=cmd_report)

    status = sub.add_parser(
        "status",
        help="show a node's name, key and counts",
        description="Show a node's name, version, key (the ma1... form), the areas it serves, how many needs and "
        "offers it holds, its connected peers and its categories.",
    )
    add_node_options(status)
    status.set_defaults(handler=cmd_status)


def _ask(prompt: str) -> str:
    """One line from standard input, the prompt on stderr (stdout stays the answer)."""
    print(prompt, end="", file=sys.stderr, flush=True)
    return sys.stdin.readline().rstrip("\r\n")


def _reply_text(args: argparse.Namespace) -> tuple[str, str]:
    if args.message == "-" and args.contact == "-":
        raise CliError("only one of --message and --contact can be read from standard input")
    if args.message == "-":
        message = sys.stdin.read().rstrip("\n")
    elif args.message is None:
        message = _ask("Message: ")
    else:
        message = args.message
    if args.contact == "-":
        contact = sys.stdin.read().rstrip("\n")
    elif args.contact is None:
        contact = _ask("How they can reach you (optional, only they will see it): ") if args.message is None else ""
    else:
        contact = args.contact
    return message, contact


def cmd_reply(args: argparse.Namespace) -> int:
    node = node_of(args)
    message, contact = _reply_text(args)
    result = call(node, "POST", f"/api/v1/records/{quoted(args.id)}/replies", {"message": message, "contact": contact})
    how = "delivered to the poster's node" if result["reply"]["delivered"] == "direct" else "sent through the network"
    print_answer(args, result, f"reply {result['reply']['id']} sealed and {how}")
    return ExitCode.DONE


def cmd_replies(args: argparse.Namespace) -> int:
    node, token = node_of(args), manage_token(args, "replies")
    path = f"/api/v1/records/{quoted(args.id)}/replies"
    result = call(node, "GET", path, token=token, explain=REPLIES_EXPLAIN)
    blocks = [
        f"{r['sent_at']}\n{r['message']}" + (f"\ncontact: {r['contact']}" if r["contact"] else "")
        for r in result["replies"]
    ]
    print_answer(args, result, "\n\n".join(blocks) if blocks else "no replies yet")
    return ExitCode.DONE


def _count(value: int | None) -> str:
    return f"<{SUPPRESS_BELOW}" if value is None else str(value)


def cmd_report(args: argparse.Namespace) -> int:
    node = node_of(args)
    weeks = query_string({"weeks": args.weeks})
    if args.csv:
        print(call(node, "GET", f"/api/v1/report.csv{weeks}", raw=True), end="")
        return ExitCode.DONE
    report = call(node, "GET", f"/api/v1/report{weeks}")
    totals = report["totals"]
    lines = [
        f"community needs report, last {report['weeks']} weeks "
        f"(counts rounded to {report.get('rounded_to', ROUNDED_TO)}; counts under {SUPPRESS_BELOW} shown as "
        f"<{SUPPRESS_BELOW})",
        f"needs {_count(totals['needs'])}, offers {_count(totals['offers'])}, "
        f"fulfilled {_count(totals['fulfilled_needs'])}, still open {_count(totals['open_needs'])}",
        "",
        f"{'category':20} {'needs':>6} {'offers':>6} {'fulfilled':>9}",
        *(
            f"{r['category']:20} {_count(r['needs']):>6} {_count(r['offers']):>6} {_count(r['fulfilled']):>9}"
            for r in report["by_category"]
        ),
    ]
    if report["outrun"]:
        lines += ["", "needs outrun offers: " + ", ".join(r["category"] for r in report["outrun"])]
    print_answer(args, report, "\n".join(lines))
    return ExitCode.DONE


def cmd_status(args: argparse.Namespace) -> int:
    info = call(node_of(args), "GET", "/api/v1/node")
    key = info.get("key") or public_key_to_text(bytes.fromhex(info["public_key"]))
    posts = info.get("posts", {})
    lines = [
        f"{info['name']} (mutualaid {info['version']})",
        f"key {key}",
        f"areas {', '.join(info.get('areas') or []) or 'every area'}",
        f"posts: needs {posts.get('need', 0)}, offers {posts.get('offer', 0)}; peers connected {info['peers']}",
        "categories " + ", ".join(c["slug"] for c in info.get("categories", [])),
    ]
    if "clock" in info:
        lines.append("clock: " + ClockSkew.from_json(info["clock"]).describe())
    print_answer(args, info, "\n".join(lines))
    return ExitCode.DONE
