"""The query service's figures of every department over a period (R-SUP-1, R-USE-4, R-DSP-1), for supervision.

From the access log:

* ``queries.made`` (user department): in total, by ``result`` and, for denials, by ``reason``;
* ``queries.served`` (provider): in total and by ``resource`` and ``purpose``; ``queries.served_to`` by using
  ``department``, ``resource``, ``purpose`` and ``result`` (the monthly usage feedback, 003 Art. 35);
  ``queries.failed`` those the
  platform could not answer through the provider's fault (its 前置机 did not answer, or its database could not
  send the record: the availability figure), and ``queries.failed_other`` by ``reason`` those that failed for
  another's (the platform's foundation data service or another dependency, a bug, or a caller that went away),
  which are not held against the provider;
* ``queries.purpose_not_granted`` (user department) by ``system``, ``resource`` and ``purpose``: calls for a
  purpose the system's grants do not hold (Art. 24, use beyond purpose) — the evidence supervision cites;
* ``queries.system_daily`` (user department) by ``system`` and ``day`` (China Standard Time), from
  :data:`HISTORY_DAYS` days before the period to its end: the history against which bursts are judged.

From disputes reported in the period: ``disputes.reported`` (reporter), ``disputes.received`` (also by
reporting ``department`` and ``resource``),
``disputes.answered_on_time``, ``disputes.answered_late``, ``disputes.unanswered_overdue`` and
``disputes.corrected`` (provider).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter

from services.query.audit import DENIED
from services.query.disputes import CORRECTED, OPEN
from services.query.store import AccessFilter, QueryStore
from services.runtime.figures import FigureRow, dimension

#: Days of history before the period that burst detection compares a system's days with.
HISTORY_DAYS = 28
#: China Standard Time: days (and months) begin at midnight in Beijing.
CST = dt.timezone(dt.timedelta(hours=8))
#: A day is counted once for good only when it ended this long ago (audit records of its last calls are durable
#: within milliseconds; the margin is generous).
SETTLE = dt.timedelta(hours=1)
FAILED = "FAILED"
ANSWERED = "ANSWERED"
PURPOSE_NOT_GRANTED = "PURPOSE_NOT_GRANTED"
#: The causes of a failed call that are the provider's (services.query.audit keeps the cause in the reason
#: column); "" is a record written before causes were kept, counted against the provider as it was then.
PROVIDER_FAILURES = frozenset({"PROVIDER_UNAVAILABLE", "RECORD_UNREADABLE", ""})


def _midnight_on_or_after(moment: dt.datetime) -> dt.datetime:
    local = moment.astimezone(CST)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    return midnight if midnight == local else midnight + dt.timedelta(days=1)


def _midnight_on_or_before(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(CST).replace(hour=0, minute=0, second=0, microsecond=0)


def whole_days(start: dt.datetime, end: dt.datetime, now: dt.datetime
               ) -> tuple[dt.datetime, dt.datetime] | None:
    """The whole CST days inside [start, end) that ended at least SETTLE before ``now``, as [first, last)
    midnights; None when there is none (the rest of the period is counted from the access log itself)."""
    first = _midnight_on_or_after(start)
    last = _midnight_on_or_before(min(end, now - SETTLE))
    return (first, last) if first < last else None


async def _counted(store: QueryStore, start: dt.datetime, end: dt.datetime, now: dt.datetime,
                   daily: bool) -> list:
    """Access counts of [start, end) (per day and system when ``daily``): whole past days from access_daily
    (rolled up on first use), the edges from the access log."""
    live = store.system_daily_counts if daily else store.access_counts
    span = whole_days(start, end, now)
    if span is None:
        return list(await live(start, end))
    first, last = span
    days = [(first + dt.timedelta(days=n), first + dt.timedelta(days=n + 1)) for n in range((last - first).days)]
    await store.roll_up_days([(day_start.date(), day_start, day_end) for day_start, day_end in days])
    rolled = store.daily_system_counts if daily else store.daily_access_counts
    rows = list(await rolled(first.date(), last.date()))
    if start < first:
        rows += await live(start, first)
    if last < end:
        rows += await live(last, end)
    return rows


def _count_failure(counts: Counter[tuple[str, str, str]], provider: str, resource: str, cause: str, n: int,
                   answered: bool = False) -> None:
    """A failed call counts against its provider's availability only when the failure was the provider's: the
    platform's own foundation service down (the department runs no endpoint for it) or a caller that gave up
    is not the department's doing, and an outage of the platform must not turn into its violations."""
    if cause in PROVIDER_FAILURES:
        counts[(provider, "queries.failed", "")] += n
        counts[(provider, "queries.failed", dimension(resource=resource))] += n
        if answered:  # among the answers too (queries.served_to): supervision counts it once, as failed
            counts[(provider, "queries.answered_in_part", dimension(resource=resource))] += n
    else:
        counts[(provider, "queries.failed_other", "")] += n
        counts[(provider, "queries.failed_other", dimension(reason=cause))] += n


