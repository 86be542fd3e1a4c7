"""The mass line's return step from the command line: ``findings`` (add, list, notes) and ``answer``.

An organizer writes a finding from the community report: the node copies
the rows it cites from its report as it published them (rounded to 5, a
count of 1 to 4 shown as ``<5``), so a finding is never finer than the
report. Without ``--cite`` it cites the node's default (the totals and
every category); ``--cite SECTION:KEY`` names rows, as ``mutualaid report``
shows them. Organizer commands act with a card holding a mandate, or the
operator's admin token in the founding period (``node/cli/organizer.py``).

Anyone answers a finding on its chapter's node: agree, partly, or missed
(you missed something). A note goes to the organizers only, and is read
from standard input (``--note -``), never from an argument: a note may be
personal, and shell history keeps arguments. Counts come back rounded as
the report rounds them. Records named by id (``--acts``, ``--revises``) may
be given by their first 8 characters or more: the node resolves them.
"""

from __future__ import annotations

import argparse
from typing import Any

from node.cli.client import (
    CliError,
    ExitCode,
    add_actions,
    add_node_options,
    call,
    full_id,
    node_of,
    print_answer,
    query_string,
    record_id,
    stdin_text,
    when,
    whole_number,
)
from node.cli.decide import peer_names
from node.cli.organizer import ORGANIZER_NEEDED, add_organizer_options, organizer
from node.members.terms import (
    DEFAULT_FINDINGS_LIST,
    DEFAULT_WEEKS,
    MAX_ANSWER_NOTE_CHARS,
    MAX_FINDINGS_LIST,
    MAX_WEEKS,
    ROUNDED_TO,
    SUPPRESS_BELOW,
)
from protocol import fields
from protocol.errors import RecordInvalid
from protocol.fieldtable import Text
from protocol.figures import MAX_FIGURES, MAX_KEY_CHARS, SECTIONS
from protocol.records import FIELDS
from storage.chapter.outreach import ANSWERS, NOTE_DAYS

_ROWS = {row.name: row for row in FIELDS}


def chars(name: str) -> int:
    """The most characters the field table allows a text field."""
    kind = _ROWS[name].type
    assert isinstance(kind, Text), name
    return kind.max_chars


FINDING_ID = record_id("a finding", "findings list")
ANY_ID = record_id("a record", "findings list, events list and decisions")
ANSWER_MEANINGS = {"agree": "you got it right", "partly": "partly right", "missed": "you missed something"}
assert tuple(ANSWER_MEANINGS) == ANSWERS
ANSWER_EXPLAIN = {
    "not_this_node": "answers go to the chapter that wrote the finding: give its node with --node (findings list "
    "on any node names the chapter) (not_this_node)",
}


def cite(value: str) -> tuple[str, str]:
    """``--cite SECTION:KEY``: a report row, such as ``by_category:food`` or ``totals:all``."""
    section, colon, key = value.strip().partition(":")
    if not colon or section not in SECTIONS or not key.strip() or len(key) > MAX_KEY_CHARS:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a report row: give SECTION:KEY with SECTION one of {', '.join(SECTIONS)}, such as "
            "by_category:food, by_area:u4p, by_week:2027-W05 or totals:all"
        )
    return section, key.strip()


cite.__name__ = "row"


def language(value: str) -> str:
    """``--language``: a language tag, as the field table takes it."""
    try:
        return fields.language("language", value.strip())
    except RecordInvalid:
        raise argparse.ArgumentTypeError(f"{value!r} is not a language tag: give one like en, es or pt-br") from None


language.__name__ = "language"


