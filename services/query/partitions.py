"""Upkeep of the access log's monthly partitions (issue 13; docs/architecture.md, "The audit log at scale").

The access log is partitioned by month of China Standard Time (migration 008). A write whose month has no
partition would fail, and a failed audit write refuses the call, so every query process keeps the partitions of
the current month and the next :data:`MONTHS_AHEAD` months in place: once before it serves, then every
``interval`` seconds (creating one that exists is a no-op, so replicas need no coordination). The same pass
counts every settled day into the daily counts, and last month into the monthly usage sums, so that summaries
and figures never have to roll them up themselves.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import errno
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.query import archive, figures
from services.query.checkpoints import CheckpointSigner
from services.query.store import QueryStore
from services.runtime.errors import describe
from services.runtime.tasks import cancel

log = logging.getLogger(__name__)

#: Months created ahead of the current one: a process that cannot reach the database for weeks still finds its
#: month when it comes back.
MONTHS_AHEAD = 2
#: Settled days rolled up per pass, newest first (a week covers any outage the loop itself had).
ROLL_UP_DAYS = 7
#: Settled hours summed per pass (GetUsageSummary reads the day in progress, and yesterday until it is counted,
#: by the hour), and how long hourly sums are kept (whole days are read from the daily counts).
ROLL_UP_HOURS = 26
KEEP_HOURS = dt.timedelta(days=3)
#: What to do when an archive cannot be written, by the error's errno: a volume without room (ENOSPC; EDQUOT a
#: quota; EFBIG a file size limit) needs space, anything else (EACCES, EROFS…) a directory the process may write.
_ROOM = "free space there or give the volume more"
_ARCHIVE_ADVICE = {errno.ENOSPC: _ROOM, errno.EDQUOT: _ROOM, errno.EFBIG: _ROOM}
_WRITABLE = "make the directory writable by the query service (GOVSHARE_AUDIT_ARCHIVE_DIR)"


def month_start(day: dt.date, months: int = 0) -> dt.date:
    """The first day of the month ``months`` after the one ``day`` falls in."""
    index = day.year * 12 + day.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


@dataclass(frozen=True)
class Retention:
    """How many months (CST, the current one included) the access log keeps online, where older months'
    signed archives go, and the audit signing key that signs them (GOVSHARE_AUDIT_RETENTION_MONTHS)."""

    months: int
    directory: Path
    signer: CheckpointSigner
    key: Ed25519PrivateKey


class PartitionKeeper:
    """Creates the access log's coming partitions and rolls up settled days, now and every ``interval``."""

    def __init__(self, store: QueryStore, interval: float,
                 clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
                 retention: Retention | None = None) -> None:
        self._store = store
        self._interval = interval
        self._clock = clock
        self._retention = retention
        self._task: asyncio.Task | None = None

    async def start(self) -> None:
        """One pass but the archiving (its failure stops the start: the process could not record its calls), then
        the timer, whose first turn archives at once.

        The archiving is left out of the start: it is as long as the months it has to write (a month of 10^7
        records, or every month before the retention once one is first set on a platform kept years), and a
        process serves only once its start is done: query pods started into it were killed by their startup
        probe before serving, again and again, the rollout never ending."""
        await self.run_once(archive=False)
        self._task = asyncio.create_task(self._run(), name="access-log-partitions")

    async def run_once(self, archive: bool = True) -> list[str]:
        """Ensures the partitions of this month and the next ones, counts the settled days and, with ``archive``,
        archives the expired months; returns the partitions' names."""
        now = self._clock()
        today = now.astimezone(figures.CST).date()
        names = [await self._store.ensure_partition(month_start(today, n)) for n in range(MONTHS_AHEAD + 1)]
        await self._roll_up(now)
        if archive:
            await self._archive(now)
        return names

    async def _archive(self, now: dt.datetime) -> None:
        """archive_expired, its failure logged (the next pass tries again)."""
        if self._retention is None:
            return
        try:
            await self.archive_expired(now)
        except Exception as exc:  # the database, not the file (archive_expired says that itself)
            log.error("archiving expired access log months failed (%s)", type(exc).__name__)

    async def archive_expired(self, now: dt.datetime) -> list[str]:
        """Archives and drops every month older than the retention keeps (the current month counts as one), oldest
        first; returns those archived. One whose file cannot be written (a full volume) is said so and stops the
        pass: it and the months after it stay online until a pass succeeds."""
        retention = self._retention
        if retention is None:
            return []
        async with self._store.archiving_turn() as mine:
            if not mine:
                log.debug("another query process is archiving expired access log months: left to it")
                return []
            return await self._archive_expired(retention, now)

    async def _archive_expired(self, retention: Retention, now: dt.datetime) -> list[str]:
        """archive_expired's work, in this process's turn: the months are listed once it has it (those another
        process archived meanwhile are gone)."""
        oldest_kept = month_start(now.astimezone(figures.CST).date(), -(retention.months - 1))
        expired = [name for name in await self._store.partitions()
                   if name < f"access_log_{oldest_kept:%Y%m}"]
        archived = []
        for name in expired:
            try:
                written = await archive.archive_partition(self._store, retention.signer, retention.key, name,
                                                          retention.directory, now)
            except archive.ArchiveNotWritten as exc:
                # The file's error in its own words (no record's content is in them) and the directory, which a
                # write's error does not name. Older months first: the later ones wait.
                log.error("archiving %s to %s failed (%s): the month stays online and is archived at the next pass;"
                          " %s", name, exc.directory, describe(exc.cause),
                          _ARCHIVE_ADVICE.get(exc.cause.errno, _WRITABLE))
                break
            log.info("archived %s: %d records to %s, partition dropped", name, written.rows, written.path)
            archived.append(name)
        return archived

    async def _roll_up(self, now: dt.datetime) -> None:
        hours = figures.settled_hours(now - dt.timedelta(hours=ROLL_UP_HOURS + 1), now, now)
        if hours is not None:
            await self._store.roll_up_usage_hours(figures.hours_of(*hours))
        await self._store.forget_usage_hours(now - KEEP_HOURS)
        span = figures.whole_days(now - dt.timedelta(days=ROLL_UP_DAYS + 1), now, now)
        if span is None:
            return
        first, last = span
        days = [(first + dt.timedelta(days=n), first + dt.timedelta(days=n + 1)) for n in range((last - first).days)]
        await self._store.roll_up_days([(start.date(), start, end) for start, end in days])
        # Last month's usage sums, once its last day is counted (every day of it first: one read when done).
        this_month = last.date().replace(day=1)
        previous = month_start(this_month, -1)
        month_days = [dt.datetime.combine(previous + dt.timedelta(days=n), dt.time(), figures.CST)
                      for n in range((this_month - previous).days)]
        await self._store.roll_up_days([(day.date(), day, day + dt.timedelta(days=1)) for day in month_days])
        await self._store.roll_up_usage_months([(previous, this_month)])

    async def _run(self) -> None:
        await self._archive(self._clock())  # the start's archiving, now that the process serves
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.run_once()
            except Exception as exc:
                log.error("access log upkeep failed (%s); retrying in %ss", type(exc).__name__, self._interval)

    async def stop(self) -> None:
        await cancel(self._task)
        self._task = None
