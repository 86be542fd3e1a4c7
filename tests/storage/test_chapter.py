"""The chapter's store (storage/chapter/) on real SQLite files: the roll and its
invites, proposals and ballots (one per member, frozen electorate, changes,
closing once), mandates, settings; and the secret ballot as the file holds it."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import sqlite3
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from node.chapter.closer import count
from protocol.ballots import Rules
from storage.chapter import Change, ChapterError, ChapterStore, NewProposal
from storage.chapter.roll import MAX_LIVE_INVITES
from tests.protocol.test_ballots import reference

NOW = 1_800_000_000


def h(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()


@pytest.fixture
async def chapter(tmp_path: Path) -> AsyncIterator[ChapterStore]:
    store = await ChapterStore.open(str(tmp_path / "chapter.db"))
    try:
        yield store
    finally:
        await store.close()


async def members(chapter: ChapterStore, *names: str) -> list[bytes]:
    """Join each name with an operator's invite; their ids (the card of ``n`` hashes to h("card n"))."""
    await chapter.roll.make_invites([h(f"invite {n}") for n in names], None, NOW, NOW + 86_400, None)
    out = []
    for n in names:
        member = await chapter.roll.join(h(f"invite {n}"), h(f"id {n}")[:16], n, h(f"card {n}"), NOW)
        out.append(member.id)
    return out


def proposal(proposer: bytes, n: int = 1, **changes: Any) -> NewProposal:
    fields: dict[str, Any] = {
        "id": h(f"proposal {n}")[:16],
        "proposer": proposer,
        "title": "Add pets",
        "text": None,
        "type": "text",
        "effect": {},
        "method": "choice",
        "options": (),
        "threshold": "majority",
        "quorum": 50,
        "ballot": "secret",
        "closes_at": NOW + 3600,
    }
    return NewProposal(**(fields | changes))


# --- the roll ---------------------------------------------------------------------------


async def test_an_invite_is_single_use_and_expires(chapter: ChapterStore) -> None:
    (ana,) = await members(chapter, "Ana")
    found = await chapter.roll.by_card(h("card Ana"))
    assert found is not None and found.id == ana and found.invited_by is None and found.active
    with pytest.raises(ChapterError) as used:
        await chapter.roll.join(h("invite Ana"), b"x" * 16, "Other", h("card other"), NOW)
    assert used.value.code == "invalid_invite"
    await chapter.roll.make_invites([h("late")], ana, NOW, NOW + 10, quota=3)
    with pytest.raises(ChapterError) as expired:
        await chapter.roll.join(h("late"), b"y" * 16, "Late", h("card late"), NOW + 10)
    assert expired.value.code == "invalid_invite"
    assert await chapter.roll.by_card(h("card late")) is None  # nothing was added


async def test_a_refused_join_leaves_the_invite_usable(chapter: ChapterStore) -> None:
    await members(chapter, "Ana")
    await chapter.roll.make_invites([h("second")], None, NOW, NOW + 86_400, None)
    with pytest.raises(ChapterError) as taken:
        await chapter.roll.join(h("second"), b"z" * 16, "  ana ", h("card z"), NOW)  # the same name, as typed
    assert taken.value.code == "name_taken"
    bea = await chapter.roll.join(h("second"), b"z" * 16, "Bea", h("card z"), NOW)
    assert bea.name == "Bea"


async def test_the_weekly_quota_and_the_cap_on_live_invites(chapter: ChapterStore) -> None:
    (ana,) = await members(chapter, "Ana")
    await chapter.roll.make_invites([h("a1"), h("a2")], ana, NOW, NOW + 86_400, quota=3)
    with pytest.raises(ChapterError) as over:
        await chapter.roll.make_invites([h("a3"), h("a4")], ana, NOW + 60, NOW + 86_400, quota=3)
    assert over.value.code == "invite_quota" and "1 left" in str(over.value)
    assert await chapter.roll.invites_left(ana, 3, NOW) == 1
    assert await chapter.roll.invites_left(ana, 3, NOW + 8 * 86_400) == 3  # a week later
    many = [h(f"sheet {i}") for i in range(MAX_LIVE_INVITES)]
    with pytest.raises(ChapterError) as cap:
        await chapter.roll.make_invites(many, None, NOW, NOW + 86_400, None)
    assert cap.value.code == "invite_quota"


