"""Deciding from the command line: proposals, proposal, vote, comment, decisions.

Proposals are the chapter's own and members only: each command acts with
the member's card. A proposal is named by its id or its first 8 hex
characters or more (``proposals`` shows 12); the node resolves it. Results
stay hidden until a proposal closes; then its receipts list shows every
ballot beside its receipt's hash, and ``proposal`` marks the member's own.

``decisions`` reads the signed decision records the node holds, its
chapter's and its peers' (``GET /api/v1/records?kind=decision``): public,
no card needed, passed through as they are with ``--json``.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

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
    proposal_id,
    query_string,
    quoted,
    time_left,
    when,
    whole_number,
)
from protocol.ballots import ABSTAIN, CHOICES, receipt_hash
from storage.query import MAX_LIMIT

CARD_NEEDED = "Acts as a member: needs your card in $MUTUALAID_MEMBER_CARD or --card-file FILE."


def register(sub: Any) -> None:
    proposals = sub.add_parser(
        "proposals",
        help="the chapter's proposals: time left, turnout, your vote, results",
        description="The chapter's proposals, newest first: a line each with the first 12 characters of its "
        "id, where it stands (open, or its outcome), when it closes or closed, how many of the members who may "
        f"vote have, your vote, and its title; a closed one's counts under it. {CARD_NEEDED}",
    )
    state = proposals.add_mutually_exclusive_group()
    state.add_argument("--open", action="store_true", help="only the open ones (default: open and closed)")
    state.add_argument("--closed", action="store_true", help="only the closed ones (default: open and closed)")
    proposals.add_argument(
        "--limit", type=whole_number(1, 200), metavar="N", help="at most this many, 1 to 200 (default: 50)"
    )
    _member_options(proposals, cmd_proposals)

    proposal = sub.add_parser(
        "proposal",
        help="one proposal in full, with its receipts once closed",
        description="One proposal in full: its change, text, rules, who may vote and who has (never how, "
        "under a secret ballot), the comments, your ballot and receipt; once closed, the result and the "
        f"receipts list, your receipt marked. {CARD_NEEDED}",
    )
    _id_argument(proposal)
    _member_options(proposal, cmd_proposal)

    vote = sub.add_parser(
        "vote",
        help="vote on a proposal (again to change your vote); prints your receipt",
        description="Vote on an open proposal, or change your vote while it is open. A proposal to agree on "
        f"takes one of {', '.join(CHOICES[:-1])} (and {CHOICES[-1]} when it needs consent); a ranked one takes "
        "its options in your order, best first, by number or by label (abstain ranks none). Prints your "
        "receipt: once the proposal closes, its receipts list shows your ballot beside the receipt's hash, so "
        f"you can check it was counted as cast. {CARD_NEEDED}",
        epilog="examples:\n  mutualaid vote 3f2a9c0d1e2b agree\n  mutualaid vote 7c41d09e5a33 2 1 3\n"
        '  mutualaid vote 7c41d09e5a33 "The library" "The church hall"',
    )
    _id_argument(vote)
    vote.add_argument(
        "choice",
        nargs="+",
        metavar="CHOICE",
        help=f"{', '.join(CHOICES)}; for a ranked proposal, its options best first (numbers or labels)",
    )
    _member_options(vote, cmd_vote)

    comment = sub.add_parser(
        "comment",
        help="comment on an open proposal",
        description=f"Add a comment to an open proposal, under your name on the roll. {CARD_NEEDED}",
    )
    _id_argument(comment)
    comment.add_argument(
        "--text", required=True, help="the comment, at most 1000 characters; '-' reads it from standard input"
    )
    _member_options(comment, cmd_comment)

    decisions = sub.add_parser(
        "decisions",
        help="the decisions this node holds: its chapter's and its peers'",
        description="The decisions the node holds, newest first: the signed records of closed proposals, its "
        "own chapter's and those its peers sent. Each shows its number in its chapter's chain, title, outcome, "
        "counts by choice (or first preferences by option), turnout of the electorate, when it closed and "
        "whose it is. Public: no card needed.",
    )
    decisions.add_argument(
        "--limit", type=whole_number(1, MAX_LIMIT), metavar="N", help=f"at most this many, 1 to {MAX_LIMIT} "
        "(default: 50)",
    )  # fmt: skip
    add_node_options(decisions)
    decisions.set_defaults(handler=cmd_decisions)


def _id_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "id", type=proposal_id, metavar="ID", help="the proposal's id, or its first 8 characters or more"
    )


def _member_options(parser: argparse.ArgumentParser, handler: Any) -> None:
    add_card_option(parser)
    add_node_options(parser)
    parser.set_defaults(handler=handler)


def _get(node: str, card: Card, pid: str) -> dict[str, Any]:
    answer = call(node, "GET", f"/api/v1/proposals/{quoted(pid)}", token=card.text, explain=card.explain())
    proposal: dict[str, Any] = answer["proposal"]
    return proposal


# --- how things read ------------------------------------------------------------------------------------


def ballot_text(ballot: dict[str, Any] | None, options: list[str]) -> str:
    if ballot is None:
        return "-"
    if "choice" in ballot:
        return str(ballot["choice"])
    ranking = ballot["ranking"]
    return ", ".join(f"{n}. {options[n - 1]}" for n in ranking) if ranking else ABSTAIN


def counts_text(counts: dict[str, int], options: list[str], winner: int | None = None) -> str:
    """Counts by choice, or a ranked proposal's first preferences by option."""
    if not options:
        return ", ".join(f"{choice} {counts[choice]}" for choice in CHOICES if choice in counts)
    firsts = [f"{n}. {text} {counts.get(f'option-{n}', 0)}" for n, text in enumerate(options, 1)]
    line = "first choices: " + ", ".join(firsts) + f"; abstain {counts.get(ABSTAIN, 0)}"
    return line + (f"; winner {winner}. {options[winner - 1]}" if winner else "")


