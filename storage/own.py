"""What only this node knows about posts: its own posts, and its organizers' removals.

``OwnPosts`` reads the tables the writer fills for posts made through this
node: ``manage_tokens`` (only a hash of each post's token, so a copy of the
database does not let anyone edit members' posts) and ``own_versions`` (the
id of every version, so a manage link or a reply about an edited post still
finds it). ``Moderation`` answers whether an address was removed and why.
Both read on the reader connection; removals themselves are written by the
writer (they delete a record row in its transaction).

The set of removed addresses is kept in memory (a few at most, loaded at
open): ingest asks about every arriving record, before any signature work.
``Moderation`` owns it; the writer adds to it once a removal commits.
"""

from __future__ import annotations

from protocol.records import Record, parse_record
from storage.query import at_address_of
from storage.rows import Address, id_prefix_bounds
from storage.sqlite import Connection


class OwnPosts:
    def __init__(self, reader: Connection) -> None:
        self._reader = reader

    async def manage_token_hash(self, author: bytes, kind: str, slot: str) -> bytes | None:
        rows = await self._reader.run(
            "SELECT token_hash FROM manage_tokens WHERE author = ? AND kind = ? AND slot = ?", (author, kind, slot)
        )
        return bytes(rows[0][0]) if rows else None

    async def managed_by(self, token_hash: bytes, now: int, limit: int = 100) -> list[Record]:
        """The live posts whose manage token has this hash, newest first (a need
        and its linked offer share a token). The table holds only this node's
        own posts, so a scan of it is small."""
        rows = await self._reader.run(
            "SELECT r.raw FROM manage_tokens AS m JOIN records AS r "
            f"ON {at_address_of('m')} "
            "WHERE m.token_hash = ? AND r.expires_at > ? "
            "ORDER BY coalesce(r.opened_at, r.created_at) DESC, r.kind, r.seq LIMIT ?",
            (token_hash, now, limit),
        )
        return [parse_record(bytes(row[0]), validate=False) for row in rows]

    async def current(self, record_id: bytes, now: int) -> Record | None:
        """The live version of this node's own post of which ``record_id`` was
        once a version (a manage link keeps working after edits), or None."""
        rows = await self._reader.run(
            "SELECT r.raw FROM own_versions AS v JOIN records AS r "
            f"ON {at_address_of('v')} "
            "WHERE v.id = ? AND r.expires_at > ?",
            (record_id, now),
        )
        return parse_record(bytes(rows[0][0]), validate=False) if rows else None

    async def current_by_prefix(self, prefix: str, now: int, limit: int = 2) -> list[Record]:
        """The live current versions of up to ``limit`` of this node's own posts
        one of whose versions has an id starting with the hex ``prefix`` (an id
        a member copied before an edit still finds the post)."""
        low, high = id_prefix_bounds(prefix)
        rows = await self._reader.run(
            "SELECT DISTINCT r.raw FROM own_versions AS v JOIN records AS r "
            f"ON {at_address_of('v')} "
            "WHERE v.id BETWEEN ? AND ? AND r.expires_at > ? LIMIT ?",
            (low, high, now, limit),
        )
        return [parse_record(bytes(row[0]), validate=False) for row in rows]

    async def version_places(self, author: bytes) -> dict[bytes, tuple[str, str]]:
        """Every version id of this node's own posts under ``author``, with the
        post's (kind, slot): a key rotation makes references to them follow."""
        rows = await self._reader.run("SELECT id, kind, slot FROM own_versions WHERE author = ?", (author,))
        return {bytes(i): (str(k), str(s)) for i, k, s in rows}

    async def replies_from(self, author: bytes, about: bytes, now: int) -> int:
        """Live replies signed by ``author`` about the post version ``about`` or,
        when that is a version of this node's own post, about any of its versions
        (other nodes' earlier versions are not known here)."""
        rows = await self._reader.run(
            "SELECT count(*) FROM records WHERE about IN (SELECT v.id FROM own_versions AS v JOIN own_versions AS w "
            "ON v.author = w.author AND v.kind = w.kind AND v.slot = w.slot WHERE w.id = ? UNION SELECT ?) "
            "AND kind = 'reply' AND author = ? AND expires_at > ?",
            (about, about, author, now),
        )
        return int(rows[0][0])


class Moderation:
    def __init__(self, reader: Connection, removed: set[Address]) -> None:
        self._reader = reader
        self.removed = removed
        """Every removed address; the writer adds to it (``Writer._remove_rows``)."""

    @classmethod
    async def load(cls, reader: Connection) -> Moderation:
        rows = await reader.run("SELECT author, kind, slot FROM removals")
        return cls(reader, {(bytes(r[0]), str(r[1]), str(r[2])) for r in rows})

    def is_removed(self, address: Address) -> bool:
        return address in self.removed

    async def removal_reason(self, record_id: bytes) -> str | None:
        """The organizers' reason, if ``record_id`` is a removed version (or an
        earlier version of a removed post of this node)."""
        rows = await self._reader.run(
            "SELECT reason FROM removals WHERE record_id = ? UNION ALL "
            "SELECT m.reason FROM own_versions AS v JOIN removals AS m "
            "ON m.author = v.author AND m.kind = v.kind AND m.slot = v.slot WHERE v.id = ? LIMIT 1",
            (record_id, record_id),
        )
        return str(rows[0][0]) if rows else None
