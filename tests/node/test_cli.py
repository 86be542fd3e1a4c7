# The `mutualaid` command as a user runs it: real processes started through
# the installed console script, nodes listening on 127.0.0.1 port 0 over data
# directories in tmp_path, stopped with SIGTERM or SIGKILL. The only time
# limits are guards against a hang (a healthy start takes well under a second).

from __future__ import annotations

import json
import re
import signal
import socket
import threading
import tomllib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.node._cli import (
    HANG_GUARD_S,
    MA1,
    RUN_FLAGS,
    Running,
    cli,
    cli_env,
    http,
    init,
    post_need,
    run_node,
    search_ids,
    status_json,
)
from tests.node._support import HEX64, need

# --- init -----------------------------------------------------------------------------------------------


def test_init_creates_private_files_and_keeps_its_identity(tmp_path: Path) -> None:
    env = cli_env(tmp_path)
    data_dir = tmp_path / "node"
    first = init(env, data_dir)
    assert first["created"] is True
    assert HEX64.match(first["public_key"])
    assert MA1.fullmatch(first["key"])
    assert Path(first["data_dir"]) == data_dir
    for name in ("identity.key", "admin.token", "config.toml"):
        assert (data_dir / name).stat().st_mode & 0o777 == 0o600, name
    assert data_dir.stat().st_mode & 0o777 == 0o700
    config = tomllib.loads((data_dir / "config.toml").read_text())
    assert config["name"] == "Riverside pantry"
    assert config["areas"] == ["u4pr"]
    key_bytes = (data_dir / "identity.key").read_bytes()
    token = (data_dir / "admin.token").read_text()
    assert token.strip()

    second = init(env, data_dir)
    assert len(first.pop("recovery_words").split()) == 24  # shown once, when the node is made
    assert second == first | {"created": False}
    assert (data_dir / "identity.key").read_bytes() == key_bytes
    assert (data_dir / "admin.token").read_text() == token

    human = cli(env, "init", "--data-dir", str(data_dir))
    assert human.returncode == 0
    assert "already existed" in human.stdout
    assert f"node key {first['key']}" in human.stdout  # keys are shown one way: the ma1... form
    assert first["public_key"] not in human.stdout


# --- one node for the member commands ------------------------------------------------------------------


def test_status_names_the_node_and_counts_its_posts(running: Running) -> None:
    info = status_json(running.env, running.url)
    assert info["public_key"] == running.public_key
    assert info["name"] == "Riverside pantry"
    assert info["peers"] == 0
    before = info["posts"]
    post_need(running.env, running.url, "Nappies, size 4")
    human = cli(running.env, "status", "--node", running.url)
    assert human.returncode == 0
    lines = human.stdout.splitlines()
    assert lines[0].startswith("Riverside pantry (mutualaid ")
    assert f"key {running.key}" in lines  # the ma1... form, as everywhere
    assert running.public_key not in human.stdout
    assert "areas u4pr" in lines
    # Posts, not records: the node's own profile is a record but no post.
    assert f"posts: needs {before['need'] + 1}, offers {before['offer']}; peers connected 0" in lines
    assert "categories food, housing, clothing" in human.stdout
    # MUTUALAID_NODE names the node when --node is not given.
    by_env = cli(running.env | {"MUTUALAID_NODE": running.url}, "status", "--json")
    assert by_env.returncode == 0, by_env.stderr
    assert json.loads(by_env.stdout)["public_key"] == running.public_key


def test_post_prints_an_id_and_a_token_that_manages_the_post(running: Running) -> None:
    record_id, token = post_need(running.env, running.url, "Winter coats for two children", "--details", "Sizes 6, 8")
    status, record = http("GET", f"{running.url}/api/v1/records/{record_id}")
    assert status == 200
    assert record["title"] == "Winter coats for two children"
    assert record["details"] == "Sizes 6, 8"
    assert record["category"] == "food"
    assert record["area"] == "u4pru"
    status, answer = http("POST", f"{running.url}/api/v1/records/{record_id}/status", {"status": "claimed"}, token)
    assert status == 200, answer
    assert answer["record"]["status"] == "claimed"


