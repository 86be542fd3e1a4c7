"""Suite-wide fixtures.

Every async test runs under blockbuster, which turns a blocking call made on
the event loop's thread (file or socket I/O, sleep, SQLite) into an error:
a node must never stall its loop, and a test is where we find out.

Hypothesis runs without its per-example deadline: a deadline is a timed
assertion, and on a loaded two-core machine the first example (a library
loading) took 460 ms once and failed a test that found nothing wrong.
"""

from __future__ import annotations

import contextlib
import re
import sqlite3
from collections.abc import Iterator
from typing import Any

import aiosqlite
import pytest
from blockbuster import blockbuster_ctx
from hypothesis import settings

from storage import schema
from storage.rows import SETTLE

settings.register_profile("mutualaid", deadline=None)
settings.load_profile("mutualaid")


@pytest.fixture(autouse=True)
def no_blocking_on_the_loop(request: pytest.FixtureRequest) -> Iterator[None]:
    if request.node.get_closest_marker("asyncio") is None and not _is_async(request):
        yield
        return
    with blockbuster_ctx(["crypto", "protocol", "storage"]):
        yield


_ADDRESS_SQL: set[str] = set()
_SCHEMA = re.compile(r"\s*(CREATE|DROP)\b")
_AUTHOR = re.compile(r"\bauthor = \?")


@pytest.fixture(autouse=True)
def address_lookups_use_their_keys(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every statement a test runs in its own process that reads the address tables
    (schema migration 16) looks them up by key: none scans them (a join with
    their view, in a statement with ORDER BY or DISTINCT, would read every
    address); and none that picks records by author reads every row of
    ``records`` (the author's rows are found through the address tables).
    Checked against the schema as migrations make it."""
    seen: set[str] = set()
    for name in ("execute", "executemany", "execute_fetchall"):
        original = getattr(aiosqlite.Connection, name)

        def recording(self: aiosqlite.Connection, sql: str, *args: object, _original: Any = original) -> Any:
            named = "addresses" in sql or ("records" in sql and _AUTHOR.search(sql))
            if named and sql not in _ADDRESS_SQL and not _SCHEMA.match(sql) and sql not in SETTLE:
                seen.add(sql)  # the move of the recent addresses reads them all: that is its work
            return _original(self, sql, *args)

        monkeypatch.setattr(aiosqlite.Connection, name, recording)
    yield
    with contextlib.closing(sqlite3.connect(":memory:")) as db:
        for version in sorted(schema.MIGRATIONS):
            for statement in schema.MIGRATIONS[version]:
                db.execute(statement)
        for sql in seen:
            numbered = [int(n) for n in re.findall(r"\?(\d+)", sql)]
            count = max(numbered) if numbered else sql.count("?")
            steps = [str(row[3]) for row in db.execute(f"EXPLAIN QUERY PLAN {sql}", [None] * count)]
            plan = " | ".join(steps)
            assert not re.search(r"SCAN record_addresses\b|SCAN record_addresses_recent", plan), f"{sql}\n{plan}"
            if _AUTHOR.search(sql):
                assert not {"SCAN records", "SCAN r"} & set(steps), f"{sql}\n{plan}"
            _ADDRESS_SQL.add(sql)


def _is_async(request: pytest.FixtureRequest) -> bool:
    import inspect  # noqa: PLC0415

    return inspect.iscoroutinefunction(getattr(request.node, "obj", None))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """What the container tests measured (image size, build and stop times,
    the Compose versions run), which they record as properties: shown
    whatever the capture mode, and from xdist's workers too."""
    reports = [r for outcome in ("passed", "failed") for r in terminalreporter.stats.get(outcome, [])]
    lines = [f"{name}: {value}" for r in reports for name, value in r.user_properties if name.startswith("container")]
    if lines:
        terminalreporter.write_sep("-", "container measurements")
        for line in lines:
            terminalreporter.write_line(line)
