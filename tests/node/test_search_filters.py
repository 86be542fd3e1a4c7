# The urgency and language filters of GET /api/v1/records, against a real node
# over HTTP with its SQLite file.

from __future__ import annotations

import pytest

from tests.node._support import assert_error_shape, need, offer
from tests.node.conftest import RunningNode


async def titles(node: RunningNode, query: str) -> set[str]:
    status, body = await node.call("GET", f"/api/v1/records?{query}")
    assert status == 200, body
    return {r["title"] for r in body["records"]}


async def test_urgency_filter_takes_repeats_and_comma_lists(node: RunningNode) -> None:
    await node.post(need(title="Low one", urgency="low"))
    await node.post(need(title="Plain one"))  # no urgency: counts as normal
    await node.post(need(title="High one", urgency="high"))
    await node.post(offer(title="Urgent offer", urgency="urgent"))
    assert await titles(node, "urgency=high") == {"High one"}
    assert await titles(node, "urgency=normal") == {"Plain one"}
    assert await titles(node, "urgency=high,urgent") == {"High one", "Urgent offer"}
    assert await titles(node, "urgency=low&urgency=urgent") == {"Low one", "Urgent offer"}
    assert await titles(node, "urgency=high,urgent&kind=need") == {"High one"}
    assert len(await titles(node, "")) == 4


async def test_language_filter_matches_whole_tags_and_regional_forms(node: RunningNode) -> None:
    await node.post(need(title="Spanish", languages=["es"]))
    await node.post(need(title="Both", languages=["en", "es"]))
    await node.post(need(title="Brazilian", languages=["pt-br"]))
    await node.post(need(title="Estonian", languages=["et"]))
    await node.post(need(title="None given"))
    assert await titles(node, "language=es") == {"Spanish", "Both"}
    assert await titles(node, "language=en") == {"Both"}
    assert await titles(node, "language=pt") == {"Brazilian"}
    assert await titles(node, "language=pt-br") == {"Brazilian"}
    assert await titles(node, "language=et") == {"Estonian"}
    assert await titles(node, "language=es&urgency=high") == set()


async def test_a_new_version_updates_the_language_column(node: RunningNode) -> None:
    record, token = await node.post(need(title="Moving", languages=["en"]))
    status, body = await node.call(
        "PATCH",
        f"/api/v1/records/{record['id']}",
        json={"languages": ["fr"]},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert status == 200, body
    assert await titles(node, "language=fr") == {"Moving"}
    assert await titles(node, "language=en") == set()


@pytest.mark.parametrize(
    "query",
    [
        "urgency=critical",
        "urgency=HIGH",
        "language=EN",
        "language=e",
        "language=english-x-y-z",
        "urgency=" + ",".join(["low"] * 9),
    ],
)
async def test_bad_filter_values_are_refused(node: RunningNode, query: str) -> None:
    status, body = await node.call("GET", f"/api/v1/records?{query}")
    code, _ = assert_error_shape(status, body)
    assert (status, code) == (400, "bad_query"), body