async def test_leaving_and_a_new_card(chapter: ChapterStore) -> None:
    ana, bo = await members(chapter, "Ana", "Bo")
    await chapter.roll.replace_card(ana, h("new card"))
    assert await chapter.roll.by_card(h("card Ana")) is None
    assert (await chapter.roll.by_card(h("new card"))) is not None
    assert await chapter.roll.end(bo, "left", NOW) is True
    assert await chapter.roll.end(bo, "left", NOW) is False
    assert await chapter.roll.by_card(h("card Bo")) is None
    roll = await chapter.roll.members(100)
    assert sorted((m.name, m.ended or "") for m in roll) == [("Ana", ""), ("Bo", "left")]
    # A name is free again once its holder left.
    await chapter.roll.make_invites([h("again")], None, NOW, NOW + 86_400, None)
    assert (await chapter.roll.join(h("again"), b"b" * 16, "Bo", h("card Bo 2"), NOW)).name == "Bo"


# --- proposals and ballots -------------------------------------------------------------------


async def test_the_electorate_is_frozen_when_a_proposal_opens(chapter: ChapterStore) -> None:
    ana, _bo = await members(chapter, "Ana", "Bo")
    opened = await chapter.votes.open(proposal(ana), NOW)
    assert opened.electorate == 2
    (late,) = await members(chapter, "Late")
    with pytest.raises(ChapterError) as outside:
        await chapter.votes.vote(opened.id, late, h("r late"), "agree", NOW, open_ballot=False)
    assert outside.value.code == "not_in_electorate"
    assert (await chapter.votes.get(opened.id)).electorate == 2  # type: ignore[union-attr]


async def test_one_ballot_per_member_whatever_they_send(chapter: ChapterStore) -> None:
    ana, bo = await members(chapter, "Ana", "Bo")
    opened = await chapter.votes.open(proposal(ana), NOW)
    first = await chapter.votes.vote(opened.id, ana, h("r ana"), "agree", NOW, open_ballot=False)
    assert (first.changed, first.everyone_voted) == (False, False)
    again = [chapter.votes.vote(opened.id, ana, h("r ana"), c, NOW, open_ballot=False) for c in ("disagree", "agree")]
    results = await asyncio.gather(*again)
    assert all(r.changed for r in results)
    # Another receipt (a new card) cannot add a second ballot for the same member.
    with pytest.raises(ChapterError) as locked:
        await chapter.votes.vote(opened.id, ana, h("r ana, new card"), "disagree", NOW, open_ballot=False)
    assert locked.value.code == "ballot_locked"
    last = await chapter.votes.vote(opened.id, bo, h("r bo"), "abstain", NOW, open_ballot=False)
    assert last.everyone_voted
    assert await chapter.votes.due(NOW) == [opened.id]  # everyone voted: due before its time
    closed = await chapter.votes.close(opened.id, NOW + 5, count)
    assert closed is not None and closed.closed_at == NOW + 5
    assert closed.result is not None and closed.result["counts"] == {"agree": 1, "abstain": 1, "disagree": 0}
    assert len(await chapter.votes.receipts(opened.id)) == closed.result["turnout"] == 2
    assert await chapter.votes.close(opened.id, NOW + 6, count) is None  # closing happens once
    with pytest.raises(ChapterError) as late:
        await chapter.votes.vote(opened.id, bo, h("r bo"), "agree", NOW + 7, open_ballot=False)
    assert late.value.code == "proposal_closed"


ATTEMPTS = 2_000
"""Concurrent ballots, each its own FULL-synced transaction (10,000 took 40 s of the suite)."""


