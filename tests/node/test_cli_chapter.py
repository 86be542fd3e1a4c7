# The chapter from the command line, as members use it: real node processes
# started through `mutualaid run` (tests/node/_cli.py), the installed command
# run as a child process. The operator prints a founding sheet, members join
# with its codes, propose, vote (and change their vote), and the decision
# appears among the node's records and changes the node. A proposal closes
# once everyone in its electorate has voted, so a test that needs a decision
# runs its own node (the module's shared one gathers members from every test).
# Every bad input is checked for its exit code and its message.

from __future__ import annotations

import argparse
import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from node.chapter.effects import EFFECTS
from node.chapter.settings import BY_NAME, SETTINGS
from node.cli import build_parser, propose
from node.core.bodies import Body, Variants
from protocol.ballots import CHOICES, THRESHOLDS, receipt_hash
from protocol.records import DECISION_TYPES
from tests._nodes import wait_until
from tests.node._cli import (
    HANG_GUARD_S,
    RUN_FLAGS,
    Running,
    cli,
    cli_env,
    http,
    init,
    modules_loaded,
    run_node,
    start_running,
)

SHEET_LINE = re.compile(
    r"([0-9A-Z]{4}(?:-[0-9A-Z]{4}){2})    valid until (\d{4}-\d\d-\d\d \d\d:\d\d UTC)    join at (http://\S+)"
)
CARD = re.compile(r"card-[0-9A-Z]{5}(?:-[0-9A-Z]{5}){4}")
PROPOSED = re.compile(r"proposed ([0-9a-f]{32}): ")


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[Running]:
    """A node of its own, for a test whose proposals must close (everyone in the electorate votes)."""
    yield from start_running(tmp_path)


# --- helpers: the commands as a member runs them --------------------------------------------------------


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return result.stdout


def sheet(running: Running, count: int, *extra: str) -> list[str]:
    """The operator's founding sheet: ``members invite`` with the admin token from the data directory."""
    out = ok(cli(running.env, "members", "invite", "--count", str(count), "--data-dir", str(running.data_dir),
                 "--node", running.url, *extra))  # fmt: skip
    lines = out.splitlines()
    matches = [SHEET_LINE.fullmatch(line) for line in lines]
    assert all(matches) and len(lines) == count, out
    return [m.group(1) for m in matches if m]


def join(running: Running, code: str, name: str, *extra: str) -> str:
    """``join``; the card it prints (once, and in the page link)."""
    out = ok(cli(running.env, "join", code, "--name", name, "--node", running.url, *extra))
    cards: set[str] = set(CARD.findall(out))
    assert len(cards) == 1, out
    return cards.pop()


def chapter(running: Running, *names: str) -> dict[str, dict[str, str]]:
    """Members of these names, joined from one founding sheet: each one's environment, card in it."""
    codes = sheet(running, len(names))
    return {name: member_env(running, join(running, code, name)) for code, name in zip(codes, names, strict=True)}


def member_env(running: Running, card: str) -> dict[str, str]:
    return running.env | {"MUTUALAID_MEMBER_CARD": card, "MUTUALAID_NODE": running.url}


def propose_id(env: dict[str, str], *args: str) -> str:
    out = ok(cli(env, "propose", *args))
    match = PROPOSED.match(out)
    assert match is not None, out
    return match.group(1)


def as_json(env: dict[str, str], *args: str, stdin: str | None = None) -> Any:
    return json.loads(ok(cli(env, *args, "--json", stdin=stdin)))


def decision(env: dict[str, str], title: str) -> dict[str, Any]:
    """The decision record titled so, once the node holds it (``decisions --json``)."""

    def find() -> dict[str, Any] | None:
        records = as_json(env, "decisions")["records"]
        return next((r for r in records if r["title"] == title), None)

    return wait_until(find, f"the decision {title!r} is published")


