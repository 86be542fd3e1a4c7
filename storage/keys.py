"""What this node knows about chapters' keys: recovery pins, rotations, redirects.

``Keys`` reads the tables the writer fills when it keeps a node profile that
names a recovery key (``recovery_keys``, first one wins) and when it keeps a
``key_rotation`` (``rotations``, and ``redirects`` for every record the old
key had signed). The rotations are few and asked about for every arriving
record, so the map old key -> new key is kept in memory, loaded at open; the
writer adds to it once a rotation commits (protocol/rotation.py has the rules).
"""

from __future__ import annotations

from protocol.rotation import current_key
from storage.query import address_seqs, at_address_of
from storage.rows import Address
from storage.sqlite import Connection

_ROTATION_AT_RECOVERY = address_seqs("t.recovery", "'key_rotation'", "lower(hex(t.old))")
"""The rotation record of the rotation ``t``: signed by its recovery key, slotted by the key it retires."""


class Keys:
    def __init__(self, reader: Connection, rotated: dict[bytes, bytes]) -> None:
        self._reader = reader
        self.rotated = rotated
        """Old key -> the key that replaced it; the writer adds to it."""

    @classmethod
    async def load(cls, reader: Connection) -> Keys:
        rows = await reader.run("SELECT old, new FROM rotations")
        return cls(reader, {bytes(old): bytes(new) for old, new in rows})

    def retired(self, key: bytes) -> bool:
        """Whether a rotation replaced ``key``: nothing it signs is accepted now."""
        return key in self.rotated

    def current(self, key: bytes) -> bytes:
        return current_key(key, self.rotated)

    async def recovery_for(self, node: bytes) -> bytes | None:
        rows = await self._reader.run("SELECT recovery FROM recovery_keys WHERE node = ?", (node,))
        return bytes(rows[0][0]) if rows else None

    async def redirect(self, old_id: bytes) -> Address | None:
        """Where a record signed by a retired key went (None: nowhere known)."""
        rows = await self._reader.run("SELECT author, kind, slot FROM redirects WHERE old_id = ?", (old_id,))
        return (bytes(rows[0][0]), str(rows[0][1]), str(rows[0][2])) if rows else None

    async def moved_ids(self, new: bytes) -> dict[bytes, bytes]:
        """Old id -> the id of the record now at its address under ``new``."""
        rows = await self._reader.run(
            f"SELECT d.old_id, r.id FROM redirects AS d JOIN records AS r ON {at_address_of('d')} WHERE d.author = ?",
            (new,),
        )
        return {bytes(old): bytes(now) for old, now in rows}

    async def rotations_to(self, key: bytes, limit: int = 16) -> list[bytes]:
        """The rotation records that lead to ``key``, oldest first (raw bytes)."""
        chain: list[bytes] = []
        while len(chain) < limit:
            rows = await self._reader.run(
                "SELECT r.raw, t.old FROM rotations AS t JOIN records AS r "
                f"ON r.seq IN ({_ROTATION_AT_RECOVERY}) "
                "WHERE t.new = ?",
                (key,),
            )
            if not rows:
                break
            chain.append(bytes(rows[0][0]))
            key = bytes(rows[0][1])
        chain.reverse()
        return chain
