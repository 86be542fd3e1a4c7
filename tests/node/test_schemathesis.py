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

# An event's fields must also fit together, which JSON Schema cannot say: an end
# after its start (within a day), a repeat its start falls on, a time zone the
# node's database knows, a start within the year. Those are answered 422
# invalid_event (documented): there, and only there, a schema-valid request may be
# refused with 422, and most generated events are (independent random times
# rarely fit), so the "mostly rejected" warnings are not shown for them.
[[operations]]
include-path-regex = "^/api/v1/events"

[operations.checks.positive_data_acceptance]
expected-statuses = ["2xx", "3xx", "401", "403", "404", "409", "422", "429", "5xx"]

[operations.warnings]
display = ["missing_auth", "base_url_mismatch", "missing_deserializer", "unused_openapi_auth", "unsupported_regex",
           "method_not_allowed", "rate_limited"]
"""
EXAMPLES = 40
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