def fails(result: subprocess.CompletedProcess[str], code: int, *words: str) -> None:
    """Ended with ``code``, printed nothing on stdout, and said each of ``words`` on stderr."""
    assert (result.returncode, result.stdout) == (code, ""), (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    for word in words:
        assert word in result.stderr, (word, result.stderr)


# --- the whole flow ---------------------------------------------------------------------------------------


def test_a_sheet_three_members_a_proposal_and_its_decision(fresh: Running, tmp_path: Path) -> None:
    codes = sheet(fresh, 3)
    assert len(set(codes)) == 3
    printed = ok(cli(fresh.env, "join", codes[0], "--name", "Ama", "--node", fresh.url))
    card_a = CARD.findall(printed)[0]
    assert "keep it secret" in printed.lower() and "shown this once" in printed
    assert "MUTUALAID_MEMBER_CARD" in printed and "--card-file" in printed
    assert f"{fresh.url}/#/card/{card_a}" in printed
    answer = as_json(fresh.env, "join", codes[1], "--name", "Kofi", "--node", fresh.url)
    card_k = answer["card"]
    assert CARD.fullmatch(card_k) and answer["member"]["name"] == "Kofi"
    qr = tmp_path / "card.svg"
    card_n = join(fresh, codes[2], "Nia", "--qr", str(qr))
    assert "<svg" in qr.read_text() and qr.stat().st_mode & 0o777 == 0o600
    ama, kofi, nia = (member_env(fresh, card) for card in (card_a, card_k, card_n))

    roll = as_json(ama, "members", "list")
    assert sorted(m["name"] for m in roll["members"]) == ["Ama", "Kofi", "Nia"] and roll["founding"] is True
    listed = ok(cli(ama, "members", "list")).splitlines()
    assert listed[0].split() == ["name", "invited", "by", "joined", "status", "organizer"]
    assert any(line.split()[:1] == ["Kofi"] and "active" in line for line in listed)

    pid = propose_id(ama, "--type", "categories", "--title", "A category for pets", "--add", "pets",
                     "--name-en", "Pets", "--name-es", "Mascotas", "--closes-in", "1h")  # fmt: skip
    first = ok(cli(ama, "vote", pid[:12], "agree"))
    assert re.search(r"^receipt [0-9a-f]{32}$", first, re.MULTILINE) and "find it in the receipts list" in first
    ok(cli(kofi, "vote", pid[:8], "disagree"))
    changed = as_json(kofi, "vote", pid, "agree")
    assert changed["changed"] is True and set(changed) == {"receipt", "receipt_hash", "changed"}
    open_now = as_json(nia, "proposals", "--open")["proposals"]
    assert [(p["id"], p["voted"], p["electorate"], p["my_ballot"]) for p in open_now] == [(pid, 2, 3, None)]
    ok(cli(nia, "vote", pid[:12], "abstain"))  # the last of the electorate: the proposal closes

    record = decision(ama, "A category for pets")
    assert record["counts"] == {"agree": 2, "abstain": 1, "disagree": 0}
    assert (record["outcome"], record["turnout"], record["electorate"], record["seq"]) == ("passed", 3, 3, 1)
    assert record["type"] == "categories" and record["author"] == fresh.public_key
    status, node = http("GET", f"{fresh.url}/api/v1/node")
    assert status == 200
    assert {"slug": "pets", "names": {"en": "Pets", "es": "Mascotas"}} in node["categories"]

    shown = ok(cli(ama, "decisions"))
    assert "#1  passed  A category for pets" in shown and "agree 2, abstain 1, disagree 0" in shown
    assert "turnout 3 of 3" in shown and "this node's chapter" in shown
    # Kofi's receipt is in the receipts list beside Kofi's last ballot, and marked as his.
    full = ok(cli(kofi, "proposal", pid[:12]))
    assert f"{changed['receipt_hash']}  agree  <- yours" in full
    assert "result: passed" in full
    closed = ok(cli(kofi, "proposals", "--closed"))
    assert closed.startswith(f"{pid[:12]}  passed") and "you: agree" in closed

    late = cli(nia, "vote", pid[:12], "agree")
    fails(late, 1, "this proposal is closed", "proposal_closed")
    reused = cli(fresh.env, "join", codes[0], "--name", "Someone else", "--node", fresh.url)
    fails(reused, 1, "invite code is not valid", "invalid_invite")


def test_ranked_choice_by_numbers_and_labels(fresh: Running) -> None:
    people = chapter(fresh, "Ama", "Kofi", "Nia", "Tomas")
    ama, kofi, nia, tomas = people.values()
    out = ok(cli(ama, "propose", "--type", "text", "--title", "Where we meet", "--option", "The library",
                 "--option", "The church hall", "--option", "The park"))  # fmt: skip
    pid = PROPOSED.findall(out)[0]
    assert "option 2: The church hall" in out and "rank the options" in out
    ok(cli(ama, "vote", pid[:12], "2", "1"))
    ok(cli(kofi, "vote", pid[:12], "the CHURCH hall", "The park"))  # labels, case aside
    wrong = cli(nia, "vote", pid[:12], "4")
    fails(wrong, 2, "'4' is none of this proposal's options", "1. The library")
    twice = cli(nia, "vote", pid[:12], "1", "The library")
    fails(twice, 2, "option 1 is ranked twice")
    agree = cli(nia, "vote", pid[:12], "agree")
    fails(agree, 2, "'agree' is none of this proposal's options")
    ok(cli(nia, "vote", pid[:12], "3", "1"))
    ok(cli(tomas, "vote", pid[:12], "abstain"))

    record = decision(ama, "Where we meet")
    assert record["options"] == ["The library", "The church hall", "The park"]
    assert record["counts"] == {"option-1": 0, "option-2": 2, "option-3": 1, "abstain": 1}
    assert (record["winner"], record["outcome"], record["turnout"]) == (2, "passed", 4)
    shown = ok(cli(ama, "decisions"))
    assert "first choices: 1. The library 0, 2. The church hall 2, 3. The park 1; abstain 1" in shown
    assert "winner 2. The church hall" in shown
    full = ok(cli(tomas, "proposal", pid[:12]))
    mine = as_json(tomas, "proposal", pid[:12])["proposal"]["my_ballot"]
    assert mine["ranking"] == []
    assert f"{receipt_hash(bytes.fromhex(mine['receipt'])).hex()}  abstain  <- yours" in full


def test_an_organizer_mandate_ends_the_founding_sheet(fresh: Running) -> None:
    people = chapter(fresh, "Ama", "Kofi")
    ama, kofi = people.values()
    pid = propose_id(kofi, "--type", "organizers", "--title", "Ama organizes", "--grant", "ama", "--term-days", "30")
    proposal = as_json(kofi, "proposal", pid)["proposal"]
    assert proposal["member_name"] == "Ama"  # the name resolved to Ama's id on the roll
    assert proposal["effect"]["member"] == next(
        m["id"] for m in as_json(kofi, "members", "list")["members"] if m["name"] == "Ama"
    )
    ok(cli(ama, "vote", pid[:12], "agree"))
    ok(cli(kofi, "vote", pid[:12], "agree"))
    record = decision(ama, "An organizer mandate granted")  # a decision about a member travels under a plain title
    assert record["outcome"] == "passed" and "member" not in record.get("effect", {})
    fields = {k: v for k, v in record.items() if k not in ("signature", "signed")}  # (random letters there)
    assert record["proposal"] == pid and "Ama" not in json.dumps(fields)
    me = as_json(ama, "members", "me")
    assert me["mandate"] is not None and me["founding"] is False
    assert "organizer mandate until" in ok(cli(ama, "members", "me"))
    roll = ok(cli(kofi, "members", "list"))
    assert any(line.split()[0] == "Ama" and line.endswith("yes") for line in roll.splitlines()[1:] if line)

    founding_over = cli(fresh.env, "members", "invite", "--data-dir", str(fresh.data_dir), "--node", fresh.url)
    fails(founding_over, 1, "the founding period is over", "members invite each other now")
    by_member = as_json(kofi, "members", "invite", "--count", "2")
    assert len(by_member["invites"]) == 2 and set(by_member["invites"][0]) == {"code", "expires_at"}
    over_quota = cli(kofi, "members", "invite", "--count", "2")
    fails(over_quota, 1, "invite_quota")


def test_a_peers_decision_is_listed_as_the_peers(fresh: Running, tmp_path: Path) -> None:
    (solo,) = chapter(fresh, "Solo").values()
    pid = propose_id(solo, "--type", "text", "--title", "Meet on Sundays")
    ok(cli(solo, "vote", pid[:12], "agree"))
    assert decision(solo, "Meet on Sundays")["author"] == fresh.public_key
    env = cli_env(tmp_path / "b")
    init(env, tmp_path / "b" / "node", "--name", "Hillside pantry")
    args = ("--data-dir", str(tmp_path / "b" / "node"), *RUN_FLAGS, "--peer", fresh.url)
    with run_node(env, tmp_path / "b.log", *args) as b:
        env_b = env | {"MUTUALAID_NODE": b.url}
        held = decision(env_b, "Meet on Sundays")  # sent by the peer, checked and stored
        assert held["author"] == fresh.public_key and held["counts"] == {"agree": 1, "abstain": 0, "disagree": 0}
        shown = ok(cli(env_b, "decisions"))
        assert "#1  passed  Meet on Sundays  (text)" in shown and "; peer Riverside pantry" in shown
        assert "this node's chapter" not in shown
        assert b.stop(HANG_GUARD_S) == 0, b.log_text()


# --- on the module's shared node -------------------------------------------------------------------------


def test_settings_and_the_json_shapes(running: Running) -> None:
    people = chapter(running, "Shapes A", "Shapes B")
    a, b = people.values()
    codes = as_json(running.env, "members", "invite", "--data-dir", str(running.data_dir), "--node", running.url,
                    "--count", "2", "--days", "3")["invites"]  # fmt: skip
    assert [set(i) for i in codes] == [{"code", "expires_at"}] * 2
    joined = as_json(running.env, "join", codes[0]["code"], "--name", "Shapes C", "--node", running.url)
    assert set(joined) == {"card", "member"} and joined["member"]["invited_by"] is None
    assert set(as_json(a, "members", "list")) == {"members", "founding"}
    assert {"member", "mandate", "invites_left", "founding"} <= set(as_json(a, "members", "me"))

    made = as_json(a, "propose", "--type", "settings", "--title", "Shorter votes", "--invite-quota", "5",
                   "--default-closes-in", "2d", "--default-threshold", "two_thirds", "--open-ballot",
                   "--quorum", "60", "--threshold", "consent", "--text", "Two days is enough")["proposal"]  # fmt: skip
    assert made["effect"] == {"invite_quota": 5, "closes_in_minutes": 2880, "threshold": "two_thirds"}
    assert (made["ballot"], made["quorum"], made["threshold"], made["text"]) == ("open", 60, "consent",
                                                                                "Two days is enough")  # fmt: skip
    assert made["choices"] == list(CHOICES)  # consent adds block
    listed = as_json(b, "proposals")["proposals"]
    assert made["id"] in [p["id"] for p in listed]
    one = as_json(b, "proposal", made["id"][:12])["proposal"]
    assert one["id"] == made["id"] and "electorate_names" in one
    vote = as_json(b, "vote", made["id"][:12], "block")
    assert set(vote) == {"receipt", "receipt_hash", "changed"} and vote["changed"] is False
    said = as_json(b, "comment", made["id"][:12], "--text", "Two days is short for some of us")
    assert said["comment"]["name"] == "Shapes B"
    assert "Two days is short for some of us" in ok(cli(a, "proposal", made["id"][:12]))
    decisions = as_json(a, "decisions")
    assert set(decisions) == {"records", "next"}
    assert all(r["kind"] == "decision" for r in decisions["records"])
    log = as_json(a, "members", "log")
    assert set(log) == {"entries"}


def test_a_member_named_is_resolved_on_the_roll(running: Running) -> None:
    people = chapter(running, "Roll A", "Roll  B")  # the node keeps names with single spaces
    a, b = people.values()
    unknown = cli(a, "propose", "--type", "organizers", "--title", "x", "--grant", "Nobody Here")
    fails(unknown, 1, "no member goes by 'Nobody Here' on the roll", "members list")
    made = as_json(a, "propose", "--type", "member", "--title", "Retire a card", "--retire-member", "roll b")
    assert made["proposal"]["member_name"] == "Roll B"
    ok(cli(b, "members", "leave", "--yes"))
    gone = cli(a, "propose", "--type", "organizers", "--title", "x", "--revoke", "Roll B")
    fails(gone, 1, "Roll B is no longer a member (left)")
    left = cli(b, "members", "me")
    fails(left, 1, "the node refused the member card from $MUTUALAID_MEMBER_CARD", "card_invalid")


def test_leave_and_new_card_ask_first(running: Running, tmp_path: Path) -> None:
    people = chapter(running, "Asked A")
    (a,) = people.values()
    declined = cli(a, "members", "leave", stdin="n\n")
    fails(declined, 1, "Leave the chapter as Asked A?", "nothing changed")
    assert as_json(a, "members", "me")["member"]["status"] == "active"
    card_file = tmp_path / "card"
    card_file.write_text(a["MUTUALAID_MEMBER_CARD"] + "\n")
    card_file.chmod(0o600)
    env = {k: v for k, v in a.items() if k != "MUTUALAID_MEMBER_CARD"}
    qr = tmp_path / "new.svg"
    replaced = cli(env, "members", "new-card", "--card-file", str(card_file), "--qr", str(qr), stdin="y\n")
    new_card = CARD.findall(ok(replaced))[0]
    assert new_card != a["MUTUALAID_MEMBER_CARD"] and f"put the new one in {card_file}" in replaced.stdout
    assert qr.stat().st_mode & 0o777 == 0o600
    fails(cli(env, "members", "me", "--card-file", str(card_file)), 1, f"member card from {card_file}")
    card_file.write_text(new_card)
    assert as_json(env, "members", "me", "--card-file", str(card_file))["member"]["name"] == "Asked A"
    piped = as_json(env, "members", "me", "--card-file", "-", stdin=new_card)
    assert piped["member"]["name"] == "Asked A"


def test_the_qr_file_is_ready_before_a_card_is_made(running: Running, tmp_path: Path) -> None:
    (code,) = sheet(running, 1)
    nowhere = tmp_path / "no such directory" / "card.svg"
    missing = cli(running.env, "join", code, "--name", "QR A", "--qr", str(nowhere), "--node", running.url)
    fails(missing, 2, f"--qr: cannot write in {nowhere.parent}")
    earlier = tmp_path / "card.svg"
    earlier.write_text("an earlier card's code")
    refused = cli(running.env, "join", "AAAAA-AAAAA", "--name", "QR A", "--qr", str(earlier), "--node", running.url)
    fails(refused, 1, "invalid_invite")
    assert earlier.read_text() == "an earlier card's code"  # no card made: the file is as it was
    assert sorted(p.name for p in tmp_path.iterdir()) == ["card.svg"]  # and nothing beside it
    join(running, code, "QR A", "--qr", str(earlier))  # the code was never sent: still good
    assert "<svg" in earlier.read_text() and earlier.stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["card.svg"]


# --- bad input: each with its exit code and message -------------------------------------------------------


@pytest.mark.parametrize("given", ["5x", "30", "1h1d", "0m", "31d", "", "-1h", "2 weeks"])
@pytest.mark.parametrize("flag", ["--closes-in", "--default-closes-in"])
def test_a_bad_duration_is_bad_usage_naming_the_option(running: Running, flag: str, given: str) -> None:
    env = running.env | {"MUTUALAID_MEMBER_CARD": "card-00000-00000-00000-00000-00000"}
    result = cli(env, "propose", "--type", "settings", "--title", "x", f"{flag}={given}", "--node", running.url)
    fails(result, 2, f"argument {flag}: {given!r} is ")
    assert "out of range: from 1m to 30d" in result.stderr or "such as 30m, 2h, 7d or 1d12h" in result.stderr


@pytest.mark.parametrize(
    "command",
    [
        ("members", "list"),
        ("members", "me"),
        ("members", "leave", "--yes"),
        ("members", "log"),
        ("propose", "--type", "text", "--title", "x"),
        ("proposals",),
        ("proposal", "0123456789ab"),
        ("vote", "0123456789ab", "agree"),
        ("comment", "0123456789ab", "--text", "hello"),
    ],
    ids=lambda c: " ".join(c[:2]),
)
def test_a_missing_card_is_bad_usage_saying_how_to_give_it(running: Running, command: tuple[str, ...]) -> None:
    result = cli(running.env, *command, "--node", running.url)
    fails(result, 2, "acts as a member and needs your member card", "MUTUALAID_MEMBER_CARD=card-", "--card-file")
    empty = cli(running.env | {"MUTUALAID_MEMBER_CARD": "  "}, *command, "--node", running.url)
    fails(empty, 2, "$MUTUALAID_MEMBER_CARD is not set")


def test_a_card_is_never_an_argument(running: Running) -> None:
    card = "card-00000-00000-00000-00000-00000"
    for flag in ("--card", "--card-f"):  # no abbreviation of --card-file either
        fails(cli(running.env, "members", "list", flag, card, "--node", running.url), 2, "unrecognized arguments")
    as_file = cli(running.env, "members", "list", "--card-file", card, "--node", running.url)
    fails(as_file, 2, "--card-file takes a file holding your card, not the card", "MUTUALAID_MEMBER_CARD")
    assert card not in as_file.stderr


def test_a_bad_card_is_the_nodes_refusal_and_is_never_printed(running: Running, tmp_path: Path) -> None:
    bad = "card-ZZZZZ-ZZZZZ-ZZZZZ-ZZZZZ-ZZZZZ"
    for env in (running.env | {"MUTUALAID_MEMBER_CARD": bad}, running.env | {"MUTUALAID_MEMBER_CARD": "nonsense"}):
        result = cli(env, "proposals", "--node", running.url)
        fails(result, 1, "the node refused the member card from $MUTUALAID_MEMBER_CARD", "card_invalid")
        assert bad not in result.stderr
    missing = cli(running.env, "proposals", "--card-file", str(tmp_path / "none"), "--node", running.url)
    fails(missing, 2, f"--card-file: cannot read {tmp_path / 'none'}")
    shared = tmp_path / "shared"
    shared.write_text(bad)
    shared.chmod(0o644)
    warned = cli(running.env, "proposals", "--card-file", str(shared), "--node", running.url)
    fails(warned, 1, f"warning: others can read {shared}", "chmod 600", f"member card from {shared}")


def test_proposal_options_that_do_not_fit_are_bad_usage(running: Running) -> None:
    env = running.env | {"MUTUALAID_MEMBER_CARD": "card-00000-00000-00000-00000-00000", "MUTUALAID_NODE": running.url}
    cases = [
        (("--type", "organizers", "--add", "pets"), "--add is for --type categories, not --type organizers"),
        (("--type", "categories", "--add", "pets"), "--add needs --name-en NAME and --name-es NAME"),
        (("--type", "categories"), "--type categories needs one of --add SLUG, --retire SLUG or --rename SLUG"),
        (("--type", "categories", "--add", "a", "--retire", "b"), "--type categories takes one of"),
        (("--type", "categories", "--retire", "food", "--name-en", "F"), "--name-en does not go with --retire"),
        (("--type", "organizers", "--revoke", "x", "--term-days", "3"), "--term-days does not go with --revoke"),
        (("--type", "peering", "--start", "http://10.0.0.2:8440"), "--start needs --key KEY"),
        (("--type", "settings",), "--type settings needs at least one of --invite-quota"),
        (("--type", "text", "--option", "only one"), "a ranked proposal has 2 to 10 options"),
        (("--type", "member", "--option", "a", "--option", "b"), "--option is for --type text"),
        (("--type", "settings", "--invite-quota", "51"), "argument --invite-quota: '51' is not a whole number"),
        (("--type", "settings", "--default-threshold", "most"), "argument --default-threshold: invalid choice"),
        (("--type", "texts",), "argument --type: invalid choice"),
        (("--type", "text", "--quorum", "101"), "argument --quorum: '101' is not a whole number from 0 to 100"),
    ]  # fmt: skip
    for args, message in cases:
        fails(cli(env, "propose", "--title", "x", *args), 2, message)


def test_a_quorum_under_the_chapters_and_a_category_it_has_are_refused(running: Running) -> None:
    (a,) = chapter(running, "Refused A").values()
    low = cli(a, "propose", "--type", "text", "--title", "x", "--quorum", "10")
    fails(low, 1, "the chapter asks a quorum of at least 50%", "not_applicable")
    known = cli(a, "propose", "--type", "categories", "--title", "x", "--add", "food", "--name-en", "F",
                "--name-es", "C")  # fmt: skip
    fails(known, 1, "the chapter already has the category food")


def test_bad_votes_and_ids(running: Running) -> None:
    (a,) = chapter(running, "Voter A").values()
    pid = propose_id(a, "--type", "text", "--title", "Bad votes")
    fails(cli(a, "vote", pid[:12], "yes"), 2, "this proposal takes one of agree, abstain, disagree, not 'yes'")
    fails(cli(a, "vote", pid[:12], "agree", "disagree"), 2, "takes one of")
    fails(cli(a, "vote", pid[:12], "block"), 2, "takes one of agree, abstain, disagree")
    fails(cli(a, "vote", "xyz", "agree"), 2, "argument ID: 'xyz' is not a proposal's id")
    fails(cli(a, "vote", "0" * 12, "agree"), 1, "no such proposal", "not_found")
    fails(cli(a, "comment", pid[:12], "--text", " "), 2, "the comment is empty")


def test_an_unreachable_node_exits_3(running: Running) -> None:
    env = running.env | {"MUTUALAID_MEMBER_CARD": "card-00000-00000-00000-00000-00000"}
    for command in (("proposals",), ("decisions",), ("join", "AAAAA-BBBBB", "--name", "x"), ("members", "me")):
        fails(cli(env, *command, "--node", "http://127.0.0.1:1"), 3, "cannot reach the node at http://127.0.0.1:1")


def test_the_operators_sheet_needs_the_nodes_admin_token(running: Running, tmp_path: Path) -> None:
    missing = cli(running.env, "members", "invite", "--data-dir", str(tmp_path / "none"), "--node", running.url)
    fails(missing, 2, "reads the admin token from the node's data directory", "--data-dir DIR")
    other = tmp_path / "other"
    other.mkdir(mode=0o700)
    (other / "admin.token").write_text("not-this-nodes-token\n")
    (other / "admin.token").chmod(0o600)
    wrong = cli(running.env, "members", "invite", "--data-dir", str(other), "--node", running.url)
    fails(wrong, 1, f"the admin token in {other} is not the one of the node at {running.url}")
    too_many = cli(running.env, "members", "invite", "--count", "51", "--data-dir", str(running.data_dir))
    fails(too_many, 2, "argument --count: '51' is not a whole number from 1 to 50")
    # A card in the environment makes the member's invites; --operator makes the sheet all the same.
    (a,) = chapter(running, "Operator A").values()
    codes = as_json(a, "members", "invite", "--operator", "--count", "4", "--data-dir", str(running.data_dir))
    assert len(codes["invites"]) == 4  # over a member's quota: the operator's sheet


# --- in process: the options are the data's -----------------------------------------------------------------


def test_every_effect_has_its_options_and_every_option_its_effect() -> None:
    for kind in DECISION_TYPES:
        effect = EFFECTS[kind]
        options = [o for o in propose.EFFECT_OPTIONS if o.kind == kind]
        if effect is None:
            assert options == [] and kind not in propose.ACTIONS, kind
        elif isinstance(effect, Variants):
            assert set(propose.ACTIONS[kind]) == set(effect.bodies), kind
            for action, body in effect.bodies.items():
                chosen = [o for o in options if o.action == action]
                assert len(chosen) == 1, (kind, action)
                required, allowed = propose.ACTIONS[kind][action]
                fields = {name: f for name, f in body.fields.items() if name != "action"}
                assert set(fields) == {chosen[0].field, *required, *allowed}, (kind, action)
                assert all(fields[name].required for name in (chosen[0].field, *required)), (kind, action)
                assert not any(fields[name].required for name in allowed), (kind, action)
                assert chosen[0].member == (chosen[0].field == "member")
        else:
            assert isinstance(effect, Body) and kind == "settings" and kind not in propose.ACTIONS
            assert [o.field for o in options] == list(effect.fields) == [s.name for s in SETTINGS]
    for option in propose.EFFECT_OPTIONS:
        if option.action is None and option.kind != "settings":
            assert any(option.field in r + a for r, a in propose.ACTIONS[option.kind].values()), option.flag


def test_the_choices_are_the_protocols_and_the_settings() -> None:
    commands = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)).choices
    by_dest = {a.dest: a for a in commands["propose"]._actions}
    assert list(by_dest["type"].choices or []) == list(DECISION_TYPES)
    assert list(by_dest["threshold"].choices or []) == list(THRESHOLDS)
    assert list(by_dest["effect_default_threshold"].choices or []) == list(BY_NAME["threshold"].choices)
    for setting in SETTINGS:
        option = next(o for o in propose.EFFECT_OPTIONS if o.kind == "settings" and o.field == setting.name)
        assert f"the {setting.name} setting" in option.help and "the chapter starts with" in option.help


@pytest.mark.parametrize(
    ("text", "minutes"), [("30m", 30), ("1h", 60), ("7d", 10080), ("1d12h", 2160), ("2h30m", 150), ("30d", 43200)]
)
def test_durations(text: str, minutes: int) -> None:
    assert propose.CLOSES_IN(text) == minutes
    assert propose.CLOSES_IN(propose.minutes_text(minutes)) == minutes


def test_the_command_line_loads_no_aiohttp(tmp_path: Path) -> None:
    """Every chapter command runs (to its usage error, or an unreachable node) without loading aiohttp."""
    commands = [[], ["members", "list"], ["propose", "--type", "text", "--title", "x"], ["proposals"],
                ["vote", "0123456789ab", "agree"], ["decisions"], ["join", "AAAAA-BBBBB", "--name", "x"],
                ["members", "invite", "--data-dir", "/nonexistent"]]  # fmt: skip
    assert modules_loaded(tmp_path, commands, ("aiohttp", "segno")) == []
