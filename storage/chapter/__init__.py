"""The chapter's own file, ``chapter.db``: the roll, proposals and ballots, mandates, decided settings.

``ChapterStore`` opens it and exposes one part per job:

    roll       members, their cards (hashes) and invites          roll.py
    votes      proposals, electorate, ballots, comments, closing  votes.py
    mandates   organizer mandates and the organizers' log         mandates.py
    settings   decided settings and the chain of decisions        settings.py
    outreach   answers to findings, "I'll come", suggested events outreach.py

``apply`` makes a passed decision's change to the chapter's tables (settings,
mandates, a retired card) in one transaction with the note that it was applied. Why a file of its own, and how its
transactions run: ``db.py``.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from typing import Any

from storage.chapter.db import ChapterDB
from storage.chapter.errors import ChapterError
from storage.chapter.mandates import LogEntry, Mandate, Mandates, grant, revoke
from storage.chapter.outreach import Note, Outreach, Suggestion
from storage.chapter.roll import Member, Roll, end_membership
from storage.chapter.settings import Settings, put_setting
from storage.chapter.votes import Comment, Mine, NewProposal, Proposal, VoteResult, Votes

__all__ = [
    "Change",
    "ChapterError",
    "ChapterStore",
    "Comment",
    "LogEntry",
    "Mandate",
    "Member",
    "Mine",
    "NewProposal",
    "Note",
    "Proposal",
    "Suggestion",
    "VoteResult",
]


class ChapterStore:
    def __init__(self, db: ChapterDB) -> None:
        self._db = db
        self.path = db.path
        self.roll = Roll(db)
        self.votes = Votes(db)
        self.mandates = Mandates(db)
        self.settings = Settings(db)
        self.outreach = Outreach(db)

    @classmethod
    async def open(cls, path: str) -> ChapterStore:
        return cls(await ChapterDB.open(path))

    async def close(self) -> None:
        await self._db.close()

    async def release_memory(self) -> None:
        await self._db.release_memory()

    async def follow_ids(self, moved: dict[bytes, bytes]) -> int:
        """After a key rotation re-signed the chapter's records: the decisions
        and the answers to findings name the new ids (idempotent)."""

        def follow(conn: sqlite3.Connection) -> int:
            changed = 0
            for old, new in moved.items():
                changed += conn.execute("UPDATE decisions SET record_id = ? WHERE record_id = ?", (new, old)).rowcount
                changed += conn.execute("UPDATE proposals SET decision = ? WHERE decision = ?", (new, old)).rowcount
                changed += conn.execute("UPDATE answers SET finding = ? WHERE finding = ?", (new, old)).rowcount
            return changed

        return await self._db.run(follow)

    async def apply(self, proposal: bytes, change: Change, applied: str, now: int) -> None:
        """A passed proposal's effect on the chapter's own tables, and the note
        that it was applied, in one transaction (so it happens once)."""

        def apply(conn: sqlite3.Connection) -> None:
            for name, value in change.settings.items():
                put_setting(conn, name, value)
            if change.revoke is not None:
                revoke(conn, change.revoke, now)
            if change.grant is not None:
                grant(conn, change.grant[0], proposal, now, change.grant[1])
            if change.retire is not None:
                end_membership(conn, change.retire, "retired", now)
                revoke(conn, change.retire, now)
            conn.execute("UPDATE proposals SET applied = ? WHERE id = ?", (applied, proposal))

        await self._db.run(apply)


@dataclass(frozen=True)
class Change:
    """What a decision changes in the chapter's tables."""

    settings: dict[str, Any] = field(default_factory=dict)
    """Decided settings to set, by name (JSON values)."""
    grant: tuple[bytes, int] | None = None
    """(member, end of term): an organizer mandate."""
    revoke: bytes | None = None
    """A member whose live mandates end."""
    retire: bytes | None = None
    """A member whose card is retired (their mandates end too)."""