def test_search_finds_a_post_by_its_words(running: Running) -> None:
    record_id, _ = post_need(running.env, running.url, "Pressure cooker for the community kitchen")
    assert record_id in search_ids(running.env, running.url, "--text", "pressure cooker")
    assert record_id in search_ids(running.env, running.url, "--text", "pressu")
    assert record_id in search_ids(running.env, running.url, "--text", "pressure", "--status", "open", "--order",
                                   "urgency", "--urgency", "normal")  # fmt: skip
    assert record_id in search_ids(running.env, running.url, "--kind", "need", "--area", "u4pr", "--category", "food")
    assert record_id not in search_ids(running.env, running.url, "--kind", "offer")
    assert record_id not in search_ids(running.env, running.url, "--text", "wheelbarrow")
    human = cli(running.env, "search", "--text", "pressure", "--node", running.url)
    assert human.returncode == 0
    header, *rows = human.stdout.splitlines()
    assert header.split() == ["id", "kind", "status", "area", "category", "title"]
    assert [row.split(maxsplit=5) for row in rows] == [
        [record_id[:12], "need", "open", "u4pru", "food", "Pressure cooker for the community kitchen"]
    ]
    nothing = cli(running.env, "search", "--text", "wheelbarrow", "--node", running.url)
    assert (nothing.returncode, nothing.stdout) == (0, "no posts found\n")


def test_post_with_a_bad_slug_exits_1_with_the_nodes_message(running: Running) -> None:
    result = cli(
        running.env,
        "post",
        "need",
        "--title",
        "Bread flour",
        "--category",
        "Food",
        "--area",
        "u4pru",
        "--node",
        running.url,
    )
    assert result.returncode == 1
    assert result.stdout == ""
    assert "the node refused" in result.stderr
    assert "category must be one of food, housing" in result.stderr  # the refusal lists the categories
    assert "invalid_record" in result.stderr
    assert "Traceback" not in result.stderr
    assert search_ids(running.env, running.url, "--text", "bread flour") == []


def test_reply_and_read_the_replies_from_the_command_line(running: Running) -> None:
    record_id, token = post_need(running.env, running.url, "Someone to fix a bicycle chain")
    sent = cli(running.env, "reply", record_id, "--message", "I fix bikes, Saturdays", "--contact", "Kofi, 555-0142",
               "--node", running.url)  # fmt: skip
    assert sent.returncode == 0, sent.stderr
    assert re.fullmatch(r"reply [0-9a-f]{64} sealed and delivered to the poster's node\n", sent.stdout), sent.stdout
    env = running.env | {"MUTUALAID_MANAGE_TOKEN": token}
    read = cli(env, "replies", record_id, "--node", running.url)
    assert read.returncode == 0, read.stderr
    assert "I fix bikes, Saturdays\ncontact: Kofi, 555-0142" in read.stdout
    # --token=: a token may begin with "-", which argparse would read as an option.
    as_json = cli(running.env, "replies", record_id, f"--token={token}", "--node", running.url, "--json")
    assert [r["message"] for r in json.loads(as_json.stdout)["replies"]] == ["I fix bikes, Saturdays"]
    wrong = cli(running.env, "replies", record_id, "--token=-not-it", "--node", running.url)
    assert (wrong.returncode, wrong.stdout) == (1, "")
    assert "forbidden" in wrong.stderr and "Kofi" not in wrong.stderr
    missing = cli(running.env, "replies", record_id, "--node", running.url)
    assert missing.returncode == 2 and "manage token" in missing.stderr
    empty = cli(running.env, "reply", record_id, "--message", "", "--node", running.url)
    assert empty.returncode == 1 and "invalid_reply" in empty.stderr


