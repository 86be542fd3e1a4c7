"""``mutualaid organizer`` (issue 12: organizer commands for a headless node) against a
real node: the founding period's admin token from ``--data-dir``, then a member card
without a mandate refused; flags read and dismissed, a post removed and listed, the
needs nobody answered; bad usage told before anything is sent."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from node.members.terms import MAX_REASON_CHARS
from tests.node._cli import Running, cli, http, post_need, start_running
from tests.node.test_cli_chapter import join, member_env, sheet


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[Running]:
    yield from start_running(tmp_path)


def test_flags_removals_and_the_unanswered_from_a_terminal(fresh: Running) -> None:
    env, url, as_operator = fresh.env, fresh.url, ("--data-dir", str(fresh.data_dir), "--node", fresh.url)
    flagged, _ = post_need(env, url, "Free puppies, call this number")
    waiting, _ = post_need(env, url, "A ride to the clinic on Tuesday")
    for _ in range(2):
        assert http("POST", f"{url}/api/v1/records/{flagged}/flags", {"reason": "personal_info"})[0] == 201

    def organizer(*args: str) -> str:
        result = cli(env, "organizer", *args, *as_operator)
        assert result.returncode == 0, result.stderr
        return result.stdout

    listed = json.loads(organizer("flags", "--json"))["flags"]
    assert {(f["record_id"], f["count"], f["reason"]) for f in listed} == {(flagged, 2, "personal_info")}
    assert organizer("flags").count(f"{flagged[:12]}  2 flag(s)") == 1  # one line a post
    unanswered = organizer("unanswered")
    assert waiting[:12] in unanswered and "A ride to the clinic" in unanswered
    assert organizer("dismiss", flagged[:8], "--reason", "the number is a shelter's") == (
        f"dismissed 2 flag(s) on {flagged[:12]}\n"
    )
    assert organizer("flags") == "no flags\n"
    assert organizer("remove", flagged[:10], "--reason", "animals are not a need here") == (
        f"removed {flagged[:12]}: animals are not a need here\n"
    )
    assert http("GET", f"{url}/api/v1/records/{flagged}")[0] in (404, 410)
    (removal,) = json.loads(organizer("removals", "--json"))["removals"]
    assert removal["record_id"] == flagged and removal["reason"] == "animals are not a need here"
    # Removing it again is the node's plain refusal.
    again = cli(env, "organizer", "remove", flagged, "--reason", "twice", *as_operator)
    assert again.returncode == 1 and "Traceback" not in again.stderr


def test_who_may_act_and_bad_usage(fresh: Running) -> None:
    env, url = fresh.env, fresh.url
    record_id, _ = post_need(env, url, "Winter boots, size 40")
    (code,) = sheet(fresh, 1)
    card = join(fresh, code, "Ama")
    # A member without a mandate: refused by the node, whatever the founding period allows the operator.
    refused = cli(member_env(fresh, card), "organizer", "flags")
    assert refused.returncode == 1 and "mandate" in refused.stderr, refused.stderr
    # Neither a card nor a data directory with the admin token.
    nowhere = cli(env, "organizer", "flags", "--node", url, "--data-dir", str(fresh.data_dir.parent / "none"))
    assert nowhere.returncode == 2 and "member card" in nowhere.stderr
    too_long = "x" * (MAX_REASON_CHARS + 1)
    for args in (("remove", record_id), ("remove", record_id, "--reason", " "),
                 ("remove", record_id, "--reason", too_long), ("flags", "--limit", "0")):  # fmt: skip
        result = cli(env, "organizer", *args, "--data-dir", str(fresh.data_dir), "--node", url)
        assert result.returncode == 2 and result.stdout == "" and "Traceback" not in result.stderr, result
    assert http("GET", f"{url}/api/v1/records/{record_id}")[0] == 200  # nothing was removed
