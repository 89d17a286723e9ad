"""govshare.query.v1.DisputeService: report, answer, get and list disputed records (DOMAIN §8)."""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Awaitable, Callable

import grpc
from redis.exceptions import RedisError

from govshare.common.v1 import common_pb2
from govshare.query.v1 import dispute_pb2, dispute_pb2_grpc
from services.query import disputes
from services.query.deps import Dependencies, DependentServicer
from services.query.disputes import Dispute
from services.query.resources import Resource, valid_resource_code
from services.runtime import duties
from services.runtime.actors import actor_pb
from services.runtime.admin_events import AdminEvent, refusals_logged
from services.runtime.cache import DISPUTES_CHANGED, publish
from services.runtime.duties import APPLICANT, APPROVER
from services.runtime.errors import (
    FieldViolation,
    ServiceError,
    failed_precondition,
    invalid_argument,
    not_found,
    one_line_break,
    permission_denied,
)
from services.runtime.identity import Caller
from services.runtime.pagination import page_size, page_size_violations, time_keyset_after, time_keyset_token
from services.runtime.workdays import provisional

log = logging.getLogger(__name__)

_STATE_TO_PROTO = {
    disputes.OPEN: dispute_pb2.DISPUTE_STATE_OPEN,
    disputes.CORRECTED: dispute_pb2.DISPUTE_STATE_CORRECTED,
    disputes.CONFIRMED: dispute_pb2.DISPUTE_STATE_CONFIRMED,
}
_STATE_FROM_PROTO = {value: name for name, value in _STATE_TO_PROTO.items()}
#: ListDisputes' order_by for the earliest answer deadline first (a provider's work list, the console's 首页).
BY_DUE = "due_time"
_PURPOSES = [value for value in common_pb2.PurposeType.values() if value]
_METHODS = [value for value in common_pb2.ShareMethod.values() if value]
# Denials no other purpose or method would turn (no live grant of the department, or none possible).
_WHOLE_RESOURCE_DENIALS = frozenset({"NOT_GRANTED", "EXPIRED", "REVOKED", "GRANT_LAPSED", "NOT_SHARED",
                                     "WRONG_ZONE", "NOT_PUBLISHED"})


def to_proto(d: Dispute, now: dt.datetime) -> dispute_pb2.Dispute:
    message = dispute_pb2.Dispute(
        id=str(d.id), resource_code=d.resource_code, key=d.key, item=d.item, claimed_value=d.claimed_value,
        evidence=d.evidence, reporter_department_code=d.reporter_department_code,
        provider_department_code=d.provider_department_code, state=_STATE_TO_PROTO.get(d.state, 0),
        answer=d.answer, overdue=d.overdue(now), due_time_provisional=provisional(d.due_time),
        reported_by=actor_pb(d.reported_by), answered_by=actor_pb(d.answered_by))
    message.create_time.FromDatetime(d.create_time)
    message.due_time.FromDatetime(d.due_time)
    if d.answer_time is not None:
        message.answer_time.FromDatetime(d.answer_time)
    return message


def _dispute_id(value: str, field: str = "id") -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise invalid_argument([FieldViolation(field, "give the id of a dispute")]) from None


def _uuid_of(value: object) -> uuid.UUID:
    return uuid.UUID(str(value))


def _not_a_user(resource: Resource, item: str) -> ServiceError:
    return permission_denied("NOT_A_USER", f"only a department that may read {item} of {resource.code} reports a "
                                           "dispute about it")


