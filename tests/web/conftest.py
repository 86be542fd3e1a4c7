# Fixtures for the browser tests: one Chromium per session (the system's
# /usr/bin/chromium driven by Playwright; never a downloaded browser), and
# real node processes started through the CLI on 127.0.0.1 port 0.
#
# These tests must run inside the loopback-only namespace
# (../shared/tools/isolated): Chromium makes background lookups to outside
# hosts whatever its flags. Every page records each request it makes, so a
# test can assert that nothing went to another host.

from __future__ import annotations

import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, Request, sync_playwright

from node.core.datadir import read_admin_token
from tests._launch import NodeProcess
from tests._nodes import start, stop

CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"
AREAS_TOML = 'name = "{name}"\nareas = ["u4pr", "u4ps"]\n'


@dataclass
class Node:
    url: str
    data: Path
    process: NodeProcess

    @property
    def database(self) -> Path:
        return self.data / "records.db"

    @property
    def log(self) -> Path:
        return self.data.parent / f"{self.data.name}.log"

    def admin_token(self) -> str:
        return read_admin_token(self.data)


def start_node(data: Path, name: str, *peers: str) -> Node:
    data.mkdir(parents=True)
    (data / "config.toml").write_text(AREAS_TOML.format(name=name))
    process, url = start(data, *peers, extra=("--log-level", "debug"))
    return Node(url, data, process)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Chromium for one test module. Playwright's sync API runs an event loop on the
    main thread while it lives: kept past the module, it would be running when a
    later async test (run in any order under pytest-xdist) starts its own."""
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=["--disable-gpu", "--disable-quic"])
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="session")
def node_a(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    node = start_node(tmp_path_factory.mktemp("web") / "a", "Riverside pantry")
    try:
        yield node
    finally:
        assert stop(node.process) == 0


@dataclass
class Visit:
    """A page plus everything it asked for and every script error it hit."""

    page: Page
    requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def foreign(self, origin: str) -> list[str]:
        """Requests to anything but ``origin`` (data: URLs are not requests to a host)."""
        host = urllib.parse.urlsplit(origin).netloc
        return [u for u in self.requests if not u.startswith("data:") and urllib.parse.urlsplit(u).netloc != host]


def open_page(browser: Browser, locale: str = "en-US", width: int = 360, timezone: str | None = None) -> Visit:
    context = browser.new_context(locale=locale, viewport={"width": width, "height": 740}, timezone_id=timezone)
    page = context.new_page()
    visit = Visit(page)

    def on_request(request: Request) -> None:
        visit.requests.append(request.url)

    def on_console(message: ConsoleMessage) -> None:
        # A 4xx the page asked for on purpose (an old version's id) is logged
        # by Chromium as a failed load; that is not a script error.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            visit.errors.append(message.text)

    page.on("request", on_request)
    page.on("console", on_console)
    page.on("pageerror", lambda exc: visit.errors.append(str(exc)))
    return visit


@pytest.fixture
def visit(browser: Browser) -> Iterator[Visit]:
    v = open_page(browser)
    try:
        yield v
    finally:
        v.page.context.close()


def screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
