"""Backup and restore (issue 12, part): ``mutualaid backup FILE`` while a real node
runs and is killed mid-backup, ``mutualaid restore FILE --data-dir DIR``, and a node
started on the restored directory keeping every manage link, card, removal and flag,
its key and its admin token. A damaged backup (a flipped byte anywhere, a file that
is no backup, a name no backup holds) is refused before anything is written; a
directory holding a node is never overwritten."""

from __future__ import annotations

import asyncio
import gzip
import io
import json
import os
import re
import signal
import sqlite3
import subprocess
import tarfile
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from node.core.clock import ManualClock
from node.core.config import NodeConfig
from node.core.datadir import ADMIN_TOKEN_FILE, IDENTITY_FILE, ensure_data_dir
from node.core.metrics import Metrics
from node.operate.backup import MANIFEST, BackupError, make_backup, restore
from node.operate.daily import NAME as DAILY
from node.operate.daily import NodeBackups, daily_backups, made_at
from tests._nodes import wait_until
from tests.node._cli import (
    HANG_GUARD_S,
    MUTUALAID,
    RUN_FLAGS,
    Running,
    cli,
    cli_env,
    http,
    init,
    post_need,
    run_node,
    start_running,
    status_json,
)
from tests.node._support import sql_rows
from tests.node.test_cli_chapter import as_json, join, ok, sheet
from tests.node.test_doctor import _doctor

PASSPHRASE = "a long passphrase on paper"  # noqa: S105 - the tests' own


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[Running]:
    yield from start_running(tmp_path)


def _chapter_state(running: Running) -> dict[str, object]:
    """Posts with their manage tokens, a member's card, a removal and a flag."""
    kept, token = post_need(running.env, running.url, "Kept need")
    removed, _ = post_need(running.env, running.url, "Removed need")
    flagged, _ = post_need(running.env, running.url, "Flagged need")
    admin = (running.data_dir / ADMIN_TOKEN_FILE).read_text().strip()
    status, body = http("POST", f"{running.url}/api/v1/organizer/removals", {"id": removed, "reason": "spam"}, admin)
    assert status == 201, body
    status, body = http("POST", f"{running.url}/api/v1/records/{flagged}/flags", {"reason": "spam"})
    assert status == 201, body
    (code,) = sheet(running, 1)
    card = join(running, code, "Ama")
    return {"kept": kept, "token": token, "removed": removed, "flagged": flagged, "card": card, "admin": admin}


def _check_restored(env: dict[str, str], url: str, state: dict[str, object], key: str, admin: str) -> None:
    assert status_json(env, url)["public_key"] == key
    # The manage link still works: the post's token changes it.
    done = cli(env, "mark", str(state["kept"]), "claimed", f"--token={state['token']}", "--node", url)
    assert done.returncode == 0, done.stderr
    # The card still signs its holder in, under the same name.
    me = as_json(member_env_at(env, url, str(state["card"])), "members", "me")
    assert me["member"]["name"] == "Ama", me
    # The removal stays: the post does not come back.
    status, body = http("GET", f"{url}/api/v1/records/{state['removed']}")
    assert status in (404, 410), body
    # The flag is still there for the organizers, by the same admin token (founding period).
    status, body = http("GET", f"{url}/api/v1/organizer/flags", token=admin)
    assert status == 200 and [f["record_id"] for f in body["flags"]] == [state["flagged"]], body


def member_env_at(env: dict[str, str], url: str, card: str) -> dict[str, str]:
    return env | {"MUTUALAID_MEMBER_CARD": card, "MUTUALAID_NODE": url}


