"""The operator's tables: the peer list (with pinned keys) and local policy.

Small and rarely written, so ``AdminStore`` keeps its own connection to the
node's database file instead of going through the record writer; WAL and the
busy timeout let the two writers take turns. The schema lives with the rest
in ``storage/schema.py`` and is created by ``RecordStore.open``, which must
run first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from storage.sqlite import Connection, open_side

Subject = Literal["peer", "author"]
Action = Literal["block", "allow"]


@dataclass(frozen=True)
class PeerEntry:
    url: str
    public_key: bytes | None
    added_at: int
    source: str
    """"config" (from settings or --peer), "admin" (added through the API), or
    how a found peer was found: "mdns", "exchange" or "anchor"."""
    last_connected: int | None = None
    connected_s: int = 0
    """Seconds a found peer stayed connected, summed over its history."""


MAX_FOUND_PEERS = 64
"""Found peers remembered (for anchors); the least recently connected are forgotten."""


class AdminStore:
    def __init__(self, connection: Connection) -> None:
        self._conn = connection
        self.path = connection.path

    @classmethod
    async def open(cls, path: str) -> AdminStore:
        return cls(await open_side(path))

    async def close(self) -> None:
        await self._conn.close()

    async def peers(self) -> list[PeerEntry]:
        rows = await self._conn.run(
            "SELECT url, public_key, added_at, source, last_connected, connected_s FROM peers ORDER BY added_at, url"
        )
        return [
            PeerEntry(str(u), None if k is None else bytes(k), int(a), str(s), None if c is None else int(c), int(t))
            for u, k, a, s, c, t in rows
        ]

    async def found_peer(self, url: str, key: bytes, source: str, now: int) -> None:
        """A found peer proved its key and is connected: remember it. An
        operator's own entry for the URL is kept as it is; a found entry for
        the URL under another key (an address handed to another node) starts
        afresh. Past MAX_FOUND_PEERS, the least recently connected are forgotten."""
        source = "exchange" if source == "exchange" else "mdns"
        await self._conn.run(
            "INSERT INTO peers (url, public_key, added_at, source, last_connected) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (url) DO UPDATE SET last_connected = excluded.last_connected,"
            " connected_s = CASE WHEN peers.public_key IS excluded.public_key THEN peers.connected_s ELSE 0 END,"
            " public_key = excluded.public_key "
            "WHERE peers.source IN ('mdns', 'exchange') OR peers.public_key IS excluded.public_key",
            (url, key, now, source, now),
        )
        await self._conn.run(
            "DELETE FROM peers WHERE source IN ('mdns', 'exchange') AND url NOT IN ("
            " SELECT url FROM peers WHERE source IN ('mdns', 'exchange')"
            " ORDER BY last_connected DESC, connected_s DESC LIMIT ?)",
            (MAX_FOUND_PEERS,),
        )

    async def add_connected_time(self, url: str, key: bytes, seconds: float) -> None:
        sql = "UPDATE peers SET connected_s = connected_s + ? WHERE url = ? AND public_key = ?"
        await self._conn.run(sql, (round(seconds), url, key))

    async def scores(self) -> list[tuple[bytes, float, int, int]]:
        """(peer key, penalty points, when, banned until) as saved."""
        rows = await self._conn.run("SELECT key, penalty, updated_at, banned_until FROM peer_scores")
        return [(bytes(k), float(p), int(u), int(b)) for k, p, u, b in rows]

    async def save_scores(self, scores: Sequence[tuple[bytes, float, int, int]], keep: int = 10_000) -> None:
        """Replace saved scores for these keys (a zero score with no ban is
        deleted); bounded to the ``keep`` most recently updated."""
        for key, penalty, updated_at, banned_until in scores:
            if penalty <= 0 and banned_until <= updated_at:
                await self._conn.run("DELETE FROM peer_scores WHERE key = ?", (key,))
            else:
                await self._conn.run(
                    "INSERT OR REPLACE INTO peer_scores VALUES (?, ?, ?, ?)", (key, penalty, updated_at, banned_until)
                )
        await self._conn.run(
            "DELETE FROM peer_scores WHERE key NOT IN (SELECT key FROM peer_scores ORDER BY updated_at DESC LIMIT ?)",
            (keep,),
        )

    async def add_peer(self, url: str, now: int, source: str) -> bool:
        """True if the URL was new."""
        before = len(await self._conn.run("SELECT 1 FROM peers WHERE url = ?", (url,)))
        await self._conn.run("INSERT OR IGNORE INTO peers (url, added_at, source) VALUES (?, ?, ?)", (url, now, source))
        return before == 0

    async def remove_peer(self, url: str) -> bool:
        found = len(await self._conn.run("SELECT 1 FROM peers WHERE url = ?", (url,)))
        await self._conn.run("DELETE FROM peers WHERE url = ?", (url,))
        return found > 0

    async def repin(self, url: str, key: bytes) -> None:
        """Pin ``url`` to ``key`` whatever it was pinned to (the members decided so)."""
        await self._conn.run("UPDATE peers SET public_key = ? WHERE url = ?", (key, url))

    async def pin_key(self, url: str, key: bytes) -> None:
        await self._conn.run("UPDATE peers SET public_key = ? WHERE url = ? AND public_key IS NULL", (key, url))

    async def set_policy(self, subject: Subject, key: bytes, action: Action | None) -> None:
        if action is None:
            await self._conn.run("DELETE FROM policy WHERE subject = ? AND key = ?", (subject, key))
        else:
            await self._conn.run("INSERT OR REPLACE INTO policy VALUES (?, ?, ?)", (subject, key, action))

    async def policy(self) -> list[tuple[Subject, bytes, Action]]:
        rows = await self._conn.run("SELECT subject, key, action FROM policy ORDER BY subject, action, key")
        return [(str(s), bytes(k), str(a)) for s, k, a in rows]  # type: ignore[misc]
