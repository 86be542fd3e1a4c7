# Fixtures for the storage tests: a real RecordStore on a real file in tmp_path.

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from storage import RecordStore
from tests.storage._support import close_or_fail


@pytest.fixture
def db_path(tmp_path: Path) -> str:
    return str(tmp_path / "records.db")


@pytest.fixture
async def store(db_path: str) -> AsyncIterator[RecordStore]:
    opened = await RecordStore.open(db_path)
    try:
        yield opened
    finally:
        await close_or_fail(opened)
