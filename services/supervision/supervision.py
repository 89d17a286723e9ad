"""The supervision workflows (DOMAIN §11): compute a month, read snapshots, evaluations and violations, weights.

Who may do what: computing a month is the authority's (or the platform's own schedule), changing the weights its
管理员's (a person's decision);
each department reads its own snapshot and violations, the authority everybody's; every caller may read the
weights (they are the published rules of the evaluation).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from services.runtime import duties
from services.runtime.admin_events import AdminEvent
from services.runtime.duties import ADMINISTRATOR, AUDITOR, REVIEWER
from services.runtime.errors import (
    FieldViolation,
    failed_precondition,
    invalid_argument,
    not_found,
    permission_denied,
    unauthenticated,
)
from services.runtime.identifiers import credit_code_error
from services.runtime.identity import Caller
from services.runtime.person_sessions import PersonSessions
from services.supervision.document import Document
from services.supervision.evaluation import INDICATORS, Evaluation, evaluate
from services.supervision.months import Month
from services.supervision.reports import UNREAD, ReportInput, Retirement, monthly_feedback, yearly_report
from services.supervision.snapshot import (
    Figures,
    by_department,
    with_stocks_kept,
    without_updates_due_after_retirement,
)
from services.supervision.sources import FigureSources
from services.supervision.store import SupervisionStore
from services.supervision.violations import Violation, detect

log = logging.getLogger(__name__)
MAX_WEIGHT = 100.0
#: The authority's persons who read every department's figures, evaluations, violations and reports: its 审计员,
#: 审核员 and 管理员 (the console's 监督 page is theirs). Its 申请人, 编目员 or 审批人 act for the authority as one
#: department among others, and see its own figures only, as any department's do.
SUPERVISING_ROLES = (AUDITOR, REVIEWER, ADMINISTRATOR)


def _weight_violations(weights: Sequence[tuple[str, float]]) -> list[FieldViolation]:
    """Each mistake named by the entry's position in the request, as the caller wrote it (a mapping would have
    merged an indicator listed twice and shifted the positions)."""
    violations = []
    seen: set[str] = set()
    for index, (name, value) in enumerate(weights):
        if name not in INDICATORS:
            violations.append(FieldViolation(f"weights[{index}].indicator", f"must be one of {', '.join(INDICATORS)}"))
        elif name in seen:
            violations.append(FieldViolation(f"weights[{index}].indicator", f"{name} is listed twice"))
        seen.add(name)
        if not 0.0 <= value <= MAX_WEIGHT:
            violations.append(FieldViolation(f"weights[{index}].weight", "must be between 0 and 100"))
    if not weights:
        violations.append(FieldViolation("weights", "name at least one indicator"))
    return violations


@dataclass(frozen=True, slots=True)
class Computed:
    departments: int
    violations: int


def _identified(caller: Caller) -> None:
    if not caller.department_code and not caller.is_service:
        raise unauthenticated("a bearer token is required: get one with TokenService.IssueToken")


def require_authority(caller: Caller, action: str) -> None:
    _identified(caller)
    if not caller.authority:
        raise permission_denied("AUTHORITY_ONLY", f"only the sharing authority (共享主管部门) may {action}")


def supervises(caller: Caller) -> bool:
    """Whether the caller reads every department's supervision: the platform's services, the authority's business
    systems and its persons holding one of :data:`SUPERVISING_ROLES`."""
    if not caller.authority:
        return False
    return not caller.is_person or any(caller.has_role(role) for role in SUPERVISING_ROLES)


def require_supervising(caller: Caller, action: str) -> None:
    """The authority reading other departments' supervision: a person needs one of :data:`SUPERVISING_ROLES` (a
    business system of the authority keeps its department's rights, as everywhere)."""
    require_authority(caller, action)
    duties.require_role(caller, SUPERVISING_ROLES, action)


def check_department_code(department_code: str, empty_means: str = "") -> None:
    """A department is named by its 统一社会信用代码: a malformed one is the caller's slip to fix, not a department
    that has no violations (an empty list) or that the platform does not know (NOT_FOUND)."""
    if department_code and (problem := credit_code_error(department_code)):
        hint = f", or leave it empty for {empty_means}" if empty_means else ""
        raise invalid_argument([FieldViolation("department_code", f"{problem}{hint}")])