def register(sub: Any) -> None:
    findings = sub.add_parser(
        "findings",
        help="what the organizers heard, returned to the community: add, list, notes",
        description="Findings: what the organizers read in the community report, written back to the community "
        "with the report's figures it rests on, and answered by anyone (mutualaid answer). Findings travel to "
        "neighbouring chapters labelled with this chapter's name.",
    )
    rooms = add_actions(findings, "findings_command")
    _register_add(rooms)
    listing = rooms.add_parser(
        "list",
        help="the findings the node holds, newest first, with their answers",
        description="The findings the node holds, this chapter's and its peers', newest first: the first 12 "
        "characters of the id, the title, whose it is, the report's period it reads, the figures it cites, the "
        f"answers to this chapter's (rounded to {ROUNDED_TO}, 1 to {SUPPRESS_BELOW - 1} shown as <{SUPPRESS_BELOW}), "
        "and the later finding that revises it. Public: no card needed.",
    )
    listing.add_argument(
        "--limit", type=whole_number(1, MAX_FINDINGS_LIST), metavar="N",
        help=f"at most this many, 1 to {MAX_FINDINGS_LIST} (default: {DEFAULT_FINDINGS_LIST})",
    )  # fmt: skip
    add_node_options(listing)
    listing.set_defaults(handler=cmd_list)
    notes = rooms.add_parser(
        "notes",
        help="the notes left with answers to a finding (organizers)",
        description=f"The notes people left with their answers to one of this chapter's findings, newest first. "
        f"They are for the organizers only: they never leave the node and are deleted after {NOTE_DAYS} days. "
        f"{ORGANIZER_NEEDED}",
    )
    notes.add_argument("id", type=FINDING_ID, metavar="ID", help="the finding's id, or its first 8 characters or more")
    add_organizer_options(notes)
    notes.set_defaults(handler=cmd_notes)
    _register_answer(sub)


def _register_add(rooms: Any) -> None:
    sections = ", ".join(SECTIONS)
    add = rooms.add_parser(
        "add",
        help="write a finding from the community report; prints its id and figures",
        description="Write a finding from the community report and publish it. The node copies the figures it "
        f"cites from its report as it published them (rounded to {ROUNDED_TO}, 1 to {SUPPRESS_BELOW - 1} as "
        f"<{SUPPRESS_BELOW}), so a finding is never finer than the report; a row the report does not show is "
        "refused. Prints the finding's id and the figures it cites. The title and text are published, to "
        f"neighbouring chapters too: name no one in them. {ORGANIZER_NEEDED}",
        epilog="examples:\n"
        '  mutualaid findings add --title "Food needs doubled" --text "Most needs this winter were food."\n'
        '  mutualaid findings add --title "Food" --text - --cite totals:all --cite by_category:food < finding.txt\n'
        '  mutualaid findings add --title "Food, revised" --text "..." --revises 69c9c2c4af30 --acts 43c96f886952',
    )
    add.add_argument("--title", required=True, help=f"what was heard, in a few words (at most {chars('title')} "
                     "characters)")  # fmt: skip
    add.add_argument(
        "--text", required=True, metavar="TEXT",
        help=f"the finding in full: what the report shows, read (at most {chars('text')} characters, several lines "
        "allowed); '-' reads it from standard input",
    )  # fmt: skip
    add.add_argument(
        "--weeks", type=whole_number(1, MAX_WEEKS), metavar="N",
        help=f"the report's period it reads, 1 to {MAX_WEEKS} weeks (default: the chapter's report_weeks setting, "
        f"{DEFAULT_WEEKS} unless the members decided another)",
    )  # fmt: skip
    add.add_argument(
        "--cite", type=cite, action="extend", nargs="+", metavar="SECTION:KEY",
        help=f"a report row to cite, SECTION one of {sections} (totals:all, by_category:food, by_area:u4p, "
        f"by_week:2027-W05); repeat for several, up to {MAX_FIGURES} (default: the totals and every category, as "
        "the report shows them now)",
    )  # fmt: skip
    add.add_argument(
        "--acts", type=ANY_ID, action="extend", nargs="+", metavar="ID",
        help="an event or a decision that acts on it: its id or first 8 characters or more; repeat for several, "
        "up to 8 (default: none)",
    )  # fmt: skip
    add.add_argument(
        "--revises", type=FINDING_ID, metavar="ID",
        help="the earlier finding this one revises (it supersedes it): its id or first 8 characters or more "
        "(default: none)",
    )  # fmt: skip
    add.add_argument(
        "--language", type=language, action="extend", nargs="+", dest="languages", metavar="TAG",
        help="a language it is written in, a tag such as en or es; repeat for several, up to 8 (default: none)",
    )  # fmt: skip
    add_organizer_options(add)
    add.set_defaults(handler=cmd_add)


