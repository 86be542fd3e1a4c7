# Steps the browser tests share: posting through the page's form, reading
# the manage link it shows once, and waiting (a hang guard, never a timed
# assertion) for something to reach a node.

from __future__ import annotations

import re
import time
import urllib.parse
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from playwright.sync_api import Page

from tests._nodes import call

MANAGE_LINK = re.compile(r"(http://127\.0\.0\.1:\d+)/#/manage/([0-9a-f]{64})/([A-Za-z0-9_-]{20,})\Z")
T = TypeVar("T")


def post_through_form(page: Page, url: str, fields: dict[str, str], kind: str = "need") -> tuple[str, str, str]:
    """Fill and send the post form; returns (manage link, record id, token)."""
    page.goto(f"{url}/#/post")
    page.get_by_label("Something I can offer" if kind == "offer" else "Something I need").check()
    page.get_by_label("Title").fill(fields["title"])
    page.get_by_label("Category").select_option(fields.get("category", "other"))
    if "area_code" in fields:
        page.get_by_label("Area", exact=True).select_option("")
        page.get_by_label("Area code").fill(fields["area_code"])
    else:
        page.get_by_label("Area", exact=True).select_option(fields.get("area", "u4pr"))
    for label, name in (("Details", "details"), ("Quantity", "quantity"), ("Languages", "languages")):
        if name in fields:
            page.get_by_label(label).fill(fields[name])
    if "urgency" in fields:
        page.get_by_label("Urgency").select_option(fields["urgency"])
    if "needed_by" in fields:
        page.get_by_label("Needed by").fill(fields["needed_by"])
    if "give_back" in fields:
        page.get_by_label("Something I can give back").fill(fields["give_back"])
    page.get_by_role("button", name="Post", exact=True).click()
    page.locator(".manage-link").wait_for()
    link = page.get_by_label("Your private manage link").input_value()
    match = MANAGE_LINK.match(link)
    assert match, link
    assert match.group(1) == url
    return link, match.group(2), match.group(3)


def in_days(days: int) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).strftime("%Y-%m-%d")


def eventually(what: str, probe: Callable[[], T | None], limit_s: float = 30) -> T:
    """Poll until ``probe`` returns something; a hang guard, not a timing check."""
    deadline = time.monotonic() + limit_s
    while True:
        value = probe()
        if value is not None:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting: {what}")
        time.sleep(0.1)


def search(url: str, **query: str) -> list[dict[str, Any]]:
    found = call(f"{url}/api/v1/records?{urllib.parse.urlencode(query)}")
    assert isinstance(found, dict)
    records = found["records"]
    assert isinstance(records, list)
    return records
