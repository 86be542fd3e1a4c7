# A post named by the start of its id, on a real node over HTTP: every
# /api/v1/records/{id}... route takes the id's first 8 hex characters or more
# (what a terminal shows), resolves them to the one live record that has them
# (an earlier id of a post made here included), answers 409 ambiguous_id when
# several do and 404 when none does; the answers are the documented ones.

from __future__ import annotations

import pytest

from node.members import api
from tests.node._support import assert_error_shape, need, offer
from tests.node.conftest import RunningNode
from tests.node.test_openapi import check_against_document


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_any_prefix_of_8_or_more_names_the_record(node: RunningNode) -> None:
    record, _ = await node.post(need())
    for length in (8, 12, 16, 17, 33, 63, 64):
        status, answer = await node.call("GET", f"/api/v1/records/{record['id'][:length]}")
        assert (status, answer["id"]) == (200, record["id"]), length
        check_against_document("/api/v1/records/{id}", "get", status, answer)


@pytest.mark.parametrize("shape", ["7 characters", "upper case", "not hex", "65 characters"])
async def test_what_is_not_an_id_or_its_start_is_404(node: RunningNode, shape: str) -> None:
    record, _ = await node.post(need())
    given = {
        "7 characters": record["id"][:7],
        "upper case": record["id"].upper(),  # 64 characters with no letter: about 1 in 10^13
        "not hex": "zz" + record["id"][2:12],
        "65 characters": record["id"] + "0",
    }[shape]
    status, answer = await node.call("GET", f"/api/v1/records/{given}")
    assert assert_error_shape(status, answer)[0] == "not_found"
    assert "64 lowercase hex characters" in answer["error"]["message"]


async def test_a_prefix_nothing_has_is_404_saying_so(node: RunningNode) -> None:
    held = {record["id"] for record in [(await node.post(need()))[0] for _ in range(3)]}
    unknown = next(p for p in (f"{n:08x}" for n in range(1000)) if not any(i.startswith(p) for i in held))
    status, answer = await node.call("GET", f"/api/v1/records/{unknown}")
    assert assert_error_shape(status, answer)[0] == "not_found"
    assert f"no live record has an id starting with {unknown}" in answer["error"]["message"]


async def test_every_record_route_takes_a_prefix(node: RunningNode) -> None:
    record, token = await node.post(need(title="Winter coats for two children"))
    await node.post(offer(title="Winter coats, children's sizes", category="clothing"))
    short = record["id"][:10]
    status, matches = await node.call("GET", f"/api/v1/records/{short}/matches")
    assert status == 200 and matches["records"], matches
    status, sent = await node.call("POST", f"/api/v1/records/{short}/replies", json={"message": "I have two"})
    assert status == 202, sent
    status, read = await node.call("GET", f"/api/v1/records/{short}/replies", headers=bearer(token))
    assert status == 200 and [r["message"] for r in read["replies"]] == ["I have two"]
    status, flagged = await node.call("POST", f"/api/v1/records/{short}/flags", json={"reason": "spam"})
    assert status == 201, flagged
    status, edited = await node.call("PATCH", f"/api/v1/records/{short}", json={"title": "One coat"},
                                     headers=bearer(token))  # fmt: skip
    assert status == 200 and edited["record"]["title"] == "One coat"
    # The id changed with the edit; the old one's start still finds the post made here.
    status, claimed = await node.call("POST", f"/api/v1/records/{short}/status", json={"status": "claimed"},
                                      headers=bearer(token))  # fmt: skip
    assert status == 200 and claimed["record"]["status"] == "claimed"
    status, current = await node.call("GET", f"/api/v1/records/{short}")
    assert (status, current["id"]) == (200, claimed["record"]["id"])


async def test_a_prefix_several_records_have_is_409_ambiguous_id(
    node: RunningNode, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two live records sharing their first 8 hex characters take a store of tens of
    thousands; the rule is the same at any length, so this test lowers the minimum
    to 1 character, where 17 posts must share one (pigeonhole)."""
    monkeypatch.setattr(api, "MIN_ID_PREFIX", 1)
    ids = [(await node.post(need(title=f"Coat {i}")))[0]["id"] for i in range(17)]
    first = next(c for c in "0123456789abcdef" if sum(i.startswith(c) for i in ids) >= 2)
    status, answer = await node.call("GET", f"/api/v1/records/{first}")
    assert assert_error_shape(status, answer)[0] == "ambiguous_id"
    assert f"more than one record has an id starting with {first}" in answer["error"]["message"]
    check_against_document("/api/v1/records/{id}", "get", status, answer)
    status, answer = await node.call("POST", f"/api/v1/records/{first}/flags", json={"reason": "spam"})
    assert assert_error_shape(status, answer)[0] == "ambiguous_id"
    check_against_document("/api/v1/records/{id}/flags", "post", status, answer)
    # Given more of it, each one is found.
    for record_id in ids:
        status, answer = await node.call("GET", f"/api/v1/records/{record_id[:12]}")
        assert (status, answer["id"]) == (200, record_id)
