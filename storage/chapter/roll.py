"""The roll: members, their cards and the invites that bring them in.

A member is a chosen name (a pseudonym is fine), who invited them and when
they joined: there is no column for anything else, and nothing here leaves
the node. The card and the invite code are secrets the node never keeps:
only their SHA-256 (the caller hashes them), so a copy of the file lets no
one act as a member or join. Random ids and secrets come from the caller.
"""

from __future__ import annotations

import sqlite3
import unicodedata
from dataclasses import dataclass
from typing import Any

from protocol.records import DAY
from storage.chapter.db import ChapterDB
from storage.chapter.errors import ChapterError

WEEK = 7 * DAY
MAX_LIVE_INVITES = 1000
"""Unused, unexpired invites the chapter holds at most: what bounds a guesser's odds (docs/CHAPTER.md)."""


@dataclass(frozen=True)
class Member:
    id: bytes
    name: str
    invited_by: bytes | None
    """Who invited them; None for an invite from the operator's founding sheet."""
    inviter_name: str | None
    joined_at: int
    ended: str | None
    """None while active; ``left`` or ``retired`` (a decision retired the card)."""
    ended_at: int | None

    @property
    def active(self) -> bool:
        return self.ended is None


_MEMBER = (
    "SELECT m.id, m.name, m.invited_by, i.name, m.joined_at, m.ended, m.ended_at "
    "FROM members AS m LEFT JOIN members AS i ON i.id = m.invited_by"
)


def _member(row: tuple[Any, ...]) -> Member:
    mid, name, by, by_name, joined, ended, ended_at = row
    return Member(
        bytes(mid),
        str(name),
        None if by is None else bytes(by),
        None if by_name is None else str(by_name),
        int(joined),
        None if ended is None else str(ended),
        None if ended_at is None else int(ended_at),
    )


def name_key(name: str) -> str:
    """What makes two names the same name on the roll: case, spacing and Unicode's
    compatibility forms aside ("José" typed either way, a full-width "Ａna")."""
    return " ".join(unicodedata.normalize("NFKC", name).casefold().split())


def member_by_card(conn: sqlite3.Connection, card_hash: bytes) -> Member | None:
    row = conn.execute(f"{_MEMBER} WHERE m.card_hash = ?", (card_hash,)).fetchone()
    return None if row is None else _member(row)


def member_by_id(conn: sqlite3.Connection, member_id: bytes) -> Member | None:
    row = conn.execute(f"{_MEMBER} WHERE m.id = ?", (member_id,)).fetchone()
    return None if row is None else _member(row)


def active_ids(conn: sqlite3.Connection) -> list[bytes]:
    return [bytes(r[0]) for r in conn.execute("SELECT id FROM members WHERE card_hash IS NOT NULL ORDER BY id")]