def _register_answer(sub: Any) -> None:
    answer = sub.add_parser(
        "answer",
        help="answer a finding: did the organizers get it right?",
        description="Answer one of a chapter's findings on its node: agree, partly, or missed (you missed "
        "something). Anyone may answer, member or not; no card is needed. Prints the answers so far, rounded "
        f"as the report rounds (1 to {SUPPRESS_BELOW - 1} shown as <{SUPPRESS_BELOW}). A note goes to the "
        f"organizers only: it never leaves the node and is deleted after {NOTE_DAYS} days.",
        epilog="examples:\n  mutualaid answer 69c9c2c4af30 agree\n"
        '  echo "The bus cuts matter more than food." | mutualaid answer 69c9c2c4af30 missed --note -',
    )
    answer.add_argument("id", type=FINDING_ID, metavar="FINDING_ID",
                        help="the finding's id, or its first 8 characters or more")  # fmt: skip
    answer.add_argument(
        "answer", choices=ANSWERS, metavar="ANSWER",
        help="; ".join(f"{a}: {meaning}" for a, meaning in ANSWER_MEANINGS.items()),
    )  # fmt: skip
    answer.add_argument(
        "--note", metavar="-",
        help=f"'-': read a note for the organizers from standard input (at most {MAX_ANSWER_NOTE_CHARS} "
        "characters). Only '-': a note may be personal, and an argument stays in shell history (default: none)",
    )  # fmt: skip
    add_node_options(answer)
    answer.set_defaults(handler=cmd_answer)


# --- how findings read ----------------------------------------------------------------------------------


def count(value: int | None) -> str:
    return f"<{SUPPRESS_BELOW}" if value is None else str(value)


def figures_table(figures: list[list[Any]], indent: str = "  ") -> list[str]:
    """The cited rows as a small table: section, key, needs, offers, fulfilled."""
    rows = [("section", "key", "needs", "offers", "fulfilled")]
    rows += [(str(s), str(k), count(n), count(o), count(f)) for s, k, n, o, f in figures]
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    lines = []
    for row in rows:
        counts = "  ".join(f"{value:>{width}}" for value, width in zip(row[2:], widths[2:], strict=True))
        lines.append(f"{indent}{row[0]:{widths[0]}}  {row[1]:{widths[1]}}  {counts}")
    return lines


def period(finding: dict[str, Any]) -> str:
    return f"the report of the {finding['weeks']} weeks to {when(finding['as_of'])}"


def answers_text(answers: dict[str, int | None]) -> str:
    return ", ".join(f"{a} {count(answers[a])}" for a in ANSWERS)


def _whose(finding: dict[str, Any], peers: dict[str, str]) -> str:
    return "this chapter" if finding["own"] else f"peer {peers.get(finding['author'], finding['author'][:12])}"


def describe(finding: dict[str, Any], peers: dict[str, str]) -> list[str]:
    lines = [f"{finding['id'][:12]}  {finding['title']}  ({_whose(finding, peers)})",
             f"    {period(finding)}"]  # fmt: skip
    lines += figures_table(finding["figures"], "    ")
    if finding.get("answers") is not None:
        lines.append(f"    answers: {answers_text(finding['answers'])}")
    links = [(label, str(finding[name])) for name, label in (("revises", "revises"), ("revised_by", "revised by"))
             if finding.get(name)]  # fmt: skip
    if links:
        lines.append("    " + "; ".join(f"{label} {value[:12]}" for label, value in links))
    if finding.get("acts"):
        lines.append("    acted on by " + ", ".join(a[:12] for a in finding["acts"]))
    return lines


