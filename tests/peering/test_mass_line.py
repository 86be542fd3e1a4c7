# The mass line between real node processes: a chapter's finding and event
# travel to a neighbour, which shows them as a peer's (no answers, no "I'll
# come" counts: those stay with the chapter), and a canary: the note left
# with an answer on the chapter's node is found nowhere on the neighbour
# (every file of its data directory, byte by byte, and its log) nor in the
# chapter node's log, both at debug level, after gossip has carried a record
# made after the note.

from __future__ import annotations

import secrets
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from tests.peering.conftest import Node, NodeFactory, wait_until

DEBUG = ("--log-level", "debug")


def every_file(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def ok(node: Node, method: str, path: str, body: Any = None, token: str | None = None) -> Any:
    status, answer = node.api(method, path, body, token=token)
    assert 200 <= status < 300, (status, answer)
    return answer


def held(node: Node, kind: str, record_id: str) -> bool:
    return any(r["id"] == record_id for r in node.records(kind=kind))


def test_a_finding_and_an_event_travel_and_an_answers_note_never_leaves(nodes: NodeFactory) -> None:
    chapter = nodes.start("chapter", extra=DEBUG)
    neighbour = nodes.start("neighbour", peers=[chapter.url], extra=DEBUG)
    wait_until(lambda: neighbour.connected_peers() >= 1, "the neighbour is connected")
    admin = chapter.admin_token()
    for i in range(6):
        chapter.post(f"Groceries for a family {i}", category="food")
    written = {"title": "Food needs outrun offers", "text": "Most needs this month were food."}
    finding = ok(chapter, "POST", "/api/v1/findings", written, admin)["finding"]
    start = datetime.combine(date.today() + timedelta(days=9), time(18))
    body = {"title": "Study group: the report", "what": "study-group", "start": f"{start:%Y-%m-%dT%H:%M}",
            "end": f"{start + timedelta(hours=2):%Y-%m-%dT%H:%M}", "tz": "America/Chicago",
            "rrule": "FREQ=WEEKLY;COUNT=6", "area": "dp3w", "agenda": [finding["id"]]}  # fmt: skip
    event = ok(chapter, "POST", "/api/v1/events", body, admin)["event"]

    wait_until(lambda: held(neighbour, "finding", finding["id"]), "the finding reaches the neighbour")
    wait_until(lambda: held(neighbour, "event", event["id"]), "the event reaches the neighbour")
    (theirs,) = ok(neighbour, "GET", "/api/v1/findings")["findings"]
    assert theirs["own"] is False and theirs["answers"] is None and theirs["figures"] == finding["figures"]
    assert theirs["author"] == chapter.info()["public_key"]
    (listed,) = ok(neighbour, "GET", "/api/v1/events")["events"]
    assert listed["own"] is False and [o["local"] for o in listed["occurrences"]] == [
        o["local"] for o in event["occurrences"]]  # fmt: skip
    assert all(o["going"] is None for o in listed["occurrences"])
    # Answers and "I'll come" belong to the chapter's node: the neighbour sends people there.
    status, refused = neighbour.api("POST", f"/api/v1/records/{finding['id']}/answers", {"answer": "agree"})
    assert status == 403 and refused["error"]["code"] == "not_this_node"
    status, refused = neighbour.api("POST", f"/api/v1/records/{event['id']}/attend",
                                    {"occurrence": event["occurrences"][0]["date"]})  # fmt: skip
    assert status == 403 and refused["error"]["code"] == "not_this_node"

    canary = f"canary-{secrets.token_hex(12)}"
    note = f"You missed the bus cuts ({canary}); I walk an hour to the pantry."
    counts = ok(chapter, "POST", f"/api/v1/records/{finding['id']}/answers", {"answer": "missed", "note": note})
    assert counts["answers"]["missed"] is None  # one answer: "fewer than 5"
    notes = ok(chapter, "GET", f"/api/v1/findings/{finding['id']}/notes", token=admin)["notes"]
    assert [n["note"] for n in notes] == [note]
    # A record made after the note, carried to the neighbour: gossip has run since the note existed.
    after, _ = chapter.post("Winter coats, after the note")
    wait_until(lambda: neighbour.get(after["id"]) is not None, "a later record reaches the neighbour")
    assert canary not in str(ok(neighbour, "GET", "/api/v1/findings"))
    assert neighbour.stop() == 0 and chapter.stop() == 0

    needle = canary.encode()
    for path in [*every_file(neighbour.data_dir), neighbour.stderr_path]:
        assert needle not in path.read_bytes(), f"the note reached the neighbour: {path}"
    assert needle not in chapter.stderr_path.read_bytes(), "the note is in the chapter node's log"
    assert b"answered" in chapter.stderr_path.read_bytes()  # the answer was logged, by the finding's id only
    holding = [p.name for p in every_file(chapter.data_dir) if needle in p.read_bytes()]
    assert holding == ["chapter.db"]  # on the chapter's node, only the chapter's own file keeps it
