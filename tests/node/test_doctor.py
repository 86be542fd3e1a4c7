"""``mutualaid doctor`` (issue 12, part) on real nodes: all well, then each fault a
volunteer meets (a secret others can read, a peer gone, the node stopped, a damaged
database, no recent backup), each named with what to do, and the exit code 1 when
something failed. A peer's clock cannot be set wrong here: its ``Date`` is given."""

from __future__ import annotations

import email.utils
import json
import os
import re
import time
import urllib.request
from pathlib import Path
from typing import Any

from node.operate import doctor
from tests._nodes import wait_until
from tests.node._cli import HANG_GUARD_S, RUN_FLAGS, cli, cli_env, init, run_node


def _doctor(env: dict[str, str], *args: str) -> tuple[int, dict[str, list[dict[str, str]]]]:
    result = cli(env, "doctor", "--json", *args)
    assert "Traceback" not in result.stderr, result.stderr
    found: dict[str, list[dict[str, str]]] = {}
    for finding in json.loads(result.stdout)["findings"]:
        found.setdefault(finding["check"], []).append(finding)
    return result.returncode, found


def _link_state(node: str, data_dir: Path) -> str | None:
    """The state of the node's one peer link, from its operator API."""
    token = (data_dir / "admin.token").read_text().strip()
    request = urllib.request.Request(f"{node}/api/v1/peers", headers={"Authorization": f"Bearer {token}"})  # noqa: S310
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - a loopback URL of our own node
        peers = json.loads(response.read())["peers"]
    return str(peers[0]["state"]) if peers else None


def _levels(found: dict[str, list[dict[str, str]]]) -> dict[str, set[str]]:
    return {check: {f["level"] for f in items} for check, items in found.items()}


def test_a_healthy_node_then_each_fault_with_what_to_do(tmp_path: Path) -> None:
    env = cli_env(tmp_path)
    a_dir, b_dir, backups = tmp_path / "a", tmp_path / "b", tmp_path / "backups"
    init(env, a_dir)
    init(env, b_dir)
    backups.mkdir()
    all_ok = {"permissions", "integrity", "disk", "backup", "node", "peers", "clock", "recovery key"}
    with (
        run_node(env, tmp_path / "b.log", "--data-dir", str(b_dir), *RUN_FLAGS) as b,
        run_node(env, tmp_path / "a.log", "--data-dir", str(a_dir), *RUN_FLAGS, "--peer", b.url) as a,
    ):
        assert cli(env, "backup", str(backups / "a.backup"), "--data-dir", str(a_dir)).returncode == 0
        args = ("--data-dir", str(a_dir), "--node", a.url, "--backups", str(backups))
        # Healthy means linked: a first hello that failed on a loaded machine is a
        # failure the peers check rightly reports until the link connects.
        wait_until(lambda: _link_state(a.url, a_dir) == "connected", "A's link to B is connected", HANG_GUARD_S)
        code, found = _doctor(env, *args)
        assert code == 0 and _levels(found) == {key: {"ok"} for key in all_ok}, found.get("peers")
        assert found["peers"][0]["says"].startswith(b.url)
        # A secret others can read.
        (a_dir / "admin.token").chmod(0o644)
        code, found = _doctor(env, *args)
        assert code == 1 and found["permissions"][0]["todo"] == f"chmod 600 {a_dir / 'admin.token'}"
        (a_dir / "admin.token").chmod(0o600)
        # The peer gone.
        assert b.stop(HANG_GUARD_S) == 0
        code, found = _doctor(env, *args)
        assert code == 1 and _levels(found)["peers"] == {"fail"}
        assert "cannot be reached" in found["peers"][0]["says"]
        # A backup three days old.
        old = time.time() - 3 * 86_400
        os.utime(backups / "a.backup", (old, old))
        code, found = _doctor(env, *args)
        assert _levels(found)["backup"] == {"warn"} and "72 hours old" in found["backup"][0]["says"]
        # A backup made while the clock was years ahead says nothing of how old the backups are.
        ahead = time.time() + 5 * 365 * 86_400
        os.utime(backups / "a.backup", (ahead, ahead))
        code, found = _doctor(env, *args)
        assert _levels(found)["backup"] == {"warn"} and "ahead" in found["backup"][0]["says"], found["backup"]
        os.utime(backups / "a.backup", (old, old))
        # A node made before recovery keys (or whose recovery.pub was lost).
        (a_dir / "recovery.pub").rename(tmp_path / "recovery.pub")
        code, found = _doctor(env, *args)
        assert _levels(found)["recovery key"] == {"warn"} and "key recovery" in found["recovery key"][0]["todo"]
        (tmp_path / "recovery.pub").rename(a_dir / "recovery.pub")
        assert a.stop(HANG_GUARD_S) == 0
    code, found = _doctor(env, "--data-dir", str(a_dir))
    assert code == 1 and found["node"][0]["says"] == f"no node runs on {a_dir}"
    relative = cli(env, "doctor", "--json", "--data-dir", a_dir.name, cwd=tmp_path)  # as a person types it
    assert relative.returncode == 1 and "Traceback" not in relative.stderr
    assert {f["level"] for f in json.loads(relative.stdout)["findings"] if f["check"] == "integrity"} == {"ok"}
    assert _levels(found)["backup"] == {"warn"}  # no --backups: not known
    # A damaged database.
    with (a_dir / "records.db").open("r+b") as db:
        db.seek(100)
        db.write(b"\xff" * 4000)
    code, found = _doctor(env, "--data-dir", str(a_dir))
    assert code == 1 and "records.db is damaged" in found["integrity"][0]["says"]
    code, found = _doctor(env, "--data-dir", str(tmp_path / "nothing"))
    assert code == 1 and found["data directory"][0]["level"] == "fail"


