"""Suite-wide fixtures.

Every async test runs under blockbuster, which turns a blocking call made on
the event loop's thread (file or socket I/O, sleep, SQLite) into an error:
a node must never stall its loop, and a test is where we find out.

Hypothesis runs without its per-example deadline: a deadline is a timed
assertion, and on a loaded two-core machine the first example (a library
loading) took 460 ms once and failed a test that found nothing wrong.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from blockbuster import blockbuster_ctx
from hypothesis import settings

settings.register_profile("mutualaid", deadline=None)
settings.load_profile("mutualaid")


@pytest.fixture(autouse=True)
def no_blocking_on_the_loop(request: pytest.FixtureRequest) -> Iterator[None]:
    if request.node.get_closest_marker("asyncio") is None and not _is_async(request):
        yield
        return
    with blockbuster_ctx(["crypto", "protocol", "storage"]):
        yield


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
