"""govshare.query.v1.QueryService: online query, batch query, verification and batch download.

Every call follows the hot path of DESIGN.md: validate, resolve the catalog entry,
decide (先授权后共享: nothing is read before an allowing decision), read the
record, project and mask, and reply only once the call's audit record is durable.
Each step lives in its own module; this one maps protobuf to those steps.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

import grpc
from google.protobuf import timestamp_pb2
from opentelemetry import trace

from govshare.catalog.v1 import catalog_pb2
from govshare.common.v1 import common_pb2
from govshare.provider.v1 import provider_pb2
from govshare.query.v1 import query_pb2, query_pb2_grpc
from services.query import audit, disputes, projection
from services.query.audit import Access, clean
from services.query.decisions import NO_DECISION_IN_TIME, Decision, DecisionKey
from services.query.deps import Dependencies, DependentServicer
from services.query.keys import key_error
from services.query.records import CALLERS_DEADLINE, PLATFORM_ENDPOINT, UNREADABLE, Unanswered
from services.query.resources import Resource, not_an_item, valid_resource_code
from services.query.verify_requests import claims_sent, verify_request_reader
from services.runtime import callers_time, duties
from services.runtime.admin_events import AdminEvent, refusals_logged
from services.runtime.catalog_client import NO_ENTRY_IN_TIME
from services.runtime.enums import ShortNames
from services.runtime.errors import (
    FieldViolation,
    ServiceError,
    failed_precondition,
    invalid_argument,
    not_found,
    one_line_violation,
    permission_denied,
    text_violation,
)
from services.runtime.identifiers import resource_code_slip
from services.runtime.identity import Caller
from services.runtime.masking import Masker
from services.runtime.pagination import time_remaining
from services.runtime.provider_assertions import CURRENT_ACCESS, AccessClaims
from services.runtime.server import MAX_MESSAGE_BYTES

MAX_BATCH_KEYS = 1000
#: The longest claimed value a Verify compares (characters). Every claim is normalised and read by the forms of its
#: item's type before the decision, and a 6 MB one (a Verify fits in 8 MiB) held a query process's event loop for
#: seconds: every other call on it waited. No value a desk copies off a document (a name, an address, a licence
#: number, a date) comes near it.
MAX_CLAIM_LENGTH = 1024
#: The most items a call may name (its ``items``, a Verify's claims): the catalog's limit on an entry's items
#: (services/catalog/rules.MAX_ITEMS), so a call naming more names some that are none. Each unknown one is told
#: apart (not_an_item: the item meant), which for a million of them (3 MB of ``x``) held the query process for
#: about ten seconds before any decision, every other call on it waiting; more are refused unread.
MAX_ITEMS = 500
#: Verify's deserializer: a request of more than MAX_ITEMS claims is read with MAX_ITEMS of them, the rest never
#: (a map of 400,000 claims took 1.5 s to read before any check could refuse it).
READ_VERIFY = verify_request_reader(MAX_ITEMS)
#: Used-up grants a call tries past before it is refused QUOTA_EXHAUSTED (AuthorizationService.Check's limit).
MAX_USED_UP_GRANTS = 16
#: The largest BatchQuery reply: one message (the edge transcodes no more to JSON, clients take no more), less
#: room for the audit id set after the step.
MAX_BATCH_REPLY_BYTES = MAX_MESSAGE_BYTES - 1024
AUDIT_ID_HEADER = "x-govshare-audit-id"
#: A person's token on a call that reads records (DenyReason SYSTEM_REQUIRED). A department's grants are for its
#: business systems (DOMAIN §1: every call is made by a system on behalf of its department); a person's roles
#: (services.runtime.duties) are decisions and reads of the platform's own records, none of them a citizen's.
#: Without it any signed-in person, the authority's 管理员 or 审计员 included, read citizens' records through
#: their department's grants from a console session, outside every business system's own controls.
SYSTEM_REQUIRED = "SYSTEM_REQUIRED"
SYSTEM_REQUIRED_MESSAGE = ("records are read by a department's business systems, not with a person's session token: "
                           "call through your department's business system (its token from "
                           "TokenService.IssueToken)")

ONLINE_QUERY = common_pb2.SHARE_METHOD_ONLINE_QUERY
BATCH_DOWNLOAD = common_pb2.SHARE_METHOD_BATCH_DOWNLOAD
#: The keys that name a person or an entity, whose exports the persons' view lists.
SUBJECT_KINDS = frozenset({catalog_pb2.IDENTIFIER_KIND_CITIZEN_ID, catalog_pb2.IDENTIFIER_KIND_CREDIT_CODE})
_PURPOSES = ShortNames(common_pb2.PurposeType)
#: The purpose classes a refusal lists (R-USE-1: 行政依据, 工作参考, 数据校核, 业务协同), as the proto names them.
_PURPOSE_CHOICES = ", ".join(name for name, value in common_pb2.PurposeType.items()
                             if value != common_pb2.PURPOSE_TYPE_UNSPECIFIED)

R = TypeVar("R")
Q = TypeVar("Q", query_pb2.QueryRequest, query_pb2.BatchQueryRequest, query_pb2.VerifyRequest)
A = TypeVar("A", query_pb2.QueryResponse, query_pb2.BatchQueryResponse, query_pb2.VerifyResponse)


def _within_one_reply(response: query_pb2.BatchQueryResponse, keys: int) -> None:
    """RESOURCE_EXHAUSTED REPLY_TOO_LARGE when the batch's answer exceeds one message, saying how many keys fit.

    A department's records may be large (a 前置机 shares long text columns): 200 keys of records of ~100 KB left
    as a 20 MB reply, which a REST caller got as HTTP 500 INTERNAL from the edge ("Response not transcoded
    because the transcoder's internal buffer size exceeds the configured limit") and a gRPC client as a
    transport error, after the call was audited ANSWERED. It is now refused, audited so, naming the remedy.
    """
    size = response.ByteSize()
    if size <= MAX_BATCH_REPLY_BYTES:
        return
    fit = max(1, keys * MAX_BATCH_REPLY_BYTES // size)
    raise ServiceError(grpc.StatusCode.RESOURCE_EXHAUSTED, "REPLY_TOO_LARGE",
                       f"the answer to these {keys} keys would be {size / 2 ** 20:.1f} MiB, more than one reply "
                       f"carries ({MAX_MESSAGE_BYTES // 2 ** 20} MiB): ask for fewer keys per call (about {fit} "
                       "fit), or for fewer items")


def too_many_keys(sent: int) -> str:
    """The refusal of a call of more than MAX_BATCH_KEYS keys, saying how many it sent (duplicates count: each is
    answered) and what to do: "at most 1000 keys per call" alone left a caller that built its batch from a query of
    its own to count them, and to guess whether a repeated key was one."""
    return (f"at most {MAX_BATCH_KEYS} keys per call (a key given twice counts twice); this call sends {sent}: "
            f"send them in calls of at most {MAX_BATCH_KEYS}")


def _denied(items: Iterable[str]) -> dict[str, str]:
    """ErrorInfo metadata naming the items no grant holds (``denied_items``, comma-separated): the message says
    them to a person, this to a program that narrows its request."""
    joined = ",".join(items)
    return {"denied_items": joined} if joined else {}


async def _quota_exhausted(deps: Dependencies, used_up: Sequence[tuple[str, int]], calls: int) -> ServiceError:
    """QUOTA_EXHAUSTED naming every grant (id, quota) the call was refused by (each used up, or with fewer calls
    left than the call counts), how many calls each allows and has left, and what to do. "is used up" alone told a
    BatchQuery of 100 keys, refused with 40 calls left, that nothing was; no refusal said that a quota counts over
    the grant's whole term (it never resets) nor who may raise it; and of a department's several grants covering
    the call (one applied for again), only one was named, so its provider raised that one's quota while another
    was the one the caller needed. The decisions the call went through name the grants (Decision.replaced); their
    counts are read in one statement, on the refusal only: the counted path pays nothing more."""
    used = await deps.store.quotas_used([grant_id for grant_id, _ in used_up])
    lefts = [(grant_id, quota, max(quota - used[grant_id], 0)) for grant_id, quota in used_up]
    grant_id, quota, left = max(lefts, key=lambda each: each[2])  # the first of the most calls left
    raise_it = ("ask the provider department to raise the quota (SharingService.UpdateGrant), or apply again "
                "(SharingService.SubmitApplication)")
    counts = "a BatchQuery counts each of its keys; the quota counts over the grant's whole term and does not reset"
    if len(lefts) == 1:
        grants = f"grant {grant_id} allows {quota} calls in all ({counts})"
    else:
        grants = (f"none of the {len(lefts)} grants of your department that cover it has the calls: "
                  f"{'; '.join(f'grant {g} allows {q} calls in all, {n} left' for g, q, n in lefts)} ({counts})")
    if left:
        message = (f"this call counts {calls} {'key' if calls == 1 else 'keys'} and {grants}"
                   f"{f' with {left} left' if len(lefts) == 1 else ''}: ask for at most {left} "
                   f"{'key' if left == 1 else 'keys'}, or {raise_it}")
    else:
        message = f"{grants}{' and every one is used' if len(lefts) == 1 else ''}: {raise_it}"
    return permission_denied("QUOTA_EXHAUSTED", message, quota=str(quota), quota_left=str(left),
                             grant_ids=",".join(g for g, _, _ in lefts), quotas=",".join(str(q) for _, q, _ in lefts),
                             quotas_left=",".join(str(n) for _, _, n in lefts))


async def _counted(deps: Dependencies, key: DecisionKey, decision: Decision, calls: int) -> Decision:
    """The decision whose grant the call is counted against: ``decision``'s, or, when its quota is used up,
    another live grant of the department's that gives the same (one applied for again), else QUOTA_EXHAUSTED
    naming each grant tried, those the decision already stands in for first."""
    counted = decision
    used_up = decision.replaced
    while not await deps.quotas.consume(counted.grant_id, counted.quota, calls):
        used_up += ((counted.grant_id, counted.quota),)
        other = None
        if len(used_up) < MAX_USED_UP_GRANTS:
            other = await deps.decisions.instead_of_used_up(key, counted, tuple(g for g, _ in used_up))
        if other is None:
            raise await _quota_exhausted(deps, used_up, calls)
        if other.quota <= 0:
            deps.quotas.tally(other.grant_id, calls)
            return other
        counted = other
    return counted


async def _give_back_unsent(deps: Dependencies, access: Access, unsent: int) -> None:
    """Gives back to the grant's quota the keys of an answered batch whose records the provider's database could
    not send: each is answered with an error, as a Query of it is refused, and that Query gives its call back; kept
    counted, a department paid for records it never got, again at every retry of the batch. (A batch with no record
    sent is given back whole, by _audited.)"""
    if unsent and access.counted is not None:
        grant_id, calls = access.counted
        await deps.quotas.give_back(grant_id, unsent)
        access.counted = (grant_id, calls - unsent)


async def _under_its_grant(deps: Dependencies, key: DecisionKey, sent: int, began: Decision,
                           now: Decision) -> Decision:
    """The decision an export begun under ``began``'s grant goes on under, when the decision every new call gets
    (``now``) names another grant of the department's: the one it began under, narrowed meanwhile, or a refusal.

    With two grants on the resource (one unmasking card_no, one not), a download begun under the unmasking one went
    on under the other once that one was revoked: the rows still to come masked, unlike the first ones, under a grant
    its access record does not name and whose quota it never counted, and it ended complete, the caller told
    nothing. An export is answered under one grant (R-APP-4: a revocation takes effect at once, on it too): it goes
    on under that one as it is now (narrowed, the rows still to come narrowed), or stops saying why that grant no
    longer serves it (the decision under it alone says: REVOKED with the 审批人's reason, EXPIRED with its term, or
    the system, purpose, method or items it was narrowed to leave out) and that another would, to export again
    under. It said "revoked, expired, or narrowed" and NOT_GRANTED, whichever it was: the department could not tell
    whether to apply again, ask for an extension or ask what was cut."""
    own = await deps.decisions.under(key, began.grant_id)
    if own.allowed and own.grant_id == began.grant_id:
        return own
    if not own.allowed and own.message:
        why, reason = own.message, own.deny_reason
    else:
        why = (f"grant {began.grant_id}, which this export began under, no longer gives it what it began with "
               "(narrowed to leave out the items or the unmasking it gave)")
        reason = own.basic_only_reason or "NOT_GRANTED"
    raise permission_denied(reason, f"this export began under grant {began.grant_id}: {why}; grant {now.grant_id} "
                            "of your department would serve it now, as it gives it: export again to download under "
                            f"that one (the export stopped after {sent} rows)")


def purpose_name(value: int) -> str:
    """The PurposeType name without prefix, as the audit trail stores it."""
    return _PURPOSES.name(value)


def _trace_id() -> str:
    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.trace_id else ""


def _claim_violations(claims: Mapping[str, str], resource: Resource) -> list[FieldViolation]:
    """What is wrong with each claim of a Verify: an item the resource does not have, an empty value, one longer
    than MAX_CLAIM_LENGTH (refused before it is read), or a value that is none of its item's type
    (projection.claim_error: a code that is no valid code, a day the calendar does not have, a number without a
    digit), which the record was never compared with."""
    refused: list[FieldViolation] = []
    for item, value in claims.items():
        field = f'claims["{clean(item, 64)}"]'
        if item not in resource.items:
            refused.append(FieldViolation(field, not_an_item(item, resource)))
        elif len(value) > MAX_CLAIM_LENGTH:
            refused.append(FieldViolation(field, f"claim at most {MAX_CLAIM_LENGTH} characters (this claim has "
                                                 f"{len(value)}): claim the value as the document gives it"))
        elif not value.strip():
            refused.append(FieldViolation(field, "claim a non-empty value"))
        elif (problem := projection.claim_error(value, resource.code_items.get(item, 0),
                                                item in resource.date_items or item in resource.datetime_items,
                                                item in resource.numeric_items,
                                                item in resource.logical_items)) is not None:
            refused.append(FieldViolation(field, problem))
    return refused


def _purpose_violations(purpose: common_pb2.Purpose, field: str = "purpose.type") -> list[FieldViolation]:
    """R-USE-1: every use declares one of the purpose classes, and its free text as the audit keeps it."""
    violations = purpose_text_violations(purpose.text)
    if purpose.type == common_pb2.PURPOSE_TYPE_UNSPECIFIED:
        return [FieldViolation(field, f"declare the purpose of this use (R-USE-1): one of {_PURPOSE_CHOICES}"),
                *violations]
    if not _PURPOSES.known(purpose.type):
        return [FieldViolation(field, f"unknown purpose type {purpose.type}: declare one of {_PURPOSE_CHOICES}"),
                *violations]
    return violations


def purpose_text_violations(text: str) -> list[FieldViolation]:
    """The declared purpose's text is evidence in the audit record, which keeps ``audit.MAX_TEXT`` characters:
    a longer one is refused rather than cut, so what the caller declared is what the record holds. It is shown as
    one line (the console's access list, its CSV, the persons' view, a terminal), so a character nobody sees there
    (a line break, an escape sequence, a right-to-left override that turns the line around) is refused too.
    At most 256 characters are read: a constant-time check on the query path."""
    violation = text_violation("purpose.text", text, audit.MAX_TEXT, own_invisible_check=True) \
        or one_line_violation("purpose.text", text)
    return [violation] if violation is not None else []


def resource_code_problem(code: str) -> str:
    """Why ``code`` is no resource code, with what made it differ from one (identifiers.resource_code_slip)."""
    return ("give a resource code such as 101001/000001 (classification/sequence)"
            + resource_code_slip(code, valid_resource_code))


def _items(requested: Sequence[str], resource: Resource, violations: list[FieldViolation],
           field: str = "items") -> tuple[str, ...]:
    """The requested items as a decision key (sorted, unique), listing those the entry does not have; more than
    MAX_ITEMS are refused unread."""
    if len(requested) > MAX_ITEMS:
        violations.append(FieldViolation(field, f"name at most {MAX_ITEMS} items (no entry has more); this call "
                                                f"names {len(requested)}"))
        return ()
    for index, item in enumerate(requested):
        if item not in resource.items:
            violations.append(FieldViolation(f"{field}[{index}]", not_an_item(item, resource)))
    return tuple(sorted(set(requested)))


def _masked_in_plan_order(decision: Decision, masked: set[str]) -> list[str]:
    return [item for item, rule in decision.plan if rule is not None and item in masked]


def _serving(deps: Dependencies, access: Access) -> None:
    """Tells provider calls made for this access whose access it is (the 前置机's assertion names it)."""
    access.id = deps.audit.new_id()
    CURRENT_ACCESS.set(AccessClaims(department_code=access.department_code, system_id=access.system_id,
                                    purpose=access.purpose, audit_id=access.id))


#: The writes of refusals answered at their caller's deadline that outlasted the wait (a record, a quota's give-back),
#: kept until they end.
_LATE_WRITES: set[asyncio.Future] = set()


def _late_write_done(future: asyncio.Future) -> None:
    """Drops a refusal's write once it ended, and retrieves its outcome (the audit writer logs its failures)."""
    _LATE_WRITES.discard(future)
    if not future.cancelled():
        future.exception()


async def _record_refusal_in_callers_time(deps: Dependencies, access: Access) -> None:
    """Records a call refused at its caller's deadline (its provider or the authorization service had not answered
    in time), and gives its call back to its grant's quota, waiting for them a quarter of the time left at most: the
    refusal must leave before the deadline. The foundation service waiting on a hung PostgreSQL had not answered a
    Query sent with 2 s, and the refusal then waited on the same PostgreSQL for its record, past the deadline: the
    caller read the edge's DEADLINE_EXCEEDED naming nothing, where with a longer deadline it read UNAVAILABLE
    naming postgresql. A write not done by then goes on (no data left, so the refusal need not wait for it, as a
    cancelled call's does not); a healthy PostgreSQL takes it first, and a write's failure is raised as before."""
    writes: list[asyncio.Future] = []
    if access.counted is not None and access.result == audit.FAILED:
        writes.append(asyncio.ensure_future(deps.quotas.give_back(*access.counted)))  # a retry must not count it
    writes.append(deps.audit.submit(access))
    for write in writes:
        _LATE_WRITES.add(write)
        write.add_done_callback(_late_write_done)
    remaining = time_remaining()
    done, _ = await asyncio.wait(writes, timeout=None if remaining is None
                                 else max(remaining * callers_time.ANSWER_RECORD_SHARE, 0.0))
    for write in done:
        write.result()


def _name_the_provider(error: ServiceError, access: Access) -> str | None:
    """A provider endpoint that does not answer is named by its department and resource (the caller learns who
    does not provide, Art. 24), never by its address (an internal one, which callers are not told). When it is
    the platform's own foundation service, the platform is named: the department runs no endpoint for it, and
    a caller told that the department "does not answer" would chase a department that can do nothing.
    The cause the access record keeps instead of PROVIDER_UNAVAILABLE when the failure was not the department's
    (supervision does not count it against the department): FOUNDATION_UNAVAILABLE for the platform's service,
    CANCELLED when the caller's deadline came before the provider's answer (the cause it had when that deadline
    ended the call; the endpoint's guard does not count it either); else None."""
    metadata = dict(error.metadata)
    platform = bool(metadata.pop(PLATFORM_ENDPOINT, ""))
    # Not answered by the caller's deadline, before its own timeout: a longer deadline may be answered.
    in_callers_time = bool(metadata.pop(CALLERS_DEADLINE, ""))
    advice = " within this call's deadline: try again later, or with a longer deadline" if in_callers_time \
        else ": try again later"
    error.metadata = metadata
    if platform:
        error.message = (f"the platform's foundation data service does not answer for resource "
                         f"{clean(access.resource_code, 64)} (of provider department "
                         f"{access.provider_department_code}){advice}")
        return audit.FOUNDATION_UNAVAILABLE
    error.message = (f"the provider department {access.provider_department_code} does not answer for resource "
                     f"{clean(access.resource_code, 64)}{advice}")
    return audit.CANCELLED if in_callers_time else None


def _sent(record: object) -> bool:
    """Whether a batch's key has a record to send: found, and neither UNREADABLE nor Unanswered."""
    return record is not None and record is not UNREADABLE and not isinstance(record, Unanswered)


def _unanswered(records: Mapping[str, object], access: Access) -> tuple[str, str] | None:
    """What a batch's key its provider did not answer is told (records.Unanswered), as a Query of it is refused:
    the department or the platform's service named, never its address; and the cause the access record keeps, as
    a failed Query's does (PROVIDER_UNAVAILABLE, or FOUNDATION_UNAVAILABLE / CANCELLED when not the department's).
    None when every key was answered."""
    unanswered = next((record for record in records.values() if isinstance(record, Unanswered)), None)
    if unanswered is None:
        return None
    error = dataclasses.replace(unanswered.error, metadata=dict(unanswered.error.metadata))
    cause = _name_the_provider(error, access) or error.reason
    return f"{error.message} (this key was not answered; the batch's other keys were)", cause


def _unreadable_message(access: Access, which: str = " for this key") -> str:
    """A record the provider's database cannot send: whose it is to fix, and that retrying will not help (the
    message names no key, as RECORD_NOT_FOUND's does not)."""
    return (f"the provider department {access.provider_department_code} holds a record of "
            f"{clean(access.resource_code, 64)}{which} that its database cannot send (a value not valid in "
            "its encoding, say): the department must fix the row; other records answer")


def _decision_key(caller: Caller, resource: Resource, purpose: int, items: tuple[str, ...],
                  method: int) -> DecisionKey:
    """The question an access's decision answers (its key in the decision cache)."""
    return (caller.system_id, caller.department_code, resource.code, purpose, items, method)


def _as_of(record: provider_pb2.Record) -> timestamp_pb2.Timestamp | None:
    """The record's as-of time, None when its provider gives none (a 前置机's row whose as_of_column is NULL).

    Passed on as it was, the absent time became a present one of 1970-01-01T00:00:00Z in the answer's provenance:
    a record nobody dated said to be true as of the epoch."""
    return record.as_of_time if record.HasField("as_of_time") else None


def _export_stopped(error: ServiceError, access: Access, sent: int) -> None:
    """An export the provider stopped after it was recorded: the caller is told who stopped it and how far it got,
    as a failed query is (never the endpoint's internal address), with the export's audit id."""
    if error.reason == "PROVIDER_UNAVAILABLE":
        _name_the_provider(error, access)
    elif error.reason == "RECORD_UNREADABLE":
        error.message = _unreadable_message(access, which="")
    else:
        return
    error.message += f" (the export stopped after {sent} rows)"
    error.metadata = {**error.metadata, "audit_id": access.id}


#: Why an export stopped whose process stalled past its lease (_record_export_keys).
LEASE_LAPSED = "LEASE_LAPSED"


async def _record_export_keys(deps: Dependencies, access: Access, resource: Resource, page: Sequence[Any],
                              sent_keys: audit.SentKeys, lease: dt.datetime | None) -> None:
    """Before a page leaves, whose records it holds, when they are a person's or an entity's: the persons' view
    lists the export among the accesses to each (ListSubjectAccesses). A page whose keys cannot be written is
    not sent, as an access that cannot be recorded is not answered. The keys kept are summed into ``sent_keys``,
    which the export's closing record vouches for (the table is outside the hash chain).

    ``lease``: when the lease the export began under was taken. This process stalled past it and another replica
    closed the export INTERRUPTED, vouching for the keys kept then: the page is not sent (ABORTED LEASE_LAPSED, its
    own closing record's reason, which the listings show before the presumed INTERRUPTED: it knows what left)."""
    if resource.key_kind in SUBJECT_KINDS and page:
        sent_keys.uncertain = True  # until the table says which it took
        kept = await deps.store.record_export_keys(access.id, access.time,
                                                   [resource.key(record.key) for record in page],
                                                   (deps.audit.name, lease) if lease is not None else None)
        if kept is None:
            raise ServiceError(grpc.StatusCode.ABORTED, LEASE_LAPSED,
                               "this query process stalled past its lease and another closed the export as "
                               "interrupted: nothing more is sent; export again")
        sent_keys.add(kept)
        sent_keys.uncertain = False


def _export_row(record: Any, key_rule: str | None, plan: projection.Plan, masker: Masker,
                disputed: bool) -> query_pb2.ExportRow:
    """One downloaded record: its granted items, masked by rule, and its key as the key item would be shown, beside
    them (a masked 公民身份号码 keeps no tail beside its holder's birth date in clear: projection.masked_beside)."""
    values = projection.project(record.values, plan, masker)[0]
    key = record.key if key_rule is None else projection.masked_beside(record.key, key_rule, values, masker)
    return query_pb2.ExportRow(key=key, values=values, as_of_time=_as_of(record), disputed=disputed)


class QueryServicer(DependentServicer, query_pb2_grpc.QueryServiceServicer):
    # --- the four RPCs ------------------------------------------------------------------------

    async def Query(self, request: query_pb2.QueryRequest, context: grpc.aio.ServicerContext
                    ) -> query_pb2.QueryResponse:
        return await self._answer(context, "Query", request, self._query, key=request.key, items=list(request.items))

    async def BatchQuery(self, request: query_pb2.BatchQueryRequest, context: grpc.aio.ServicerContext
                         ) -> query_pb2.BatchQueryResponse:
        return await self._answer(context, "BatchQuery", request, self._batch_query, key=str(len(request.keys)),
                                  keys=list(request.keys), items=list(request.items))

    async def Verify(self, request: query_pb2.VerifyRequest, context: grpc.aio.ServicerContext
                     ) -> query_pb2.VerifyResponse:
        # The items its record lists, at most MAX_ITEMS of them read (more are refused unread, _verify).
        return await self._answer(context, "Verify", request, self._verify, key=request.key,
                                  items=sorted(itertools.islice(request.claims, MAX_ITEMS)))

    async def Export(self, request: query_pb2.ExportRequest, context: grpc.aio.ServicerContext
                     ) -> AsyncIterator[query_pb2.ExportResponse]:
        deps, caller, access = await self._admitted(context, "Export", request, key="", items=list(request.items))
        lease = deps.audit.lease_taken  # before the export's record: the lease that covers it (_record_export_keys)
        _serving(deps, access)
        resource, key, began = await self._audited(deps, access,
                                                   self._prepare_export(deps, caller, request, access))
        # The export is recorded before any row leaves (its id travels in the initial metadata).
        await context.send_initial_metadata(((AUDIT_ID_HEADER, access.id),))
        masker = deps.masker
        sent = pages = skipped = 0
        sent_keys = audit.SentKeys()
        try:
            async for message in deps.providers.export(resource.target, resource.dataset):
                page, skipped = message.records, skipped + message.skipped
                if not page:  # every record of the provider's page left out: nothing to send
                    continue
                self._verifier.recheck(caller)  # a system disabled or rotated meanwhile gets no further page
                decision = await self._still_allowed(deps, key, sent, began)
                key_rule = projection.key_mask_rule(decision.plan, resource.key_item, resource.key_mask)
                # A downloaded record under an open dispute says so, as a query answer does (R-DSP-2): the rows
                # of a batch download went out unflagged, the value in doubt used as any other.
                disputed = await disputes.disputed_keys(deps.open_disputes, deps.resources.get, resource,
                                                        (record.key for record in page))
                await _record_export_keys(deps, access, resource, page, sent_keys, lease)
                response = query_pb2.ExportResponse(rows=[
                    _export_row(record, key_rule, decision.plan, masker, record.key in disputed) for record in page])
                # Counted as it is handed over: a page the caller's cancel cut on its way may have left.
                sent, pages = sent + len(page), pages + 1
                yield response
        except ServiceError as error:
            _export_stopped(error, access, sent)
            closing = audit.export_end(access, sent, pages, error, sent_keys)
            if not sent and access.counted is not None:
                # Ended before a row left: failed (its provider down) or refused (its system disabled, its grant
                # revoked, narrowed or expired meanwhile). Unanswered, as a failed or refused Query is, so the call
                # goes back to the grant's quota: a refused one stayed counted, and the department's other systems,
                # which share the grant, lost a call nobody received anything of.
                await deps.quotas.give_back(*access.counted)
            deps.audit.submit_detached(closing)
            raise
        except BaseException as error:
            # The caller went away (its cancel, its deadline: CancelledError, or the stream closed under us), or
            # a bug: the export's closing record says so, and how far it got, without waiting for it.
            deps.audit.submit_detached(audit.export_end(access, sent, pages, error, sent_keys))
            raise
        # Whole: recorded as such before the caller is told (an export's opening record said ANSWERED before any
        # row left, and cannot say how it ended), and said in the body too, for REST clients that cannot read the
        # trailers' grpc-status (the transcoder closes the JSON array as cleanly after a failure as after the
        # last row). The records the provider could not send are counted there: an export missing them is not the
        # whole resource.
        await deps.audit.record(audit.export_end(access, sent, pages, None, sent_keys))
        yield query_pb2.ExportResponse(complete=True, row_count=sent, skipped_count=skipped)

    async def NotifyRecordsChanged(self, request: query_pb2.NotifyRecordsChangedRequest,
                                   context: grpc.aio.ServicerContext) -> query_pb2.NotifyRecordsChangedResponse:
        """A provider department's change notice: drops the named records (or the whole dataset) from Redis and
        every replica's memory, the invalidation the foundation service makes after a load."""
        deps, caller = self._begin(context)
        violations: list[FieldViolation] = []
        if len(request.keys) > MAX_BATCH_KEYS:
            violations.append(FieldViolation("keys", too_many_keys(len(request.keys))))
        if request.all_records and request.keys:
            violations.append(FieldViolation("keys", "give keys or all_records, not both"))
        if not request.all_records and not request.keys:
            violations.append(FieldViolation("keys", "name the changed keys, or set all_records"))
        scratch = Access(operation="", system_id="", department_code="", resource_code="", key="", keys=[],
                         items=[], purpose="", purpose_text="", trace_id="", time=dt.datetime.now(dt.UTC))
        resource = await self._resource(deps, request.resource_code, violations, scratch)

        async def record(event: AdminEvent) -> None:
            await deps.store.record_admin_event(event)
            deps.admin_outbox.notify()

        # A refused notice (another department, a person who is not the provider's 编目员) is logged with who sent
        # it: it would have dropped another department's records from every replica (R-SEC-3).
        async with refusals_logged(record, caller, "query.notify_records_changed", resource.code):
            if not caller.department_code or caller.department_code != resource.provider_department_code:
                raise permission_denied("NOT_PROVIDER", f"only the provider department of {resource.code} may say "
                                                        "its records changed")
            # Of the provider's persons, its 编目员, who loads the data: a notice drops the records from every
            # replica's cache (all_records a whole dataset), which the department's 申请人 or 审批人 could do at
            # will.
            duties.require_role(caller, duties.DATA_OFFICER, f"say that records of {resource.code} changed",
                                resource.provider_department_code)
        if deps.sessions is not None:  # an ended session's notice, its end not yet heard here (Redis lost it)
            await deps.sessions.still_theirs(caller, record, "query.notify_records_changed", resource.code)
        keys = [resource.key(key) for key in request.keys[:MAX_BATCH_KEYS]]
        for index, key in enumerate(keys):
            problem = key_error(resource.key_kind, key)
            if problem is not None:
                violations.append(FieldViolation(f"keys[{index}]", problem))
        if violations:
            raise invalid_argument(violations)
        if request.all_records:
            await deps.records.forget_dataset(resource.target, resource.dataset)
            return query_pb2.NotifyRecordsChangedResponse()
        unique = list(dict.fromkeys(keys))
        await deps.records.forget(resource.target, resource.dataset, unique)
        return query_pb2.NotifyRecordsChangedResponse(keys_dropped=len(unique))

    async def _answer(self, context: grpc.aio.ServicerContext, operation: str, request: Q,
                      step: Callable[[Dependencies, Caller, Q, Access], Awaitable[A]], key: str, items: list[str],
                      keys: list[str] | None = None) -> A:
        """A unary call: authenticate, run ``step`` audited, and reply citing the audit record."""
        deps, caller, access = await self._admitted(context, operation, request, key=key, items=items, keys=keys)
        _serving(deps, access)
        response = await self._audited(deps, access, step(deps, caller, request, access))
        response.audit_id = access.id
        return response

    # --- steps --------------------------------------------------------------------------------

    async def _query(self, deps: Dependencies, caller: Caller, request: query_pb2.QueryRequest,
                     access: Access) -> query_pb2.QueryResponse:
        violations = _purpose_violations(request.purpose)
        resource = await self._resource(deps, request.resource_code, violations, access)
        key = access.key = resource.key(request.key)  # a refusal is listed as its person's too
        problem = key_error(resource.key_kind, key)
        if problem is not None:
            violations.append(FieldViolation("key", problem))
        items = _items(request.items, resource, violations)
        if violations:
            raise invalid_argument(violations)
        seen = deps.decisions.generation
        decision = await self._decide(deps, caller, resource, request.purpose.type, items, ONLINE_QUERY, access)
        record = await deps.records.get(resource.target, resource.dataset, key)
        decision = await self._still_in_force(deps, caller, resource, request.purpose.type, items, ONLINE_QUERY,
                                              access, decision, seen)
        if record is None:
            # The message names no key: error texts end up in callers' logs.
            raise not_found(f"a record of {resource.code} for this key", reason="RECORD_NOT_FOUND")
        values, masked = projection.project(record.values, decision.plan, deps.masker)
        access.result = audit.ANSWERED
        return query_pb2.QueryResponse(values=values, masked_items=masked,
                                       provenance=await self._provenance(deps, resource, key, record))

    async def _batch_query(self, deps: Dependencies, caller: Caller, request: query_pb2.BatchQueryRequest,
                           access: Access) -> query_pb2.BatchQueryResponse:
        violations = _purpose_violations(request.purpose)
        if not request.keys:
            violations.append(FieldViolation("keys", "give at least one key"))
        elif len(request.keys) > MAX_BATCH_KEYS:
            violations.append(FieldViolation("keys", too_many_keys(len(request.keys))))
        resource = await self._resource(deps, request.resource_code, violations, access)
        items = _items(request.items, resource, violations)
        kind = resource.key_kind
        # Recorded as read before any refusal: the persons' view finds a refused batch by its keys as typed
        # (blank-padded, full width) as it finds an answered one.
        keys = access.keys = [resource.key(key) for key in request.keys]
        if violations:
            raise invalid_argument(violations)
        errors = [key_error(kind, key) for key in keys]
        valid = list(dict.fromkeys(key for key, error in zip(keys, errors, strict=True) if error is None))
        seen = deps.decisions.generation
        decision = await self._decide(deps, caller, resource, request.purpose.type, items, ONLINE_QUERY, access,
                                      calls=len(valid))
        records = await deps.records.get_many(resource.target, resource.dataset, valid) if valid else {}
        decision = await self._still_in_force(deps, caller, resource, request.purpose.type, items, ONLINE_QUERY,
                                              access, decision, seen)
        response = query_pb2.BatchQueryResponse()
        unreadable, not_answered = _unreadable_message(access), _unanswered(records, access)
        unanswered = not_answered[0] if not_answered is not None else None
        errors = [error or (unreadable if (record := records.get(key)) is UNREADABLE
                            else unanswered if isinstance(record, Unanswered) else None)
                  for key, error in zip(keys, errors, strict=True)]
        disputed = await disputes.disputed_keys(deps.open_disputes, deps.resources.get, resource,
                                                [key for key, record in records.items() if _sent(record)])
        masked = self._fill_batch(deps, resource, decision, request.keys, keys, errors, records, disputed,
                                  response.results)
        response.masked_items.extend(_masked_in_plan_order(decision, masked))
        _within_one_reply(response, len(request.keys))
        found = any(_sent(record) for record in records.values())
        # A batch whose only records could not be sent was not answered: FAILED, as a Query of one of them is.
        failed = not found and any(record is UNREADABLE for record in records.values())
        access.result = (audit.ANSWERED if found else audit.FAILED if failed else audit.NOT_FOUND if valid
                         else audit.INVALID)
        if failed:
            access.deny_reason = "RECORD_UNREADABLE"
        elif found:
            # Partly answered: the keys its provider did not answer (or could not send) are the provider's failure,
            # kept as a failed Query's cause is, so the access log says so and supervision counts it against the
            # department (figures._count_failure); a batch answered whole keeps none.
            if not_answered is not None:
                access.deny_reason = not_answered[1]
            elif any(record is UNREADABLE for record in records.values()):
                access.deny_reason = "RECORD_UNREADABLE"
            if access.counted is not None:
                await _give_back_unsent(deps, access, sum(record is UNREADABLE or isinstance(record, Unanswered)
                                                          for record in records.values()))
        return response

    @staticmethod
    def _fill_batch(deps: Dependencies, resource: Resource, decision: Decision, given_keys: Sequence[str],
                    keys: list[str], errors: list[str | None], records: Mapping[str, provider_pb2.Record | None],
                    disputed: set[str], results: Any) -> set[str]:
        """Adds one result per requested key, built in place in the reply (a batch is up to 1,000 of them:
        constructing each result and copying it into the reply doubled the work); returns the items masked.
        ``disputed``: the keys whose record has an open dispute (disputes.disputed_keys)."""
        plan, masker, project = decision.plan, deps.masker, projection.project
        provider = resource.provider_department_code
        masked: set[str] = set()
        for given, key, error in zip(given_keys, keys, errors, strict=True):
            result = results.add()
            result.key = given
            record = None if error is not None else records.get(key)
            if record is None:
                if error:
                    result.error = error
                continue
            result.found = True
            values, masked_here = project(record.values, plan, masker)
            if masked_here:
                masked.update(masked_here)
            result.values.update(values)
            provenance = result.provenance
            provenance.provider_department_code = provider
            if record.HasField("as_of_time"):  # a provider's record nobody dated has none (_as_of)
                provenance.as_of_time.CopyFrom(record.as_of_time)
            if key in disputed:
                provenance.disputed = True
        return masked

    async def _verify(self, deps: Dependencies, caller: Caller, request: query_pb2.VerifyRequest,
                      access: Access) -> query_pb2.VerifyResponse:
        violations = _purpose_violations(request.purpose)
        if not request.claims:
            violations.append(FieldViolation("claims", "claim at least one item value"))
        resource = await self._resource(deps, request.resource_code, violations, access)
        key = access.key = resource.key(request.key)  # a refusal is listed as its person's too
        problem = key_error(resource.key_kind, key)
        if problem is not None:
            violations.append(FieldViolation("key", problem))
        if (sent := claims_sent(request)) > MAX_ITEMS:  # read with MAX_ITEMS of them, the rest never (READ_VERIFY)
            raise invalid_argument([*violations, FieldViolation("claims", f"claim at most {MAX_ITEMS} items (no "
                                                                f"entry has more); this call claims {sent}")])
        claims = dict(request.claims)
        refused_claims = _claim_violations(claims, resource)
        if violations or refused_claims:
            # By item name: a map's order is none (each process its own), so the same request was refused with
            # its claims in another order, and another 24 of them named, at every call. Sorted on refusal only.
            raise invalid_argument([*violations, *sorted(refused_claims, key=lambda violation: violation.field)])
        items = tuple(sorted(claims))
        seen = deps.decisions.generation
        decision = await self._decide(deps, caller, resource, request.purpose.type, items, ONLINE_QUERY, access,
                                      required=items, answers_values=False)
        record = await deps.records.get(resource.target, resource.dataset, key)
        await self._still_in_force(deps, caller, resource, request.purpose.type, items, ONLINE_QUERY, access,
                                   decision, seen, required=items, answers_values=False)
        outcomes = projection.verify(claims, record.values if record is not None else None, resource.numeric_items,
                                     resource.upper_case_items, resource.date_items, resource.numeric_units,
                                     resource.citizen_id_items, resource.logical_items, resource.datetime_items,
                                     resource.ethnicity_items, resource.phone_items, resource.sex_items,
                                     resource.entity_status_items)
        access.result = audit.ANSWERED if record is not None else audit.NOT_FOUND
        return query_pb2.VerifyResponse(outcomes=outcomes,
                                        provenance=await self._provenance(deps, resource, key, record))

    async def _prepare_export(self, deps: Dependencies, caller: Caller, request: query_pb2.ExportRequest,
                              access: Access) -> tuple[Resource, DecisionKey, Decision]:
        """The resource to export, the question its decision answers and the decision it began under, once the
        export is allowed (its quota counted once)."""
        violations = _purpose_violations(request.purpose)
        resource = await self._resource(deps, request.resource_code, violations, access)
        items = _items(request.items, resource, violations)
        if violations:
            raise invalid_argument(violations)
        began = await self._decide(deps, caller, resource, request.purpose.type, items, BATCH_DOWNLOAD, access)
        access.result = audit.ANSWERED
        return resource, _decision_key(caller, resource, request.purpose.type, items, BATCH_DOWNLOAD), began

    @staticmethod
    async def _still_allowed(deps: Dependencies, key: DecisionKey, sent: int, began: Decision) -> Decision:
        """The export's decision asked again before each page, as every query asks it (a dict lookup until a grant
        change event or the decision's expiry drops it): a download under way must not outlive its grant, revoked
        or expired meanwhile (R-APP-4: a revocation takes effect at once), and a narrowed grant narrows the rest.

        An export naming no items that began under a grant is decided, once no grant serves it, as "the basic items
        every department gets" (allowed): it went on with those alone, its rows unlike the first ones, and ended
        complete, the caller told nothing. It is asked for the items it began with, whose refusal says why.

        One naming basic items alone (a 社保卡号 the catalog masks) that a grant gave whole (its unmasked_items) went
        on the same way, the numbers masked from the next page on, once that grant was revoked or expired: it ends
        with the reason the decision for every item gives (why no grant serves more than the basic items). A grant
        narrowed meanwhile (its unmasked_items) narrows the rows still to come, as the grant says."""
        decision = await deps.decisions.get(key)
        if decision.allowed and began.grant_id and not decision.grant_id:
            if not key[4]:
                decision = await deps.decisions.get((*key[:4], tuple(sorted(began.allowed_items)), key[5]))
            elif (everything := await deps.decisions.get((*key[:4], (), key[5]))).basic_only_reason:
                raise permission_denied(everything.basic_only_reason, f"{everything.message} (the export stopped "
                                        f"after {sent} rows)")
            elif everything.grant_id and everything.grant_id != began.grant_id:
                # Another grant of the department gives more than the basic items, so the question above finds
                # a grant and says no reason: whether the one begun under still serves is asked without it.
                await _under_its_grant(deps, (*key[:4], (), key[5]), sent, began, everything)
        if not decision.allowed:
            raise permission_denied(decision.deny_reason, f"{decision.message or 'access denied'} (the export "
                                    f"stopped after {sent} rows)")
        if began.grant_id and decision.grant_id and decision.grant_id != began.grant_id:
            return await _under_its_grant(deps, key, sent, began, decision)
        return decision

    async def _resource(self, deps: Dependencies, code: str, violations: list[FieldViolation],
                        access: Access) -> Resource:
        """The entry ``code`` names; raises with every violation found so far when it cannot be had."""
        if not valid_resource_code(code):
            violations.append(FieldViolation("resource_code", resource_code_problem(code)))
            raise invalid_argument(violations)
        resource = await deps.resources.get(code)
        if resource is None:
            if violations:
                raise invalid_argument(violations)
            raise not_found(f"resource {code}", reason="RESOURCE_NOT_FOUND")
        access.provider_department_code = resource.provider_department_code
        if not resource.dataset:
            raise failed_precondition("NO_PROVIDER_ENDPOINT", f"{code} names no provider dataset to read from")
        return resource

    async def _decide(self, deps: Dependencies, caller: Caller, resource: Resource, purpose: int,
                      items: tuple[str, ...], method: int, access: Access, calls: int = 1,
                      required: Iterable[str] = (), answers_values: bool = True) -> Decision:
        """The allowing decision for this access, or PERMISSION_DENIED saying why (R-SEC-2). ``answers_values``
        False (a verification, whose answer is match or not): a request of basic items alone is answered as without
        a grant — the grant a query of them is answered under only unmasks them, which a verification does not
        need, and counting it spent the grant's quota on calls every department may make without one."""
        if caller.is_person:
            raise permission_denied(SYSTEM_REQUIRED, SYSTEM_REQUIRED_MESSAGE)
        if not caller.department_code:
            raise permission_denied("NOT_GRANTED", "data is shared with departments: call through the business "
                                                   "system of one")
        if not resource.published:
            raise permission_denied("NOT_PUBLISHED", f"{resource.code} is not published in the catalog")
        if not resource.servable_here:
            raise permission_denied("WRONG_ZONE", f"{resource.code} is not served on this network (R-ZON-2)")
        key = _decision_key(caller, resource, purpose, items, method)
        decision = await deps.decisions.get(key)
        if not decision.allowed:
            raise permission_denied(decision.deny_reason, decision.message or f"access to {resource.code} denied",
                                    **_denied(decision.denied_items))
        allowed = decision.allowed_items
        missing = [item for item in required if item not in allowed]
        if missing:
            raise permission_denied("ITEM_NOT_GRANTED", f"not granted: {', '.join(missing)}", **_denied(missing))
        if not answers_values and decision.grant_id and resource.basic_items.issuperset(items):
            access.items, access.grant_id = decision.allowed_items, ""
            return decision
        if decision.quota > 0 and calls > 0:
            decision = await _counted(deps, key, decision, calls)
            access.counted = (decision.grant_id, calls)
        elif decision.grant_id and calls > 0:
            # Counted without waiting: a quota its provider sets later counts the calls of the grant's whole term.
            deps.quotas.tally(decision.grant_id, calls)
            access.counted = (decision.grant_id, calls)
        # The grant the (cached) decision names, counted or not: an attribute the record carries, no lookup.
        access.items, access.grant_id = decision.allowed_items, decision.grant_id
        return decision

    @staticmethod
    async def _still_in_force(deps: Dependencies, caller: Caller, resource: Resource, purpose: int,
                              items: tuple[str, ...], method: int, access: Access, decision: Decision, seen: int,
                              required: Iterable[str] = (), answers_values: bool = True) -> Decision:
        """``decision`` when no grant or catalog change was heard since ``seen`` (DecisionCache.generation, read
        before it was asked), else the decision asked again, or PERMISSION_DENIED saying why, nothing of the record
        sent. A record read from a department's 前置机 takes up to its timeout: a grant revoked meanwhile (the
        provider's 审批人 told it was revoked, the holder's decisions dropped) was still answered under, the values
        leaving after the revocation (R-APP-4: it takes effect at once), and a grant narrowed meanwhile answered as
        it was. The hot path pays one comparison; the decision is asked again only after such a change."""
        if deps.decisions.generation == seen:
            return decision
        again = await deps.decisions.get(_decision_key(caller, resource, purpose, items, method))
        while_read = "(decided again once the record was read, a grant or catalog change having come meanwhile: " \
                     "nothing of the record was sent)"
        missing = [item for item in required if item not in again.allowed_items]
        if (not again.allowed or missing) and access.counted is not None:
            # Nothing is sent: the calls counted against the grant (still live when narrowed) are given back, as a
            # retry under the grant as it now stands counts them again.
            await deps.quotas.give_back(*access.counted)
            access.counted = None
        if not again.allowed:
            raise permission_denied(again.deny_reason, f"{again.message or f'access to {resource.code} denied'} "
                                    f"{while_read}", **_denied(again.denied_items))
        if missing:
            raise permission_denied("ITEM_NOT_GRANTED", f"not granted: {', '.join(missing)} {while_read}",
                                    **_denied(missing))
        if answers_values:
            # Answered as the grant now says (a narrowed one gives fewer items, or masks them); the call stays
            # counted against the grant it was counted against.
            access.items, access.grant_id = again.allowed_items, again.grant_id or access.grant_id
        return again

    @staticmethod
    async def _provenance(deps: Dependencies, resource: Resource, key: str,
                          record: provider_pb2.Record | None) -> common_pb2.Provenance:
        # Almost no record has an open dispute: one dict lookup decides, with no coroutine made on the cache-hit path.
        disputed = bool(deps.open_disputes.resources_of(key)) and key in await disputes.disputed_keys(
            deps.open_disputes, deps.resources.get, resource, (key,))
        return common_pb2.Provenance(provider_department_code=resource.provider_department_code,
                                     as_of_time=_as_of(record) if record is not None else None,
                                     disputed=disputed)

    # --- audit --------------------------------------------------------------------------------

    async def _admitted(self, context: grpc.aio.ServicerContext, operation: str,
                        request: Q | query_pb2.ExportRequest, key: str, items: list[str],
                        keys: list[str] | None = None) -> tuple[Dependencies, Caller, Access]:
        """The verified caller and its access record, once its system may call: a token of a disabled system, or
        one older than its system's secret rotation, names who tried (its signature verifies) and is refused
        UNAUTHENTICATED as before, but audited first (DENIED, CREDENTIALS_REVOKED): the attempts of a system
        the authority shut off, with a token it still held, left no record at all."""
        caller = self._verifier.from_context(context, check=False)
        deps = self.deps
        if deps is None:
            raise ServiceError(grpc.StatusCode.UNAVAILABLE, "STARTING", "the query service is starting")
        access = self._access(caller, operation, request.resource_code, request.purpose, key=key, items=items,
                              keys=keys)
        try:
            self._verifier.recheck(caller)
        except ServiceError as error:
            if error.code != grpc.StatusCode.UNAUTHENTICATED:
                raise
            access.fail(error)  # DENIED, CREDENTIALS_REVOKED
            await deps.audit.record(access)
            error.metadata = {**error.metadata, "audit_id": access.id}
            raise
        return deps, caller, access

    @staticmethod
    def _access(caller: Caller, operation: str, resource_code: str, purpose: common_pb2.Purpose, key: str,
                items: list[str], keys: list[str] | None = None) -> Access:
        return Access(
            operation=operation, system_id=caller.system_id, department_code=caller.department_code,
            resource_code=resource_code, key=key, keys=keys or [], items=items,
            purpose=purpose_name(purpose.type), purpose_text=purpose.text, trace_id=_trace_id(),
            time=dt.datetime.now(dt.UTC))

    @staticmethod
    async def _audited(deps: Dependencies, access: Access, work: Awaitable[R]) -> R:
        """The result of ``work``, released only once the call's audit record (``access.id``) is durable."""
        try:
            result = await work
        except asyncio.CancelledError:
            # The caller went away: still record the call, without waiting for it.
            access.cancelled()
            deps.audit.submit_detached(access)
            raise
        except Exception as error:
            cause = None
            # Its provider, or the authorization service, had not answered by the caller's deadline, nearly come.
            late = isinstance(error, ServiceError) and (bool(error.metadata.get(CALLERS_DEADLINE))
                                                        or error.message in (NO_DECISION_IN_TIME, NO_ENTRY_IN_TIME))
            if isinstance(error, ServiceError) and error.reason == "PROVIDER_UNAVAILABLE":
                cause = _name_the_provider(error, access)
            elif isinstance(error, ServiceError) and error.reason == "RECORD_UNREADABLE":
                error.message = _unreadable_message(access)
            access.fail(error)
            if cause is not None:
                access.deny_reason = cause
            if late:
                await _record_refusal_in_callers_time(deps, access)
            else:
                if access.counted is not None and access.result == audit.FAILED:
                    await deps.quotas.give_back(*access.counted)  # unanswered: a retry must not count it again
                await deps.audit.record(access)
            if isinstance(error, ServiceError):
                # Refusals cite their audit record too (ErrorInfo.metadata["audit_id"]).
                error.metadata = {**error.metadata, "audit_id": access.id}
            raise
        if access.counted is not None and access.result == audit.FAILED:
            # Replied to, yet unanswered: a BatchQuery whose only records the provider could not send. A Query of one
            # of them gives its call back (above); the batch kept its keys counted, so a department spent its quota
            # on answers it never got. Given back once (a failed record below does not give it again).
            await deps.quotas.give_back(*access.counted)
            access.counted = None
        try:
            await deps.audit.record(access)
        except asyncio.CancelledError:
            # Ended while its record waited (a PostgreSQL slow to take it): the record says it was not answered,
            # and the call it counted against its grant's quota is given back, as the retry will count again.
            if deps.audit.withdraw(access) and access.counted is not None:
                deps.quotas.give_back_detached(*access.counted)
            raise
        except ServiceError:
            # Not recorded, so not answered (AUDIT_UNAVAILABLE: the trail's database down or its disk full): the
            # retry the refusal asks for must not count the call again.
            if access.counted is not None:
                await deps.quotas.give_back(*access.counted)
            raise
        return result
