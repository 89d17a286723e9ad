"""govshare.query.v1.AuditService: who used whose data, how often, and whether the trail is intact.

Providers see the accesses to their own resources (R-USE-4, 003 Art. 35); the
authority sees every access and alone may verify the hash chains and export
their signed checkpoints.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import grpc

from govshare.catalog.v1 import catalog_pb2
from govshare.common.v1 import common_pb2
from govshare.query.v1 import audit_pb2, audit_pb2_grpc
from services.query import checkpoints, figures, subjects, verifications
from services.query.audit import (
    ANSWERED,
    DENIED,
    FAILED,
    NOT_FOUND,
    Access,
    as_named,
    clean,
    recorded_purpose,
    sent_counts,
)
from services.query.checkpoints import Checkpoint
from services.query.deps import Dependencies, DependentServicer
from services.query.keys import normalize_key
from services.query.resources import valid_resource_code
from services.query.servicer import _trace_id, purpose_name, purpose_text_violations, resource_code_problem
from services.query.store import USAGE_OUTCOMES, AccessFilter, AccessPage, Frontier
from services.query.verifications import forged_detail, verify_from
from services.runtime import duties
from services.runtime.admin_events import AdminEvent, refusals_logged
from services.runtime.admission import HeavyReadGate
from services.runtime.duties import APPROVER, AUDITOR, DATA_OFFICER
from services.runtime.enums import ShortNames
from services.runtime.errors import FieldViolation, invalid_argument, not_found, permission_denied
from services.runtime.identifiers import (
    citizen_id_error,
    credit_code_error,
    first_generation,
    mask_citizen_ids,
    mask_mobile_numbers,
    second_generation,
)
from services.runtime.identity import AssertionVerifier, Caller
from services.runtime.masking import Masker
from services.runtime.pagination import (
    bind_tokens_to,
    decode_token,
    encode_token,
    page_size,
    page_size_violations,
    text_id,
    time_keyset_after,
    time_keyset_token,
)
from services.runtime.timestamps import from_timestamp, to_timestamp

MAX_FILTER = 64
_RESULTS = ShortNames(audit_pb2.AccessResult)
_PURPOSES = ShortNames(common_pb2.PurposeType)
_DENY_REASONS = ShortNames(common_pb2.DenyReason)
_CHAIN_STATES = ShortNames(audit_pb2.ChainState)
#: Checkpoints an auditor may bring to one verification (about a year of one process's at the default interval).
MAX_HELD_CHECKPOINTS = 100_000
#: Chains listed in one verification (the broken ones first), so that years of restarts fit in a reply.
MAX_REPORTED_CHAINS = 10_000
MAX_REPORTED_FORGED = 1_000
#: A page token's chain id: what the writer generates, with room to spare, never NUL (PostgreSQL text).
MAX_TOKEN_CHAIN_ID = 64
#: Records one VerifyAuditChain call checks by default, and at most (a page ends at the next signed checkpoint):
#: about a second of work at the default, where one call over 10^7 records ran 188 s and failed.
VERIFY_PAGE_RECORDS = 100_000
#: The persons who read a department's access log (each access's key is whom it was about, a 公民身份号码): its
#: 审计员, whose work it is; its 审批人, who answers for the grants the accesses used and revokes one misused
#: (R-USE-4); its 编目员, who keeps the resources read (the console's 审计 page is theirs). A 申请人 (who asks
#: for others' data), the authority's 审核员 (who decides escalations) or 管理员 (who administers) has no use for
#: whose records were read.
ACCESS_READERS = (AUDITOR, APPROVER, DATA_OFFICER)
MAX_VERIFY_PAGE_RECORDS = 1_000_000
_JOB_STATES = {verifications.RUNNING: audit_pb2.AUDIT_VERIFICATION_STATE_RUNNING,
               verifications.DONE: audit_pb2.AUDIT_VERIFICATION_STATE_DONE,
               verifications.CANCELLED: audit_pb2.AUDIT_VERIFICATION_STATE_CANCELLED}
_JOB_RESULTS = {verifications.INTACT: audit_pb2.AUDIT_VERIFICATION_RESULT_INTACT,
                verifications.BROKEN: audit_pb2.AUDIT_VERIFICATION_RESULT_BROKEN}


def to_proto(row: Mapping) -> audit_pb2.AccessRecord:
    """One access as the access log's view shows it (access_outcomes: an export with its closing record's
    outcome, when it ended and what left)."""
    rows, pages = sent_counts(row["sent"]) or (0, 0)
    deny_reason = _DENY_REASONS.value(row["deny_reason"]) if row["result"] == DENIED else 0
    return audit_pb2.AccessRecord(
        id=row["id"], time=to_timestamp(row["time"]), system_id=row["system_id"],
        # A record written before the writer made a refused call's texts safe (audit.as_named) is shown so.
        department_code=row["department_code"], resource_code=as_named(row["resource_code"]),
        provider_department_code=row["provider_department_code"], operation=row["operation"],
        items=[as_named(item) for item in row["items"]], key=row["key"], purpose=_PURPOSES.value(row["purpose"]),
        purpose_text=recorded_purpose(row["purpose_text"]), result=_RESULTS.value(row["result"]),
        trace_id=row["trace_id"],
        # One column holds a refusal's reason and a failure's cause (services.query.audit). A refusal whose reason
        # DenyReason has no value for (a system without the portal role looking up whose accesses a person's record
        # had: NOT_A_SUBJECT_ACCESS_PORTAL) is listed with that reason as its failure_reason: it was listed DENIED
        # with no reason at all, and the auditor could not tell that probe from any other refusal.
        deny_reason=deny_reason,
        # An ANSWERED BatchQuery keeps one when some of its keys were not answered (its provider down, or a record
        # its database could not send): the cause, as a failed call's.
        failure_reason=row["deny_reason"] if row["result"] in (FAILED, NOT_FOUND, ANSWERED)
        or (row["result"] == DENIED and not deny_reason) else "",
        end_time=to_timestamp(row["end_time"]), rows_sent=rows, pages_sent=pages, grant_id=row["grant_id"])


def _time(request: audit_pb2.ListAccessesRequest | audit_pb2.GetUsageSummaryRequest, field: str,
          violations: list[FieldViolation]) -> dt.datetime | None:
    return from_timestamp(getattr(request, field), field, violations) if request.HasField(field) else None


def _time_range(request: audit_pb2.ListAccessesRequest | audit_pb2.GetUsageSummaryRequest,
                violations: list[FieldViolation]) -> tuple[dt.datetime | None, dt.datetime | None]:
    """The window is start_time inclusive, end_time exclusive (as ListAdminEvents'): equal times select nothing, and
    an always-empty answer would read as "no accesses", so they are refused as an end before the start is."""
    start, end = _time(request, "start_time", violations), _time(request, "end_time", violations)
    if start is not None and end is not None and end <= start:
        violations.append(FieldViolation(
            "end_time", "must be after start_time (the window includes start_time and ends before end_time)"))
    return start, end


def _code_filter(value: str, field: str, violations: list[FieldViolation]) -> None:
    """Filters are codes: bounded and free of NUL (which PostgreSQL text cannot hold)."""
    if len(value) > MAX_FILTER or "\x00" in value:
        violations.append(FieldViolation(field, f"must be a code of at most {MAX_FILTER} characters"))


def _result_filter(value: int, violations: list[FieldViolation]) -> None:
    """An outcome filter is one AccessResult or unset: a value this build does not know would match nothing, and
    an empty page would read as "no such access"."""
    if value and not _RESULTS.known(value):
        violations.append(FieldViolation(
            "result", f"give one of {', '.join(_RESULTS.name(v) for v in audit_pb2.AccessResult.values() if v)}"
                      " (ACCESS_RESULT_…), or leave it unset for every outcome"))


#: A grant's id as the authorization service gives it (SharingService: grt- and a UUID's 32 hex digits).
GRANT_ID = re.compile(r"grt-[0-9a-f]{32}")


def _grant_filter(value: str, violations: list[FieldViolation]) -> None:
    """A grant filter is a grant's id or empty: a malformed one would match nothing, and an empty page would read
    as "the grant was never used"."""
    if value and not GRANT_ID.fullmatch(value):
        violations.append(FieldViolation("grant_id", "give a grant's id (grt- followed by 32 lower-case hex digits, "
                                                     "as AccessRecord.grant_id and SharingService give it)"))


#: Whose calls the access log names (AccessRecord.system_id): a business system's id as the directory gives it
#: (sys-…), or a person's (psn-…), whose calls are refused and recorded.
CALLER_ID = re.compile(r"sys-[0-9a-z]{4,64}|psn-[0-9a-f]{16}")


def _system_filter(value: str, violations: list[FieldViolation]) -> None:
    """A caller filter is a system's (or person's) id or empty: a malformed one would match nothing, and an empty
    page would read as "the system made no call"."""
    if value and not CALLER_ID.fullmatch(value):
        violations.append(FieldViolation(
            "system_id", "give a business system's id (sys- followed by lower-case letters and digits, as "
                         "AccessRecord.system_id and DirectoryService give it), or leave it empty for every caller"))


def _deny_reason_filter(value: int, violations: list[FieldViolation]) -> None:
    """A refusal-reason filter is one DenyReason or unset: a value this build does not know would match nothing."""
    if value and not _DENY_REASONS.known(value):
        known = ", ".join(_DENY_REASONS.name(v) for v in common_pb2.DenyReason.values() if v)
        violations.append(FieldViolation(
            "deny_reason", f"give one of {known} (DENY_REASON_…), or leave it unset for every access"))


def _reason_with_result(result: int, deny_reason: int, violations: list[FieldViolation]) -> None:
    """A refusal reason with an outcome other than DENIED: only refused accesses have one, so the listing was
    always empty, which reads as "no such access" (an investigator asking for the answered calls a revoked
    credential still made would conclude there were none)."""
    if deny_reason and result and result != audit_pb2.ACCESS_RESULT_DENIED:
        violations.append(FieldViolation(
            "deny_reason", f"only refused accesses (result ACCESS_RESULT_DENIED) have a refusal reason: with result "
                           f"{_RESULTS.name(result)} nothing could match; leave result unset (or DENIED) to list "
                           "the refusals for this reason, or leave deny_reason unset"))


def _resource_filter(value: str, violations: list[FieldViolation]) -> None:
    """A resource filter is a catalog code or empty: a malformed one could match nothing, and an empty page would
    read as "nobody used it"."""
    if value and not valid_resource_code(value):
        violations.append(FieldViolation(
            "resource_code", f"{resource_code_problem(value)}, or leave it empty for every resource"))


def _department_filter(value: str, violations: list[FieldViolation]) -> str:
    """A calling department is named by its 统一社会信用代码 (check digit included), or the filter is empty. It is
    read as a query's key of that kind is (keys.normalize_key): typed in lower case, in full width or with blanks
    around it, it names the same department; it was refused "character 9 is the letter m, which it cannot hold
    there" of a code whose M it may hold, and an auditor retyping 18 characters found nothing wrong with them."""
    code = normalize_key(catalog_pb2.IDENTIFIER_KIND_CREDIT_CODE, value)
    if code and (problem := credit_code_error(code)):
        violations.append(FieldViolation("department_code", f"{problem}, or leave it empty for every department"))
    return code


