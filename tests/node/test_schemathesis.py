# The outside fuzzer the API is held to: schemathesis, every phase (examples,
# coverage, fuzzing, stateful through the document's links), against
# /api/v1/openapi.json of a real node process started through the CLI: once
# with the admin token as an operator would run it, once with a member's card
# (the member API, proposals and ballots; leaving and replacing the card are
# left out of that run, since either would end the card it runs with). It must find no failure (no server
# error, no schema-valid request refused, no schema-violating one accepted,
# no answer outside the documented schemas) and no "validation mismatch"
# (an operation refusing most of what its schema allows).
#
# The node and schemathesis run in a network namespace of their own holding
# only loopback: schemathesis adds peers at URLs it makes up, and the node
# dials its peers, so nothing may route anywhere.

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests._launch import NodeProcess, run_args

SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
CONFIG = """\
[warnings]
fail-on = ["validation_mismatch"]

[generation]
max-examples = {examples}

# An event's fields must also fit together and with today (an end after its
# start, a repeat its start falls on, a zone the node's time zone database
# knows, a start within the coming year): rules no JSON Schema can say,
# answered 422 invalid_event; most random events break one. For these three
# operations the fuzzer may not count that against the document (neither as
# a refused valid request nor as a mismatch); every other check still runs.
[[operations]]
include-operation-id = ["publishEvent", "editEvent", "suggestEvent"]
warnings = false
checks.positive_data_acceptance.enabled = false

# A bundle is bytes an exporting node signed, every one of them (docs/PROTOCOL.md
# section 9): no schema can say which bytes carry a valid Ed25519 signature, so
# random bytes are refused 400 bad_bundle, as they must be. The same exemption;
# every other check (the status documented, the one error shape) still runs.
[[operations]]
include-operation-id = ["importBundle"]
warnings = false
checks.positive_data_acceptance.enabled = false
"""
EXAMPLES = 15
"""Per operation and phase: enough to meet every declared field's edges (the
coverage phase walks them all, whatever this says), little enough for the suite."""


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


@pytest.fixture
def namespace() -> Iterator[str]:
    if shutil.which("ip") is None or os.geteuid() != 0:
        pytest.fail("this test needs iproute2 ('ip') and root for its network namespace: run it through make test")
    name = f"ma{os.getpid()}st"
    _ip("netns", "add", name)
    try:
        _ip("-n", name, "link", "set", "lo", "up")
        yield name
    finally:
        _ip("netns", "delete", name)


@pytest.mark.slow
def test_schemathesis_finds_nothing(namespace: str, tmp_path: Path) -> None:
    inside = ["ip", "netns", "exec", namespace]
    data = tmp_path / "node"
    with NodeProcess(run_args(data, "127.0.0.1:8440"), prefix=inside, log=tmp_path / "node.log") as node:
        node.wait_ready()
        token = (data / "admin.token").read_text().strip()
        (tmp_path / "schemathesis.toml").write_text(CONFIG.format(examples=EXAMPLES))
        card = _join(inside, node.url, token)  # before the fuzzer spends this address's failed joins
        _fuzz(inside, node.url, token, tmp_path)
        _fuzz(inside, node.url, card, tmp_path, "--exclude-operation-id", "leave",
              "--exclude-operation-id", "replaceCard")  # fmt: skip
        assert node.running(), node.log_text()


def _fuzz(inside: list[str], url: str, credential: str, cwd: Path, *extra: str) -> None:
    result = subprocess.run(
        [*inside, str(SCHEMATHESIS), "run", f"{url}/api/v1/openapi.json",
         "--header", f"Authorization: Bearer {credential}", "--exclude-path-regex", "^/peer/",
         "--workers", "1", "--seed", "9", "--no-color", *extra],
        cwd=cwd, capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    report = result.stdout + result.stderr
    (cwd / f"schemathesis-{len(list(cwd.glob('schemathesis-*.txt')))}.txt").write_text(report)
    assert result.returncode == 0, report[-8000:]
    for phase in ("Examples", "Coverage", "Fuzzing", "Stateful"):
        assert phase in report, f"the {phase} phase did not run:\n{report[-4000:]}"
    assert "validation mismatch" not in report.lower(), report[-8000:]
    assert "0 failures" in report or " passed" in report, report[-4000:]


def _join(inside: list[str], url: str, token: str) -> str:
    """A member card, made with an invite from the operator (the founding period)."""
    script = (
        "import json, sys, urllib.request as u\n"
        "def call(path, body, auth=None):\n"
        "    r = u.Request(sys.argv[1] + path, json.dumps(body).encode(), {'Content-Type': 'application/json'})\n"
        "    if auth: r.add_header('Authorization', 'Bearer ' + auth)\n"
        "    return json.load(u.urlopen(r))\n"
        "code = call('/api/v1/invites', {}, sys.argv[2])['invites'][0]['code']\n"
        "print(call('/api/v1/members', {'code': code, 'name': 'Fuzzer'})['card'])\n"
    )
    done = subprocess.run([*inside, sys.executable, "-c", script, url, token], capture_output=True, text=True,
                          check=True, timeout=60)  # fmt: skip
    return done.stdout.strip()
