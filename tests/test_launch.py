# The test and bench launcher (tests/_launch.py) on stand-in programs: a node
# that dies or prints something else is a clear NodeStartError with its log;
# a hung one is killed by stop, which says so.

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests._launch import NodeProcess, NodeStartError, child_env


def fake(code: str) -> tuple[str, ...]:
    """A program that runs ``code`` and ignores the ``run ...`` arguments it is given."""
    return (sys.executable, "-c", code)


def test_a_node_that_exits_before_listening_is_reported_with_its_log(tmp_path: Path) -> None:
    log = tmp_path / "node.log"
    code = "import sys; sys.stderr.write('no data dir'); sys.exit(2)"
    with (
        NodeProcess([], program=fake(code), log=log) as process,
        pytest.raises(NodeStartError, match=r"exited with 2 before listening(.|\n)*no data dir"),
    ):
        process.wait_ready(10)


def test_anything_but_the_listening_line_is_refused() -> None:
    code = "print('hello', flush=True); import time; time.sleep(30)"
    with (
        NodeProcess([], program=fake(code)) as process,
        pytest.raises(NodeStartError, match="expected the listening line, got 'hello'"),
    ):
        process.wait_ready(10)


def test_the_url_is_read_from_the_listening_line_and_a_hang_is_killed() -> None:
    code = (
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN);"
        "print('mutualaid node listening on http://127.0.0.1:4321', flush=True); time.sleep(60)"
    )
    process = NodeProcess([], program=fake(code))
    assert process.wait_ready(10) == "http://127.0.0.1:4321"
    assert process.stop(grace_s=0.5) is None  # ignored SIGTERM: killed, and the caller told
    assert not process.running()


def test_settings_become_mutualaid_variables_and_ours_are_left_out(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MUTUALAID_MAX_PEERS", "99")
    env = child_env(settings={"max_peers": "2"})
    assert env["MUTUALAID_MAX_PEERS"] == "2"
    assert "PATH" in env
    assert child_env({"HOME": "/x"}) == {"HOME": "/x"}  # an env given is used as is