def checkpoint_to_proto(checkpoint: Checkpoint) -> audit_pb2.AuditCheckpoint:
    return audit_pb2.AuditCheckpoint(
        chain_id=checkpoint.chain_id, sequence=checkpoint.seq, hash=checkpoint.hash,
        time=to_timestamp(checkpoint.time), final=checkpoint.final, key_id=checkpoint.key_id,
        signature=checkpoint.signature)


def _held_checkpoints(request: audit_pb2.VerifyAuditChainRequest | audit_pb2.StartAuditVerificationRequest
                      ) -> list[Checkpoint]:
    """The auditor's own checkpoints, as the verifier reads them (their signatures are checked later)."""
    violations: list[FieldViolation] = []
    if len(request.checkpoints) > MAX_HELD_CHECKPOINTS:
        violations.append(FieldViolation("checkpoints", f"at most {MAX_HELD_CHECKPOINTS} per verification"))
    held = []
    for index, c in enumerate(request.checkpoints[:MAX_HELD_CHECKPOINTS]):
        field = f"checkpoints[{index}]"
        time = from_timestamp(c.time, f"{field}.time", violations)
        if c.sequence <= 0:
            violations.append(FieldViolation(f"{field}.sequence", "must be positive"))
        for name in ("chain_id", "hash", "key_id"):
            _code_filter(getattr(c, name), f"{field}.{name}", violations)
        if time is not None:
            held.append(Checkpoint(c.chain_id, c.sequence, c.hash, time, c.final, c.key_id, c.signature))
    if violations:
        raise invalid_argument(violations)
    return held