def _closed_at(p: dict[str, Any]) -> str:
    """When a proposal closed: its time, or when it was due for a node that does not say."""
    return when(p.get("closed_at") or p["closes_at"])


def _result_text(p: dict[str, Any]) -> str:
    result = p["result"] or {}
    counts = counts_text(result.get("counts", {}), p["options"], result.get("winner"))
    quorum = "quorum met" if result.get("quorum_met") else f"quorum of {p['quorum']}% not met"
    return f"{counts}; turnout {result.get('turnout', 0)} of {p['electorate']} ({quorum})"


# --- the commands ---------------------------------------------------------------------------------------


def cmd_proposals(args: argparse.Namespace) -> int:
    card = member_card(args)
    state = "open" if args.open else "closed" if args.closed else None
    path = f"/api/v1/proposals{query_string({'state': state, 'limit': args.limit})}"
    result = call(node_of(args), "GET", path, token=card.text, explain=card.explain())
    lines = []
    for p in result["proposals"]:
        if p["state"] == "open":
            stands, time = "open", f"closes {time_left(p['closes_at'])}"
        else:
            stands, time = (p["result"] or {}).get("outcome", "closed"), f"closed {_closed_at(p)[:10]}"
        voted = f"{p['voted']}/{p['electorate']} voted"
        mine = "you: " + ballot_text(p["my_ballot"], p["options"])
        lines.append(f"{p['id'][:12]}  {stands:9}  {time:18}  {voted:12}  {mine:16}  {p['title']}")
        if p["state"] == "closed" and p["result"]:
            lines.append(f"{'':14}{_result_text(p)}")
    print_answer(args, result, "\n".join(lines) if lines else "no proposals")
    return ExitCode.DONE


def cmd_proposal(args: argparse.Namespace) -> int:
    card = member_card(args)
    p = _get(node_of(args), card, args.id)
    print_answer(args, {"proposal": p}, describe(p))
    return ExitCode.DONE


def describe(p: dict[str, Any]) -> str:
    """One proposal in full, as a member reads it."""
    closed = p["state"] == "closed"
    outcome = (p["result"] or {}).get("outcome", "?")
    stands = f"closed: {outcome}" if closed else f"open, closes {time_left(p['closes_at'])}"
    if closed and p["applied"] and p["applied"] != "none":
        stands += f", applied: {p['applied']}"
    rules = "ranked, instant runoff" if p["method"] == "ranked" else p["threshold"]
    lines = [f"proposal {p['id']} ({stands})", p["title"], f"{p['type']}: {p['summary']}"]
    if p["text"]:
        lines += ["", p["text"], ""]
    lines += [
        f"proposed by {p['proposer']}, opened {when(p['opened_at'])}, "
        + (f"closed {_closed_at(p)}" if closed else f"closes {when(p['closes_at'])}"),
        f"{rules}; quorum {p['quorum']}%; {p['ballot']} ballot",
    ]
    lines += [f"  option {n}: {text}" for n, text in enumerate(p["options"], 1)]
    names = p.get("electorate_names") or []
    voted = [e["name"] for e in names if e["voted"]]
    waiting = [e["name"] for e in names if not e["voted"]]
    lines.append(f"{p['voted']} of {p['electorate']} voted" + (f": {', '.join(voted)}" if voted else ""))
    if waiting and not closed:
        lines.append(f"not yet: {', '.join(waiting)}")
    mine = p["my_ballot"]
    mine_hash = receipt_hash(bytes.fromhex(mine["receipt"])).hex() if mine else None
    if mine:
        lines.append(f"your ballot: {ballot_text(mine, p['options'])} (receipt {mine['receipt']}, hash {mine_hash})")
    if closed:
        lines += ["", f"result: {outcome}; {_result_text(p)}"]
        lines += _receipts(p, mine_hash)
    if p.get("comments"):
        lines += ["", "comments:"]
        lines += [f"  {when(c['at'])}  {c['name']}: {c['text']}" for c in p["comments"]]
    return "\n".join(lines)


