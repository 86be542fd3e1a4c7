"""Suite-wide fixtures.

Every async test runs under blockbuster, which turns a blocking call made on
the event loop's thread (file or socket I/O, sleep, SQLite) into an error:
a node must never stall its loop, and a test is where we find out.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from blockbuster import blockbuster_ctx


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