class DisputeServicer(DependentServicer, dispute_pb2_grpc.DisputeServiceServicer):

    async def ReportDispute(self, request: dispute_pb2.ReportDisputeRequest, context: grpc.aio.ServicerContext
                            ) -> dispute_pb2.ReportDisputeResponse:
        deps, caller = self._begin(context)
        if not caller.department_code:
            raise permission_denied("NO_DEPARTMENT", "disputes are reported by a department's system")
        given = dispute_pb2.Dispute()
        given.CopyFrom(request.dispute)
        # The console's 证据 box sends its line breaks as CRLF, an API call as LF: counted and stored as LF; the blanks
        # around it are trimmed, as every free text's is (a catalog entry's summary, a reason).
        given.evidence = one_line_break(given.evidence.strip())
        # A refused report (a person who is not a 申请人, a department that may not read the item) is logged as the
        # step it tried, as every report made is (R-SEC-3): on the resource when its code has a code's form, never
        # the key, the value or the evidence.
        target = given.resource_code if valid_resource_code(given.resource_code) else ""
        if deps.sessions is not None:  # an ended session's report, its end not yet heard here (Redis lost it)
            await deps.sessions.still_theirs(caller, self._recorder(deps), "dispute.report", target)
        async with refusals_logged(self._recorder(deps), caller, "dispute.report", target):
            resource, key = await self._reportable(deps, caller, given)
        now = dt.datetime.now(dt.UTC)
        dispute = disputes.new_dispute(resource, caller, key, given.item, given.claimed_value, given.evidence, now,
                                       deps.settings.dispute_working_days)
        open_id = await deps.store.insert_dispute(dispute, caller)
        if open_id is not None:
            raise ServiceError(grpc.StatusCode.ALREADY_EXISTS, "OPEN_DISPUTE_EXISTS",
                               f"your department's dispute {open_id} about {given.item} of this record is still open: "
                               "the provider answers it once; follow it with GetDispute, and report again once it "
                               "is answered", metadata={"dispute_id": str(open_id)})
        deps.admin_outbox.notify()
        await self._announce(deps, dispute, True)
        return dispute_pb2.ReportDisputeResponse(dispute=to_proto(dispute, now))

    async def AnswerDispute(self, request: dispute_pb2.AnswerDisputeRequest, context: grpc.aio.ServicerContext
                            ) -> dispute_pb2.AnswerDisputeResponse:
        deps, caller = self._begin(context)
        # The console's 答复 box sends CRLF: counted and kept as LF; trimmed as every free text is.
        answer = one_line_break(request.answer.strip())
        violations = disputes.answer_violations(answer)
        try:
            dispute_id = _dispute_id(request.id)
        except ServiceError as error:
            raise invalid_argument([*error.violations, *violations]) from None
        if violations:
            raise invalid_argument(violations)
        dispute = await self._visible(deps, caller, dispute_id)
        step = "dispute.corrected" if request.corrected else "dispute.confirmed"
        # A refused answer (a 申请人, a system's token, a department not the provider) is logged as the step it
        # tried, as every answer given is: it left no trace (R-SEC-3).
        async with refusals_logged(self._recorder(deps), caller, step, str(dispute.id)):
            duties.require_person(caller, APPROVER, "answer disputes", dispute.provider_department_code)
            if not dispute.answerable_by(caller):
                raise permission_denied("NOT_PROVIDER", "only the providing department answers a dispute")
        if deps.sessions is not None:  # an ended session's answer, its end not yet heard here (Redis lost it)
            await deps.sessions.still_theirs(caller, self._recorder(deps), step, str(dispute.id))
        if dispute.state != disputes.OPEN:
            raise failed_precondition("DISPUTE_CLOSED", f"dispute {dispute_id} was already answered")
        # A correction drops the record's cached copies, wherever its resource's endpoint keeps them: the resource is
        # read before the answer is stored, so that a catalog that does not answer (UNAVAILABLE) leaves the dispute
        # open to answer again. Read after, it failed the call with the answer stored and the record's copies and
        # flag kept: the 审批人 was told the platform was unavailable, and their retry that the dispute was answered.
        corrected = await deps.resources.get(dispute.resource_code) if request.corrected else None
        now = dt.datetime.now(dt.UTC)
        state = disputes.CORRECTED if request.corrected else disputes.CONFIRMED
        answered = await deps.store.answer_dispute(dispute_id, state, answer, caller, now)
        if answered is None:
            raise failed_precondition("DISPUTE_CLOSED", f"dispute {dispute_id} was already answered")
        deps.admin_outbox.notify()
        dispute, still_open = answered
        if corrected is not None and corrected.dataset:
            await deps.records.forget(corrected.target, corrected.dataset, [dispute.key])
        await self._announce(deps, dispute, still_open)
        return dispute_pb2.AnswerDisputeResponse(dispute=to_proto(dispute, now))

    async def GetDispute(self, request: dispute_pb2.GetDisputeRequest, context: grpc.aio.ServicerContext
                         ) -> dispute_pb2.GetDisputeResponse:
        deps, caller = self._begin(context)
        dispute_id = _dispute_id(request.id)
        # A refused read is logged as the read it tried (R-SEC-3): the key and evidence are a person's.
        async with refusals_logged(self._recorder(deps), caller, "dispute.read", str(dispute_id)):
            readers = disputes.readers_of(caller)
            dispute = await self._visible(deps, caller, dispute_id)
            if not dispute.parties_read_by(readers):
                duties.require_role(caller, disputes.roles_reading(dispute, caller), "read this dispute")
                raise not_found(f"dispute {dispute_id}", reason="DISPUTE_NOT_FOUND")
        shown = await self._seen_by(deps, caller, dispute)
        return dispute_pb2.GetDisputeResponse(dispute=to_proto(shown, dt.datetime.now(dt.UTC)))

    async def ListDisputes(self, request: dispute_pb2.ListDisputesRequest, context: grpc.aio.ServicerContext
                           ) -> dispute_pb2.ListDisputesResponse:
        deps, caller = self._begin(context)
        violations: list[FieldViolation] = []
        if request.state and request.state not in _STATE_FROM_PROTO:
            violations.append(FieldViolation("state", f"unknown dispute state {request.state}"))
        if request.order_by not in ("", BY_DUE):
            violations.append(FieldViolation("order_by", f"must be empty (newest first) or {BY_DUE!r}"))
        violations.extend(page_size_violations(request.page_size))
        if violations:
            raise invalid_argument(violations)
        limit = page_size(request.page_size)
        after = time_keyset_after(request.page_token, _uuid_of)
        if not caller.authority and not caller.department_code:
            raise permission_denied("NO_DEPARTMENT", "disputes are listed for a department")
        async with refusals_logged(self._recorder(deps), caller, "dispute.read", "*"):
            readers = disputes.readers_of(caller)
        now = dt.datetime.now(dt.UTC)
        found = await deps.store.list_disputes(
            None if readers.everyone else readers, _STATE_FROM_PROTO.get(request.state, ""),
            request.overdue_only, now, after, limit + 1, by_due=request.order_by == BY_DUE)
        token = ""
        if len(found) > limit:
            found = found[:limit]
            last = found[-1]
            token = time_keyset_token(last.due_time if request.order_by == BY_DUE else last.create_time, last.id)
        shown = [await self._seen_by(deps, caller, d) for d in found]
        return dispute_pb2.ListDisputesResponse(disputes=[to_proto(d, now) for d in shown], next_page_token=token)

    @staticmethod
    def _recorder(deps: Dependencies) -> Callable[[AdminEvent], Awaitable[None]]:
        """Writes a refused step's event to the outbox and wakes the relay (refusals_logged's record)."""

        async def record(event: AdminEvent) -> None:
            await deps.store.record_admin_event(event)
            deps.admin_outbox.notify()

        return record

    async def _reportable(self, deps: Dependencies, caller: Caller, given: dispute_pb2.Dispute
                          ) -> tuple[Resource, str]:
        """The resource a report names and the record's key, normalized; the refusal of a report the caller may
        not make (role, published resource, valid fields, a user of the item)."""
        duties.require_role(caller, APPLICANT, "report disputed data")
        if not valid_resource_code(given.resource_code):
            raise invalid_argument([FieldViolation("dispute.resource_code", "give the code of a published resource")])
        resource = await deps.resources.get(given.resource_code)
        if resource is None:
            raise not_found(f"resource {given.resource_code}", reason="RESOURCE_NOT_FOUND")
        if not resource.published:
            raise failed_precondition("NOT_PUBLISHED", f"{resource.code} is not published in the catalog")
        key = resource.key(given.key)
        violations = disputes.report_violations(resource, key, given.item, given.claimed_value, given.evidence)
        if violations:
            raise invalid_argument(violations)
        await self._require_user(deps, caller, resource, given.item)
        return resource, key

    @staticmethod
    async def _require_user(deps: Dependencies, caller: Caller, resource: Resource, item: str) -> None:
        """A dispute comes from a user of the record (R-DSP-1): a system that may read the item now, for some
        purpose by some method the resource offers. Anyone else could flag any record as disputed to every
        querier, and draw from the provider an answer about a record it has no right to.

        The decisions are the query path's own (cached, dropped by grant events); nothing is read or audited.
        """
        # A not-shared entry may list no method: its coordination grant says which (authorization's rule).
        for method in resource.entry.share_methods or _METHODS:
            for purpose in _PURPOSES:
                decision = await deps.decisions.get((caller.system_id, caller.department_code, resource.code,
                                                     purpose, (item,), method))
                if decision.allowed:
                    return
                if decision.deny_reason in _WHOLE_RESOURCE_DENIALS:
                    raise _not_a_user(resource, item)
        raise _not_a_user(resource, item)

    @staticmethod
    async def _seen_by(deps: Dependencies, caller: Caller, dispute: Dispute) -> Dispute:
        """``dispute`` as the caller may see it (disputes.seen_by); its entry only when the caller oversees."""
        if caller.department_code in (dispute.reporter_department_code, dispute.provider_department_code):
            return dispute
        return disputes.seen_by(dispute, caller, await deps.resources.get(dispute.resource_code), deps.masker)

    @staticmethod
    async def _visible(deps: Dependencies, caller: Caller, dispute_id: uuid.UUID) -> Dispute:
        """The dispute, or NOT_FOUND when it does not exist or the caller may not see it."""
        dispute = await deps.store.get_dispute(dispute_id)
        if dispute is None or not dispute.visible_to(caller):
            raise not_found(f"dispute {dispute_id}", reason="DISPUTE_NOT_FOUND")
        return dispute

    @staticmethod
    async def _announce(deps: Dependencies, dispute: Dispute, is_open: bool) -> None:
        """Flags the record here at once, and on every other replica through the event."""
        deps.open_disputes.mark(dispute.resource_code, dispute.key, is_open)
        try:
            await publish(deps.redis, DISPUTES_CHANGED, {"resource_code": dispute.resource_code, "key": dispute.key,
                                                         "open": is_open})
        except RedisError as exc:  # the dispute is stored; other replicas catch up on their next resync
            # Named by its id, never by its key: the key is a person's or an entity's number.
            log.warning("could not announce the change of dispute %s on %s (%s)", dispute.id, dispute.resource_code,
                        type(exc).__name__)
