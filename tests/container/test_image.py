"""The node's image, built and run as docker/README.md tells an operator to:
built from docker/Dockerfile on the pinned base with the locked wheels alone;
a node in it answers /healthz, takes a post and finds it, and stops cleanly
on SIGTERM; docker/compose.yaml starts three nodes in order of health, with
their limits, under each Compose (Debian's 1.29 and v2), and a post made on
one is found on the others.

One engine and one build serve the module (a file's tests run in one worker).
What the tests measure (image size, build and stop times, Compose versions)
is printed at the end of the run (tests/conftest.py)."""

from __future__ import annotations

import json
import re
import secrets
import subprocess
import sys
import time
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import pytest

from tests._nodes import call, wait_until
from tests.container._engine import CACHE, COMPOSE_V1, DOCKER, ROOT, Engine, cached_base, require
from tests.node._support import need
from tests.peering.conftest import free_port

pytestmark = [pytest.mark.container, pytest.mark.slow]

TAG = "mutualaid:test"
BASE_TAG = "mutualaid-base:bookworm"
DOCKERFILE = ROOT / "docker" / "Dockerfile"
COMPOSE_FILE = ROOT / "docker" / "compose.yaml"
LOCK = ROOT / "docker" / "requirements.lock"
MIB = 1 << 20
STOP_GRACE_S = 60
RecordProperty = Callable[[str, object], None]


@dataclass(frozen=True)
class Built:
    base_layer: str
    seconds: float


@pytest.fixture(scope="module")
def engine() -> Iterator[Engine]:
    engine = Engine()
    try:
        engine.start()
        yield engine
    finally:
        engine.stop()


