# One node per data directory, and the operator's commands finding it: real
# node processes through the CLI. A second `mutualaid run` on a directory a
# running node holds exits 2 naming it and changes nothing there (the lock is
# taken before any file is written or opened); the lock dies with its process,
# SIGKILL included. `peers` reads the admin token from --data-dir (as `make
# run` lays it out: ./data, run from the checkout) or MUTUALAID_DATA_DIR, and
# says plainly when it is missing or another node's.

from __future__ import annotations

import fcntl
import json
import os
import re
import signal
from pathlib import Path

from tests._nodes import wait_until
from tests.node._cli import HANG_GUARD_S, MA1, RUN_FLAGS, cli, cli_env, http, init, post_need, run_node, status_json

FILES = ("identity.key", "admin.token", "config.toml")


def snapshot(directory: Path) -> dict[str, tuple[bytes, int]]:
    """Bytes and modification time of the files a start would write, and of the lock."""
    return {name: ((directory / name).read_bytes(), (directory / name).stat().st_mtime_ns) for name in (*FILES,
            "node.lock")}  # fmt: skip


def test_a_second_node_on_a_directory_in_use_exits_2_and_changes_nothing(tmp_path: Path) -> None:
    env = cli_env(tmp_path)
    data_dir = tmp_path / "node"
    with run_node(env, tmp_path / "first.log", "--data-dir", str(data_dir), *RUN_FLAGS) as first:
        key = status_json(env, first.url)["public_key"]
        assert (data_dir / "node.lock").read_text().strip() == str(first.pid)
        before, listing = snapshot(data_dir), sorted(os.listdir(data_dir))
        second = cli(env, "run", "--data-dir", str(data_dir), *RUN_FLAGS)
        assert second.returncode == 2
        assert "listening" not in second.stdout
        assert f"data directory {data_dir} is in use by a running node (process {first.pid})" in second.stderr
        assert "Traceback" not in second.stderr
        assert snapshot(data_dir) == before
        assert sorted(os.listdir(data_dir)) == listing
        # The first one never noticed.
        assert first.running()
        assert status_json(env, first.url)["public_key"] == key
        post_need(env, first.url, "Still serving")
        assert first.stop(HANG_GUARD_S) == 0, first.log_text()
    # Stopped, the directory is free again, with the same identity.
    with run_node(env, tmp_path / "third.log", "--data-dir", str(data_dir), *RUN_FLAGS) as third:
        assert status_json(env, third.url)["public_key"] == key
        assert third.stop(HANG_GUARD_S) == 0, third.log_text()


