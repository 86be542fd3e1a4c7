"""Imports go one way: node -> storage -> protocol -> crypto, and inside
node/ the process (cli, app, routes, openapi, admin_api) -> members ->
chapter -> peering -> core.

The pure core stays pure: protocol/ touches no sockets, threads, clock or
database, nor draws randomness of its own (the caller passes it in, as it
passes the time; it may do calendar arithmetic with ``datetime`` on dates it
is given, never read the clock), and only crypto/ touches the cryptography
libraries.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LAYERS = ["crypto", "protocol", "storage", "node"]
IMPURE = {
    "asyncio",
    "socket",
    "aiohttp",
    "aiosqlite",
    "sqlite3",
    "time",
    "threading",
    "os",
    "random",
    "secrets",
}
CRYPTO_LIBS = {"cryptography", "nacl"}


NODE_ROOMS = ["core", "peering", "chapter", "members"]
"""node/'s rooms, lowest first; the modules at node/'s top level are the process, above them all."""


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def node_room(module: str) -> str | None:
    """The room of a module under node/ ("process" for node/'s top level), None outside node/."""
    parts = module.split(".")
    if parts[0] != "node" or len(parts) == 1:
        return None
    return parts[1] if parts[1] in NODE_ROOMS else "process"


@pytest.mark.parametrize("room", NODE_ROOMS)
def test_node_rooms_import_only_down(room: str) -> None:
    above = {*NODE_ROOMS[NODE_ROOMS.index(room) + 1 :], "process"}
    for path in sorted((ROOT / "node" / room).rglob("*.py")):
        for module in imported_modules(path):
            target = node_room(module)
            if module in ("node", "node.__version__"):
                continue  # the package itself: its version
            assert target not in above, f"{path.relative_to(ROOT)} imports {module}, a room above {room}"


def imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    roots: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py")) if (ROOT / package).is_dir() else []


@pytest.mark.parametrize("package", LAYERS)
def test_imports_only_go_down(package: str) -> None:
    above = set(LAYERS[LAYERS.index(package) + 1 :])
    for path in modules(package):
        wrong = imported_roots(path) & above
        assert not wrong, f"{path.relative_to(ROOT)} imports {wrong}, a layer above {package}"


CLOCK_READS = {"now", "today", "utcnow", "fromtimestamp", "utcfromtimestamp", "astimezone", "localtime"}
"""``datetime`` calls that read the clock or the machine's time zone. protocol/ may
do calendar arithmetic on dates it is given (an event's local times, its repeats),
but never asks what time it is, nor where the machine is."""


def test_protocol_is_pure() -> None:
    for path in modules("protocol"):
        wrong = imported_roots(path) & IMPURE
        assert not wrong, (
            f"{path.relative_to(ROOT)} imports {wrong}; protocol/ takes time, randomness and I/O as arguments"
        )
        tree = ast.parse(path.read_text(), filename=str(path))
        calls = {n.func.attr for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)}
        assert not calls & CLOCK_READS, f"{path.relative_to(ROOT)} reads the clock: {calls & CLOCK_READS}"


def test_only_crypto_touches_crypto_libraries() -> None:
    for package in [*LAYERS[1:], "bench"]:
        for path in modules(package):
            wrong = imported_roots(path) & CRYPTO_LIBS
            assert not wrong, f"{path.relative_to(ROOT)} imports {wrong}; use the crypto package"


def test_layers_exist() -> None:
    for package in ("crypto", "protocol", "storage"):
        assert modules(package), package