def _chain_to_proto(report: checkpoints.ChainReport) -> audit_pb2.ChainVerification:
    matched = report.matched
    return audit_pb2.ChainVerification(
        chain_id=report.chain_id, state=_CHAIN_STATES.value(report.state), records=report.records,
        last_sequence=report.last_seq, closed=report.closed, first_bad_id=report.first_bad_id,
        detail=report.detail, last_matching_checkpoint=checkpoint_to_proto(matched) if matched else None,
        unsigned_records=report.unsigned_records)


def _listing_token(position: tuple[dt.datetime, str], frontier: Frontier) -> str:
    """ListAccesses' page token: the keyset position (time_keyset_token's), when the listing began, and how far
    its page saw each chain that can still grow (QueryStore.access_page)."""
    return encode_token({"t": position[0].isoformat(), "i": str(position[1]), "s": frontier.began.isoformat(),
                         "f": sorted(frontier.heads.items())})


def _listing_frontier(token: str) -> Frontier | None:
    """The frontier a ListAccesses page token carries; None for the first page and a token of an earlier release
    (which resumes by its position alone)."""
    position = decode_token(token)
    if position is None or "s" not in position:
        return None
    try:
        began = dt.datetime.fromisoformat(position["s"]).astimezone(dt.UTC)
        heads = {str(chain): int(seq) for chain, seq in position["f"]}
    except (KeyError, TypeError, ValueError, OverflowError):
        raise invalid_argument([FieldViolation("page_token", "is not a token returned by a previous call")]) from None
    if any(len(chain) > MAX_TOKEN_CHAIN_ID or "\x00" in chain for chain in heads):
        raise invalid_argument([FieldViolation("page_token", "is not a token returned by a previous call")])
    return Frontier(began, heads)