async def test_thousands_of_second_ballots_count_once(chapter: ChapterStore) -> None:
    names = [f"m{i}" for i in range(10)]
    ids = await members(chapter, *names)
    opened = await chapter.votes.open(proposal(ids[0], quorum=0), NOW)
    choices = ("agree", "disagree", "abstain")
    attempts = [
        chapter.votes.vote(opened.id, ids[i % 10], h(f"r {i % 10}"), choices[i % 3], NOW, open_ballot=False)
        for i in range(ATTEMPTS)
    ]
    await asyncio.gather(*attempts)
    closed = await chapter.votes.close(opened.id, NOW + 3600, count)
    assert closed is not None and closed.result is not None
    assert closed.result["turnout"] == 10 and sum(closed.result["counts"].values()) == 10
    # The last attempt of each member counts: member k voted last at i = ATTEMPTS - 10 + k.
    expected = {c: sum(1 for k in range(10) if choices[(ATTEMPTS - 10 + k) % 3] == c) for c in choices}
    assert closed.result["counts"] == expected


async def test_a_proposal_closes_at_its_time_even_if_few_voted(chapter: ChapterStore) -> None:
    ana, _bo, _cy = await members(chapter, "Ana", "Bo", "Cy")
    opened = await chapter.votes.open(proposal(ana), NOW)
    await chapter.votes.vote(opened.id, ana, h("r"), "agree", NOW, open_ballot=False)
    assert await chapter.votes.due(NOW + 3599) == []
    assert await chapter.votes.close(opened.id, NOW + 3599, count) is None  # not due
    closed = await chapter.votes.close(opened.id, NOW + 7200, count)  # the node was down past its time
    assert closed is not None and closed.closed_at == NOW + 3600
    assert closed.result is not None and closed.result["outcome"] == "no_quorum"


async def test_an_open_ballot_names_its_voters(chapter: ChapterStore) -> None:
    ana, bo = await members(chapter, "Ana", "Bo")
    opened = await chapter.votes.open(proposal(ana, ballot="open"), NOW)
    await chapter.votes.vote(opened.id, bo, h("r bo"), "disagree", NOW, open_ballot=True)
    await chapter.votes.vote(opened.id, ana, h("r ana"), "agree", NOW, open_ballot=True)
    assert await chapter.votes.open_ballots(opened.id) == [("Ana", "agree"), ("Bo", "disagree")]
    assert await chapter.votes.electorate(opened.id) == [("Ana", True), ("Bo", True)]


async def test_comments_are_bounded_and_stop_at_close(chapter: ChapterStore) -> None:
    (ana,) = await members(chapter, "Ana")
    opened = await chapter.votes.open(proposal(ana), NOW)
    for i in range(20):
        await chapter.votes.comment(opened.id, ana, f"note {i}", NOW)
    with pytest.raises(ChapterError) as many:
        await chapter.votes.comment(opened.id, ana, "one more", NOW)
    assert many.value.code == "too_many_comments"
    with pytest.raises(ChapterError) as closed:
        await chapter.votes.comment(opened.id, ana, "late", NOW + 3600)
    assert closed.value.code == "proposal_closed"
    assert len(await chapter.votes.comments(opened.id)) == 20


async def test_a_change_and_its_note_are_made_once(chapter: ChapterStore) -> None:
    ana, bo = await members(chapter, "Ana", "Bo")
    opened = await chapter.votes.open(proposal(ana, type="organizers"), NOW)
    await chapter.apply(opened.id, Change(settings={"founded_at": NOW}, grant=(bo, NOW + 86_400)), "done", NOW)
    assert (await chapter.mandates.live(bo, NOW + 10)) is not None
    assert (await chapter.mandates.live(bo, NOW + 86_400)) is None  # its term ended
    assert (await chapter.votes.get(opened.id)).applied == "done"  # type: ignore[union-attr]
    assert (await chapter.settings.all())["founded_at"] == NOW
    await chapter.apply(opened.id, Change(retire=bo), "done", NOW + 20)
    assert await chapter.roll.by_card(h("card Bo")) is None
    assert (await chapter.mandates.live(bo, NOW + 30)) is None  # a retired card holds no mandate