def test_a_node_killed_during_its_backup_comes_back_whole_from_it(tmp_path: Path) -> None:
    env = cli_env(tmp_path)
    data_dir = tmp_path / "node"
    made_dir = init(env, data_dir)
    with run_node(env, tmp_path / "node.log", "--data-dir", str(data_dir), *RUN_FLAGS) as node:
        running = Running(node, env, made_dir["public_key"], made_dir["key"], data_dir)
        state = _chapter_state(running)
        for i in range(40):  # a store with something to copy
            post_need(env, node.url, f"Need {i}")
        backup = tmp_path / "node.backup"
        env = env | {"MUTUALAID_BACKUP_PASSPHRASE": PASSPHRASE}
        args = [MUTUALAID, "backup", str(backup), "--data-dir", str(data_dir), "--with-key", "--json"]
        backing_up = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        os.kill(node.pid, signal.SIGKILL)  # while the backup reads the files
        out, err = backing_up.communicate(timeout=HANG_GUARD_S)
        node.wait(HANG_GUARD_S)
    if backing_up.returncode != 0:  # refused with a reason, and no torn file left
        assert "Traceback" not in err and not backup.exists(), err
        again = cli(env, "backup", str(backup), "--data-dir", str(data_dir), "--with-key", "--json")
        assert again.returncode == 0, again.stderr
        out = again.stdout
    made = json.loads(out)
    key = running.key
    assert made["node_key"] == key and made["with_key"] is True
    assert {"records.db", "chapter.db", "admin.token", "config.toml", "identity.key.sealed"} <= set(made["files"])
    assert backup.stat().st_mode & 0o777 == 0o600
    # The Pi died: a new directory from the backup, the same node.
    restored = tmp_path / "restored"
    done = cli(env, "restore", str(backup), "--data-dir", str(restored))
    assert done.returncode == 0, done.stderr
    assert f"restored node {key}" in done.stdout
    assert (restored / IDENTITY_FILE).stat().st_mode & 0o777 == 0o600
    with run_node(running.env, tmp_path / "restored.log", "--data-dir", str(restored), *RUN_FLAGS) as again_node:
        _check_restored(running.env, again_node.url, state, running.public_key, str(state["admin"]))
        assert again_node.stop(HANG_GUARD_S) == 0, again_node.log_text()


def test_a_backup_without_the_key_says_where_the_key_must_go(fresh: Running, tmp_path: Path) -> None:
    post_need(fresh.env, fresh.url, "A need")
    backup = tmp_path / "plain.backup"
    assert fresh.data_dir.parent == tmp_path  # paths as a person types them, relative to where they are
    printed = ok(cli(fresh.env, "backup", backup.name, "--data-dir", fresh.data_dir.name, cwd=tmp_path))
    assert "the node key is not in it" in printed
    restored = tmp_path / "restored"
    printed = ok(cli(fresh.env, "restore", backup.name, "--data-dir", restored.name, cwd=tmp_path))
    assert "holds no node key" in printed and IDENTITY_FILE in printed
    assert not (restored / IDENTITY_FILE).exists() and (restored / "records.db").exists()
    with tarfile.open(backup) as archive:
        names = archive.getnames()
    assert names[0] == MANIFEST and "identity.key.sealed" not in names


def _damaged(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ (1 << at % 8)]) + data[at + 1 :]