def _listed(page: AccessPage, after: tuple[dt.datetime, str] | None, limit: int) -> tuple[list[Mapping], str]:
    """A listing page's records (those that landed in the part already listed, then the rest's that fit) and its
    next token: resumed after the last record of the rest shown (or where this page resumed, when it showed none),
    from the chains as this page saw them."""
    room = limit - len(page.late)
    shown = page.rows[:room]
    token = ""
    if page.late_cut or len(page.rows) > room:
        position = (shown[-1]["time"], shown[-1]["id"]) if shown else after
        token = _listing_token(position, page.frontier) if position is not None else ""
    return [*page.late, *shown], token


def _checkpoint_after(token: str) -> tuple[dt.datetime, str, int] | None:
    """The (time, chain_id, seq) an export page token resumes after."""
    position = decode_token(token)
    if position is None:
        return None
    try:
        time, chain_id, seq = dt.datetime.fromisoformat(position["t"]), position["c"], position["s"]
        time = time.astimezone(dt.UTC) if time.tzinfo is not None else None
    except (KeyError, TypeError, ValueError, OverflowError):
        time, chain_id, seq = None, None, None
    if time is None or not isinstance(chain_id, str) or len(chain_id) > MAX_TOKEN_CHAIN_ID \
            or "\x00" in chain_id or type(seq) is not int or not -2**63 <= seq < 2**63:
        raise invalid_argument([FieldViolation("page_token", "is not a token returned by a previous call")])
    return time, chain_id, seq


#: The listing a job's resume token names: StartAuditVerification takes it, or a VerifyAuditChain page token.
VERIFY_LISTING = "AuditService/VerifyAuditChain"


def _verify_after(token: str, field: str = "page_token") -> tuple[str, int] | None:
    """The (chain id, checkpoint sequence) a verification page token (or, as ``resume_token``, a job's resume
    token) resumes from."""
    position = decode_token(token, field, VERIFY_LISTING if field == "resume_token" else None)
    if position is None:
        return None
    chain_id, seq = position.get("c"), position.get("s")
    if not isinstance(chain_id, str) or len(chain_id) > MAX_TOKEN_CHAIN_ID or "\x00" in chain_id \
            or type(seq) is not int or not 0 < seq < 2**63:
        raise invalid_argument([FieldViolation(field, "is not a token returned by a previous call")])
    return chain_id, seq


def _verification_token(chain_id: str | None, seq: int | None) -> str:
    return encode_token({"c": chain_id, "s": seq}, VERIFY_LISTING) if chain_id else ""