class Roll:
    """Members, cards and invites."""

    def __init__(self, db: ChapterDB) -> None:
        self._db = db

    async def by_card(self, card_hash: bytes) -> Member | None:
        """The active member holding this card, if any."""
        return await self._db.run(member_by_card, card_hash)

    async def by_id(self, member_id: bytes) -> Member | None:
        return await self._db.run(member_by_id, member_id)

    async def by_name(self, name: str) -> Member | None:
        """The active member of this name (names are unique among active members)."""

        def find(conn: sqlite3.Connection) -> Member | None:
            row = conn.execute(f"{_MEMBER} WHERE m.name_key = ? AND m.card_hash IS NOT NULL", (name_key(name),))
            found = row.fetchone()
            return None if found is None else _member(found)

        return await self._db.run(find)

    async def names(self, ids: list[bytes]) -> dict[bytes, str]:
        """Roll names by member id (one transaction for many)."""

        def read(conn: sqlite3.Connection) -> dict[bytes, str]:
            return {
                i: str(row[0])
                for i in ids
                if (row := conn.execute("SELECT name FROM members WHERE id = ?", (i,)).fetchone()) is not None
            }

        return await self._db.run(read)

    async def members(self, limit: int, *, active_only: bool = False) -> list[Member]:
        """The roll in the order members joined (the founders first)."""

        def read(conn: sqlite3.Connection) -> list[Member]:
            where = " WHERE m.card_hash IS NOT NULL" if active_only else ""
            rows = conn.execute(f"{_MEMBER}{where} ORDER BY m.joined_at, m.id LIMIT ?", (limit,))
            return [_member(r) for r in rows]

        return await self._db.run(read)

    async def count_active(self) -> int:
        def count(conn: sqlite3.Connection) -> int:
            return int(conn.execute("SELECT count(*) FROM members WHERE card_hash IS NOT NULL").fetchone()[0])

        return await self._db.run(count)

    # -- invites -------------------------------------------------------------------------

    async def make_invites(
        self, code_hashes: list[bytes], made_by: bytes | None, now: int, expires_at: int, quota: int | None
    ) -> None:
        """Store invites; ``quota``: the most ``made_by`` may make in any 7 days
        (None: no quota, the operator's founding sheet). Raises ``invite_quota``."""

        def make(conn: sqlite3.Connection) -> None:
            if quota is not None:
                made = int(
                    conn.execute(
                        "SELECT count(*) FROM invites WHERE made_by IS ? AND made_at > ?", (made_by, now - WEEK)
                    ).fetchone()[0]
                )
                if made + len(code_hashes) > quota:
                    left = max(0, quota - made)
                    raise ChapterError(
                        "invite_quota",
                        f"the chapter's quota is {quota} invites a week each; you have {left} left this week",
                    )
            live = int(
                conn.execute(
                    "SELECT count(*) FROM invites WHERE used_at IS NULL AND expires_at > ?", (now,)
                ).fetchone()[0]
            )
            if live + len(code_hashes) > MAX_LIVE_INVITES:
                raise ChapterError(
                    "invite_quota", f"the chapter holds {live} unused invites; it keeps at most {MAX_LIVE_INVITES}"
                )
            conn.executemany(
                "INSERT INTO invites (code_hash, made_by, made_at, expires_at) VALUES (?, ?, ?, ?)",
                [(h, made_by, now, expires_at) for h in code_hashes],
            )
            # Invites past their expiry and out of every quota window are forgotten.
            conn.execute("DELETE FROM invites WHERE expires_at < ? AND made_at < ?", (now, now - WEEK))

        await self._db.run(make)

    async def invites_left(self, member_id: bytes, quota: int, now: int) -> int:
        def count(conn: sqlite3.Connection) -> int:
            made = conn.execute(
                "SELECT count(*) FROM invites WHERE made_by = ? AND made_at > ?", (member_id, now - WEEK)
            ).fetchone()[0]
            return max(0, quota - int(made))

        return await self._db.run(count)

    async def join(self, code_hash: bytes, member_id: bytes, name: str, card_hash: bytes, now: int) -> Member:
        """Redeem an invite: the new member, or ``invalid_invite`` / ``name_taken``
        (nothing changes then: the invite stays usable)."""

        def redeem(conn: sqlite3.Connection) -> Member:
            row = conn.execute(
                "SELECT made_by, expires_at, used_at FROM invites WHERE code_hash = ?", (code_hash,)
            ).fetchone()
            if row is None or row[2] is not None or int(row[1]) <= now:
                raise ChapterError(
                    "invalid_invite", "this invite code is not valid: it may be mistyped, already used or expired"
                )
            taken = conn.execute(
                "SELECT 1 FROM members WHERE name_key = ? AND card_hash IS NOT NULL", (name_key(name),)
            ).fetchone()
            if taken:
                raise ChapterError("name_taken", "a member already goes by this name here; choose another")
            conn.execute(
                "INSERT INTO members (id, name, name_key, invited_by, joined_at, card_hash) VALUES (?, ?, ?, ?, ?, ?)",
                (member_id, name, name_key(name), row[0], now, card_hash),
            )
            conn.execute("UPDATE invites SET used_at = ? WHERE code_hash = ?", (now, code_hash))
            found = member_by_id(conn, member_id)
            assert found is not None
            return found

        return await self._db.run(redeem)

    async def replace_card(self, member_id: bytes, new_hash: bytes) -> None:
        """The member's card changes: the old one stops working at once."""

        def replace(conn: sqlite3.Connection) -> None:
            conn.execute(
                "UPDATE members SET card_hash = ? WHERE id = ? AND card_hash IS NOT NULL", (new_hash, member_id)
            )

        await self._db.run(replace)

    async def end(self, member_id: bytes, how: str, now: int) -> bool:
        """The member leaves (``left``) or a decision retires their card
        (``retired``): the card stops working, the entry stays on the roll.
        False if they were not active."""

        def end(conn: sqlite3.Connection) -> bool:
            return end_membership(conn, member_id, how, now)

        return await self._db.run(end)


def end_membership(conn: sqlite3.Connection, member_id: bytes, how: str, now: int) -> bool:
    cursor = conn.execute(
        "UPDATE members SET card_hash = NULL, ended = ?, ended_at = ? WHERE id = ? AND card_hash IS NOT NULL",
        (how, now, member_id),
    )
    return cursor.rowcount > 0