# --- the secret ballot, as the file holds it ---------------------------------------------------


def _file(path: Path) -> bytes:
    return path.read_bytes()


async def test_who_voted_and_what_share_no_key_no_order_no_time(tmp_path: Path) -> None:
    """Read the database file as someone holding a copy would: neither the
    electorate rows nor the ballot slots move when members vote or change their
    vote (every row was written when the proposal opened and is changed in
    place), the ballots a vote filled sit in no order of the votes, ballots
    carry no member, no time and no row id, and no journal is left."""
    path = tmp_path / "chapter.db"
    chapter = await ChapterStore.open(str(path))
    try:
        names = [f"member {i:02}" for i in range(40)]
        ids = await members(chapter, *names)
        opened = await chapter.votes.open(proposal(ids[0]), NOW)
        before = await asyncio.to_thread(_file, path)
        db = sqlite3.connect(path)
        slots = [bytes(r[0]) for r in db.execute("SELECT slot FROM ballots WHERE proposal = ?", (opened.id,))]
        db.close()
        assert len(slots) == 40
        rows = {m: before.find(opened.id + m) for m in ids}
        cells = {slot: before.find(opened.id + slot) for slot in slots}
        assert all(p > 0 for p in [*rows.values(), *cells.values()])
        order = list(reversed(ids))  # vote in an order unlike the rows'
        choices = ("agree", "disagree", "abstain")
        for k, member in enumerate(order[:30]):
            await chapter.votes.vote(opened.id, member, h(f"receipt {k}"), choices[k % 3], NOW + k, open_ballot=False)
        for k, member in enumerate(order[:10]):  # changes of mind, to choices of other lengths
            await chapter.votes.vote(opened.id, member, h(f"receipt {k}"), choices[(k + 1) % 3], NOW, open_ballot=False)
        after = await asyncio.to_thread(_file, path)
        assert {m: after.find(opened.id + m) for m in ids} == rows  # flipped in place, never moved
        assert {slot: after.find(opened.id + slot) for slot in slots} == cells  # filled in place, never moved
        filled = [after.find(h(f"receipt {k}")) for k in range(30)]
        assert all(p > 0 for p in filled)
        assert filled != sorted(filled) and filled != sorted(filled, reverse=True)  # no order of the votes
        assert not [p for p in os.listdir(tmp_path) if p != "chapter.db"]  # no -wal, no -journal left
    finally:
        await chapter.close()
    db = sqlite3.connect(path)
    try:
        columns = [row[1] for row in db.execute("PRAGMA table_info(ballots)")]
        assert columns == ["proposal", "slot", "receipt", "choice", "voter"]
        assert db.execute("SELECT count(*) FROM ballots WHERE voter != zeroblob(16)").fetchone()[0] == 0
        with pytest.raises(sqlite3.OperationalError):
            db.execute("SELECT rowid FROM ballots")  # WITHOUT ROWID: no insertion order to read
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
        electorate_columns = [row[1] for row in db.execute("PRAGMA table_info(electorate)")]
        assert electorate_columns == ["proposal", "member", "voted"]  # no time
    finally:
        db.close()


async def test_a_changed_ballot_leaves_no_old_choice_in_the_file(tmp_path: Path) -> None:
    path = tmp_path / "chapter.db"
    chapter = await ChapterStore.open(str(path))
    try:
        (ana,) = await members(chapter, "Ana")
        opened = await chapter.votes.open(proposal(ana, method="ranked", options=("x", "y", "z")), NOW)
        marker = json.dumps([3, 1, 2])
        await chapter.votes.vote(opened.id, ana, h("r"), marker, NOW, open_ballot=False)
        await chapter.votes.vote(opened.id, ana, h("r"), json.dumps([1]), NOW, open_ballot=False)
    finally:
        await chapter.close()
    assert marker.encode() not in await asyncio.to_thread(_file, path)  # secure_delete zeroed it


