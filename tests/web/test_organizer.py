# The organizer view in a real Chromium against a real node process: flags
# grouped by post, "Dismiss" clears a post's flags and leaves it up, and the
# list of removals says what was removed and why.

from __future__ import annotations

from typing import Any

import pytest

from tests._nodes import call
from tests.web._flows import search
from tests.web.conftest import Node, Visit, screenshot

pytestmark = pytest.mark.slow


def post(url: str, title: str) -> str:
    answer = call(
        f"{url}/api/v1/records", "POST", {"kind": "offer", "title": title, "category": "tools", "area": "u4pru"}
    )
    assert isinstance(answer, dict)
    record_id = answer["record"]["id"]
    assert isinstance(record_id, str)
    return record_id


def flags_on(url: str, token: str, record_id: str) -> list[Any]:
    got = call(f"{url}/api/v1/organizer/flags", token=token)
    assert isinstance(got, dict)
    return [f for f in got["flags"] if f["record_id"] == record_id]


def test_flags_grouped_by_post_dismissed_or_removed_and_the_removals_listed(visit: Visit, node_a: Node) -> None:
    admin = node_a.admin_token()
    ladder = post(node_a.url, "Ladder to lend, FLAGGED-LADDER")
    drill = post(node_a.url, "Drill to lend, FLAGGED-DRILL-" + "0123456789" * 6)  # one long word
    call(f"{node_a.url}/api/v1/records/{ladder}/flags", "POST", {"reason": "spam", "note": "LADDER-NOTE-1"})
    call(f"{node_a.url}/api/v1/records/{ladder}/flags", "POST", {"reason": "abuse", "note": "LADDER-NOTE-2"})
    call(f"{node_a.url}/api/v1/records/{drill}/flags", "POST", {"reason": "other", "note": "DRILL-NOTE"})

    page = visit.page
    page.goto(f"{node_a.url}/#/organizer")
    page.get_by_label("Admin token").fill(admin)
    page.get_by_role("button", name="Open").click()
    flags = page.locator("section", has=page.get_by_role("heading", name="Flags", exact=True))
    ladder_item = flags.locator(".flag-item", has_text="FLAGGED-LADDER")
    ladder_item.wait_for()
    assert ladder_item.count() == 1  # two flags, one entry for the post
    assert ladder_item.locator(".facts", has_text="flags:").text_content() == "2 flags:"
    reasons = ladder_item.locator(".flag-reasons li").all_text_contents()
    assert len(reasons) == 2 and "LADDER-NOTE-1" in reasons[1] and "LADDER-NOTE-2" in reasons[0]
    assert reasons[0].startswith("Abusive") and reasons[1].startswith("Spam")
    drill_item = flags.locator(".flag-item", has_text="FLAGGED-DRILL")
    assert drill_item.locator(".facts", has_text="flag:").text_content() == "1 flag:"
    assert page.evaluate("document.documentElement.scrollWidth") <= 360  # long flagged text wraps on a phone
    screenshot(page, "organizer-flags")

    # Dismiss: the flags go, the post stays.
    ladder_item.get_by_role("button", name="Dismiss the flags").click()
    page.get_by_text("Flags dismissed. The post stays up.").wait_for()
    drill_item = flags.locator(".flag-item", has_text="FLAGGED-DRILL")
    drill_item.wait_for()  # the list is drawn again
    assert flags.locator(".flag-item", has_text="FLAGGED-LADDER").count() == 0
    assert flags_on(node_a.url, admin, ladder) == []
    assert [r["id"] for r in search(node_a.url, q="FLAGGED-LADDER")] == [ladder]

    # Remove: the post goes, and the removals list says why.
    drill_item.get_by_text("Remove from this node").click()
    drill_item.get_by_label("Reason for removing").fill("lent out already, REMOVAL-REASON-77")
    drill_item.get_by_role("button", name="Remove").click()
    page.get_by_text("Removed from this node.").wait_for()
    assert search(node_a.url, q="FLAGGED-DRILL") == []
    removals = page.locator("section", has=page.get_by_role("heading", name="Removed from this node"))
    entry = removals.locator("li", has_text="REMOVAL-REASON-77")
    entry.wait_for()
    assert (entry.text_content() or "").startswith("Offer · ")
    assert drill[:12] in (entry.text_content() or "")
    screenshot(page, "organizer-removals")
    assert visit.errors == []