def test_a_peers_clock_is_read_from_its_date(tmp_path: Path) -> None:
    def fake(offset_s: float) -> doctor.Fetch:
        def get(url: str, token: str | None) -> tuple[int, dict[str, str], bytes]:
            if url.endswith("/api/v1/peers"):
                peer = {"url": "http://peer", "state": "connected", "last_sync": None, "failures": 0,
                        "last_error": None}  # fmt: skip
                return 200, {}, json.dumps({"peers": [peer]}).encode()
            return 200, {"Date": email.utils.formatdate(time.time() + offset_s, usegmt=True)}, b""

        return get

    def clock(offset_s: float) -> dict[str, Any]:
        found = doctor.node_checks("http://127.0.0.1:8440", "token", fake(offset_s))
        (finding,) = [f for f in found if f.check == "clock"]
        return finding.as_json()

    assert clock(0)["level"] == "ok"
    ahead = clock(120)
    assert ahead["level"] == "warn" and re.search(r"clock is \+1(19|20|21) s from ours", ahead["says"]), ahead

    def garbled(url: str, token: str | None) -> tuple[int, dict[str, str], bytes]:
        status, headers, body = fake(0)(url, token)
        return status, headers | {"Date": "the day after tomorrow"} if "healthz" in url else headers, body

    (unknown,) = [f for f in doctor.node_checks("http://127.0.0.1:8440", "token", garbled) if f.check == "clock"]
    assert unknown.level == "warn" and "no readable Date" in unknown.says
    late = clock(-15 * 60)
    assert late["level"] == "fail" and "from the future" in late["todo"]


def test_doctor_says_the_node_keeps_the_networks_time(tmp_path: Path) -> None:
    """A node whose pinned peers agree its clock is an hour behind: the peer's
    clock is no failure (the node corrects), and doctor says what it does."""

    def get(url: str, token: str | None) -> tuple[int, dict[str, str], bytes]:
        if url.endswith("/api/v1/peers"):
            peer = {"url": "http://peer", "state": "connected", "last_sync": None, "failures": 0, "last_error": None}
            return 200, {}, json.dumps({"peers": [peer]}).encode()
        if url.endswith("/api/v1/node"):
            return 200, {}, json.dumps({"clock": {"offset_s": 3600, "peers": 2, "correcting": True}}).encode()
        return 200, {"Date": email.utils.formatdate(time.time() + 3600, usegmt=True)}, b""

    found = [f for f in doctor.node_checks("http://127.0.0.1:8440", "token", get) if f.check == "clock"]
    assert [f.level for f in found] == ["warn", "warn"], found
    assert "keeps the network's time" in found[0].todo
    assert "3600 s behind the median of 2 peers' clocks" in found[1].says and "network's time" in found[1].says