def _compute_event(caller: Caller, month: Month, departments: int, violations: int, now: dt.datetime
                   ) -> AdminEvent | None:
    """Who recomputed a month on demand (R-SEC-3): it replaces every department's figures, evaluation and
    violations of the month. The platform's own schedule (every few minutes under `govshare up`, daily in the
    chart) is not logged: it would fill the log with the same routine entry."""
    if caller.is_service:
        return None
    return AdminEvent.by(caller, "supervision.compute_snapshots", month.label(),
                         {"departments": departments, "violations": violations}, time=now)


def require_begun(month: Month, now: dt.datetime) -> None:
    """A month that has not begun has no figures: said as such, not answered with an empty list (which reads as
    "no violations", "nobody evaluated") or a snapshot NOT_FOUND as if it were only not computed yet."""
    if month.start > now:
        raise invalid_argument([FieldViolation("month", "the month has not begun")])


def require_own(caller: Caller, department_code: str, action: str) -> None:
    """The department itself (any of its persons), or the authority's supervising persons and systems."""
    _identified(caller)
    if caller.department_code == department_code:
        return
    if not caller.authority:
        raise permission_denied("NOT_YOUR_DEPARTMENT", f"only the department itself or the authority may {action}")
    duties.require_role(caller, SUPERVISING_ROLES, action)