def test_nothing_is_created_or_opened_in_a_locked_directory(tmp_path: Path) -> None:
    """The lock comes first: held by someone else, run and init leave the directory as they found it."""
    env = cli_env(tmp_path)
    data_dir = tmp_path / "node"
    data_dir.mkdir()
    fd = os.open(data_dir / "node.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        for command in (("run", "--data-dir", str(data_dir), *RUN_FLAGS), ("init", "--data-dir", str(data_dir))):
            result = cli(env, *command)
            assert result.returncode == 2, command
            assert f"data directory {data_dir} is in use" in result.stderr
            assert os.listdir(data_dir) == ["node.lock"]  # no key, token, config or database was made
            assert (data_dir / "node.lock").read_bytes() == b""  # nor the holder's file touched
    finally:
        os.close(fd)
    assert init(env, data_dir)["created"] is True


def test_a_killed_node_does_not_keep_its_directory(tmp_path: Path) -> None:
    env = cli_env(tmp_path)
    args = ("--data-dir", str(tmp_path / "node"), *RUN_FLAGS)
    with run_node(env, tmp_path / "node.log", *args) as node:
        node.popen.send_signal(signal.SIGKILL)
        assert node.popen.wait(timeout=HANG_GUARD_S) == -signal.SIGKILL
    assert (tmp_path / "node" / "node.lock").exists()  # a stale file: the lock went with the process
    with run_node(env, tmp_path / "node.log", *args) as node:
        assert node.stop(HANG_GUARD_S) == 0, node.log_text()


def test_peers_finds_the_admin_token_as_make_run_lays_it_out(tmp_path: Path) -> None:
    """`make run` runs `mutualaid run --data-dir data` in the checkout; so does this test, in tmp_path."""
    env = cli_env(tmp_path)
    with run_node(env, tmp_path / "node.log", "--data-dir", "data", *RUN_FLAGS, cwd=tmp_path) as node:
        assert (tmp_path / "data" / "admin.token").exists()
        listed = cli(env, "peers", "list", "--data-dir", "data", "--node", node.url, cwd=tmp_path)
        assert (listed.returncode, listed.stdout, listed.stderr) == (0, "no peers\n", "")
        by_env = cli(env | {"MUTUALAID_DATA_DIR": "data"}, "peers", "list", "--node", node.url, cwd=tmp_path)
        assert (by_env.returncode, by_env.stdout) == (0, "no peers\n"), by_env.stderr
        # A shell that keeps a post's token or a node's URL in the environment can still run operator commands.
        busy = env | {"MUTUALAID_MANAGE_TOKEN": "abc", "MUTUALAID_NODE": node.url}
        assert cli(busy, "peers", "list", "--data-dir", "data", cwd=tmp_path).returncode == 0

        missing = cli(env, "peers", "list", "--node", node.url, cwd=tmp_path)  # the XDG default: nothing there
        assert missing.returncode == 2
        assert f"cannot read the admin token {tmp_path / 'xdg' / 'mutualaid' / 'admin.token'}" in missing.stderr
        assert "--data-dir DIR" in missing.stderr and "make run uses ./data" in missing.stderr

        init(env, tmp_path / "other")
        other = cli(env, "peers", "list", "--data-dir", str(tmp_path / "other"), "--node", node.url)
        assert other.returncode == 1
        assert f"the admin token in {tmp_path / 'other'} is not the one of the node at {node.url}" in other.stderr
        assert node.stop(HANG_GUARD_S) == 0, node.log_text()


def test_a_second_run_on_make_runs_directory_is_refused_too(tmp_path: Path) -> None:
    env = cli_env(tmp_path)
    with run_node(env, tmp_path / "node.log", "--data-dir", "data", *RUN_FLAGS, cwd=tmp_path) as node:
        again = cli(env, "run", "--data-dir", str(tmp_path / "data"), *RUN_FLAGS)  # the same directory, named otherwise
        assert again.returncode == 2 and "is in use by a running node" in again.stderr
        assert node.stop(HANG_GUARD_S) == 0, node.log_text()


def test_peers_list_shows_keys_as_ma1_and_times_as_iso(tmp_path: Path) -> None:
    env = cli_env(tmp_path)
    a_dir, b_dir = tmp_path / "a", tmp_path / "b"
    b_key = init(env, b_dir)["key"]
    with (
        run_node(env, tmp_path / "a.log", "--data-dir", str(a_dir), *RUN_FLAGS) as a,
        run_node(env, tmp_path / "b.log", "--data-dir", str(b_dir), *RUN_FLAGS) as b,
    ):
        admin = ("--data-dir", str(a_dir), "--node", a.url)
        added = cli(env, "peers", "add", b.url, *admin)
        assert (added.returncode, added.stdout) == (0, f"added {b.url}\n"), added.stderr
        dead = cli(env, "peers", "add", "http://127.0.0.1:1", *admin)
        assert dead.returncode == 0, dead.stderr

        def listed() -> list[dict[str, object]] | None:
            peers = json.loads(cli(env, "peers", "list", *admin, "--json").stdout)["peers"]
            by_url = {p["url"]: p for p in peers}
            good, bad = by_url.get(b.url), by_url.get("http://127.0.0.1:1")
            done = good and good["last_sync"] and bad and bad["last_error"]
            return peers if done else None

        wait_until(listed, "A synced with B and failed to reach the dead peer")
        human = cli(env, "peers", "list", *admin)
        assert human.returncode == 0, human.stderr
        blocks = re.split(r"\n(?=\S)", human.stdout.strip())
        good = next(block for block in blocks if block.startswith(f"connected  {b.url}  (admin)"))
        assert f"\n  key {b_key}\n" in good and MA1.fullmatch(b_key)
        assert re.search(r"\n  last sync \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ, failures in a row 0$", good), good
        assert "last error" not in good
        bad = next(block for block in blocks if "http://127.0.0.1:1" in block)
        assert "\n  key ?\n" in bad and "last sync never" in bad and "\n  last error: " in bad

        removed = cli(env, "peers", "remove", "http://127.0.0.1:1", *admin)
        assert (removed.returncode, removed.stdout) == (0, "removed http://127.0.0.1:1\n"), removed.stderr
        again = cli(env, "peers", "remove", "http://127.0.0.1:1", *admin)
        assert again.returncode == 1 and "not a peer of this node" in again.stderr
        assert http("GET", f"{a.url}/healthz")[0] == 200
        for node in (a, b):
            assert node.stop(HANG_GUARD_S) == 0, node.log_text()


def test_replies_and_changes_on_another_node_say_which_node_can(tmp_path: Path) -> None:
    """A post is managed, and its replies opened, only through the node it was posted through."""
    env = cli_env(tmp_path)
    with run_node(env, tmp_path / "a.log", "--data-dir", str(tmp_path / "a"), *RUN_FLAGS) as a:
        with run_node(env, tmp_path / "b.log", "--data-dir", str(tmp_path / "b"), *RUN_FLAGS, "--peer", a.url) as b:
            record_id, token = post_need(env, a.url, "Someone to walk a dog")
            wait_until(lambda: http("GET", f"{b.url}/api/v1/records/{record_id}")[0] == 200, "B holds the post")
            replies = cli(env, "replies", record_id[:12], f"--token={token}", "--node", b.url)
            assert (replies.returncode, replies.stdout) == (1, "")
            assert "only the post's own node (the one it was posted through) can open its replies" in replies.stderr
            mark = cli(env, "mark", record_id[:12], "claimed", f"--token={token}", "--node", b.url)
            assert (mark.returncode, mark.stdout) == (1, "")
            assert "only the post's own node (the one it was posted through) holds its manage token" in mark.stderr
            # On its own node, both work.
            assert cli(env, "replies", record_id[:12], f"--token={token}", "--node", a.url).returncode == 0
            assert b.stop(HANG_GUARD_S) == 0, b.log_text()
        assert a.stop(HANG_GUARD_S) == 0, a.log_text()


def test_the_first_start_writes_only_the_name_and_areas_into_config_toml(tmp_path: Path) -> None:
    """docker/README.md: peers given as flags or variables are not made permanent."""
    env = cli_env(tmp_path, MUTUALAID_NAME="Hillside pantry") | {
        "MUTUALAID_MANAGE_TOKEN": "a post token, no setting",
        "MUTUALAID_MEMBER_CARD": "card-a member card",
    }
    data_dir = tmp_path / "node"
    with run_node(env, tmp_path / "node.log", "--data-dir", str(data_dir), *RUN_FLAGS,
                  "--peer", "http://127.0.0.1:1", "--max-peers", "3") as node:  # fmt: skip
        assert status_json(env, node.url)["name"] == "Hillside pantry"
        assert node.stop(HANG_GUARD_S) == 0, node.log_text()
    set_lines = [line for line in (data_dir / "config.toml").read_text().splitlines() if not line.startswith("#")]
    assert set_lines == ['name = "Hillside pantry"', "areas = []"]
    text = (data_dir / "config.toml").read_text()
    assert "# peers = []" in text and "# max_peers = 8" in text
