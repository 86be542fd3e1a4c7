# Fixtures for the LAN tests: network namespaces on a bridge (tests/lan/_netns.py)
# and real node processes started inside them through the CLI, with no --peer:
# they must find each other by mDNS. Everything here is synchronous.

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.lan._netns import Lan, LanNodes


@pytest.fixture
def lan(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LanNodes]:
    """Three hosts on one bridge (``@pytest.mark.hosts(n)`` for another number)."""
    if shutil.which("ip") is None:
        pytest.fail("the LAN tests need iproute2 ('ip') and root: run them through .ci/run or as root")
    marker = request.node.get_closest_marker("hosts")
    network = Lan(marker.args[0] if marker else 3)
    nodes = LanNodes(network, tmp_path)
    try:
        yield nodes
    finally:
        nodes.cleanup()
        network.close()
        for node in nodes.started:  # shown by pytest only when the test failed
            print(f"----- {node.log_path.name} -----\n{node.log()[-4000:]}")