async def test_a_newer_chapter_file_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "chapter.db"
    db = sqlite3.connect(path)
    db.execute("PRAGMA user_version = 99")
    db.close()
    before = path.read_bytes()
    with pytest.raises(Exception, match="newer than this mutualaid"):
        await ChapterStore.open(str(path))
    assert path.read_bytes() == before


# --- any sequence of ballots, changes, departures and a close at any point --------------------

Event = tuple[str, int, str]
EVENTS = st.lists(
    st.one_of(
        st.tuples(st.just("vote"), st.integers(0, 5), st.sampled_from(("agree", "abstain", "disagree", "block"))),
        st.tuples(st.just("leave"), st.integers(0, 5), st.just("")),
        st.tuples(st.just("new card"), st.integers(0, 5), st.just("")),
        st.tuples(st.just("join"), st.integers(0, 5), st.just("")),
        st.tuples(st.just("close"), st.just(0), st.just("")),
    ),
    max_size=30,
)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(EVENTS, st.sampled_from(("majority", "two_thirds", "consent")), st.integers(0, 100))
def test_any_sequence_counts_as_the_reference_does(events: list[Event], threshold: str, quorum: int) -> None:
    """Six members on the roll when the proposal opens; newcomers join, members
    leave or replace their card, ballots are cast and changed, and the proposal
    closes at any point (or at its time): the stored count is the reference's."""
    with tempfile.TemporaryDirectory() as directory:
        asyncio.run(_play(Path(directory) / "chapter.db", events, threshold, quorum))


async def _play(path: Path, events: list[Event], threshold: str, quorum: int) -> None:
    chapter = await ChapterStore.open(str(path))
    try:
        ids = await members(chapter, *(f"m{i}" for i in range(6)))
        opened = await chapter.votes.open(proposal(ids[0], threshold=threshold, quorum=quorum), NOW)
        allowed = (
            ("agree", "abstain", "disagree", "block") if threshold == "consent" else ("agree", "abstain", "disagree")
        )
        left: set[int] = set()
        card = dict.fromkeys(range(6), 0)  # which card each member holds: their receipts follow it
        ballots: dict[int, tuple[int, str]] = {}  # member -> (card voted with, choice)
        closed_at = None
        for step, (kind, who, choice) in enumerate(events):
            moment = NOW + step
            if kind == "close":
                closed_at = moment
                break
            if kind == "leave":
                left.add(who)
                await chapter.roll.end(ids[who], "left", moment)
            elif kind == "new card":
                card[who] += 1
            elif kind == "join":
                (newcomer,) = await members(chapter, f"late {step}")
                with pytest.raises(ChapterError, match="not a member when"):
                    await chapter.votes.vote(opened.id, newcomer, h(f"late {step}"), "agree", moment, open_ballot=False)
            elif kind == "vote" and who not in left and choice in allowed:  # the API refuses the others first
                receipt = h(f"receipt {who} {card[who]}")
                if who in ballots and ballots[who][0] != card[who]:
                    with pytest.raises(ChapterError, match="earlier card"):
                        await chapter.votes.vote(opened.id, ids[who], receipt, choice, moment, open_ballot=False)
                else:
                    await chapter.votes.vote(opened.id, ids[who], receipt, choice, moment, open_ballot=False)
                    ballots[who] = (card[who], choice)
        if closed_at is None or len(ballots) < 6:
            closed_at = NOW + 3600  # not everyone voted: it closes at its time
        done = await chapter.votes.close(opened.id, closed_at, count)
        assert done is not None and done.result is not None
        cast = [c for _, c in ballots.values()]
        rules = Rules("choice", threshold, quorum, 6)
        assert done.result["counts"] == {c: cast.count(c) for c in rules.choices()}
        assert done.result["outcome"] == reference(rules, cast)
        assert done.result["turnout"] == len(cast) == len(await chapter.votes.receipts(opened.id))
        with pytest.raises(ChapterError, match="closed"):
            await chapter.votes.vote(opened.id, ids[0], h("after"), "agree", closed_at, open_ballot=False)
    finally:
        await chapter.close()
