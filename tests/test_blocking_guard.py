"""The suite's guard against blocking the event loop is really on."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from blockbuster import BlockingError

from crypto import NodeIdentity


async def test_blocking_file_io_from_our_code_on_the_loop_fails(tmp_path: Path) -> None:
    identity = NodeIdentity.generate()
    with pytest.raises(BlockingError):
        identity.save(tmp_path / "key")  # synchronous file I/O on the loop's thread


async def test_the_same_work_in_a_thread_is_fine(tmp_path: Path) -> None:
    identity = NodeIdentity.generate()
    await asyncio.to_thread(identity.save, tmp_path / "key")
    assert await asyncio.to_thread((tmp_path / "key").exists)
