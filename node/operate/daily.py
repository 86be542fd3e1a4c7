"""The backups a running node makes itself: one a day, the newest N kept; and those asked through its API.

With ``backup_daily_keep = N`` (N > 0) the node writes a backup of its data
directory (``node/operate/backup.py``'s format, without the node key) into
``backup_dir`` every ``backup_every_s`` (a day), named by its UTC time
(``mutualaid-2026-12-20T033000Z.backup``, so names sort as times do), then
deletes the oldest of those names beyond N. Only names of that form are
ever deleted: a backup an operator put in the same directory is left alone.
The time of the newest such file says when the next is due, so a node
restarted every few hours still backs up once a day, and one that was off
for a week backs up as soon as it starts. Time is the node's ``Clock``
(``tick`` takes one step, for tests that move a ``ManualClock``).

A failure (a full disk, a damaged database) is logged with its cause (paths
and SQLite's words, nothing a member wrote), counted on ``/metrics``
(``mutualaid_backup_failures_in_a_row``, which ``mutualaid doctor`` reads),
and tried again an hour later (sooner with a shorter ``backup_every_s``).

One backup at a time: the daily ones and those ``POST /api/v1/backup`` makes
share a lock, and the file work runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import calendar
import contextlib
import logging
import re
import time
from pathlib import Path

from node.core.clock import Clock
from node.core.config import NodeConfig
from node.core.metrics import Metrics, Series
from node.operate.backup import BackupError, Made, make_backup

log = logging.getLogger("mutualaid.backup")
NAME_FORMAT = "mutualaid-%Y-%m-%dT%H%M%SZ.backup"
NAME = re.compile(r"mutualaid-(\d{4}-\d\d-\d\dT\d{6}Z)\.backup")
RETRY_AFTER_S = 3600
FUTURE_SLACK_S = 60
"""A backup named later than now by more than this was made while the clock
was wrong: it neither puts the next one off nor outlives the real ones."""
"""After a failure, the next try (or sooner, with a shorter ``backup_every_s``)."""


def daily_name(at: int) -> str:
    return time.strftime(NAME_FORMAT, time.gmtime(at))


def daily_backups(directory: Path) -> list[Path]:
    """The node's own daily backups in ``directory`` (names of a real time), oldest first."""
    if not directory.is_dir():
        return []
    return sorted((p for p in directory.iterdir() if made_at(p) is not None and p.is_file()), key=lambda p: p.name)


def made_at(path: Path) -> int | None:
    """The time a daily backup's name gives (None: not such a name)."""
    match = NAME.fullmatch(path.name)
    if match is None:
        return None
    try:
        return calendar.timegm(time.strptime(match.group(1), "%Y-%m-%dT%H%M%SZ"))
    except ValueError:  # the form, but no real time (a 13th month): not the node's
        return None


def _in_order(held: list[Path], now: int) -> list[Path]:
    """Oldest first, those named in the future (the clock was wrong then) before
    all others: they are pruned first and never count as the newest."""
    return sorted(held, key=lambda p: ((made_at(p) or 0) <= now + FUTURE_SLACK_S, p.name))


class NodeBackups:
    def __init__(self, config: NodeConfig, clock: Clock, metrics: Metrics) -> None:
        self.data_dir = config.data_dir
        self.directory = config.backups_path
        self.keep = config.backup_daily_keep
        self.every_s = config.backup_every_s
        self.clock = clock
        self.metrics = metrics
        self.lock = asyncio.Lock()
        self.failures_in_a_row = 0
        self.last_made: int | None = None

    async def make(self, out: Path, passphrase: bytes | None = None) -> Made:
        """One backup to ``out``, after any other under way."""
        async with self.lock:
            return await asyncio.to_thread(make_backup, self.data_dir, out, passphrase, now=self.clock.wall())

    async def run(self) -> None:
        """The daily backups, until cancelled."""
        while True:
            try:
                wait = await self.tick()
            except Exception:  # a fault of ours: logged, and the schedule goes on
                log.exception("the daily backup failed")
                wait = float(min(RETRY_AFTER_S, self.every_s))
            await asyncio.sleep(wait)

    async def tick(self) -> float:
        """Make the daily backup if it is due; the seconds until the next look."""
        now = self.clock.wall()
        try:
            held = _in_order(await asyncio.to_thread(daily_backups, self.directory), now)
            newest = made_at(held[-1]) if held else None
            if newest is not None and newest <= now + FUTURE_SLACK_S:
                self.last_made = newest
                due = newest + self.every_s
                if now < due:
                    return float(due - now)
            await self._daily(now)
        except (BackupError, OSError) as exc:
            self.failures_in_a_row += 1
            self.metrics.count("backup_failures_total")
            log.warning("the daily backup into %s failed (%d in a row): %s", self.directory, self.failures_in_a_row,
                        exc)  # fmt: skip
            return float(min(RETRY_AFTER_S, self.every_s))
        self.failures_in_a_row = 0
        self.last_made = now
        self.metrics.count("backups_made_total")
        return float(self.every_s)

    async def _daily(self, now: int) -> None:
        async with self.lock:  # one thread does it all: a shutdown meanwhile cannot leave it half done
            made, pruned = await asyncio.to_thread(self._write_daily, now)
        log.info("daily backup %s written (%d bytes before compression); %d older deleted, %d kept",
                 made.path.name, sum(made.files.values()), pruned, self.keep)  # fmt: skip

    def _write_daily(self, now: int) -> tuple[Made, int]:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        made = make_backup(self.data_dir, self.directory / daily_name(now), now=now)
        held = _in_order(daily_backups(self.directory), now)
        old = held[: max(0, len(held) - self.keep)]
        for path in old:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        return made, len(old)

    def gauges(self) -> Series:
        """For ``/metrics``: failures in a row, and when the newest daily backup was made."""
        series: Series = {("mutualaid_backup_failures_in_a_row", ()): self.failures_in_a_row}
        if self.last_made is not None:
            series[("mutualaid_backup_last_made_seconds", ())] = self.last_made
        return series
