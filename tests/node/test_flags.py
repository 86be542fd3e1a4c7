# Members' flags on a real node over HTTP: only on needs and offers, dismissed by
# an organizer, gone with their post (removed or expired) and after 30 days, and
# bounded in all by pushing out the oldest rather than refusing everyone.

from __future__ import annotations

import time

import pytest

from node.core.state import STORE
from storage import community as community_module
from tests.node._support import DAY, assert_error_shape, need, offer, sql_rows
from tests.node.conftest import RunningNode

FLAGS = "/api/v1/organizer/flags"


def admin(node: RunningNode) -> dict[str, str]:
    return {"Authorization": f"Bearer {node.files.admin_token}"}


async def flag(node: RunningNode, record_id: str, reason: str = "spam") -> tuple[int, object]:
    return await node.call("POST", f"/api/v1/records/{record_id}/flags", json={"reason": reason})


async def flag_rows(node: RunningNode) -> list[tuple[str, str]]:
    rows = sql_rows(node.files.database, "SELECT record_id, reason FROM flags ORDER BY n")
    return [(bytes(rid).hex(), str(reason)) for rid, reason in rows]


async def test_only_needs_and_offers_take_flags(node: RunningNode) -> None:
    status, profiles = await node.call("GET", "/api/v1/records?kind=node")
    assert status == 200 and profiles["records"]
    status, answer = await flag(node, profiles["records"][0]["id"])
    assert (status, assert_error_shape(status, answer)[0]) == (404, "not_found")
    assert await flag_rows(node) == []


async def test_organizers_dismiss_the_flags_on_a_post(node: RunningNode) -> None:
    record, token = await node.post(need())
    other, _ = await node.post(offer())
    assert (await flag(node, record["id"], "spam"))[0] == 201
    status, edited = await node.call(
        "PATCH",
        f"/api/v1/records/{record['id']}",
        json={"title": "Coats"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert status == 200
    assert (await flag(node, edited["record"]["id"], "abuse"))[0] == 201
    assert (await flag(node, other["id"], "other"))[0] == 201
    path = f"{FLAGS}/{record['id']}"
    for headers, expected in (({}, 401), ({"Authorization": "Bearer wrong"}, 403)):
        status, answer = await node.call("DELETE", path, headers=headers)
        assert (status, assert_error_shape(status, answer)[0]) == (
            expected,
            "unauthorized" if expected == 401 else "forbidden",
        )
    assert len(await flag_rows(node)) == 3
    # Named by the id of either version, every flag on the post goes; the other post's stays.
    async with node.session.delete(path, headers=admin(node)) as response:
        assert response.status == 200 and response.headers["Cache-Control"] == "no-store"
        assert await response.json() == {"dismissed": 2}
    assert await flag_rows(node) == [(other["id"], "other")]
    for bad in (record["id"], "0" * 64, "nothex"):
        status, answer = await node.call("DELETE", f"{FLAGS}/{bad}", headers=admin(node))
        assert (status, assert_error_shape(status, answer)[0]) == (404, "not_found"), bad
    status, body = await node.call("GET", FLAGS, headers=admin(node))
    assert [f["record_id"] for f in body["flags"]] == [other["id"]]


async def test_flags_go_with_their_post_and_after_thirty_days(node: RunningNode) -> None:
    short, _ = await node.post(need(title="Short", expires_in_days=1))
    long, _ = await node.post(need(title="Long", expires_in_days=60))
    removed, _ = await node.post(offer(title="Removed"))
    for record in (short, long, removed):
        assert (await flag(node, record["id"]))[0] == 201
    status, _ = await node.call(
        "POST", "/api/v1/organizer/removals", json={"id": removed["id"], "reason": "spam"}, headers=admin(node)
    )
    assert status == 201
    assert [rid for rid, _ in await flag_rows(node)] == [short["id"], long["id"]]
    now = int(time.time())
    await node.app[STORE].writer.sweep(now + 2 * DAY)  # the short post has expired: its flag goes
    assert [rid for rid, _ in await flag_rows(node)] == [long["id"]]
    await node.app[STORE].writer.sweep(now + 29 * DAY)
    assert [rid for rid, _ in await flag_rows(node)] == [long["id"]]
    await node.app[STORE].writer.sweep(now + 31 * DAY)  # the post lives on, the 30-day-old flag does not
    assert await flag_rows(node) == []


async def test_a_full_table_pushes_out_the_oldest_flags(node: RunningNode, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(community_module, "MAX_FLAGS", 3)
    posts = [(await node.post(need(title=f"Post {n}")))[0]["id"] for n in range(5)]
    for record_id in posts:
        assert (await flag(node, record_id))[0] == 201  # never refused for the table's sake
    assert [rid for rid, _ in await flag_rows(node)] == posts[2:]