@pytest.fixture(scope="module")
def image(engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> Built:
    """The base loaded from the cache (and checked against the ID recorded
    when it was made), a build context from docker/prepare.py, one build."""
    archive, pinned = cached_base()
    engine.docker("load", "--quiet", "--input", archive, timeout=300)
    (base,) = engine.inspect(BASE_TAG)
    assert base["Id"] == pinned, f"{archive} loaded as {base['Id']}, not as {pinned}"
    context = tmp_path_factory.mktemp("context")
    made = subprocess.run(
        [sys.executable, str(ROOT / "docker" / "prepare.py"), "context", str(context)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert made.returncode == 0, f"docker/prepare.py context failed:\n{made.stderr}"
    started = time.monotonic()
    engine.docker(
        "build", "--network=host", "--build-arg", f"BASE_IMAGE={BASE_TAG}",
        "--file", DOCKERFILE, "--tag", TAG, context, timeout=600,
    )  # fmt: skip
    return Built(base["RootFS"]["Layers"][0], time.monotonic() - started)


def health(engine: Engine, container: str) -> str:
    (state,) = engine.inspect(container)
    return str(state["State"].get("Health", {}).get("Status", "none"))


def a_word() -> str:
    return "zq" + secrets.token_hex(4)


# -- the image ---------------------------------------------------------------


def test_the_image_is_built_on_the_pinned_base_and_its_size_is_reported(
    engine: Engine, image: Built, record_property: RecordProperty
) -> None:
    (built,) = engine.inspect(TAG)
    assert built["RootFS"]["Layers"][0] == image.base_layer
    assert built["Config"]["User"] == "10001:10001"
    assert built["Config"]["Healthcheck"]["Test"][0] == "CMD"
    size = int(built["Size"])
    listing = engine.docker("images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}} {{.Size}}").stdout
    print(listing)
    record_property("container image", f"{size} bytes ({size / MIB:.1f} MiB), built in {image.seconds:.1f} s")
    record_property("container images", "; ".join(listing.split("\n")).strip("; "))
    # A guard against a stage leaking into the image, not a measurement.
    assert 0 < size < 400 * MIB


# Run inside the image: what is installed, and what must not be there.
INVENTORY = """
import importlib.metadata, importlib.util, json, os, re, shutil
git = []
for top, dirs, _ in os.walk("/"):
    if top == "/":
        dirs[:] = [d for d in dirs if d not in ("proc", "sys", "dev")]
    git += [os.path.join(top, d) for d in dirs if d == ".git"]
dists = importlib.metadata.distributions()
print(json.dumps({
    "dists": {re.sub(r"[-_.]+", "-", d.metadata["Name"]).lower(): d.version for d in dists},
    "tools": [t for t in ("gcc", "cc", "c++", "make", "git", "pip", "pip3") if shutil.which(t)],
    "modules": [m for m in ("pip", "tests", "bench") if importlib.util.find_spec(m)],
    "git": git,
    "dirs": [d for d in ("/build", "/src", "/wheels") if os.path.exists(d)],
    "uid": os.getuid(),
}))
"""


def locked_pins() -> dict[str, str]:
    pins = re.findall(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s\\]+)", LOCK.read_text(), re.MULTILINE)
    return {re.sub(r"[-_.]+", "-", name).lower(): version for name, version in pins}


def test_the_image_holds_the_locked_dependencies_and_nothing_to_build_with(engine: Engine, image: Built) -> None:
    out = engine.docker("run", "--rm", "--network=none", "--entrypoint", "python3", TAG, "-c", INVENTORY).stdout
    inside = json.loads(out)
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert inside["dists"] == locked_pins() | {"mutualaid": version}
    assert inside["tools"] == []
    assert inside["modules"] == []
    assert inside["git"] == []
    assert inside["dirs"] == []
    assert inside["uid"] == 10001


# -- one node --------------------------------------------------------------------


def test_a_node_in_the_container_answers_takes_a_post_finds_it_and_stops_on_sigterm(
    engine: Engine, image: Built, record_property: RecordProperty
) -> None:
    port = free_port()
    name = "single"
    engine.docker(
        "run", "--detach", "--name", name, "--network=host", "--health-interval=1s",
        "--env", "MUTUALAID_LISTEN_HOST=127.0.0.1", "--env", f"MUTUALAID_LISTEN_PORT={port}", TAG,
    )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: health(engine, name) == "healthy", "the image's health check passes", 60, every_s=0.2)
        assert call(f"{url}/healthz") == {"status": "ok"}

        word = a_word()
        posted = call(f"{url}/api/v1/records", "POST", need(title=f"Winter coats, ask for {word}"))
        assert isinstance(posted, dict)
        found = call(f"{url}/api/v1/records?q={word}")
        assert isinstance(found, dict)
        assert [r["id"] for r in found["records"]] == [posted["record"]["id"]]
        # docker/README.md's commands, run in the container.
        status = engine.docker("exec", name, "mutualaid", "status", "--node", url).stdout
        assert "posts: needs 1, offers 0" in status
        engine.docker("exec", name, "mutualaid", "backup", "/data/node.backup")

        started = time.monotonic()
        engine.docker("stop", "--time", str(STOP_GRACE_S), name, timeout=STOP_GRACE_S + 30)
        took = time.monotonic() - started
        (stopped,) = engine.inspect(name)
        logs = engine.docker("logs", name)
        log = logs.stdout + logs.stderr
        assert stopped["State"]["ExitCode"] == 0, log
        assert not stopped["State"]["OOMKilled"]
        # Well inside the grace period: the node stopped itself, no SIGKILL.
        assert took < STOP_GRACE_S / 2, f"docker stop took {took:.1f} s"
        assert "shutting down" in log
        assert "Traceback" not in log
        record_property("container SIGTERM to exit", f"{took:.1f} s")
    finally:
        engine.docker("rm", "--force", "--volumes", name, check=False)


# -- three nodes under compose -------------------------------------------------------


@pytest.fixture(params=["1.29", "v2"])
def compose(request: pytest.FixtureRequest, engine: Engine) -> tuple[list[str], str]:
    """The Compose command and its version: Debian's docker-compose 1.29, and
    v2 as the `docker compose` plugin (from docker/prepare.py's cache)."""
    if request.param == "1.29":
        require(Path(COMPOSE_V1).is_file(), f"{COMPOSE_V1} is missing (Debian's docker-compose)")
        argv = [COMPOSE_V1]
    else:
        binary = CACHE / "compose-v2" / "docker-compose"
        require(binary.is_file(), f"no Compose v2 at {binary}")
        plugin = engine.home / "config" / "cli-plugins" / "docker-compose"
        if not plugin.exists():
            plugin.symlink_to(binary)
        argv = [DOCKER, "compose"]
    version = engine.run([*argv, "version", "--short"]).stdout.strip().removeprefix("v")
    assert version.startswith("1.29." if request.param == "1.29" else "2."), version
    return argv, version


def first_events(engine: Engine, project: str, since: float) -> dict[tuple[str, str], int]:
    """(service, action) -> when it first happened (ns), from the engine's
    event log: "start", and "health_status: healthy"."""
    lines = engine.docker(
        "events", "--since", f"{since:.3f}", "--until", f"{time.time():.3f}",
        "--filter", f"label=com.docker.compose.project={project}", "--filter", "type=container",
        "--format", "{{json .}}",
    ).stdout.splitlines()  # fmt: skip
    first: dict[tuple[str, str], int] = {}
    for line in lines:
        event = json.loads(line)
        key = (event["Actor"]["Attributes"]["com.docker.compose.service"], event["Action"])
        first[key] = min(first.get(key, event["timeNano"]), event["timeNano"])
    return first


def test_three_nodes_start_in_order_of_health_share_a_post_and_stop_cleanly(
    engine: Engine, image: Built, compose: tuple[list[str], str], record_property: RecordProperty
) -> None:
    argv, version = compose
    project = "mesh" + re.sub(r"\W", "", version)
    port = free_port()
    env = {"MUTUALAID_IMAGE": TAG, "MUTUALAID_PORT": str(port), "MUTUALAID_HEALTH_INTERVAL": "1s"}

    def run(*args: str, timeout: float = 180, check: bool = True) -> subprocess.CompletedProcess[str]:
        command = [*argv, "--project-name", project, "--file", str(COMPOSE_FILE), *args]
        return engine.run(command, env=env, timeout=timeout, check=check)

    since = time.time() - 1
    try:
        started = time.monotonic()
        run("up", "--detach")
        nodes = {service: run("ps", "--quiet", service).stdout.strip() for service in "abc"}
        assert all(nodes.values()), nodes
        wait_until(
            lambda: all(health(engine, node) == "healthy" for node in nodes.values()),
            "the three nodes are healthy", 90, every_s=0.2,
        )  # fmt: skip
        healthy_after = time.monotonic() - started

        # b started only once a was healthy; c once a and b were.
        first = first_events(engine, project, since)
        healthy = {service: first[service, "health_status: healthy"] for service in "abc"}
        assert first["b", "start"] > healthy["a"]
        assert first["c", "start"] > max(healthy["a"], healthy["b"])

        for node in nodes.values():
            (container,) = engine.inspect(node)
            host = container["HostConfig"]
            assert (host["Memory"], host["PidsLimit"]) == (256 * MIB, 128)
            assert host["ReadonlyRootfs"] and host["Init"] and "ALL" in host["CapDrop"]

        word = a_word()
        posted = call(f"http://127.0.0.1:{port}/api/v1/records", "POST", need(title=f"Firewood, ask for {word}"))
        assert isinstance(posted, dict)

        def holds_the_post(service: str) -> bool:
            out = run("exec", "-T", service, "mutualaid", "search", "--text", word, "--json").stdout
            return posted["record"]["id"] in [r["id"] for r in json.loads(out)["records"]]

        for service in "bc":
            wait_until(partial(holds_the_post, service), f"node {service} holds the post made on a", 60, every_s=1)

        stopping = time.monotonic()
        run("stop", timeout=300)
        stopped_after = time.monotonic() - stopping
        for service, node in nodes.items():
            (container,) = engine.inspect(node)
            assert container["State"]["ExitCode"] == 0, f"{service}: {engine.docker('logs', node).stderr}"
            assert not container["State"]["OOMKilled"]
        record_property(
            f"container compose {version}",
            f"up and healthy in {healthy_after:.1f} s, stopped in {stopped_after:.1f} s",
        )

        run("down", "--volumes")
        label = f"label=com.docker.compose.project={project}"
        assert engine.docker("ps", "--all", "--quiet", "--filter", label).stdout.strip() == ""
        assert engine.docker("volume", "ls", "--quiet", "--filter", label).stdout.strip() == ""
        assert engine.docker("network", "ls", "--quiet", "--filter", label).stdout.strip() == ""
    finally:
        run("down", "--volumes", check=False)
