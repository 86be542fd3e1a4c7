# The area chooser in a real Chromium against real node processes: the
# node's own areas with how wide each is, and on a node with no areas
# configured, the areas of the posts it holds, so nobody has to know what a
# geohash is to post.

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Browser

from tests._nodes import call, start, stop
from tests.web._flows import post_through_form
from tests.web.conftest import Node, Visit, open_page

pytestmark = pytest.mark.slow


def options(visit: Visit) -> list[str]:
    area = visit.page.get_by_label("Area", exact=True)
    area.wait_for()
    labels = area.evaluate("el => [...el.options].map((o) => o.value + '=' + o.textContent)")
    assert isinstance(labels, list)
    return labels


def test_the_nodes_areas_are_offered_with_how_wide_they_are(visit: Visit, node_a: Node) -> None:
    visit.page.goto(f"{node_a.url}/#/post")
    assert options(visit) == ["u4pr=u4pr (about 40 km)", "u4ps=u4ps (about 40 km)", "=Another area (type its code)"]
    assert visit.errors == []


def test_a_node_without_areas_offers_the_areas_its_posts_use(browser: Browser, tmp_path: Path) -> None:
    data = tmp_path / "plain"
    data.mkdir()
    (data / "config.toml").write_text('name = "No areas here"\n')
    process, url = start(data)
    try:
        for area, n in (("9q8yy", 3), ("dr5r", 1)):
            for i in range(n):
                call(
                    f"{url}/api/v1/records",
                    "POST",
                    {"kind": "need", "title": f"Post {area} {i}", "category": "food", "area": area},
                )
        visit = open_page(browser)
        visit.page.goto(f"{url}/#/post")
        assert options(visit) == [
            "9q8yy=9q8yy (about 5 km)",
            "dr5r=dr5r (about 40 km)",
            "=Another area (type its code)",
        ]
        _, record_id, _ = post_through_form(visit.page, url, {"title": "Soup for two", "area": "dr5r"})
        stored = call(f"{url}/api/v1/records/{record_id}")
        assert isinstance(stored, dict) and stored["area"] == "dr5r"
        assert visit.errors == []
        visit.page.context.close()
    finally:
        assert stop(process) == 0