class Supervision:
    def __init__(self, store: SupervisionStore, sources: FigureSources,
                 clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
                 recorded: Callable[[], None] = lambda: None, sessions: PersonSessions | None = None) -> None:
        """``recorded`` is called after a change wrote an administrative event (the outbox relay's notify);
        ``sessions`` reads an administrator's session against their row before they change the weights (None: not
        asked)."""
        self._store = store
        self._sources = sources
        self._clock = clock
        self._recorded = recorded
        self._sessions = sessions

    async def _record_refused(self, event: AdminEvent) -> None:
        await self._store.record_admin(event)
        self._recorded()

    async def compute(self, caller: Caller, month: Month) -> Computed:
        """Gathers the month's figures, keeps them as snapshots and detects its violations (replacing an
        earlier computation of the month: the same records give the same figures; not one begun after this one,
        which gathered later figures and was stored first)."""
        duties.require_role(caller, (REVIEWER, ADMINISTRATOR), "compute supervision snapshots")
        require_authority(caller, "compute supervision snapshots")
        if self._sessions is not None:  # an ended session's computation, its end not yet heard here (Redis lost it)
            await self._sessions.still_theirs(caller, self._record_refused, "supervision.compute_snapshots",
                                              month.label())
        now = self._clock()
        require_begun(month, now)
        rows = await self._sources.gather(month)
        # A department created after the month (the schedule recomputes last month all through this one) had no
        # part in it: listed, it was evaluated 100 for a month it did not exist in (nothing due), which raised its
        # mean score in the yearly ranking; and its catalog counts (those published now) were put in that month.
        # Nor has a department retired before the month began (merged into another in a 机构改革): evaluated 100
        # for months it no longer existed in, it would stay in every ranking for ever.
        joined = await self._sources.joined()
        left_out = {code for code, membership in joined.items() if not membership.took_part_in(month)}
        rows = without_updates_due_after_retirement(rows, {code: membership.retired for code, membership
                                                           in joined.items() if membership.retired is not None})
        snapshots = by_department([row for row in rows if row.department_code not in left_out],
                                  [code for code in joined if code not in left_out],
                                  {code: membership.name for code, membership in joined.items()})
        if month.end <= now:
            # The records held are counted as they are now: a month over keeps those counted when it was first
            # computed after its end, so its freshness and its violations are not undone by records refreshed since.
            snapshots = with_stocks_kept(snapshots, await self._store.stocks_at_end(month))
        violations = detect(month, snapshots)
        written = await self._store.replace_month(month, snapshots, violations, now,
                                                  _compute_event(caller, month, len(snapshots), len(violations), now))
        if not written:
            log.info("supervision month %s: a computation begun later was stored first; this one is left",
                     month.label())
            return Computed(len(snapshots), len(violations))
        if not caller.is_service:
            self._recorded()
        log.info("supervision month %s computed: %d departments, %d violations", month.label(), len(snapshots),
                 len(violations))
        return Computed(len(snapshots), len(violations))

    async def snapshot(self, caller: Caller, department_code: str, month: Month
                       ) -> tuple[Figures, dt.datetime, Evaluation]:
        if not department_code:
            raise invalid_argument([FieldViolation("department_code", "name the department whose snapshot to read")])
        check_department_code(department_code)
        require_own(caller, department_code, "read this snapshot")
        require_begun(month, self._clock())
        async with self._store.one_reading() as store:  # one computation's figures and count of violations
            found = await store.snapshot(month, department_code)
            computed = None if found is not None else (await store.compute_times(month, month)).get(month)
            counts = {} if found is None else await store.violation_counts(month, [department_code])
            weights = {} if found is None else await store.weights(month)
        if found is None:
            await self._require_known(department_code)
            if computed is not None and computed >= month.end:
                # Computed without it once the month was over: a month before it joined (or after its retirement)
                # gets no snapshot ever, which SNAPSHOT_NOT_FOUND said as "not computed yet" (the console:
                # 每月数据统计后生成). A month computed before its end may still be computed with a department
                # created since.
                raise not_found(f"a snapshot of {month.label()} for this department: the month was computed without"
                                " it, as it had not joined the platform then (or had been retired)",
                                "NOT_A_MONTH_OF_THE_DEPARTMENT")
            raise not_found(f"a snapshot of {month.label()} for this department", "SNAPSHOT_NOT_FOUND")
        figures, computed = found
        return figures, computed, evaluate(figures, weights, counts.get(department_code, 0))

    async def evaluations(self, caller: Caller, month: Month, after: str, limit: int
                          ) -> tuple[list[Evaluation], dt.datetime]:
        """A page of the month's evaluations, and when the month was computed (its figures stop there)."""
        require_supervising(caller, "list every department's evaluation")
        require_begun(month, self._clock())
        async with self._store.one_reading(listing=True) as store:  # one computation's figures, counts and time
            computed = await self._require_computed(month, store)
            snapshots = await store.snapshots(month, after, limit)
            weights = await store.weights(month)
            counts = await store.violation_counts(month, [f.department_code for f in snapshots])
        return [evaluate(f, weights, counts.get(f.department_code, 0)) for f in snapshots], computed

    async def violations(self, caller: Caller, month: Month, department_code: str,
                         after: tuple[str, str] | None, limit: int) -> list[Violation]:
        _identified(caller)
        check_department_code(department_code, "every department you may see")
        if not department_code and not supervises(caller):
            # Every department's persons list their own without naming it, the authority's 申请人, 编目员 and 审批人
            # too: they act for it as one department among others, and were refused ROLE_REQUIRED for not naming it.
            department_code = caller.department_code
        if department_code != caller.department_code:
            if not caller.authority:
                raise permission_denied("NOT_YOUR_DEPARTMENT", "a department sees only its own violations")
            require_supervising(caller, "list other departments' violations")
        require_begun(month, self._clock())
        if department_code and caller.authority:
            await self._require_known(department_code)
        computed = await self._require_computed(month)
        if department_code and computed >= month.end and not await self._store.has_snapshot(month, department_code):
            # Computed without it once the month was over, as GetSnapshot says: an empty list read as "it broke no
            # rule that month" of a department that had not joined the platform yet (or had been retired).
            raise not_found(f"violations of {month.label()} for this department: the month was computed without it,"
                            " as it had not joined the platform then (or had been retired)",
                            "NOT_A_MONTH_OF_THE_DEPARTMENT")
        return await self._store.violations(month, department_code, after, limit)

    async def _require_computed(self, month: Month, store: SupervisionStore | None = None) -> dt.datetime:
        """When the month was computed (read from ``store``, default the service's). A month whose figures were never
        gathered (before the schedule ran, or a month from before the platform) is said to be so: its empty lists
        would read as "no violations" and "nobody evaluated"."""
        computed = (await (store or self._store).compute_times(month, month)).get(month)
        if computed is None:
            label = month.label()
            raise failed_precondition("MONTH_NOT_COMPUTED", f"{label} has not been computed yet: ComputeSnapshots"
                                      f" for it, or `govshare supervise --months {label}`, gathers its figures")
        return computed

    async def _require_known(self, department_code: str) -> None:
        """A well-formed code of no department (a slip of one character that keeps the check digit right) is
        NOT_FOUND naming the department, as the reports say it: an empty list of violations read as "this
        department broke no rule", and SNAPSHOT_NOT_FOUND as "its month is not computed yet"."""
        if department_code not in await self._sources.departments():
            raise not_found(f"department {department_code[:64]!r}", "DEPARTMENT_NOT_FOUND")

    async def _directory(self) -> tuple[dict[str, str], dict[str, Retirement]]:
        """Every department's name now, and the retired ones' retirements: a report says a month after a
        department's retirement is one it had no part in, not one before it joined."""
        members = await self._sources.joined()
        return ({code: member.name for code, member in members.items()},
                {code: Retirement(member.retired, member.merged_into) for code, member in members.items()
                 if member.retired is not None})

    async def weights(self, caller: Caller) -> dict[str, float]:
        """The weights in force this month (those a change sets apply from the month it is made in)."""
        _identified(caller)
        return await self._store.weights(Month.of(self._clock()))

    async def update_weights(self, caller: Caller, weights: Sequence[tuple[str, float]]) -> dict[str, float]:
        """Sets the named indicators' weights, as listed (the request's order, so each violation names the
        entry the caller wrote); the others keep theirs.

        The weights decide every department's score and ranking (Art. 16-18): a decision the authority's 管理员 takes
        and answers for (R-SEC-1), named in the administrative log. A business system's token, the authority's
        included, is refused PERSON_REQUIRED: with one leaked secret its system rescored every department, logged
        under a system nobody answers for."""
        duties.require_person(caller, ADMINISTRATOR, "change the evaluation's weights")
        require_authority(caller, "change the evaluation's weights")
        if self._sessions is not None:  # an ended session's change, its end not yet heard here (Redis lost it)
            await self._sessions.still_theirs(caller, self._record_refused, "supervision.update_weights",
                                              "evaluation_weights")
        violations = _weight_violations(weights)
        if violations:
            raise invalid_argument(violations)
        now = self._clock()
        # From this month on: the months that have ended keep the weights they were evaluated and published with.
        month = Month.of(now)
        # Who changed how every department is scored, to what, and from which month (Beijing's: a change at 23:30 UTC
        # on the 30th applies to the next month) (R-SEC-3): the weights are numbers, no personal data.
        event = AdminEvent.by(caller, "supervision.update_weights", "evaluation_weights",
                              {"weights": dict(weights), "applies_from": month.label()}, time=now)
        updated = await self._store.set_weights(dict(weights), month, caller.system_id, now, event)
        if updated is None:
            # Every department would score 100 whatever it did: a slip, not a policy.
            raise invalid_argument([FieldViolation("weights", "at least one indicator must weigh more than 0: "
                                                              "with every weight 0 the evaluation measures nothing")])
        self._recorded()
        return updated

    async def yearly_report(self, caller: Caller, year: int, department_code: str) -> Document:
        """The yearly report of a department (itself or the authority) or, with no department, of the platform
        (the authority)."""
        check_department_code(department_code, "the platform's report")
        if department_code:
            require_own(caller, department_code, "read this department's yearly report")
        else:
            require_supervising(caller, "read the platform's yearly report")
        months = [Month(year, m) for m in range(1, 13)]
        now = self._clock()
        months = [m for m in months if m.start <= now]
        if not months:
            raise invalid_argument([FieldViolation("year", "the year has not begun")])
        department = department_code or None
        names, retired = await self._directory()
        systems = await self._sources.systems()
        async with self._store.one_reading() as store:  # one computation's figures, violations and time
            data = ReportInput(months, await store.snapshots_between(months[0], months[-1], department, UNREAD),
                               await store.violations_between(months[0], months[-1], department),
                               names, await store.weights_of(months), now,
                               await store.compute_times(months[0], months[-1]), systems, retired)
        if department is not None and department not in data.names:
            raise not_found(f"department {department[:64]!r}", "DEPARTMENT_NOT_FOUND")
        return yearly_report(year, department, data)

    async def monthly_feedback(self, caller: Caller, month: Month, department_code: str) -> Document:
        """The usage feedback of a month to a provider (itself or the authority)."""
        if not department_code:
            raise invalid_argument([FieldViolation("department_code", "name the provider department")])
        check_department_code(department_code)
        require_own(caller, department_code, "read this department's usage feedback")
        now = self._clock()
        require_begun(month, now)
        names, retired = await self._directory()
        async with self._store.one_reading() as store:  # one computation's figures, violations and time
            data = ReportInput([month], await store.snapshots_between(month, month, None, UNREAD),
                               await store.violations_between(month, month, department_code),
                               names, await store.weights_of([month]), now,
                               await store.compute_times(month, month), retired=retired)
        if department_code not in data.names:
            raise not_found(f"department {department_code[:64]!r}", "DEPARTMENT_NOT_FOUND")
        return monthly_feedback(month, department_code, data)
