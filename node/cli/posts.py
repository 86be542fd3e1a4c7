"""The member's commands about posts: post, search, show, and managing one's own.

``post``, ``search`` and ``show`` are open to anyone, like the member API.
``mark``, ``withdraw``, ``edit`` and ``renew`` change a post and need its
manage token; ``flag`` raises it with the node's organizers. A post is named
by its id or the start of it (8 hex characters or more, what ``search``
shows): the node resolves it, so every client takes the same ids. A change
makes a new version with a new id; the answer prints it, and the earlier ids
keep working on the post's own node.

The options come from the data they stand for: a field's help from the field
table (its meaning and limits), the categories from
``node.chapter.categories.DEFAULT``, the choices from the protocol's lists.
Nothing here is a copy that could drift.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any

from crypto import public_key_to_text
from node.chapter.categories import DEFAULT
from node.cli.client import (
    CliError,
    ExitCode,
    add_node_options,
    add_token_option,
    call,
    confirm,
    manage_token,
    node_of,
    post_id,
    print_answer,
    query_string,
    quoted,
    whole_number,
)
from node.members.terms import DEFAULT_TTL_DAYS, FLAG_REASONS, MAX_NOTE_CHARS, OPTIONAL, REQUIRED
from protocol.fields import MAX_AREA_PRECISION, URGENCIES
from protocol.fieldtable import Geohash, ListOf, Text
from protocol.records import DAY, FIELDS, MAX_TTL, POST_KINDS, STATUSES, TOMBSTONE_STATUSES
from storage.query import MAX_LIMIT

_ROWS = {row.name: row for row in FIELDS}
_FINAL = {
    "fulfilled": "fulfilled is final: the post can no longer change or take replies",
    "withdrawn": "withdrawn is final: the post can no longer change or take replies",
}
assert set(_FINAL) == TOMBSTONE_STATUSES
MANAGE_EXPLAIN = {
    "not_this_node": "only the post's own node (the one it was posted through) holds its manage token: "
    "give that node with --node or MUTUALAID_NODE",
}


def categories_epilog() -> str:
    """The categories a node starts with, slug and English name, one a line."""
    width = max(len(c.slug) for c in DEFAULT)
    lines = [f"  {c.slug:{width}}  {c.names['en']}" for c in DEFAULT]
    return "categories (as a node starts; it may have its own list, and refuses a slug not on it):\n" + (
        "\n".join(lines)
    )


def _category(slug: str) -> str:
    """A slug from ``DEFAULT``, for an example: one the list no longer has fails at import, not in a user's hands."""
    if slug not in {c.slug for c in DEFAULT}:
        raise LookupError(f"an example names the category {slug!r}, which DEFAULT does not have")
    return slug


# --- a post's fields as options ------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldOption:
    """A record field set from the command line."""

    field: str
    flag: str
    metavar: str
    repeat: bool = False

    @property
    def dest(self) -> str:
        return self.field


FIELD_OPTIONS = (
    FieldOption("title", "--title", "TEXT"),
    FieldOption("category", "--category", "SLUG"),
    FieldOption("area", "--area", "GEOHASH"),
    FieldOption("details", "--details", "TEXT"),
    FieldOption("tags", "--tag", "TAG", repeat=True),
    FieldOption("quantity", "--quantity", "TEXT"),
    FieldOption("urgency", "--urgency", "LEVEL"),
    FieldOption("needed_by", "--needed-by", "DATE"),
    FieldOption("languages", "--language", "TAG", repeat=True),
    FieldOption("give_back", "--give-back", "TEXT"),
)


def _field_help(field: str) -> str:
    """A field's meaning and limits, from the field table."""
    row = _ROWS[field]
    kind = row.type
    if field == "category":
        return f"what kind of help: a category's slug, such as {DEFAULT[0].slug} (categories below)"
    if field == "area":
        assert isinstance(kind, Geohash)
        return f"roughly where: a geohash of 1 to {MAX_AREA_PRECISION} characters (never finer than ~5 km), like u4pru"
    if field == "urgency":
        return f"how soon: {', '.join(URGENCIES[:-1])} or {URGENCIES[-1]} (default: normal)"
    if field == "needed_by":
        return f"{row.meaning}: YYYY-MM-DD, or YYYY-MM-DDTHH:MM:SSZ (UTC)"
    if isinstance(kind, ListOf):
        item = "a language tag such as es or pt-br" if field == "languages" else "lowercase letters, digits, hyphens"
        return f"{row.meaning}: {item}; repeat for several, up to {kind.max_items}"
    assert isinstance(kind, Text), field
    lines = ", several lines allowed" if kind.multiline else ""
    needs = " (needs only; it also becomes an offer of its own, managed with the same token)"
    return f"{row.meaning}: at most {kind.max_chars} characters{lines}" + (needs if field == "give_back" else "")


