"""Eight real nodes, 100 ms apart (the suite's version of ``python -m bench
mesh``): node processes started through the CLI, each in its own namespace
behind a delay relay, peered as a sparse mesh. Every post reaches every
node, and after the mesh is cut in two and posts are made on both sides,
every node ends up holding every record once the cut heals. No figure is
asserted: the deadlines only catch a mesh that never converges."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.lan._mesh import Mesh

NODES = 8


@pytest.fixture
def mesh(tmp_path: Path) -> Iterator[Mesh]:
    if shutil.which("ip") is None:
        pytest.fail("the LAN tests need iproute2 ('ip') and root: run them through .ci/run or as root")
    with Mesh(NODES, tmp_path, degree=3) as running:
        running.start()
        yield running


@pytest.mark.slow
def test_posts_reach_every_node_and_a_partition_heals(mesh: Mesh) -> None:
    assert all(sum(1 for link in mesh.links if i in link) >= 2 for i in range(NODES))  # a mesh, not a line
    spread = mesh.broadcast(10, rate=5.0)
    assert len(spread.posted) == 10
    assert spread.requests > 0  # the relays saw the peer traffic
    cut, healed = mesh.partition(3, rate=5.0, hold_s=2.0)  # raises if a record crossed before the heal
    assert len(cut.posted) == 6
    assert all(when >= healed for when in cut.crossings(mesh.logs))