def test_a_reply_need_not_be_on_the_command_line(running: Running) -> None:
    record_id, token = post_need(running.env, running.url, "Bike repair")
    piped = cli(running.env, "reply", record_id, "--message", "-", "--contact", "Ama, 0700",
                "--node", running.url, stdin="From a file\nsecond line\n")  # fmt: skip
    assert piped.returncode == 0, piped.stderr
    asked = cli(running.env, "reply", record_id, "--node", running.url, stdin="Asked for\nring after six\n")
    assert asked.returncode == 0, asked.stderr
    assert "Message: " in asked.stderr and "reach you" in asked.stderr
    contact = cli(running.env, "reply", record_id, "--message", "Contact piped", "--contact", "-",
                  "--node", running.url, stdin="kofi@example.org\n")  # fmt: skip
    assert contact.returncode == 0, contact.stderr
    both = cli(running.env, "reply", record_id, "--message", "-", "--contact", "-", "--node", running.url, stdin="x")
    assert both.returncode == 2 and "standard input" in both.stderr
    read = cli(running.env, "replies", record_id, "--json", f"--token={token}", "--node", running.url)
    assert read.returncode == 0, read.stderr
    got = [(r["message"], r["contact"]) for r in json.loads(read.stdout)["replies"]]
    assert got == [
        ("Contact piped", "kofi@example.org"),
        ("Asked for", "ring after six"),
        ("From a file\nsecond line", "Ama, 0700"),
    ]


def test_report_from_the_command_line_hides_small_counts(running: Running) -> None:
    for _ in range(5):
        post_need(running.env, running.url, "Hot meals for the shelter")
    post_need(running.env, running.url, "A ride to the clinic", "--category", "health")
    human = cli(running.env, "report", "--node", running.url)
    assert human.returncode == 0, human.stderr
    assert "counts under 5 shown as <5" in human.stdout
    food = [line.split() for line in human.stdout.splitlines() if line.startswith("food ")]
    # The node is shared with the other tests of this module: other food posts may be held.
    assert len(food) == 1 and int(food[0][1]) >= 5 and int(food[0][1]) % 5 == 0
    assert all(cell == "<5" or int(cell) % 5 == 0 for cell in food[0][2:])
    health = [line.split() for line in human.stdout.splitlines() if line.startswith("health ")]
    assert health == [["health", "<5", "0", "0"]]  # a few needs; no offer, none fulfilled
    as_csv = cli(running.env, "report", "--csv", "--weeks", "4", "--node", running.url)
    assert as_csv.returncode == 0, as_csv.stderr
    assert as_csv.stdout.startswith("section,key,needs,offers,fulfilled\n")  # CRLF, read in text mode
    assert "\ncategory,food," in as_csv.stdout and "\ncategory,health,<5,0,0" in as_csv.stdout
    as_json = cli(running.env, "report", "--json", "--node", running.url)
    assert as_json.returncode == 0, as_json.stderr
    assert json.loads(as_json.stdout)["weeks"] == 13  # node/members/report.py DEFAULT_WEEKS, the CLI's too
    bad = cli(running.env, "report", "--weeks", "60", "--node", running.url)
    assert bad.returncode == 2 and "from 1 to 52" in bad.stderr  # a year: the report archive
    both = cli(running.env, "report", "--csv", "--json", "--node", running.url)
    assert both.returncode == 2 and "not allowed with" in both.stderr and both.stdout == ""


# --- a node's life: stop, kill, restart ------------------------------------------------------------------


def test_sigterm_exits_0_and_a_restart_keeps_the_records_and_the_key(tmp_path: Path) -> None:
    env = cli_env(tmp_path)
    data_dir = tmp_path / "node"
    args = ("--data-dir", str(data_dir), *RUN_FLAGS)
    with run_node(env, tmp_path / "node.log", *args) as node:
        key = status_json(env, node.url)["public_key"]
        record_id, token = post_need(env, node.url, "Lentils, 5 kg")
        assert node.stop(HANG_GUARD_S) == 0, node.log_text()
    assert (data_dir / "identity.key").exists()

    with run_node(env, tmp_path / "node.log", *args) as node:
        assert status_json(env, node.url)["public_key"] == key
        assert http("GET", f"{node.url}/api/v1/records/{record_id}")[0] == 200
        assert record_id in search_ids(env, node.url, "--text", "lentils")
        # The manage token survives the restart too.
        status, _ = http("PATCH", f"{node.url}/api/v1/records/{record_id}", {"title": "Lentils, 2 kg"}, token)
        assert status == 200
        assert node.stop(HANG_GUARD_S) == 0, node.log_text()


