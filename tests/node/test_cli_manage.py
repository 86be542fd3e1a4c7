# A member managing their own post from a terminal, against a real node
# process: show, mark, withdraw (asks first), edit, renew and flag, each named
# by the id `search` prints (12 characters) or any start of 8 or more; the
# manage token from --token or MUTUALAID_MANAGE_TOKEN; a final status asks
# unless --yes, and a "no" changes nothing. What each did is checked over
# plain HTTP, never through the CLI itself.

from __future__ import annotations

import json
import re
import time

from tests.node._cli import MA1, Running, cli, http, post_need, record
from tests.node._support import DAY, parse_iso_z


def search_line_id(running: Running, title: str) -> str:
    """The id as `search` shows it to a person: the first column of the post's line."""
    result = cli(running.env, "search", "--text", title, "--node", running.url)
    assert result.returncode == 0, result.stderr
    rows = [line.split()[0] for line in result.stdout.splitlines()[1:] if line.endswith(title)]
    assert len(rows) == 1, result.stdout
    assert len(rows[0]) == 12
    return rows[0]


def manage(running: Running, token: str, *args: str, stdin: str | None = None) -> tuple[int, str, str]:
    result = cli(running.env, *args, f"--token={token}", "--node", running.url, stdin=stdin)
    return result.returncode, result.stdout, result.stderr


def test_the_id_search_shows_works_wherever_a_post_is_named(running: Running) -> None:
    record_id, token = post_need(running.env, running.url, "Folding table for the street party")
    short = search_line_id(running, "Folding table for the street party")
    assert record_id.startswith(short)
    shown = cli(running.env, "show", short, "--node", running.url, "--json")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["id"] == record_id
    sent = cli(running.env, "reply", short, "--message", "Mine folds", "--contact", "", "--node", running.url)
    assert sent.returncode == 0, sent.stderr
    code, out, err = manage(running, token, "replies", short[:8])
    assert (code, err) == (0, "") and "Mine folds" in out
    code, out, err = manage(running, token, "mark", short.upper(), "claimed")  # as a person might copy it
    assert code == 0, err
    assert record(running.url, short)["status"] == "claimed"


def test_show_prints_one_post_as_a_person_reads_it(running: Running) -> None:
    record_id, _ = post_need(running.env, running.url, "Ramp for a wheelchair", "--details", "Two steps\nat the door",
                             "--tag", "access", "--urgency", "high", "--quantity", "1", "--language", "es")  # fmt: skip
    result = cli(running.env, "show", record_id[:8], "--node", running.url)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[:3] == [
        f"need {record_id}",
        "Ramp for a wheelchair",
        "status open, category food, area u4pru, urgency high, quantity 1, tags access, languages es",
    ]
    assert "Two steps\nat the door" in result.stdout
    node_line = lines[-1]
    assert node_line.startswith("through node ma1") and MA1.fullmatch(node_line.split()[-1])
    as_json = cli(running.env, "show", record_id, "--node", running.url, "--json")
    assert json.loads(as_json.stdout) == record(running.url, record_id)


def test_an_id_that_is_not_one_is_bad_usage_and_an_unknown_one_a_refusal(running: Running) -> None:
    for bad in ("1234567", "not-an-id", "g" * 12, "a" * 65):
        result = cli(running.env, "show", bad, "--node", running.url)
        assert result.returncode == 2, bad
        assert "is not a post's id" in result.stderr and "first 8 or more" in result.stderr
        assert "Traceback" not in result.stderr
    ids = {r["id"] for r in http("GET", f"{running.url}/api/v1/records?limit=500")[1]["records"]}
    unknown = next(p for p in (f"{n:08x}" for n in range(1000)) if not any(i.startswith(p) for i in ids))
    result = cli(running.env, "show", unknown, "--node", running.url)
    assert result.returncode == 1
    assert f"no live record has an id starting with {unknown}" in result.stderr