def _made(tmp_path: Path) -> tuple[Path, bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MUTUALAID_")}
    data_dir = tmp_path / "node"
    init(env | {"HOME": str(tmp_path)}, data_dir)
    backup = tmp_path / "node.backup"
    make_backup(data_dir, backup, PASSPHRASE.encode())
    return backup, backup.read_bytes()


def _contents(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in directory.iterdir() if p.is_file()}


def test_one_flipped_bit_anywhere_is_refused_or_changes_nothing(tmp_path: Path) -> None:
    backup, data = _made(tmp_path)
    whole = restore(backup, tmp_path / "whole", PASSPHRASE.encode()).data_dir
    harmless = []
    for at in range(len(data)):  # every byte, one bit of it
        (tmp_path / "bad.backup").write_bytes(_damaged(data, at))
        target = tmp_path / f"restored-{at}"
        try:
            restore(tmp_path / "bad.backup", target, PASSPHRASE.encode())
        except BackupError:
            assert not target.exists() or not [p for p in target.iterdir() if not p.name.startswith(".")], at
            continue
        # Deflate has bits no decoder reads (code lengths of symbols never used): the content is the same.
        assert _contents(target) == _contents(whole), at
        harmless.append(at)
    assert len(harmless) < len(data) // 100, harmless


def _archive(tmp_path: Path, members: dict[str, bytes]) -> Path:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    path = tmp_path / "crafted.backup"
    path.write_bytes(gzip.compress(raw.getvalue()))
    return path


def test_what_no_backup_holds_is_refused(tmp_path: Path) -> None:
    backup, _ = _made(tmp_path)
    with tarfile.open(backup) as archive:
        manifest = archive.extractfile(MANIFEST).read()  # type: ignore[union-attr]
    cases = {
        "a path out of the directory": {MANIFEST: manifest, "../evil": b"x"},
        "no contents list first": {"config.toml": b"x", MANIFEST: manifest},
        "a contents list of another shape": {MANIFEST: b'{"format": 99}'},
        "a file the list does not name": {MANIFEST: manifest, "config.toml": b"not the listed bytes"},
    }
    for why, members in cases.items():
        target = tmp_path / "target"
        with pytest.raises(BackupError):
            restore(_archive(tmp_path, members), target, PASSPHRASE.encode())
        assert not (target / IDENTITY_FILE).exists(), why
    (tmp_path / "garbage").write_bytes(b"not a backup at all")
    with pytest.raises(BackupError, match="not a mutualaid backup"):
        restore(tmp_path / "garbage", tmp_path / "target", None)


def test_the_commands_refuse_plainly(tmp_path: Path) -> None:
    backup, _ = _made(tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MUTUALAID_")} | {"HOME": str(tmp_path)}
    node = tmp_path / "node"

    def refused(code: int, words: str, *args: str, **extra: str) -> None:
        result = cli(env | extra, *args)
        assert result.returncode == code and words in result.stderr and "Traceback" not in result.stderr, result

    refused(1, "already holds a node", "restore", str(backup), "--data-dir", str(node))
    refused(1, "the passphrase does not open", "restore", str(backup), "--data-dir", str(tmp_path / "a"),
            MUTUALAID_BACKUP_PASSPHRASE="not the passphrase")  # noqa: S106  # fmt: skip
    refused(2, "set $MUTUALAID_BACKUP_PASSPHRASE", "restore", str(backup), "--data-dir", str(tmp_path / "b"))
    refused(2, "shorter than", "backup", str(tmp_path / "x.backup"), "--data-dir", str(node), "--with-key",
            MUTUALAID_BACKUP_PASSPHRASE="short")  # noqa: S106  # fmt: skip
    refused(1, "holds no node", "backup", str(tmp_path / "x.backup"), "--data-dir", str(tmp_path / "nothing"))
    refused(1, "no such file", "restore", str(tmp_path / "missing.backup"), "--data-dir", str(tmp_path / "c"))
    assert not (tmp_path / "x.backup").exists()


def test_a_root_backup_of_a_stopped_node_leaves_its_files_the_nodes(tmp_path: Path) -> None:
    """A stopped node (its WAL database without -wal or -shm) backs up, as root
    (sudo mutualaid backup), and leaves no file of root's beside its database."""
    node = _made(tmp_path)[0].parent / "node"
    db = sqlite3.connect(node / "records.db")  # a WAL database, as a stopped node leaves it
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("CREATE TABLE IF NOT EXISTS t (x)")
    db.commit()
    db.close()  # the last connection: SQLite checkpoints and removes -wal and -shm
    assert not (node / "records.db-wal").exists()
    os.chown(node / "records.db", 1, 1)  # the node's user (daemon), root running the backup
    make_backup(node, tmp_path / "again.backup")  # a stopped node backs up too
    for sidecar in ("-wal", "-shm"):
        made = node / f"records.db{sidecar}"
        assert not made.exists() or made.stat().st_uid == 1, sidecar
    restored = restore(tmp_path / "again.backup", tmp_path / "again").data_dir
    check = sqlite3.connect(restored / "records.db")
    assert check.execute("SELECT count(*) FROM t").fetchone() == (0,)
    check.close()


def test_a_restore_cut_short_or_refused_leaves_no_node(tmp_path: Path) -> None:
    backup, _ = _made(tmp_path)
    settings = tmp_path / "has-settings"
    settings.mkdir()
    (settings / "config.toml").write_text('name = "mine"\n')
    with pytest.raises(BackupError, match="already holds"):
        restore(backup, settings, PASSPHRASE.encode())
    assert (settings / "config.toml").read_text() == 'name = "mine"\n'
    with pytest.raises(BackupError, match="the passphrase does not open"):
        restore(backup, tmp_path / "wrong", b"not the passphrase at all")
    assert not (tmp_path / "wrong" / IDENTITY_FILE).exists()


# --- through a running node (backup --node) ------------------------------------------------------------------


def test_a_backup_through_the_running_node_restores_whole(fresh: Running, tmp_path: Path) -> None:
    state = _chapter_state(fresh)
    env = fresh.env | {"MUTUALAID_BACKUP_PASSPHRASE": PASSPHRASE}
    through = ("--data-dir", str(fresh.data_dir), "--node", fresh.url)
    keyed = tmp_path / "keyed.backup"
    made = json.loads(ok(cli(env, "backup", str(keyed), *through, "--with-key", "--json")))
    assert made["node_key"] == fresh.key and made["with_key"] is True and keyed.stat().st_mode & 0o777 == 0o600
    plain = ok(cli(env, "backup", str(tmp_path / "plain.backup"), *through))
    assert f"backed up the node at {fresh.url}" in plain and "the node key is not in it" in plain
    leftovers = [p.name for p in fresh.data_dir.iterdir() if p.name.startswith(".backup")]
    assert leftovers == [], leftovers  # the node's temporary copy is gone once sent
    restored = tmp_path / "restored"
    assert f"restored node {fresh.key}" in ok(cli(env, "restore", str(keyed), "--data-dir", str(restored)))
    with run_node(fresh.env, tmp_path / "restored.log", "--data-dir", str(restored), *RUN_FLAGS) as again:
        _check_restored(fresh.env, again.url, state, fresh.public_key, str(state["admin"]))
        assert again.stop(HANG_GUARD_S) == 0, again.log_text()


def test_a_backup_through_a_node_is_refused_in_the_clear_or_with_the_wrong_token(
    fresh: Running, tmp_path: Path
) -> None:
    target = tmp_path / "x.backup"
    clear = cli(fresh.env, "backup", str(target), "--data-dir", str(fresh.data_dir), "--node", "http://192.0.2.7:8440")
    assert clear.returncode == 2 and "over https or on the node's own machine" in clear.stderr  # before any request
    other = tmp_path / "other"
    init(fresh.env, other)
    wrong = cli(fresh.env, "backup", str(target), "--data-dir", str(other), "--node", fresh.url)
    assert wrong.returncode == 1 and "forbidden" in wrong.stderr and "Traceback" not in wrong.stderr
    short = cli(fresh.env | {"MUTUALAID_BACKUP_PASSPHRASE": "short"}, "backup", str(target), "--data-dir",
                str(fresh.data_dir), "--node", fresh.url, "--with-key")  # fmt: skip
    assert short.returncode == 2 and "shorter than" in short.stderr
    gone = cli(fresh.env, "backup", str(target), "--data-dir", str(fresh.data_dir), "--node", "http://127.0.0.1:1")
    assert gone.returncode == 3 and "cannot reach" in gone.stderr
    assert not target.exists()
    status, body = http("POST", f"{fresh.url}/api/v1/backup", {"passphrase": "too short"},
                        (fresh.data_dir / ADMIN_TOKEN_FILE).read_text().strip())  # fmt: skip
    assert status == 422 and body["error"]["code"] == "invalid_passphrase", body
    assert "Restoring takes no --node" in " ".join(cli(fresh.env, "restore", "--help").stdout.split())


# --- the node's own daily backups ------------------------------------------------------------------------


def _settings(data_dir: Path, **values: object) -> None:
    with (data_dir / "config.toml").open("a") as config:
        for name, value in values.items():
            config.write(f"{name} = {json.dumps(value)}\n")


def _metric(url: str, name: str) -> int:
    text = urllib.request.urlopen(f"{url}/metrics", timeout=HANG_GUARD_S).read().decode()  # noqa: S310 - loopback
    found = re.search(rf"^{name} (\d+)$", text, re.MULTILINE)
    return int(found.group(1)) if found else 0


def test_daily_backups_are_made_pruned_to_n_and_each_restores(tmp_path: Path) -> None:
    env = cli_env(tmp_path)
    data_dir = tmp_path / "node"
    init(env, data_dir)
    _settings(data_dir, backup_daily_keep=2, backup_every_s=1)  # a "day" of one second
    backups = data_dir / "backups"
    backups.mkdir()
    (backups / "by-hand.backup").write_bytes(b"the operator's own")  # never pruned: not a daily name
    with run_node(env, tmp_path / "node.log", "--data-dir", str(data_dir), *RUN_FLAGS) as node:
        need_id, _ = post_need(env, node.url, "Rice for Friday")
        wait_until(lambda: _metric(node.url, "mutualaid_backups_made_total") >= 4, "four daily backups are made")
        code, found = _doctor(env, "--data-dir", str(data_dir), "--node", node.url)
        assert code == 0 and {f["level"] for f in found["backup"]} == {"ok"}, found
        assert "the newest daily backup, mutualaid-" in found["backup"][0]["says"]
        assert node.stop(HANG_GUARD_S) == 0, node.log_text()
    daily = sorted(p.name for p in backups.iterdir() if p.name.startswith("mutualaid-"))
    assert len(daily) == 2 and all(DAILY.fullmatch(name) for name in daily), daily
    assert (backups / "by-hand.backup").read_bytes() == b"the operator's own"
    assert "daily backup mutualaid-" in (tmp_path / "node.log").read_text()
    for name in daily:
        restored = restore(backups / name, tmp_path / f"restored-{name}").data_dir
        assert restored.joinpath(IDENTITY_FILE).exists() is False  # without the key, as said
        ids = sql_rows(restored / "records.db", "SELECT lower(hex(id)) FROM records WHERE kind = 'need'")
        assert (need_id,) in ids


def test_a_failing_daily_backup_is_logged_counted_and_told_by_doctor(tmp_path: Path) -> None:
    env = cli_env(tmp_path)
    data_dir = tmp_path / "node"
    init(env, data_dir)
    (tmp_path / "a-file").write_text("not a directory")
    _settings(data_dir, backup_daily_keep=3, backup_dir=str(tmp_path / "a-file" / "backups"), backup_every_s=1)
    with run_node(env, tmp_path / "node.log", "--data-dir", str(data_dir), *RUN_FLAGS) as node:
        wait_until(lambda: _metric(node.url, "mutualaid_backup_failures_in_a_row") >= 2, "the backup fails twice")
        code, found = _doctor(env, "--data-dir", str(data_dir), "--node", node.url)
        assert code == 1 and "the node's daily backup failed" in " ".join(f["says"] for f in found["backup"])
        assert http("GET", f"{node.url}/healthz")[0] == 200  # the node serves on
        assert node.stop(HANG_GUARD_S) == 0, node.log_text()
    log = (tmp_path / "node.log").read_text()
    assert "the daily backup into" in log and "failed (2 in a row)" in log and "Traceback" not in log


async def test_the_daily_schedule_follows_the_nodes_clock(tmp_path: Path) -> None:
    """``NodeBackups.tick`` with a clock moved by hand: due once a day from the newest daily
    backup's name, the oldest beyond N deleted, nothing else in the directory touched."""
    config = NodeConfig(data_dir=tmp_path / "node", backup_daily_keep=2)
    await asyncio.to_thread(ensure_data_dir, config)
    clock = ManualClock(wall=1_800_000_000)
    backups = NodeBackups(config, clock, Metrics())
    assert await backups.tick() == 86_400  # none yet: one now
    names = await asyncio.to_thread(lambda: sorted(p.name for p in config.backups_path.iterdir()))
    assert names == ["mutualaid-2027-01-15T080000Z.backup"]
    clock.advance(3600)
    assert await backups.tick() == 86_400 - 3600  # not due: nothing made
    for _ in range(3):
        clock.advance(86_400 - 3600)
        assert await backups.tick() == 86_400
        clock.advance(3600)
    held = await asyncio.to_thread(daily_backups, config.backups_path)
    assert [p.name for p in held] == ["mutualaid-2027-01-17T080000Z.backup", "mutualaid-2027-01-18T080000Z.backup"]
    assert [made_at(p) for p in held] == [1_800_000_000 + 2 * 86_400, 1_800_000_000 + 3 * 86_400]
    assert backups.gauges()[("mutualaid_backup_last_made_seconds", ())] == made_at(held[-1])
    # A restarted node reads when the last one was made from its name.
    later = NodeBackups(config, clock, Metrics())
    assert await later.tick() == 86_400 - 3600


async def test_a_backup_named_in_the_future_neither_stops_the_schedule_nor_outlives_the_real_ones(
    tmp_path: Path,
) -> None:
    """The clock was once set years ahead (a Pi without a real-time clock): the backup it
    named then must not put the next one off, and is the first pruned. Each is 0600."""
    config = NodeConfig(data_dir=tmp_path / "node", backup_daily_keep=2)
    await asyncio.to_thread(ensure_data_dir, config)
    clock = ManualClock(wall=2_000_000_000)  # 2033
    backups = NodeBackups(config, clock, Metrics())
    assert await backups.tick() == 86_400
    clock.set_wall(1_800_000_000)  # set back to 2027
    assert await backups.tick() == 86_400  # made now, not in seven years
    clock.advance(86_400)
    assert await backups.tick() == 86_400
    held = await asyncio.to_thread(daily_backups, config.backups_path)
    assert [made_at(p) for p in held] == [1_800_000_000, 1_800_086_400]  # the future one pruned first
    assert config.backups_path.stat().st_mode & 0o777 == 0o700
    assert all(p.stat().st_mode & 0o777 == 0o600 for p in held)