def test_sigkill_right_after_an_acknowledged_post_loses_nothing(tmp_path: Path) -> None:
    env = cli_env(tmp_path)
    args = ("--data-dir", str(tmp_path / "node"), *RUN_FLAGS)
    with run_node(env, tmp_path / "node.log", *args) as node:
        ids = []
        for i in range(3):
            status, answer = http("POST", f"{node.url}/api/v1/records", need(title=f"Nappies, size {i}"))
            assert status == 201, answer
            ids.append(answer["record"]["id"])
        node.popen.send_signal(signal.SIGKILL)  # at once: no chance to shut down cleanly
        assert node.popen.wait(timeout=HANG_GUARD_S) == -signal.SIGKILL

    with run_node(env, tmp_path / "node.log", *args) as node:
        for record_id in ids:
            assert http("GET", f"{node.url}/api/v1/records/{record_id}")[0] == 200, record_id
        assert node.stop(HANG_GUARD_S) == 0, node.log_text()


def test_run_without_data_dir_uses_xdg_data_home(tmp_path: Path) -> None:
    env = cli_env(tmp_path)
    expected = Path(env["XDG_DATA_HOME"]) / "mutualaid"
    assert not expected.exists()
    with run_node(env, tmp_path / "node.log", *RUN_FLAGS) as node:
        for name in ("identity.key", "admin.token", "config.toml", "records.db"):
            assert (expected / name).exists(), name
        assert not (tmp_path / "home").exists()  # nothing under ~/.local/share
        record_id, _ = post_need(env, node.url, "Bus fare to the clinic")
        assert node.stop(HANG_GUARD_S) == 0, node.log_text()
    # The next start finds the same directory again.
    with run_node(env, tmp_path / "node.log", *RUN_FLAGS) as node:
        assert http("GET", f"{node.url}/api/v1/records/{record_id}")[0] == 200
        assert node.stop(HANG_GUARD_S) == 0, node.log_text()


# --- errors ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ("status",),
        ("search", "--text", "coats"),
        ("post", "offer", "--title", "x", "--category", "food", "--area", "u4"),
    ],
    ids=["status", "search", "post"],
)
def test_an_unreachable_node_exits_3_with_a_helpful_message(tmp_path: Path, args: tuple[str, ...]) -> None:
    result = cli(cli_env(tmp_path), *args, "--node", "http://127.0.0.1:1")
    assert result.returncode == 3  # not 2: the command was right, the node is not there
    assert result.stdout == ""
    assert "cannot reach the node at http://127.0.0.1:1" in result.stderr
    assert "Is it running?" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("given", "hint"),
    [
        ("notaurl", ""),
        ("127.0.0.1:8440", "did you mean http://127.0.0.1:8440?"),
        ("localhost:8440", "did you mean http://localhost:8440?"),
        ("ftp://127.0.0.1:8440", ""),
        ("http://127.0.0.1:99999", ""),
        ("http://127.0.0.1:84x0", ""),
        ("http://127.0.0.1:8440/api/v1", ""),
        ("http://user@127.0.0.1:8440", ""),
        ("http://", ""),
    ],
)
def test_node_must_be_an_http_url_or_it_is_bad_usage(tmp_path: Path, given: str, hint: str) -> None:
    result = cli(cli_env(tmp_path), "status", "--node", given)
    assert (result.returncode, result.stdout) == (2, "")
    assert f"argument --node: {given!r} is not a node's URL" in result.stderr
    assert "http(s)://HOST[:PORT]" in result.stderr and hint in result.stderr
    assert "Traceback" not in result.stderr
    from_env = cli(cli_env(tmp_path, MUTUALAID_NODE=given), "status")
    assert from_env.returncode == 2
    assert f"MUTUALAID_NODE: {given!r} is not a node's URL" in from_env.stderr
    assert "Traceback" not in from_env.stderr


