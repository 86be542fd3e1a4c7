"""Proposals, their electorate and ballots, comments, and closing.

A proposal's electorate is frozen when it opens: every active member then
gets an electorate row, and only they vote on it. With the electorate come
as many blank ballot slots, written at once in the order of their random
keys and all of one width. A first vote fills a slot chosen at random, in
place: the hash of the voter's receipt (which the node derives from their
card, so only the card finds the ballot again) and the choice padded to
``CHOICE_WIDTH``; the voter's electorate row only says that they voted. So
neither table changes shape as votes come in, and the bytes of the file say
nothing of their order (db.py). A member changes their ballot by voting
again with the same card: the slot under their receipt changes in place,
nothing is added, so one member is one ballot whatever they send. An open
ballot also names the voter in its slot.

Closing runs once per proposal (the row's ``closed_at``), in one transaction
with the count: after it no ballot changes. Applying a passed proposal and
publishing its decision are later steps, each recorded here once done, so a
node that stops halfway finishes them when it starts again.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from storage.chapter.db import ChapterDB
from storage.chapter.errors import ChapterError
from storage.chapter.roll import active_ids

CHOICE_WIDTH = 48
"""Every stored choice is padded to this many characters (a ranking of ten
options in JSON is at most 31), so changing a ballot never resizes its row."""
_BLANK_RECEIPT, _BLANK_VOTER = bytes(32), bytes(16)
_SHUFFLE = secrets.SystemRandom()
MAX_OPEN_PER_MEMBER = 10
"""Open proposals one member may have at once."""
MAX_COMMENTS = 200
"""Comments on one proposal."""
MAX_COMMENTS_PER_MEMBER = 20
"""...and from one member on one proposal."""


@dataclass(frozen=True)
class Proposal:
    id: bytes
    proposer: bytes
    proposer_name: str
    title: str
    text: str | None
    type: str
    effect: dict[str, Any]
    method: str
    options: tuple[str, ...]
    threshold: str
    quorum: int
    ballot: str
    opened_at: int
    closes_at: int
    electorate: int
    voted: int
    """Members of the electorate who have voted so far."""
    closed_at: int | None
    result: dict[str, Any] | None
    """The tally, once closed."""
    receipts: bytes | None
    applied: str | None
    """None until a closed proposal has been dealt with: ``done``, ``none``
    (nothing to apply) or ``failed: why``."""
    decision: bytes | None
    """The id of the decision record, once published."""

    @property
    def is_open(self) -> bool:
        return self.closed_at is None


@dataclass(frozen=True)
class NewProposal:
    id: bytes
    proposer: bytes
    title: str
    text: str | None
    type: str
    effect: dict[str, Any]
    method: str
    options: tuple[str, ...]
    threshold: str
    quorum: int
    ballot: str
    closes_at: int


@dataclass(frozen=True)
class Comment:
    member_name: str
    at: int
    text: str


@dataclass(frozen=True)
class Mine:
    """Where one member stands on one proposal."""

    in_electorate: bool
    voted: bool
    choice: str | None
    """Their ballot, found by the receipt their current card makes."""


@dataclass(frozen=True)
class Details:
    """What a member reads of one proposal beyond its row, read in one go."""

    electorate: list[tuple[str, bool]]
    """(name, has voted) for everyone who may vote, by name."""
    comments: list[Comment]
    receipts: list[tuple[bytes, str]]
    """(receipt hash, choice) once closed; empty while open."""
    open_ballots: list[tuple[str, str]]
    """(name, choice) of an open ballot once closed; empty otherwise."""


@dataclass(frozen=True)
class VoteResult:
    changed: bool
    """It replaced the member's earlier ballot."""
    everyone_voted: bool


_PROPOSAL = (
    "SELECT p.id, p.proposer, m.name, p.title, p.text, p.type, p.effect, p.method, p.options, p.threshold, "
    "p.quorum, p.ballot, p.opened_at, p.closes_at, p.electorate, "
    "(SELECT count(*) FROM electorate AS e WHERE e.proposal = p.id AND e.voted = 1), "
    "p.closed_at, p.result, p.receipts, p.applied, p.decision "
    "FROM proposals AS p JOIN members AS m ON m.id = p.proposer"
)