def _receipts(p: dict[str, Any], mine_hash: str | None) -> list[str]:
    receipts = p.get("receipts") or []
    lines = [f"receipts (digest {p.get('receipts_digest')}), every ballot counted beside its receipt's hash:"]
    for r in receipts:
        mark = "  <- yours" if r["hash"] == mine_hash else ""
        lines.append(f"  {r['hash']}  {ballot_text(r, p['options'])}{mark}")
    if p.get("open_ballots"):
        lines += ["open ballot, who voted how:"]
        lines += [f"  {b['name']}: {ballot_text(b, p['options'])}" for b in p["open_ballots"]]
    return lines


def ballot_of(p: dict[str, Any], given: list[str]) -> dict[str, Any]:
    """The ballot a member's words make for this proposal; a usage error saying what it takes."""
    if p["method"] != "ranked":
        allowed = p["choices"]
        choice = given[0].strip().lower() if len(given) == 1 else ""
        if choice not in allowed:
            raise CliError(f"this proposal takes one of {', '.join(allowed)}, not {' '.join(given)!r}")
        return {"choice": choice}
    if [g.strip().lower() for g in given] == [ABSTAIN]:
        return {"ranking": []}
    options = p["options"]
    keys = {" ".join(text.casefold().split()): n for n, text in enumerate(options, 1)}
    ranking: list[int] = []
    for word in given:
        number = int(word) if word.strip().isdigit() else keys.get(" ".join(word.casefold().split()), 0)
        if not 1 <= number <= len(options):
            listed = "; ".join(f"{n}. {text}" for n, text in enumerate(options, 1))
            raise CliError(f"{word!r} is none of this proposal's options: {listed} (or abstain)")
        if number in ranking:
            raise CliError(f"option {number} is ranked twice: rank each option once, best first")
        ranking.append(number)
    return {"ranking": ranking}


def cmd_vote(args: argparse.Namespace) -> int:
    node, card = node_of(args), member_card(args)
    p = _get(node, card, args.id)
    ballot = ballot_of(p, args.choice)
    answer = call(node, "POST", f"/api/v1/proposals/{p['id']}/ballots", ballot, token=card.text,
                  explain=card.explain())  # fmt: skip
    changed = " (your earlier vote is replaced)" if answer["changed"] else ""
    lines = [
        f"voted {ballot_text(ballot, p['options'])} on {p['title']!r} ({p['id'][:12]}){changed}",
        f"receipt {answer['receipt']}",
        f"After it closes ({when(p['closes_at'])} at the latest), find it in the receipts list: mutualaid "
        f"proposal {p['id'][:12]} shows every ballot counted beside its receipt's hash, and marks yours "
        f"({answer['receipt_hash']}). Only your card makes this receipt again.",
    ]
    print_answer(args, answer, "\n".join(lines))
    return ExitCode.DONE


def cmd_comment(args: argparse.Namespace) -> int:
    node, card = node_of(args), member_card(args)
    text = sys.stdin.read().rstrip("\n") if args.text == "-" else args.text
    if not text.strip():
        raise CliError("the comment is empty: give --text TEXT")
    path = f"/api/v1/proposals/{quoted(args.id)}/comments"
    answer = call(node, "POST", path, {"text": text}, token=card.text, explain=card.explain())
    print_answer(args, answer, f"commented as {answer['comment']['name']}")
    return ExitCode.DONE


def cmd_decisions(args: argparse.Namespace) -> int:
    node = node_of(args)
    result = call(node, "GET", f"/api/v1/records{query_string({'kind': 'decision', 'limit': args.limit})}")
    print_answer(args, result, "" if args.json else _decisions_text(node, result["records"]))
    return ExitCode.DONE


def _decisions_text(node: str, records: list[dict[str, Any]]) -> str:
    own = call(node, "GET", "/api/v1/node")["public_key"] if records else ""
    peers = peer_names(node) if any(r["author"] != own for r in records) else {}
    blocks = []
    for r in records:
        whose = "this node's chapter" if r["author"] == own else f"peer {peers.get(r['author'], r['author'][:12])}"
        effect = ", ".join(f"{k} {v}" for k, v in (r.get("effect") or {}).items())
        blocks.append(
            f"#{r['seq']}  {r['outcome']}  {r['title']}  ({r['type']}{': ' + effect if effect else ''})\n"
            f"    {counts_text(r['counts'], r.get('options') or [], r.get('winner'))}\n"
            f"    turnout {r['turnout']} of {r['electorate']}; closed {when(r['closed_at'])}; {whose}"
        )
    return "\n".join(blocks) if blocks else "no decisions yet"


def peer_names(node: str) -> dict[str, str]:
    """Peer chapters' names by key, from the node profiles the node holds."""
    profiles = call(node, "GET", f"/api/v1/records{query_string({'kind': 'node', 'limit': MAX_LIMIT})}")
    return {r["author"]: str(r.get("name", "")) or r["author"][:12] for r in profiles["records"]}
