"""A node keeps only the kinds and areas it serves, whatever its peers send."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from tests._nodes import MUTUALAID, ROOT, call, start, stop


def wait_for(check: Callable[[], bool], seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds  # only guards against a hang
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError("condition never became true")


def titles(url: str) -> set[str]:
    found = call(f"{url}/api/v1/records?limit=100")
    assert isinstance(found, dict)
    return {r["title"] for r in found["records"]}


def test_a_node_serving_one_town_keeps_only_that_town(tmp_path: Path) -> None:
    subprocess.run([*MUTUALAID, "init", "--data-dir", str(tmp_path / "town"), "--area", "u4p"], check=True, cwd=ROOT)
    everywhere, url_all = start(tmp_path / "all")
    town, url_town = start(tmp_path / "town", url_all)
    try:
        post = {"kind": "need", "category": "food", "title": ""}
        call(f"{url_all}/api/v1/records", "POST", post | {"title": "far away", "area": "9q8yy"})
        call(f"{url_all}/api/v1/records", "POST", post | {"title": "in town", "area": "u4pru"})
        call(f"{url_town}/api/v1/records", "POST", post | {"title": "posted in town", "area": "u4prv"})
        wait_for(lambda: "in town" in titles(url_town) and "posted in town" in titles(url_all))
        # A later sync brings nothing from outside the town either.
        call(f"{url_all}/api/v1/records", "POST", post | {"title": "in town again", "area": "u4pry"})
        wait_for(lambda: "in town again" in titles(url_town))
        assert titles(url_town) == {"in town", "posted in town", "in town again"}
        assert "far away" in titles(url_all)
    finally:
        for process in (town, everywhere):
            assert stop(process) == 0
    assert sys.executable