def test_a_server_that_is_no_mutualaid_node_exits_3(tmp_path: Path) -> None:
    class Page(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"<html>a router's page</html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    with ThreadingHTTPServer(("127.0.0.1", 0), Page) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        url = f"http://127.0.0.1:{server.server_address[1]}"
        try:
            result = cli(cli_env(tmp_path), "status", "--node", url)
        finally:
            server.shutdown()
    assert (result.returncode, result.stdout) == (3, "")
    assert f"{url} answered, but not as a mutualaid node does" in result.stderr


def test_an_unknown_key_in_config_toml_stops_run_with_exit_2_naming_it(tmp_path: Path) -> None:
    env = cli_env(tmp_path)
    data_dir = tmp_path / "node"
    init(env, data_dir)
    with (data_dir / "config.toml").open("a") as handle:
        handle.write('colour = "blue"\n')
    result = cli(env, "run", "--data-dir", str(data_dir), *RUN_FLAGS)
    assert result.returncode == 2
    assert "listening" not in result.stdout
    assert "'colour'" in result.stderr
    assert "config.toml" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_port_in_use_stops_run_with_exit_2_and_a_message(tmp_path: Path) -> None:
    """cli.py: exit 2 when the node "cannot be started"; a busy port is the commonest case."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = cli(
            cli_env(tmp_path), "run", "--data-dir", str(tmp_path / "node"), "--no-mdns", "--listen", f"127.0.0.1:{port}"
        )
    assert "Traceback" not in result.stderr
    assert result.returncode == 2
    assert f"127.0.0.1:{port}" in result.stderr


def test_the_debug_log_keeps_member_text_out(tmp_path: Path) -> None:
    """api.py: logs name records by id and kind only, never a title or details; at every log level."""
    env = cli_env(tmp_path)
    log = tmp_path / "node.log"
    with run_node(env, log, "--data-dir", str(tmp_path / "node"), *RUN_FLAGS, "--log-level", "debug") as node:
        record_id, token = post_need(env, node.url, "Insulin for Kwame", "--details", "Flat 4B, ring twice")
        assert node.stop(HANG_GUARD_S) == 0, node.log_text()
    text = log.read_text(errors="replace")
    assert record_id in text  # the log is there and names the post by id
    leaked = [secret for secret in ("Kwame", "Flat 4B", token) if secret in text]
    assert leaked == [], f"the node's log carries {leaked}"


COMMANDS = ["init", "run", "post", "search", "show", "mark", "withdraw", "edit", "renew", "flag", "reply", "replies",
            "report", "status", "join", "members", "propose", "proposals", "proposal", "vote", "comment", "decisions",
            "findings", "answer", "events", "organizer", "peers", "bundle", "backup", "restore", "service",
            "doctor", "key"]  # fmt: skip
MEMBERS_ACTIONS = ["members invite", "members list", "members me", "members log", "members leave", "members new-card"]


@pytest.mark.parametrize("command", ["", *COMMANDS, *MEMBERS_ACTIONS])
def test_help_works_for_every_subcommand_and_ends_with_the_exit_codes(tmp_path: Path, command: str) -> None:
    args = [*command.split(), "--help"]
    result = cli(cli_env(tmp_path), *args)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: mutualaid {command}".rstrip())
    assert result.stderr == ""
    codes = result.stdout[result.stdout.index("\nexit codes:\n") :]
    assert [int(m) for m in re.findall(r"^  (\d)  ", codes, re.MULTILINE)] == [0, 1, 2, 3]
    assert "the node refused" in codes and "bad usage" in codes and "cannot be reached" in codes


def test_the_top_level_help_lists_every_command(tmp_path: Path) -> None:
    result = cli(cli_env(tmp_path), "--help")
    listed = re.findall(r"^    (\w+)\s", result.stdout, re.MULTILINE)
    assert listed == COMMANDS
    members = cli(cli_env(tmp_path), "members", "--help")
    assert [f"members {a}" for a in re.findall(r"^    ([\w-]+)\s", members.stdout, re.MULTILINE)] == MEMBERS_ACTIONS