def _add_fields(parser: argparse.ArgumentParser, *, required: bool) -> None:
    for option in FIELD_OPTIONS:
        options: dict[str, Any] = {"metavar": option.metavar, "dest": option.dest, "help": _field_help(option.field)}
        if option.repeat:
            options["action"] = "append"
        if option.field == "urgency":
            options["choices"] = URGENCIES
        if required and option.field in REQUIRED:
            options["required"] = True
        parser.add_argument(option.flag, **options)


def _fields(args: argparse.Namespace) -> dict[str, Any]:
    return {o.field: getattr(args, o.dest) for o in FIELD_OPTIONS if getattr(args, o.dest) is not None}


def _days_option(parser: argparse.ArgumentParser, flag: str, what: str) -> None:
    parser.add_argument(
        flag,
        type=whole_number(1, MAX_TTL // DAY),
        metavar="DAYS",
        help=f"{what}: 1 to {MAX_TTL // DAY} days from now (default: {DEFAULT_TTL_DAYS})",
    )


# --- the parsers ----------------------------------------------------------------------------------------


def register(sub: Any) -> None:
    _register_post(sub)
    _register_search(sub)
    show = sub.add_parser(
        "show",
        help="print one post",
        description="Print one need or offer: its fields, status, dates and the key of the node it was posted "
        "through. ID is its id or the first 8 or more characters of it.",
    )
    _id_argument(show)
    add_node_options(show)
    show.set_defaults(handler=cmd_show)
    _register_manage(sub)


def _id_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("id", type=post_id, metavar="ID", help="the post's id, or its first 8 characters or more")


def _register_post(sub: Any) -> None:
    examples = (
        "examples:\n"
        f'  mutualaid post need --title "Groceries for a family of four" --category {_category("food")} '
        "--area u4pru --urgency high\n"
        f'  mutualaid post offer --title "Bike repairs on Saturdays" --category {_category("transport")} '
        "--area u4pr --tag bikes\n"
        f'  mutualaid post need --title "Winter coat, child size 8" --category {_category("clothing")} '
        '--area u4pru --give-back "I can mend clothes"'
    )
    post = sub.add_parser(
        "post",
        help="post a need or an offer; prints its id and manage token",
        description="Post a need or an offer through the node, with no account. It prints the post's id and its "
        "manage token, once: keep the token private, it is what lets you mark, edit, renew or withdraw the post "
        "and read its replies. A need with --give-back also posts a linked offer, managed with the same token.",
        epilog=f"{categories_epilog()}\n\n{examples}",
    )
    post.add_argument("kind", choices=POST_KINDS, help="need or offer")
    _add_fields(post, required=True)
    _days_option(post, "--expires-in-days", "when it expires")
    add_node_options(post)
    post.set_defaults(handler=cmd_post)


def _register_search(sub: Any) -> None:
    search = sub.add_parser(
        "search",
        help="search the posts a node holds",
        description="Search the needs and offers a node holds (its own and its peers'), newest first. Prints a "
        "line a post, under a header: the first 12 characters of its id (enough for show, reply, mark...), "
        "kind, status, area, category and title.",
        epilog=categories_epilog(),
    )
    search.add_argument("--kind", choices=POST_KINDS, help="only needs or only offers (default: both)")
    search.add_argument("--category", metavar="SLUG", help="one category (categories below)")
    search.add_argument("--area", metavar="GEOHASH", help="a geohash prefix: u4 finds u4pru")
    search.add_argument("--text", metavar="WORDS", help="words to look for in titles, details and tags")
    search.add_argument(
        "--status", action="append", choices=STATUSES, help="repeat for several (default: open and claimed)"
    )
    search.add_argument("--urgency", action="append", choices=URGENCIES, help="repeat for several (default: any)")
    search.add_argument("--language", metavar="TAG", help="a language tag such as es; pt also finds pt-br")
    search.add_argument(
        "--order", choices=("newest", "urgency"), help="newest first, or most urgent first (default: newest)"
    )
    search.add_argument(
        "--limit", type=whole_number(1, MAX_LIMIT), default=20, metavar="N",
        help=f"at most this many, 1 to {MAX_LIMIT} (default: 20)",
    )  # fmt: skip
    add_node_options(search)
    search.set_defaults(handler=cmd_search)


def _register_manage(sub: Any) -> None:
    needs = (
        "Needs the post's manage token (--token=TOKEN or MUTUALAID_MANAGE_TOKEN), on the node it was posted through."
    )
    mark = sub.add_parser(
        "mark",
        help="set your post's status: open, claimed, fulfilled or withdrawn",
        description=f"Set your post's status. Fulfilled and withdrawn are final: they ask first (unless --yes). "
        f"{needs}",
    )
    _id_argument(mark)
    mark.add_argument("status", choices=STATUSES, help="the new status")
    _manage_options(mark, confirm=True)
    mark.set_defaults(handler=cmd_mark)

    withdraw = sub.add_parser(
        "withdraw",
        help="withdraw your post (final; asks first)",
        description=f"Withdraw your post: it stays visible as withdrawn until it expires, takes no more replies "
        f"and can no longer change. Asks first, unless --yes. {needs}",
    )
    _id_argument(withdraw)
    _manage_options(withdraw, confirm=True)
    withdraw.set_defaults(handler=cmd_withdraw)

    edit = sub.add_parser(
        "edit",
        help="change fields of your post",
        description=f"Change fields of your post; the others stay as they are. {needs}",
        epilog=categories_epilog(),
    )
    _id_argument(edit)
    _add_fields(edit, required=False)
    edit.add_argument(
        "--clear",
        action="append",
        default=[],
        type=lambda value: value.replace("-", "_"),
        choices=OPTIONAL,
        metavar="FIELD",
        help=f"remove an optional field (repeat): {', '.join(OPTIONAL)}",
    )
    _manage_options(edit, confirm=False)
    edit.set_defaults(handler=cmd_edit)

    renew = sub.add_parser(
        "renew",
        help="keep your post up for longer",
        description=f"Set when your post expires, counted from now. {needs}",
    )
    _id_argument(renew)
    _days_option(renew, "--days", "how long it stays up")
    _manage_options(renew, confirm=False)
    renew.set_defaults(handler=cmd_renew)

    flag = sub.add_parser(
        "flag",
        help="flag a post for the node's organizers",
        description="Flag a need or an offer for this node's organizers (spam, abuse, personal information "
        "that should not be public...). The flag stays on this node; anyone may flag, no token needed.",
    )
    _id_argument(flag)
    flag.add_argument("--reason", required=True, choices=FLAG_REASONS, help="why it is flagged")
    flag.add_argument("--note", metavar="TEXT", help=f"a word for the organizers, at most {MAX_NOTE_CHARS} characters")
    add_node_options(flag)
    flag.set_defaults(handler=cmd_flag)


def _manage_options(parser: argparse.ArgumentParser, *, confirm: bool) -> None:
    if confirm:
        parser.add_argument("--yes", action="store_true", help="do not ask before a final status")
    add_token_option(parser)
    add_node_options(parser)


# --- the commands ---------------------------------------------------------------------------------------


def cmd_post(args: argparse.Namespace) -> int:
    body = {"kind": args.kind, **_fields(args)}
    if args.kind != "need" and "give_back" in body:
        raise CliError("--give-back is for needs: an offer is already something given")
    if args.expires_in_days is not None:
        body["expires_in_days"] = args.expires_in_days
    result = call(node_of(args), "POST", "/api/v1/records", body)
    record = result["record"]
    lines = [f"posted {record['kind']} {record['id']}"]
    if "linked_offer" in result:
        lines.append(f"linked offer {result['linked_offer']['id']} (what you give back; managed with the same token)")
    lines.append(f"manage token (keep it private, shown once): {result['manage_token']}")
    print_answer(args, result, "\n".join(lines))
    return ExitCode.DONE


SEARCH_COLUMNS = f"{'id':12}  {'kind':5} {'status':9} {'area':5} {'category':14} title"


def cmd_search(args: argparse.Namespace) -> int:
    params = {"kind": args.kind, "category": args.category, "area": args.area, "q": args.text,
              "status": args.status, "limit": args.limit, "language": args.language, "order": args.order,
              "urgency": ",".join(args.urgency) if args.urgency else None}  # fmt: skip
    result = call(node_of(args), "GET", f"/api/v1/records{query_string(params)}")
    lines = [
        f"{r['id'][:12]:12}  {r['kind']:5} {r['status']:9} {r.get('area', ''):5} {r.get('category', ''):14} "
        f"{r.get('title', '')}"
        for r in result["records"]
    ]
    print_answer(args, result, "\n".join([SEARCH_COLUMNS, *lines]) if lines else "no posts found")
    return ExitCode.DONE


def _get(node: str, record_id: str) -> dict[str, Any]:
    record: dict[str, Any] = call(node, "GET", f"/api/v1/records/{quoted(record_id)}")
    if record.get("kind") not in POST_KINDS:
        raise CliError(f"{record_id} is a {record.get('kind')} record, not a need or an offer", ExitCode.REFUSED)
    return record


def describe(record: dict[str, Any]) -> str:
    """One post, as a person reads it."""
    facts = [f"status {record['status']}", f"category {record.get('category')}", f"area {record.get('area')}",
             f"urgency {record.get('urgency', 'normal')}"]  # fmt: skip
    facts += [f"{label} {record[name]}" for name, label in (("quantity", "quantity"), ("needed_by", "needed by"))
              if name in record]  # fmt: skip
    facts += [f"{label} {', '.join(record[name])}" for name, label in (("tags", "tags"), ("languages", "languages"))
              if record.get(name)]  # fmt: skip
    lines = [f"{record['kind']} {record['id']}", str(record.get("title", "")), ", ".join(facts)]
    if record.get("details"):
        lines += ["", *str(record["details"]).splitlines(), ""]
    if record.get("give_back"):
        lines.append(f"can give back: {record['give_back']}")
    lines.append(f"posted {record['created_at']}, expires {record['expires_at']}")
    lines.append(f"through node {public_key_to_text(bytes.fromhex(record['author']))}")
    return "\n".join(lines)


def cmd_show(args: argparse.Namespace) -> int:
    record = _get(node_of(args), args.id)
    print_answer(args, record, describe(record))
    return ExitCode.DONE


def _named(record: dict[str, Any]) -> str:
    title = record.get("title", "")
    return f'{record["kind"]} "{title}" ({record["id"][:12]})'


def _changed(args: argparse.Namespace, answer: dict[str, Any], what: str) -> int:
    record = answer["record"]
    print_answer(args, answer, f"{_named(record)} {what}\nits id is now {record['id']} (a change makes a new "
                               "version; the earlier ids still work on this node)")  # fmt: skip
    return ExitCode.DONE


def _set_status(args: argparse.Namespace, status: str) -> int:
    node, token = node_of(args), manage_token(args, args.command)
    record = _get(node, args.id)
    if status in _FINAL and record["status"] not in TOMBSTONE_STATUSES and not args.yes:
        confirm(f"Mark {_named(record)} {status}? {_FINAL[status].capitalize()}.")
    path = f"/api/v1/records/{record['id']}/status"
    answer = call(node, "POST", path, {"status": status}, token=token, explain=MANAGE_EXPLAIN)
    return _changed(args, answer, f"is now {status}")


def cmd_mark(args: argparse.Namespace) -> int:
    return _set_status(args, args.status)


def cmd_withdraw(args: argparse.Namespace) -> int:
    return _set_status(args, "withdrawn")


def _patch(args: argparse.Namespace, changes: dict[str, Any]) -> dict[str, Any]:
    node, token = node_of(args), manage_token(args, args.command)
    path = f"/api/v1/records/{quoted(args.id)}"
    answer: dict[str, Any] = call(node, "PATCH", path, changes, token=token, explain=MANAGE_EXPLAIN)
    return answer


def cmd_edit(args: argparse.Namespace) -> int:
    changes: dict[str, Any] = _fields(args)
    for name in args.clear:
        if name in changes:
            raise CliError(f"--clear {name} and a new value for it: give one of them")
        changes[name] = None
    if not changes:
        raise CliError("nothing to change: give a field to change (such as --title) or --clear FIELD")
    return _changed(args, _patch(args, changes), "edited")


def cmd_renew(args: argparse.Namespace) -> int:
    days = args.days or DEFAULT_TTL_DAYS
    answer = _patch(args, {"expires_in_days": days})
    return _changed(args, answer, f"renewed: it expires {answer['record']['expires_at']}")


def cmd_flag(args: argparse.Namespace) -> int:
    body = {"reason": args.reason} | ({"note": args.note} if args.note is not None else {})
    answer = call(node_of(args), "POST", f"/api/v1/records/{quoted(args.id)}/flags", body)
    print_answer(args, answer, f"flagged ({args.reason}): this node's organizers will see it")
    return ExitCode.DONE