def test_mark_sets_the_status_and_prints_the_new_id(running: Running) -> None:
    record_id, token = post_need(running.env, running.url, "Help moving a sofa")
    code, out, err = manage(running, token, "mark", record_id[:12], "claimed")
    assert code == 0, err
    first, second = out.splitlines()
    new_id = re.fullmatch(r"its id is now ([0-9a-f]{64}) \(a change makes a new version.*", second)
    assert new_id is not None, second
    assert new_id.group(1) != record_id
    assert first == f'need "Help moving a sofa" ({new_id.group(1)[:12]}) is now claimed'
    assert record(running.url, new_id.group(1))["status"] == "claimed"
    # The first id still names the post on its own node.
    code, out, err = manage(running, token, "mark", record_id[:12], "open", "--json")
    assert code == 0, err
    assert json.loads(out)["record"]["status"] == "open"


def test_a_final_status_asks_first_and_no_changes_nothing(running: Running) -> None:
    record_id, token = post_need(running.env, running.url, "Spare cot for a baby")
    for answer in ("n\n", "", "maybe\n"):
        code, out, err = manage(running, token, "mark", record_id[:8], "fulfilled", stdin=answer)
        assert (code, out) == (1, ""), err
        assert 'Mark need "Spare cot for a baby"' in err and "Fulfilled is final" in err and "[y/N]" in err
        assert "nothing changed" in err
        assert record(running.url, record_id)["status"] == "open"
    code, out, err = manage(running, token, "mark", record_id[:8], "fulfilled", stdin="y\n")
    assert code == 0, err
    assert "is now fulfilled" in out
    assert record(running.url, record_id)["status"] == "fulfilled"
    code, out, err = manage(running, token, "mark", record_id[:8], "open")
    assert (code, out) == (1, "")
    assert "closed" in err and "final" in err


def test_withdraw_asks_unless_yes(running: Running) -> None:
    record_id, token = post_need(running.env, running.url, "Lift to the food bank")
    code, _, err = manage(running, token, "withdraw", record_id[:8], stdin="no\n")
    assert code == 1 and "Withdrawn is final" in err
    assert record(running.url, record_id)["status"] == "open"
    code, out, err = manage(running, token, "withdraw", record_id[:8], "--yes")
    assert (code, err) == (0, "")  # no question asked
    assert "is now withdrawn" in out
    assert record(running.url, record_id)["status"] == "withdrawn"
    code, _, err = manage(running, token, "withdraw", record_id[:8], "--yes")
    assert code == 1 and "withdrawn" in err


def test_edit_changes_and_clears_fields(running: Running) -> None:
    record_id, token = post_need(running.env, running.url, "Paint for the community hall", "--details", "Any colour",
                                 "--urgency", "high", "--needed-by", "2031-05-01")  # fmt: skip
    code, out, err = manage(running, token, "edit", record_id[:8], "--title", "White paint for the hall",
                            "--tag", "paint", "--tag", "diy", "--clear", "details", "--clear", "needed-by")  # fmt: skip
    assert code == 0, err
    assert out.startswith('need "White paint for the hall"') and "edited" in out
    now = record(running.url, record_id)
    assert now["title"] == "White paint for the hall"
    assert now["tags"] == ["paint", "diy"]
    assert "details" not in now and "needed_by" not in now
    assert now["urgency"] == "high"  # left as it was
    code, _, err = manage(running, token, "edit", record_id[:8])
    assert code == 2 and "nothing to change" in err
    code, _, err = manage(running, token, "edit", record_id[:8], "--details", "x", "--clear", "details")
    assert code == 2 and "--clear details" in err
    code, _, err = manage(running, token, "edit", record_id[:8], "--clear", "title")
    assert code == 2 and "invalid choice" in err
    code, _, err = manage(running, token, "edit", record_id[:8], "--category", "paint")
    assert code == 1 and "category must be one of food" in err
    assert record(running.url, record_id)["category"] == "food"


