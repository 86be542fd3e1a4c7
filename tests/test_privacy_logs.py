"""Nothing a member typed ever reaches a node's log, even at debug level."""

from __future__ import annotations

import os
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests._nodes import call, start, stop

SECRET_TITLE = "Insulin for Marisol Quintero"  # noqa: S105 - member text, not a password
SECRET_DETAILS = "call 555-0134 at 12 Rose Lane"  # noqa: S105
SECRET_GIVE_BACK = "I can teach Quechua"  # noqa: S105
SECRET_REPLY = "I have insulin pens, ask for Tupac"  # noqa: S105
SECRET_CONTACT = "tupac.huaman@example.org"  # noqa: S105
SECRET_NOTE = "this is my neighbour Marisol"  # noqa: S105
MEMBER_NAME = "Yolanda Quispe"
SECRET_COMMENT = "I can host it at my flat on Calle Sol"  # noqa: S105


@pytest.mark.slow
def test_member_text_never_reaches_the_log(tmp_path: Path) -> None:
    first, url_a = start(tmp_path / "a", extra=("--log-level", "debug"))
    second, url_b = start(tmp_path / "b", url_a, extra=("--log-level", "debug"))
    try:
        posted = call(
            f"{url_a}/api/v1/records",
            "POST",
            {
                "kind": "need",
                "title": SECRET_TITLE,
                "category": "health",
                "area": "u4pru",
                "details": SECRET_DETAILS,
                "give_back": SECRET_GIVE_BACK,
            },
        )
        assert isinstance(posted, dict)
        record_id, token = posted["record"]["id"], posted["manage_token"]
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:  # only guards against a hang
            found = call(f"{url_b}/api/v1/records?q=insulin")
            if isinstance(found, dict) and found["records"]:
                break
            time.sleep(0.1)
        else:
            pytest.fail("the record never reached the second node")
        # A reply made on B (sealed there, pushed to A) and read on A; a flag with a note.
        reply_path = f"/api/v1/records/{record_id}/replies"
        call(f"{url_b}{reply_path}", "POST", {"message": SECRET_REPLY, "contact": SECRET_CONTACT})
        for _ in range(200):  # only guards against a hang
            opened = call(f"{url_a}{reply_path}", token=token)
            if isinstance(opened, dict) and opened["replies"]:
                break
            time.sleep(0.1)
        assert isinstance(opened, dict) and opened["replies"][0]["contact"] == SECRET_CONTACT
        call(f"{url_a}/api/v1/records/{record_id}/flags", "POST", {"reason": "personal_info", "note": SECRET_NOTE})
        call(f"{url_a}/api/v1/records/{record_id}/status", "POST", {"status": "fulfilled"}, token)
        # The chapter: a member joins by name, proposes, comments and votes; a name is refused as taken.
        admin = (tmp_path / "a" / "admin.token").read_text().strip()
        codes = call(f"{url_a}/api/v1/invites", "POST", {"count": 2}, admin)
        assert isinstance(codes, dict)
        joined = call(f"{url_a}/api/v1/members", "POST", {"code": codes["invites"][0]["code"], "name": MEMBER_NAME})
        assert isinstance(joined, dict)
        card = joined["card"]
        with pytest.raises(urllib.error.HTTPError):
            call(f"{url_a}/api/v1/members", "POST", {"code": codes["invites"][1]["code"], "name": MEMBER_NAME})
        opened = call(f"{url_a}/api/v1/proposals", "POST", {"type": "text", "title": "Potluck"}, card)
        assert isinstance(opened, dict)
        pid = opened["proposal"]["id"]
        call(f"{url_a}/api/v1/proposals/{pid}/comments", "POST", {"text": SECRET_COMMENT}, card)
        voted = call(f"{url_a}/api/v1/proposals/{pid}/ballots", "POST", {"choice": "disagree"}, card)
        assert isinstance(voted, dict)
        with pytest.raises(urllib.error.HTTPError):
            call(f"{url_a}/api/v1/records", "POST", {"kind": "need", "title": SECRET_TITLE, "area": "u4pruvw"})
    finally:
        for process in (second, first):
            assert stop(process) == 0
    logs = b"".join((tmp_path / f"{n}.log").read_bytes() for n in ("a", "b"))
    assert b"listening on" in logs and b"posted record" in logs  # the logs are really there
    assert b"reply id=" in logs and b"flagged" in logs
    secrets = (SECRET_TITLE, SECRET_DETAILS, SECRET_GIVE_BACK, SECRET_REPLY, SECRET_CONTACT, SECRET_NOTE)
    assert b"a member joined" in logs and b"proposal" in logs
    chapter = (MEMBER_NAME, "Yolanda", SECRET_COMMENT, card, card.removeprefix("card-"), voted["receipt"], "disagree")
    for secret in (*secrets, "Marisol", "Rose Lane", "Tupac", token, *chapter):
        assert secret.encode() not in logs, f"{secret!r} leaked into a log"
    assert os.path.getsize(tmp_path / "a.log") > 0