# --- the commands ---------------------------------------------------------------------------------------


def cmd_add(args: argparse.Namespace) -> int:
    node = node_of(args)
    text = stdin_text("text", "--text") if args.text == "-" else args.text
    cites = args.cite or []
    if len(set(cites)) != len(cites):
        raise CliError("--cite names the same row twice: cite each row once")
    if len(cites) > MAX_FIGURES:
        raise CliError(f"--cite names {len(cites)} rows; a finding cites at most {MAX_FIGURES}")
    acting = organizer(args, node, "findings add")
    body: dict[str, Any] = {"title": args.title, "text": text}
    if args.weeks is not None:
        body["weeks"] = args.weeks
    if cites:
        body["cite"] = [list(row) for row in cites]
    if args.languages:
        body["languages"] = args.languages
    if args.acts:
        body["acts"] = [full_id(node, given) for given in args.acts]
    if args.revises:
        body["revises"] = full_id(node, args.revises)
    answer = call(node, "POST", "/api/v1/findings", body, token=acting.token, explain=acting.explain)
    finding = answer["finding"]
    lines = [
        f"published finding {finding['id']}: {finding['title']}",
        f"citing {period(finding)} (counts rounded to {ROUNDED_TO}; <{SUPPRESS_BELOW}: 1 to {SUPPRESS_BELOW - 1}):",
        *figures_table(finding["figures"]),
        f"anyone may answer it: mutualaid answer {finding['id'][:12]} {'|'.join(ANSWERS)}",
    ]
    print_answer(args, answer, "\n".join(lines))
    return ExitCode.DONE


def cmd_list(args: argparse.Namespace) -> int:
    node = node_of(args)
    result = call(node, "GET", f"/api/v1/findings{query_string({'limit': args.limit})}")
    found = result["findings"]
    if args.json:
        print_answer(args, result, "")
        return ExitCode.DONE
    peers = peer_names(node) if any(not f["own"] for f in found) else {}
    blocks = ["\n".join(describe(f, peers)) for f in found]
    print_answer(args, result, "\n\n".join(blocks) if blocks else "no findings yet")
    return ExitCode.DONE


def cmd_notes(args: argparse.Namespace) -> int:
    node = node_of(args)
    acting = organizer(args, node, "findings notes")
    path = f"/api/v1/findings/{full_id(node, args.id)}/notes"
    result = call(node, "GET", path, token=acting.token, explain=acting.explain | ANSWER_EXPLAIN)
    lines = [f"{when(n['at'])}  {n['answer']}\n    " + "\n    ".join(n["note"].splitlines()) for n in result["notes"]]
    print_answer(args, result, "\n".join(lines) if lines else "no notes")
    return ExitCode.DONE


def cmd_answer(args: argparse.Namespace) -> int:
    if args.note is not None and args.note != "-":
        raise CliError(
            "--note takes '-' and reads the note from standard input: a note may be personal, and an argument "
            "stays in shell history (echo ... | mutualaid answer ID missed --note -)"
        )
    body: dict[str, Any] = {"answer": args.answer}
    if args.note == "-":
        body["note"] = stdin_text("note", "--note")
    node = node_of(args)
    result = call(node, "POST", f"/api/v1/records/{args.id}/answers", body, explain=ANSWER_EXPLAIN)
    noted = " with a note for the organizers" if "note" in body else ""
    lines = [
        f"answered {args.answer}{noted}",
        f"answers so far: {answers_text(result['answers'])} (rounded to {ROUNDED_TO}; <{SUPPRESS_BELOW}: 1 to "
        f"{SUPPRESS_BELOW - 1})",
    ]
    print_answer(args, result, "\n".join(lines))
    return ExitCode.DONE