def verification_to_proto(row: Mapping[str, Any]) -> audit_pb2.AuditVerification:
    """A job row (query migration 011) as the auditor sees it."""
    done = row["state"] == verifications.DONE
    estimate = max(row["records_estimate"], row["records_verified"])
    progress = 100 if done else min(99, row["records_verified"] * 100 // estimate) if estimate else 0
    position = None if done else row["position_chain_id"]
    first_chain = row["first_bad_chain_id"] if row["first_bad_chain_id"] != "-" else ""
    message = audit_pb2.AuditVerification(
        id=str(row["id"]), state=_JOB_STATES[row["state"]], result=_JOB_RESULTS.get(row["result"], 0),
        records_verified=row["records_verified"], records_estimate=row["records_estimate"],
        progress_percent=progress, current_chain_id=position or "",
        current_sequence=row["position_seq"] or 0 if position else 0,
        resume_token=_verification_token(position, row["position_seq"]), problems_found=row["problems"],
        forged_checkpoints=row["forged_checkpoints"], chains_checked=row["chains_checked"],
        first_bad_chain_id=first_chain, first_bad_id=row["first_bad_id"],
        first_bad_sequence=row["first_bad_seq"],
        detail=row["detail"] or (f"{row['chains_checked']} chains intact" if done else ""),
        create_time=to_timestamp(row["create_time"]), update_time=to_timestamp(row["update_time"]),
        creator_system_id=row["creator_system_id"], cancel_system_id=row["cancel_system_id"], pages=row["pages"],
        held_checkpoints=row["held_checkpoints"])
    if row["end_time"] is not None:
        message.end_time.CopyFrom(to_timestamp(row["end_time"]))
    return message


def _verification_id(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise invalid_argument([FieldViolation("id", "give the id of an audit verification")]) from None


def _uuid_of(value: object) -> uuid.UUID:
    return uuid.UUID(str(value))


def _recorder(deps: Dependencies) -> Callable[[AdminEvent], Awaitable[None]]:
    """Writes a refused read's event to the outbox and wakes the relay (refusals_logged's record)."""

    async def record(event: AdminEvent) -> None:
        await deps.store.record_admin_event(event)
        deps.admin_outbox.notify()

    return record


async def _require_auditor(deps: Dependencies, caller: Caller, action: str, what: str) -> None:
    """Verification is the authority's auditors' (as VerifyAuditChain). A refusal is an entry of ``action`` on the
    audit trail, the reason as its result: a department probing the authority's verification left no trace."""
    async with refusals_logged(_recorder(deps), caller, action, "audit_trail"):
        duties.require_role(caller, AUDITOR, what)
        if not caller.authority:
            raise permission_denied("NOT_AUTHORITY", f"only the authority may {what}")


class AuditServicer(DependentServicer, audit_pb2_grpc.AuditServiceServicer):
    """AuditService. Its heavy reads (ListAccesses, ListSubjectAccesses, GetUsageSummary) pass the process's
    admission gate (services/runtime/admission.py) once their request is valid."""

    def __init__(self, verifier: AssertionVerifier, heavy: HeavyReadGate | None = None) -> None:
        super().__init__(verifier)
        self._heavy = heavy or HeavyReadGate(0, 0)

    @staticmethod
    def _provider_scope(caller: Caller) -> str | None:
        """Whose resources' accesses the caller may see: its department's, or every department's for the authority's
        审计员 and the authority's systems (the auditors' tools, `govshare … --system authority`). The authority's
        审批人 and 编目员 answer for the resources the authority provides, as another department's do for theirs:
        they read those accesses, not whom every department of the platform looked up."""
        if caller.authority and (not caller.is_person or caller.has_role(AUDITOR)):
            return None
        if not caller.department_code:
            raise permission_denied("NO_DEPARTMENT", "accesses are shown to the providing department")
        return caller.department_code

    async def ListAccesses(self, request: audit_pb2.ListAccessesRequest, context: grpc.aio.ServicerContext
                           ) -> audit_pb2.ListAccessesResponse:
        deps, caller = self._begin(context)
        violations: list[FieldViolation] = []
        start, end = _time_range(request, violations)
        _resource_filter(request.resource_code, violations)
        department = _department_filter(request.department_code, violations)
        _result_filter(request.result, violations)
        _grant_filter(request.grant_id, violations)
        _system_filter(request.system_id, violations)
        _deny_reason_filter(request.deny_reason, violations)
        _reason_with_result(request.result, request.deny_reason, violations)
        violations.extend(page_size_violations(request.page_size))
        if violations:
            raise invalid_argument(violations)
        limit = page_size(request.page_size)
        if department != request.department_code:
            # Its tokens bound to the department as read: a page 2 typed otherwise (lower case, full width) goes on.
            bound = audit_pb2.ListAccessesRequest()
            bound.CopyFrom(request)
            bound.department_code = department
            bind_tokens_to(bound)
        after = time_keyset_after(request.page_token, text_id)
        since = _listing_frontier(request.page_token)
        provider = self._provider_scope(caller)
        # A refused read is logged as the read it tried, as each page read is (its filter checked above).
        async with refusals_logged(_recorder(deps), caller, "audit.list_accesses", request.resource_code or "*"):
            duties.require_role(caller, ACCESS_READERS, "read a department's access log")
        scope = AccessFilter(provider=provider, resource_code=request.resource_code,
                             department_code=department, start=start, end=end,
                             result=_RESULTS.name(request.result) if request.result else "",
                             grant_id=request.grant_id, system_id=request.system_id,
                             deny_reason=_DENY_REASONS.name(request.deny_reason) if request.deny_reason else "")
        async with self._heavy.admitted():
            page = await deps.store.access_page(scope, after, limit, since)
            rows, token = _listed(page, after, limit)
            if rows:
                # The records name whom each access was about (its key): who read them is written before they leave,
                # as a read of a record's history is (the filters and the count, never a key).
                await deps.store.record_admin_event(AdminEvent.by(
                    caller, "audit.list_accesses", request.resource_code or "*",
                    {"records": len(rows), "department_code": department,
                     **({"grant_id": request.grant_id} if request.grant_id else {}),
                     **({"system_id": request.system_id} if request.system_id else {})}))
                deps.admin_outbox.notify()
            return audit_pb2.ListAccessesResponse(accesses=[to_proto(row) for row in rows], next_page_token=token)

    async def GetUsageSummary(self, request: audit_pb2.GetUsageSummaryRequest, context: grpc.aio.ServicerContext
                              ) -> audit_pb2.GetUsageSummaryResponse:
        deps, caller = self._begin(context)
        violations: list[FieldViolation] = []
        start, end = _time_range(request, violations)
        _resource_filter(request.resource_code, violations)
        if violations:
            raise invalid_argument(violations)
        provider = self._provider_scope(caller)
        # Counts only, but which departments use which resource for what is the provider's oversight (R-USE-4),
        # read by who reads its access log: a 申请人 or the authority's 管理员 read every department's figures.
        async with refusals_logged(_recorder(deps), caller, "audit.usage_summary", request.resource_code or "*"):
            duties.require_role(caller, ACCESS_READERS, "read how a department's resources are used")
        scope = AccessFilter(provider=provider, resource_code=request.resource_code, start=start, end=end)
        async with self._heavy.admitted():
            rows = await figures.usage_summary(deps.store, scope, dt.datetime.now(dt.UTC))
        return audit_pb2.GetUsageSummaryResponse(rows=[
            audit_pb2.UsageRow(resource_code=row["resource_code"], department_code=row["department_code"],
                               purpose=_PURPOSES.value(row["purpose"]),
                               **{column: row[column] for column, _ in USAGE_OUTCOMES})
            for row in rows])

    async def VerifyAuditChain(self, request: audit_pb2.VerifyAuditChainRequest,
                               context: grpc.aio.ServicerContext) -> audit_pb2.VerifyAuditChainResponse:
        deps, caller = self._begin(context)
        await _require_auditor(deps, caller, "audit.verify_chain", "verify the audit trail")
        held = _held_checkpoints(request)
        if request.page_size < 0:
            raise invalid_argument([FieldViolation("page_size", "must not be negative")])
        budget = min(request.page_size or VERIFY_PAGE_RECORDS, MAX_VERIFY_PAGE_RECORDS)
        after = _verify_after(request.page_token)
        auditor, resume_at = await verify_from(deps.store, deps.checkpoint_verifier, held, after, budget)
        reports = auditor.finish()
        bad = [r for r in reports if r.state != checkpoints.INTACT]
        listed = [*bad, *(r for r in reports if r.state == checkpoints.INTACT)][:MAX_REPORTED_CHAINS]
        first_bad = next((r.first_bad_id for r in bad if r.first_bad_id), "")
        problems = [r.detail for r in bad[:3]]
        if auditor.forged:
            problems.append(forged_detail(auditor.forged))
        detail = "; ".join(problems) or f"{len(reports)} chains intact"
        # Who checked the trail, from where and what they were told, is itself on record, as a job's start is.
        await deps.store.record_admin_event(AdminEvent.by(
            caller, "audit.verify_chain", f"{after[0]}/{after[1]}" if after else "*",
            {"page_size": budget, "records": auditor.records_checked, "intact": not bad and not auditor.forged}))
        deps.admin_outbox.notify()
        return audit_pb2.VerifyAuditChainResponse(
            intact=not bad and not auditor.forged, records_checked=auditor.records_checked,
            first_bad_id=first_bad, detail=detail, chains=[_chain_to_proto(r) for r in listed],
            chains_checked=len(reports),
            next_page_token=encode_token({"c": resume_at[0], "s": resume_at[1]}) if resume_at else "",
            forged_checkpoints=[audit_pb2.ForgedCheckpoint(checkpoint=checkpoint_to_proto(f.checkpoint),
                                                           reason=f.reason)
                                for f in auditor.forged[:MAX_REPORTED_FORGED]])

    async def StartAuditVerification(self, request: audit_pb2.StartAuditVerificationRequest,
                                     context: grpc.aio.ServicerContext
                                     ) -> audit_pb2.StartAuditVerificationResponse:
        deps, caller = self._begin(context)
        await _require_auditor(deps, caller, "audit.verification.start", "verify the audit trail")
        held = _held_checkpoints(request)
        if request.page_size < 0:
            raise invalid_argument([FieldViolation("page_size", "must not be negative")])
        position = _verify_after(request.resume_token, "resume_token")
        per_page = min(request.page_size or deps.settings.audit_verify_page_records, MAX_VERIFY_PAGE_RECORDS)
        runner = deps.verifications
        job_id = uuid.uuid4()
        event = AdminEvent.by(caller, "audit.verification.start", str(job_id), {
            "page_size": per_page, "from_chain_id": position[0] if position else "",
            "from_sequence": position[1] if position else 0, "held_checkpoints": len(held)})
        row = await deps.store.create_verification(
            job_id, position, per_page, await deps.store.access_log_estimate(),
            "" if runner is None or runner.busy else runner.owner,
            runner.lease_seconds if runner is not None else 0, event, held)
        deps.admin_outbox.notify()
        if runner is not None:
            runner.wake()
        return audit_pb2.StartAuditVerificationResponse(verification=verification_to_proto(row))

    async def GetAuditVerification(self, request: audit_pb2.GetAuditVerificationRequest,
                                   context: grpc.aio.ServicerContext) -> audit_pb2.GetAuditVerificationResponse:
        deps, caller = self._begin(context)
        await _require_auditor(deps, caller, "audit.verification.read", "read the audit verifications")
        row = await deps.store.get_verification(_verification_id(request.id))
        if row is None:
            raise not_found("audit verification")
        return audit_pb2.GetAuditVerificationResponse(verification=verification_to_proto(row))

    async def ListAuditVerifications(self, request: audit_pb2.ListAuditVerificationsRequest,
                                     context: grpc.aio.ServicerContext
                                     ) -> audit_pb2.ListAuditVerificationsResponse:
        deps, caller = self._begin(context)
        await _require_auditor(deps, caller, "audit.verification.read", "read the audit verifications")
        violations = page_size_violations(request.page_size)
        if violations:
            raise invalid_argument(violations)
        limit = page_size(request.page_size)
        rows = await deps.store.list_verifications(time_keyset_after(request.page_token, _uuid_of), limit + 1)
        token = ""
        if len(rows) > limit:
            rows = rows[:limit]
            token = time_keyset_token(rows[-1]["create_time"], rows[-1]["id"])
        return audit_pb2.ListAuditVerificationsResponse(
            verifications=[verification_to_proto(row) for row in rows], next_page_token=token)

    async def CancelAuditVerification(self, request: audit_pb2.CancelAuditVerificationRequest,
                                      context: grpc.aio.ServicerContext
                                      ) -> audit_pb2.CancelAuditVerificationResponse:
        deps, caller = self._begin(context)
        await _require_auditor(deps, caller, "audit.verification.cancel", "cancel an audit verification")
        job_id = _verification_id(request.id)
        row = await deps.store.cancel_verification(job_id, AdminEvent.by(caller, "audit.verification.cancel",
                                                                         str(job_id)))
        if row is None:
            raise not_found("audit verification")
        deps.admin_outbox.notify()
        return audit_pb2.CancelAuditVerificationResponse(verification=verification_to_proto(row))

    async def ExportAuditCheckpoints(self, request: audit_pb2.ExportAuditCheckpointsRequest,
                                     context: grpc.aio.ServicerContext) -> audit_pb2.ExportAuditCheckpointsResponse:
        deps, caller = self._begin(context)
        await _require_auditor(deps, caller, "audit.export_checkpoints", "export the audit checkpoints")
        limit = page_size(request.page_size)
        rows = await deps.store.list_checkpoints(_checkpoint_after(request.page_token), limit + 1)
        token = ""
        if len(rows) > limit:
            rows = rows[:limit]
            last = rows[-1]
            token = encode_token({"t": last.time.isoformat(), "c": last.chain_id, "s": last.seq})
        signer = deps.checkpointer.signer
        return audit_pb2.ExportAuditCheckpointsResponse(
            checkpoints=[checkpoint_to_proto(c) for c in rows], next_page_token=token, key_id=signer.key_id,
            public_key_pem=checkpoints.public_pem(signer.public_key))

    async def ListSubjectAccesses(self, request: audit_pb2.ListSubjectAccessesRequest,
                                  context: grpc.aio.ServicerContext) -> audit_pb2.ListSubjectAccessesResponse:
        """The persons' view (services/query/subjects.py): audited like a query, refusals included."""
        deps, caller = self._begin(context)
        subject, forms = _subject_of(request)
        access = Access(operation=subjects.LOOKUP, system_id=caller.system_id,
                        department_code=caller.department_code, resource_code="", key=clean(subject, 64), keys=[],
                        items=[], purpose=purpose_name(request.purpose.type), purpose_text=request.purpose.text,
                        trace_id=_trace_id(), time=dt.datetime.now(dt.UTC))
        try:
            async with self._heavy.admitted():
                rows, token = await self._subject_page(deps, caller, request, subject, forms)
        except asyncio.CancelledError:
            # The portal went away (its deadline passed) while the person's accesses were read: the lookup is
            # recorded as a query would be (FAILED CANCELLED), without waiting for it. It left no record at all.
            access.cancelled()
            deps.audit.submit_detached(access)
            raise
        except Exception as error:
            access.fail(error)
            await deps.audit.record(access)
            raise
        access.result = ANSWERED
        try:
            audit_id = await deps.audit.record(access)
        except asyncio.CancelledError:
            deps.audit.withdraw(access)  # ended while its record waited: not answered (as a query, 9612a1e)
            raise
        return audit_pb2.ListSubjectAccessesResponse(accesses=[_subject_access(row, deps.masker) for row in rows],
                                                     next_page_token=token, lookup_audit_id=audit_id)

    @staticmethod
    async def _subject_page(deps: Dependencies, caller: Caller, request: audit_pb2.ListSubjectAccessesRequest,
                            subject: str, forms: list[str]) -> tuple[list[Mapping], str]:
        if deps.subjects is None:
            raise permission_denied("NOT_A_SUBJECT_ACCESS_PORTAL", "the persons' view is not available here")
        await deps.subjects.require_portal(caller)
        violations: list[FieldViolation] = []
        if bool(request.citizen_id) == bool(request.credit_code):
            violations.append(FieldViolation("citizen_id", "give exactly one of citizen_id and credit_code"))
        elif request.citizen_id and (problem := citizen_id_error(subject.upper())):
            violations.append(FieldViolation("citizen_id", problem))
        elif request.credit_code and (problem := credit_code_error(subject.upper())):
            violations.append(FieldViolation("credit_code", problem))
        if request.purpose.type == common_pb2.PURPOSE_TYPE_UNSPECIFIED or not _PURPOSES.known(request.purpose.type):
            violations.append(FieldViolation("purpose.type", "declare why the portal asks"))
        violations.extend(purpose_text_violations(request.purpose.text))
        start, end = _time_range(request, violations)  # type: ignore[arg-type]
        violations.extend(page_size_violations(request.page_size))
        if violations:
            raise invalid_argument(violations)
        limit = page_size(request.page_size)
        bind_tokens_to(_as_read(request, subject))
        after = time_keyset_after(request.page_token, text_id)
        since = _listing_frontier(request.page_token)
        page = await subjects.visible_page(deps.store, forms, start, end, after, limit, since,
                                           await deps.subjects.withheld_windows())
        return _listed(page, after, limit)


def _subject_of(request: audit_pb2.ListSubjectAccessesRequest) -> tuple[str, list[str]]:
    """The identifier asked about, read as a query's key is (services/query/keys.py): a portal's form may send
    what a Chinese input method typed (３４２３…Ｘ, full width), which names the same person as its ASCII form.
    A first-generation 15-digit 公民身份号码 (a person the portal knows by their old card) is asked about as its
    18-character form. With it, every form an access may be keyed by: its letters in either case and the
    15-digit number, which a query refuses but records as an attempt at the person's records."""
    kind = catalog_pb2.IDENTIFIER_KIND_CITIZEN_ID if request.citizen_id else catalog_pb2.IDENTIFIER_KIND_CREDIT_CODE
    subject = normalize_key(kind, request.citizen_id or request.credit_code)
    if not request.citizen_id:
        return subject, sorted({subject.upper(), subject.lower()})
    subject = second_generation(subject) or subject
    old = first_generation(subject.upper())
    return subject, sorted({subject.upper(), subject.lower(), *([old] if old else [])})


def _as_read(request: audit_pb2.ListSubjectAccessesRequest, subject: str) -> audit_pb2.ListSubjectAccessesRequest:
    """``request`` naming its person or entity as it is read (:func:`_subject_of`), upper case: what its page
    tokens are bound to. Bound to the identifier as sent, a portal that sent page 1 with the 公民身份号码 as the
    person typed it (11010519491231002x, full-width digits, the 15-digit number) and page 2 as its form keeps it
    (…002X) was refused 'belongs to a request with other filters', and the person's listing could not go on."""
    bound = audit_pb2.ListSubjectAccessesRequest()
    bound.CopyFrom(request)
    if request.citizen_id:
        bound.citizen_id = subject.upper()
    else:
        bound.credit_code = subject.upper()
    return bound


def _subject_access(row: Mapping, masker: Masker) -> audit_pb2.SubjectAccess:
    """One access as the person sees it. The reading department's purpose text is its own free text, and may name
    other persons (the applicant of a 低保 case whose family member this is, every person of a batch): their
    公民身份号码 are masked by the platform's citizen_id rule, and their mobile numbers by its phone rule, as a query
    answer masks them."""
    purpose_text = mask_citizen_ids(recorded_purpose(row["purpose_text"]),
                                    lambda number: masker.mask(number, "citizen_id"))
    return audit_pb2.SubjectAccess(
        id=row["id"], time=to_timestamp(row["time"]), department_code=row["department_code"],
        system_id=row["system_id"], resource_code=as_named(row["resource_code"]),
        provider_department_code=row["provider_department_code"], operation=row["operation"],
        items=[as_named(item) for item in row["items"]], purpose=_PURPOSES.value(row["purpose"]),
        purpose_text=mask_mobile_numbers(purpose_text, lambda number: masker.mask(number, "phone")),
        result=_RESULTS.value(row["result"]))