def test_renew_sets_the_expiry_from_now(running: Running) -> None:
    record_id, token = post_need(running.env, running.url, "Seedlings for the allotment", "--expires-in-days", "3")
    before = int(time.time())
    code, out, err = manage(running, token, "renew", record_id[:8], "--days", "60")
    after = int(time.time())
    assert code == 0, err
    expires = parse_iso_z(record(running.url, record_id)["expires_at"])
    assert before + 60 * DAY <= expires <= after + 60 * DAY
    assert f"renewed: it expires {record(running.url, record_id)['expires_at']}" in out
    code, _, err = manage(running, token, "renew", record_id[:8])  # the default lifetime
    assert code == 0, err
    expires = parse_iso_z(record(running.url, record_id)["expires_at"])
    assert before + 30 * DAY <= expires <= int(time.time()) + 30 * DAY
    code, _, err = manage(running, token, "renew", record_id[:8], "--days", "91")
    assert code == 2 and "from 1 to 90" in err


def test_the_manage_commands_need_the_posts_token(running: Running) -> None:
    record_id, token = post_need(running.env, running.url, "Ladder, two weeks")
    for command in (["mark", record_id[:8], "claimed"], ["withdraw", record_id[:8], "--yes"],
                    ["edit", record_id[:8], "--title", "x"], ["renew", record_id[:8]]):  # fmt: skip
        missing = cli(running.env, *command, "--node", running.url)
        assert missing.returncode == 2 and "needs the post's manage token" in missing.stderr, command
        wrong = cli(running.env, *command, "--token=-wrong", "--node", running.url)
        assert wrong.returncode == 1 and "forbidden" in wrong.stderr, command
    assert record(running.url, record_id)["status"] == "open"
    by_env = cli(running.env | {"MUTUALAID_MANAGE_TOKEN": token}, "mark", record_id[:8], "claimed",
                 "--node", running.url)  # fmt: skip
    assert by_env.returncode == 0, by_env.stderr
    assert record(running.url, record_id)["status"] == "claimed"


def test_a_give_back_prints_the_linked_offer_managed_with_the_same_token(running: Running) -> None:
    result = cli(running.env, "post", "need", "--title", "Winter coat, child size 8", "--category", "clothing",
                 "--area", "u4pru", "--give-back", "I can mend clothes", "--node", running.url)  # fmt: skip
    assert result.returncode == 0, result.stderr
    match = re.fullmatch(
        r"posted need ([0-9a-f]{64})\n"
        r"linked offer ([0-9a-f]{64}) \(what you give back; managed with the same token\)\n"
        r"manage token \(keep it private, shown once\): (\S+)\n",
        result.stdout,
    )
    assert match is not None, result.stdout
    need_id, offer_id, token = match.groups()
    offer = record(running.url, offer_id)
    assert (offer["kind"], offer["details"], offer["tags"]) == ("offer", "I can mend clothes", ["give-back"])
    code, _, err = manage(running, token, "mark", offer_id[:8], "claimed")
    assert code == 0, err
    assert record(running.url, offer_id)["status"] == "claimed"
    assert record(running.url, need_id)["status"] == "open"
    refused = cli(running.env, "post", "offer", "--title", "x", "--category", "other", "--area", "u4",
                  "--give-back", "y", "--node", running.url)  # fmt: skip
    assert refused.returncode == 2 and "--give-back is for needs" in refused.stderr


def test_flag_reaches_the_nodes_organizers(running: Running) -> None:
    record_id, _ = post_need(running.env, running.url, "Cheap watches, DM me")
    result = cli(running.env, "flag", record_id[:8], "--reason", "spam", "--note", "an advert", "--node", running.url)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "flagged (spam): this node's organizers will see it\n"
    admin = (running.data_dir / "admin.token").read_text().strip()
    status, flags = http("GET", f"{running.url}/api/v1/organizer/flags", token=admin)
    assert status == 200
    mine = [f for f in flags["flags"] if f["record_id"] == record_id]
    assert [(f["reason"], f["note"]) for f in mine] == [("spam", "an advert")]
    bad = cli(running.env, "flag", record_id[:8], "--reason", "rude", "--node", running.url)
    assert bad.returncode == 2 and "invalid choice" in bad.stderr