def _proposal(row: tuple[Any, ...]) -> Proposal:
    (pid, proposer, name, title, text, kind, effect, method, options, threshold, quorum, ballot, opened, closes,
     electorate, voted, closed, result, receipts, applied, decision) = row  # fmt: skip
    return Proposal(
        bytes(pid), bytes(proposer), str(name), str(title), text, str(kind), json.loads(effect), str(method),
        tuple(json.loads(options)), str(threshold), int(quorum), str(ballot), int(opened), int(closes),
        int(electorate), int(voted), closed, None if result is None else json.loads(result),
        None if receipts is None else bytes(receipts), applied, None if decision is None else bytes(decision),
    )  # fmt: skip


_WAITING = (
    "SELECT 1 FROM electorate AS e JOIN members AS m ON m.id = e.member "
    "WHERE e.proposal = {proposal} AND e.voted = 0 AND m.card_hash IS NOT NULL"
)
"""Electors still to vote: those who left (or whose card was retired) are no
longer waited for, though they count in the electorate for the quorum."""


def _waiting(conn: sqlite3.Connection, proposal_id: bytes) -> bool:
    """Whether an elector is still to vote (stops at the first: a vote's check
    costs little however many have voted)."""
    return bool(conn.execute(f"SELECT EXISTS ({_WAITING.format(proposal='?')})", (proposal_id,)).fetchone()[0])


def _pad(choice: str) -> str:
    assert len(choice) <= CHOICE_WIDTH, "a choice or ranking is short"
    return choice.ljust(CHOICE_WIDTH)


def _cast(conn: sqlite3.Connection, proposal_id: bytes) -> list[tuple[bytes, str]]:
    """Every filled ballot of a proposal: (receipt hash, choice), in receipt order."""
    rows = conn.execute(
        "SELECT receipt, choice FROM ballots WHERE proposal = ? AND receipt != ? ORDER BY receipt",
        (proposal_id, _BLANK_RECEIPT),
    )
    return [(bytes(r), str(c).rstrip()) for r, c in rows]


def _electorate(conn: sqlite3.Connection, proposal_id: bytes) -> list[tuple[str, bool]]:
    rows = conn.execute(
        "SELECT m.name, e.voted FROM electorate AS e JOIN members AS m ON m.id = e.member "
        "WHERE e.proposal = ? ORDER BY m.name_key, m.id",
        (proposal_id,),
    )
    return [(str(n), bool(v)) for n, v in rows]


def _comments(conn: sqlite3.Connection, proposal_id: bytes) -> list[Comment]:
    rows = conn.execute(
        "SELECT m.name, c.at, c.text FROM comments AS c JOIN members AS m ON m.id = c.member "
        "WHERE c.proposal = ? ORDER BY c.n",
        (proposal_id,),
    )
    return [Comment(str(n), int(a), str(t)) for n, a, t in rows]


def _open_ballots(conn: sqlite3.Connection, proposal_id: bytes) -> list[tuple[str, str]]:
    rows = conn.execute(
        "SELECT m.name, b.choice FROM ballots AS b JOIN members AS m ON m.id = b.voter "
        "WHERE b.proposal = ? ORDER BY m.name_key",
        (proposal_id,),
    )
    return [(str(n), str(c).rstrip()) for n, c in rows]


def proposal_by_id(conn: sqlite3.Connection, proposal_id: bytes) -> Proposal | None:
    row = conn.execute(f"{_PROPOSAL} WHERE p.id = ?", (proposal_id,)).fetchone()
    return None if row is None else _proposal(row)


def _open_or_refuse(conn: sqlite3.Connection, proposal_id: bytes, now: int) -> None:
    # Only the two times: the whole proposal (proposal_by_id) counts its turnout
    # over the electorate, which a ballot does not need.
    row = conn.execute("SELECT closed_at, closes_at FROM proposals WHERE id = ?", (proposal_id,)).fetchone()
    if row is None:
        raise ChapterError("not_found", "no such proposal")
    if row[0] is not None or now >= int(row[1]):
        raise ChapterError("proposal_closed", "this proposal is closed: it takes no more ballots or comments")


