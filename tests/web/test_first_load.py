# The first load of the main page in a real Chromium (empty cache): every
# request goes to the node, the total stays under 100 KB, and the requests
# are exactly the ones bench/bench_page.py fetches over plain HTTP, so the
# benchmark (which runs outside the namespace, without a browser) measures
# what a browser really loads; what the page asks for after its first paint
# ("What we heard") is modelled apart and is not counted in the first load.
# A second visit revalidates only the page.

from __future__ import annotations

import re
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Response

from bench import bench_page
from tests._nodes import stop
from tests.web.conftest import open_page, start_node

pytestmark = pytest.mark.slow


def test_first_load_is_small_and_matches_the_benchmark(browser: Browser, tmp_path: Path) -> None:
    node = start_node(tmp_path / "n", "First load")
    try:
        bench_page.seed(node.url)
        visit = open_page(browser)
        page = visit.page
        responses: list[Response] = []
        page.on("response", lambda response: responses.append(response))  # noqa: PLW0108 - needs a Python function
        with page.expect_response(lambda r: "/api/v1/findings" in r.url):  # after the first paint
            page.goto(f"{node.url}/")
            page.locator(".card").first.wait_for()
        page.wait_for_load_state("networkidle")
        assert page.locator(".card").count() == 20
        assert page.locator("section.heard").is_hidden()  # nothing heard yet: nothing shown
        seen = sorted(_path(r.url) for r in responses)
        first = bench_page.first_load(node.url)
        later = bench_page.after_first_paint(node.url, first)
        assert [t.path.split("?")[0] for t in later] == [
            "/static/heard.js",
            "/static/i18n-massline.js",
            "/api/v1/findings",
        ]
        assert seen == sorted(t.path for t in [*first, *later])
        first_paths = {t.path for t in first}
        sizes = [r.request.sizes() for r in responses if _path(r.url) in first_paths]
        total = sum(s["responseHeadersSize"] + s["responseBodySize"] for s in sizes)
        assert 10_000 < total < bench_page.TARGET_BYTES, total
        assert all(s["responseBodySize"] > 0 for s in sizes)
        assert visit.foreign(node.url) == [] and visit.errors == []

        # A second visit in the same browser: the page is revalidated (304),
        # the versioned files come from the cache, only the API is asked
        # again. Counted where it matters, on the node's side.
        before = _served(node.url)
        responses.clear()
        page.goto(f"{node.url}/#/post")
        page.get_by_label("Title").wait_for()
        page.goto(f"{node.url}/")
        page.locator(".card").first.wait_for()
        page.wait_for_load_state("networkidle")
        after = _served(node.url)
        api_calls = sum(1 for r in responses if _path(r.url).startswith("/api/"))
        # 304s: only / . 200s: the API calls the browser made, the post view's
        # modules (their first use: post.js, forms.js and the later views'
        # strings, i18n-views.js), and the first /metrics call itself; no other file.
        post_view = ("post.js", "forms.js", "i18n-views.js")
        assert after["3xx"] - before["3xx"] == 1
        assert after["2xx"] - before["2xx"] == api_calls + len(post_view) + 1

        # Paging: a 21st post is behind "Show more", which follows the API's cursor.
        bench_page.seed(node.url, 1)
        page.reload()
        page.locator(".card").first.wait_for()
        assert page.locator(".card").count() == 20
        page.get_by_role("button", name="Show more").click()
        page.locator(".card").nth(20).wait_for()
        assert page.locator(".card").count() == 21
        assert page.get_by_role("button", name="Show more").is_hidden()
        page.context.close()
    finally:
        assert stop(node.process) == 0


def _path(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def _served(url: str) -> dict[str, int]:
    """The node's own count of the requests it answered, by status class (the
    /metrics request itself is counted after it is answered)."""
    with urllib.request.urlopen(f"{url}/metrics", timeout=30) as response:  # noqa: S310 - loopback
        text = response.read().decode()
    counts = dict(re.findall(r'^mutualaid_http_requests_total\{status="(\dxx)"\} (\d+)$', text, re.M))
    return {k: int(counts.get(k, 0)) for k in ("2xx", "3xx")}