async def department_figures(store: QueryStore, start: dt.datetime, end: dt.datetime,
                             now: dt.datetime) -> list[FigureRow]:
    """Every department's query and dispute figures over [start, end)."""
    counts: Counter[tuple[str, str, str]] = Counter()
    for row in await _counted(store, start, end, now, daily=False):
        user, provider, n = row["department_code"], row["provider_department_code"], row["n"]
        counts[(user, "queries.made", "")] += n
        counts[(user, "queries.made", dimension(result=row["result"]))] += n
        if row["result"] == DENIED:
            counts[(user, "queries.denied", dimension(reason=row["deny_reason"] or "UNSPECIFIED"))] += n
        if row["deny_reason"] == PURPOSE_NOT_GRANTED:
            counts[(user, "queries.purpose_not_granted", dimension(
                system=row["system_id"], resource=row["resource_code"], purpose=row["purpose"]))] += n
        counts[(provider, "queries.served", "")] += n
        counts[(provider, "queries.served", dimension(resource=row["resource_code"], purpose=row["purpose"]))] += n
        counts[(provider, "queries.served_to", dimension(department=user, resource=row["resource_code"],
                                                         purpose=row["purpose"], result=row["result"]))] += n
        if row["result"] == FAILED or (row["result"] == ANSWERED and row["deny_reason"]):
            # A BatchQuery answered in part (some keys' records at hand, the provider not answering the others)
            # keeps its failure's cause: the provider failed that call, whatever the cache answered for it.
            _count_failure(counts, provider, row["resource_code"], row["deny_reason"], n,
                           answered=row["result"] == ANSWERED)
    for row in await _counted(store, start - dt.timedelta(days=HISTORY_DAYS), end, now, daily=True):
        counts[(row["department_code"], "queries.system_daily",
                dimension(day=row["day"].isoformat(), system=row["system_id"]))] += row["n"]
    for row in await store.disputes_created(start, end):
        provider = row["provider_department_code"]
        counts[(row["reporter_department_code"], "disputes.reported", "")] += 1
        counts[(provider, "disputes.received", "")] += 1
        counts[(provider, "disputes.received", dimension(department=row["reporter_department_code"],
                                                         resource=row["resource_code"]))] += 1
        answered = row["answer_time"]
        if answered is not None:
            timely = answered <= row["due_time"]
            counts[(provider, "disputes.answered_on_time" if timely else "disputes.answered_late", "")] += 1
            if row["state"] == CORRECTED:
                counts[(provider, "disputes.corrected", "")] += 1
        elif row["state"] == OPEN and row["due_time"] < now:
            # Past due when counted, not at the period's end (as applications.unreplied_overdue): one reported late
            # in a month falls due in the next, whose figures count only the disputes reported in it, so it was
            # never counted unanswered against the provider.
            counts[(provider, "disputes.unanswered_overdue", "")] += 1
            counts[(provider, "disputes.unanswered_overdue", dimension(resource=row["resource_code"]))] += 1
    return [FigureRow(department, name, dim, value) for (department, name, dim), value in counts.items()]


#: A whole hour is summed for good (access_usage_hourly) only when it ended this long ago: far longer than any
#: call's deadline, so no record of it is still to come.
HOUR_SETTLE = dt.timedelta(minutes=5)
HOUR = dt.timedelta(hours=1)
#: How far past this replica's clock another replica's record may be stamped (clocks differ by far less).
FUTURE_SLACK = dt.timedelta(days=1)
Part = tuple[str, object, object]