class Votes:
    def __init__(self, db: ChapterDB) -> None:
        self._db = db
        self._blank: dict[bytes, list[bytes]] = {}
        """Each open proposal's blank slots, in a random order drawn here (kept
        in memory only, never stored: a stored order would be the votes'
        order). A first vote takes the next; a node that restarts draws anew."""

    def _fill_blank_slot(self, conn: sqlite3.Connection, proposal_id: bytes, values: tuple[bytes, str, bytes]) -> None:
        """Fill a blank slot chosen uniformly at random among those left, in place."""
        for _attempt in range(2):
            pool = self._blank.get(proposal_id)
            if not pool:  # first vote since the node started, or a transaction rolled back after a draw
                pool = [
                    bytes(r[0])
                    for r in conn.execute(
                        "SELECT slot FROM ballots WHERE proposal = ? AND receipt = ?", (proposal_id, _BLANK_RECEIPT)
                    )
                ]
                _SHUFFLE.shuffle(pool)
                self._blank[proposal_id] = pool
            while pool:
                cursor = conn.execute(
                    "UPDATE ballots SET receipt = ?, choice = ?, voter = ? WHERE proposal = ? AND slot = ? "
                    "AND receipt = ?",
                    (*values, proposal_id, pool.pop(), _BLANK_RECEIPT),
                )
                if cursor.rowcount == 1:
                    return
        raise AssertionError("a proposal has a ballot slot for each of its electors")  # pragma: no cover

    async def open(self, new: NewProposal, now: int) -> Proposal:
        """Open a proposal with the electorate of this moment: every active member."""

        def open_(conn: sqlite3.Connection) -> Proposal:
            mine = conn.execute(
                "SELECT count(*) FROM proposals WHERE proposer = ? AND closed_at IS NULL", (new.proposer,)
            ).fetchone()[0]
            if int(mine) >= MAX_OPEN_PER_MEMBER:
                raise ChapterError(
                    "too_many_proposals", f"you have {mine} open proposals, as many as one member may; let one close"
                )
            members = active_ids(conn)
            conn.execute(
                "INSERT INTO proposals (id, proposer, title, text, type, effect, method, options, threshold, quorum, "
                "ballot, opened_at, closes_at, electorate) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (new.id, new.proposer, new.title, new.text, new.type, json.dumps(new.effect, sort_keys=True),
                 new.method, json.dumps(list(new.options)), new.threshold, new.quorum, new.ballot, now,
                 new.closes_at, len(members)),
            )  # fmt: skip
            conn.executemany("INSERT INTO electorate (proposal, member) VALUES (?, ?)", [(new.id, m) for m in members])
            slots = sorted(secrets.token_bytes(16) for _ in members)
            conn.executemany(
                "INSERT INTO ballots (proposal, slot, receipt, choice, voter) VALUES (?, ?, ?, ?, ?)",
                [(new.id, slot, _BLANK_RECEIPT, " " * CHOICE_WIDTH, _BLANK_VOTER) for slot in slots],
            )
            found = proposal_by_id(conn, new.id)
            assert found is not None
            return found

        return await self._db.run(open_)

    async def get(self, proposal_id: bytes) -> Proposal | None:
        return await self._db.run(proposal_by_id, proposal_id)

    async def by_prefix(self, prefix: str) -> list[Proposal]:
        """Proposals whose id (in hex) starts with ``prefix``: at most two (enough to tell it is ambiguous)."""
        low = bytes.fromhex(prefix + "0" * (len(prefix) % 2))
        high = bytes.fromhex(prefix.ljust(len(prefix) + len(prefix) % 2, "f")) + b"\xff" * 16

        def find(conn: sqlite3.Connection) -> list[Proposal]:
            rows = conn.execute(f"{_PROPOSAL} WHERE p.id >= ? AND p.id <= ? LIMIT 3", (low, high)).fetchall()
            return [p for p in map(_proposal, rows) if p.id.hex().startswith(prefix)][:2]

        return await self._db.run(find)

    async def listing(self, *, open_only: bool, closed_only: bool, limit: int) -> list[Proposal]:
        """Newest first."""

        def read(conn: sqlite3.Connection) -> list[Proposal]:
            where = (
                " WHERE p.closed_at IS NULL" if open_only else " WHERE p.closed_at IS NOT NULL" if closed_only else ""
            )
            return [_proposal(r) for r in conn.execute(f"{_PROPOSAL}{where} ORDER BY p.n DESC LIMIT ?", (limit,))]

        return await self._db.run(read)

    async def in_electorate(self, proposal_id: bytes, member_id: bytes) -> tuple[bool, bool]:
        """(in the electorate, has voted)."""

        def read(conn: sqlite3.Connection) -> tuple[bool, bool]:
            row = conn.execute(
                "SELECT voted FROM electorate WHERE proposal = ? AND member = ?", (proposal_id, member_id)
            ).fetchone()
            return (row is not None, bool(row and row[0]))

        return await self._db.run(read)

    async def vote(
        self, proposal_id: bytes, member_id: bytes, receipt: bytes, choice: str, now: int, *, open_ballot: bool
    ) -> VoteResult:
        """Store or change a member's ballot (``receipt``: the hash of their receipt)."""

        def vote(conn: sqlite3.Connection) -> VoteResult:
            _open_or_refuse(conn, proposal_id, now)
            row = conn.execute(
                "SELECT voted FROM electorate WHERE proposal = ? AND member = ?", (proposal_id, member_id)
            ).fetchone()
            if row is None:
                raise ChapterError(
                    "not_in_electorate", "you were not a member when this proposal opened, so you do not vote on it"
                )
            voter = member_id if open_ballot else _BLANK_VOTER
            padded = _pad(choice)
            if row[0]:
                cursor = conn.execute(
                    "UPDATE ballots SET choice = ?, voter = ? WHERE proposal = ? AND receipt = ?",
                    (padded, voter, proposal_id, receipt),
                )
                if cursor.rowcount != 1:
                    raise ChapterError(
                        "ballot_locked",
                        "you voted on this proposal with an earlier card: that ballot counts and cannot be changed",
                    )
                changed = True
            else:
                self._fill_blank_slot(conn, proposal_id, (receipt, padded, voter))
                conn.execute(
                    "UPDATE electorate SET voted = 1 WHERE proposal = ? AND member = ?", (proposal_id, member_id)
                )
                changed = False
            return VoteResult(changed, not _waiting(conn, proposal_id))

        return await self._db.run(vote)

    async def mine(self, member_id: bytes, receipts: dict[bytes, bytes]) -> dict[bytes, Mine]:
        """For each proposal (id -> the member's receipt hash for it): whether the
        member is in its electorate, has voted, and the choice their receipt
        finds (None after a new card). One transaction for a whole list."""

        def read(conn: sqlite3.Connection) -> dict[bytes, Mine]:
            out = {}
            for proposal_id, receipt in receipts.items():
                row = conn.execute(
                    "SELECT voted FROM electorate WHERE proposal = ? AND member = ?", (proposal_id, member_id)
                ).fetchone()
                choice = conn.execute(
                    "SELECT choice FROM ballots WHERE proposal = ? AND receipt = ?", (proposal_id, receipt)
                ).fetchone()
                out[proposal_id] = Mine(row is not None, bool(row and row[0]),
                                        None if choice is None else str(choice[0]).rstrip())  # fmt: skip
            return out

        return await self._db.run(read)

    async def ballot(self, proposal_id: bytes, receipt: bytes) -> str | None:
        """The choice stored under a receipt's hash (a member's own ballot)."""

        def read(conn: sqlite3.Connection) -> str | None:
            row = conn.execute(
                "SELECT choice FROM ballots WHERE proposal = ? AND receipt = ?", (proposal_id, receipt)
            ).fetchone()
            return None if row is None else str(row[0]).rstrip()

        return await self._db.run(read)

    async def receipts(self, proposal_id: bytes) -> list[tuple[bytes, str]]:
        """Every (receipt hash, choice), in receipt order: for a closed proposal only."""

        def read(conn: sqlite3.Connection) -> list[tuple[bytes, str]]:
            closed = conn.execute("SELECT closed_at FROM proposals WHERE id = ?", (proposal_id,)).fetchone()
            if closed is None or closed[0] is None:
                return []
            return _cast(conn, proposal_id)

        return await self._db.run(read)

    async def open_ballots(self, proposal_id: bytes) -> list[tuple[str, str]]:
        """(member name, choice) of an open ballot, by name."""
        return await self._db.run(_open_ballots, proposal_id)

    async def details(self, proposal_id: bytes) -> Details:
        """The electorate, the comments and, once closed, the receipts list (and an
        open ballot's names beside choices): one transaction."""

        def read(conn: sqlite3.Connection) -> Details:
            closed = conn.execute("SELECT closed_at, ballot FROM proposals WHERE id = ?", (proposal_id,)).fetchone()
            done = closed is not None and closed[0] is not None
            return Details(
                _electorate(conn, proposal_id),
                _comments(conn, proposal_id),
                _cast(conn, proposal_id) if done else [],
                _open_ballots(conn, proposal_id) if done and closed[1] == "open" else [],
            )

        return await self._db.run(read)

    async def electorate(self, proposal_id: bytes) -> list[tuple[str, bool]]:
        """(member name, has voted) for everyone who may vote, by name: who voted, never how."""
        return await self._db.run(_electorate, proposal_id)

    async def due(self, now: int) -> list[bytes]:
        """Open proposals past their closing time or that everyone has voted on."""

        def read(conn: sqlite3.Connection) -> list[bytes]:
            rows = conn.execute(
                "SELECT p.id FROM proposals AS p WHERE p.closed_at IS NULL AND (p.closes_at <= ? OR NOT EXISTS "
                f"({_WAITING.format(proposal='p.id')})) ORDER BY p.closes_at, p.n",
                (now,),
            )
            return [bytes(r[0]) for r in rows]

        return await self._db.run(read)

    async def next_closing(self) -> int | None:
        def read(conn: sqlite3.Connection) -> int | None:
            row = conn.execute("SELECT min(closes_at) FROM proposals WHERE closed_at IS NULL").fetchone()
            return None if row[0] is None else int(row[0])

        return await self._db.run(read)

    async def close(
        self,
        proposal_id: bytes,
        now: int,
        count: Callable[[Proposal, list[tuple[bytes, str]]], tuple[dict[str, Any], bytes]],
    ) -> Proposal | None:
        """Close a proposal that is due, counting its ballots with ``count``
        (-> the result and the receipts digest). None if it was not due or is closed."""

        def close(conn: sqlite3.Connection) -> Proposal | None:
            proposal = proposal_by_id(conn, proposal_id)
            if proposal is None or not proposal.is_open:
                return None
            if now < proposal.closes_at and _waiting(conn, proposal_id):
                return None
            result, digest = count(proposal, _cast(conn, proposal_id))
            self._blank.pop(proposal_id, None)
            conn.execute(
                "UPDATE proposals SET closed_at = ?, result = ?, receipts = ? WHERE id = ?",
                (min(now, proposal.closes_at), json.dumps(result, sort_keys=True), digest, proposal_id),
            )
            return proposal_by_id(conn, proposal_id)

        return await self._db.run(close)

    async def unfinished(self) -> list[Proposal]:
        """Closed proposals not yet applied or whose decision is not yet published, oldest first."""

        def read(conn: sqlite3.Connection) -> list[Proposal]:
            rows = conn.execute(
                f"{_PROPOSAL} WHERE p.closed_at IS NOT NULL AND (p.applied IS NULL OR p.decision IS NULL) "
                "ORDER BY p.closed_at, p.n"
            )
            return [_proposal(r) for r in rows]

        return await self._db.run(read)

    async def mark_applied(self, proposal_id: bytes, applied: str) -> None:
        def mark(conn: sqlite3.Connection) -> None:
            conn.execute("UPDATE proposals SET applied = ? WHERE id = ?", (applied, proposal_id))

        await self._db.run(mark)

    # -- comments --------------------------------------------------------------------------

    async def comment(self, proposal_id: bytes, member_id: bytes, text: str, now: int) -> None:
        def add(conn: sqlite3.Connection) -> None:
            _open_or_refuse(conn, proposal_id, now)
            total, mine = conn.execute(
                "SELECT count(*), coalesce(sum(member = ?), 0) FROM comments WHERE proposal = ?",
                (member_id, proposal_id),
            ).fetchone()
            if int(total) >= MAX_COMMENTS or int(mine) >= MAX_COMMENTS_PER_MEMBER:
                raise ChapterError(
                    "too_many_comments",
                    f"a proposal takes {MAX_COMMENTS} comments, {MAX_COMMENTS_PER_MEMBER} from one member",
                )
            conn.execute(
                "INSERT INTO comments (proposal, member, at, text) VALUES (?, ?, ?, ?)",
                (proposal_id, member_id, now, text),
            )

        await self._db.run(add)

    async def comments(self, proposal_id: bytes) -> list[Comment]:
        return await self._db.run(_comments, proposal_id)