async def usage_summary(store: QueryStore, scope: AccessFilter, now: dt.datetime) -> list[dict[str, object]]:
    """GetUsageSummary's rows over ``scope``: answered and denied counts per resource, using department and purpose,
    sorted, in one statement (QueryStore.usage_totals). Whole months come from the monthly sums, whole days around
    them from the daily usage sums (kept with the daily counts), whole settled hours around those from the hourly
    sums, and only the rest from the access log (at most the hour not settled yet at each end): a year is as fast as
    a day (13.4 s for a year at 10^7 rows before), and the day in progress does not scan a day of records. Every sum
    is rolled up on first use, and by the hourly upkeep ahead of time (services/query/partitions.py), so a summary
    rarely pays for it. Days of archived months stay in the daily sums, so the summary still covers them."""
    oldest = await store.oldest_access_time()
    first_rolled = await store.first_rolled_day()
    known = [t for t in (oldest, first_rolled and dt.datetime.combine(first_rolled, dt.time(), CST)) if t]
    if not known:
        return []
    # Nothing was recorded before the oldest row or day kept, nor after tomorrow: a period that reaches beyond
    # (year 1 to 9999 is a valid request) is cut to the data, from the midnight before it so that the days
    # stay whole (and are summed once). Uncut, its months and hours were enumerated one by one (the call ran
    # past its deadline) and dates near 9999 overflowed (INTERNAL).
    earliest = _midnight_on_or_before(min(known))  # type: ignore[type-var]
    start = max(scope.start or earliest, earliest)
    end = min(scope.end or now, now + FUTURE_SLACK)
    if end <= start:
        return []
    span = whole_days(start, end, now)
    if span is None:
        parts = await _hour_parts(store, start, end, now)
    else:
        first, last = span
        # Days before the oldest row kept are counted already (or had no rows): only later ones are rolled up.
        since = max(first, _midnight_on_or_before(oldest)) if oldest is not None else last
        days = [(since + dt.timedelta(days=n), since + dt.timedelta(days=n + 1))
                for n in range(max(0, (last - since).days))]
        await store.roll_up_days([(day_start.date(), day_start, day_end) for day_start, day_end in days])
        parts = await _settled_parts(store, first.date(), last.date())
        if start < first:
            parts += await _hour_parts(store, start, first, now)
        if last < end:
            parts += await _hour_parts(store, last, end, now)
    return [dict(row) for row in await store.usage_totals(scope, parts)]


def _hour_on_or_after(moment: dt.datetime) -> dt.datetime:
    hour = moment.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)
    return hour if hour == moment else hour + HOUR


def settled_hours(start: dt.datetime, end: dt.datetime, now: dt.datetime) -> tuple[dt.datetime, dt.datetime] | None:
    """The whole hours inside [start, end) that ended at least HOUR_SETTLE before ``now``, as [first, last)."""
    first = _hour_on_or_after(start)
    last = min(end, now - HOUR_SETTLE).astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)
    return (first, last) if first < last else None


def hours_of(first: dt.datetime, last: dt.datetime) -> list[dt.datetime]:
    return [first + n * HOUR for n in range(int((last - first) / HOUR))]


async def _hour_parts(store: QueryStore, start: dt.datetime, end: dt.datetime, now: dt.datetime) -> list[Part]:
    """[start, end) as whole settled hours (summed, rolled up on first use) and the log's rest around them."""
    span = settled_hours(start, end, now)
    if span is None:
        return [("log", start, end)]
    first, last = span
    await store.roll_up_usage_hours(hours_of(first, last))
    parts: list[Part] = [("hour", first, last)]
    if start < first:
        parts.append(("log", start, first))
    if last < end:
        parts.append(("log", last, end))
    return parts


async def _settled_parts(store: QueryStore, first: dt.date, last: dt.date) -> list[Part]:
    """The rolled-up days [first, last): whole months from the monthly sums (rolled up on first use), the days
    around them from the daily usage sums (access_usage_daily: the summary's own groups, one row a day, written
    with the daily counts)."""
    month_first = first if first.day == 1 else _next_month(first)
    month_last = last.replace(day=1)
    if month_first >= month_last:
        return [("day", first, last)]
    months = []
    month = month_first
    while month < month_last:
        months.append((month, _next_month(month)))
        month = _next_month(month)
    await store.roll_up_usage_months(months)
    parts: list[Part] = [("month", month_first, month_last)]
    if first < month_first:
        parts.append(("day", first, month_first))
    if month_last < last:
        parts.append(("day", month_last, last))
    return parts


def _next_month(day: dt.date) -> dt.date:
    return (day.replace(day=1) + dt.timedelta(days=32)).replace(day=1)


async def resource_usage(store: QueryStore, days: int, now: dt.datetime, after: str,
                         limit: int) -> list[tuple[str, int]]:
    """(resource code, answered calls) over the ``days`` whole CST days that ended at least SETTLE before
    ``now``, in code order after ``after``: whole days only (a tie-breaker needs no minute), each rolled up
    once, so a page reads the daily counts, never the access log."""
    last = _midnight_on_or_before(now - SETTLE)
    first = last - dt.timedelta(days=days)
    span = [(first + dt.timedelta(days=n), first + dt.timedelta(days=n + 1)) for n in range(days)]
    await store.roll_up_days([(day_start.date(), day_start, day_end) for day_start, day_end in span])
    rows = await store.answered_by_resource(first.date(), last.date(), after, limit)
    return [(row["resource_code"], row["n"]) for row in rows]
