"""govshare.foundation.v1.FoundationAdminService: protobuf <-> the loader and the store.

Loads, conflict curation, record history, the dataset list and the authority's
designation of sources. Every request is checked whole first, so a caller learns every
problem of a request in one INVALID_ARGUMENT.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

import grpc

from govshare.foundation.v1 import foundation_pb2 as pb
from govshare.foundation.v1 import foundation_pb2_grpc
from services.foundation.datasets import DATASETS, Dataset, find_dataset
from services.foundation.loading import MAX_RECORDS, Loader, LoadRow
from services.foundation.registry import SourceRegistry
from services.foundation.sources import DatasetSources, sees_authoritative_value
from services.foundation.store import Conflict, FoundationStore, StoredRecord
from services.foundation.validation import ValueProblem, china_today
from services.runtime import duties
from services.runtime.actors import actor_pb
from services.runtime.admin_events import AdminEvent, refusals_logged
from services.runtime.duties import ADMINISTRATOR, APPROVER, DATA_OFFICER, REVIEWER
from services.runtime.errors import (
    FieldViolation,
    ServiceError,
    invalid_argument,
    invisible_character,
    not_found,
    permission_denied,
    unauthenticated,
)
from services.runtime.identifiers import credit_code_error
from services.runtime.identity import AssertionVerifier, Caller
from services.runtime.pagination import NOT_ISSUED, decode_token, encode_token, page_size
from services.runtime.person_sessions import PersonSessions
from services.runtime.timestamps import from_timestamp, timestamp_problem, to_timestamp

MAX_NOTE = 1000
MAX_ID = 2**63 - 1  # conflict ids are bigint


def _collect(violations: list[FieldViolation], check: Callable[[], object]) -> object:
    """Runs a runtime check that raises INVALID_ARGUMENT, adding its violations to the request's."""
    try:
        return check()
    except ServiceError as error:
        if error.code != grpc.StatusCode.INVALID_ARGUMENT or error.reason != "INVALID_ARGUMENT":
            raise  # its own reason (a page token of other filters) says what to do
        violations.extend(error.violations)
        return None


def identified(caller: Caller) -> Caller:
    """Refuses the gateway's anonymous placeholder (no department, not a platform service)."""
    if not caller.department_code and not caller.is_service:
        raise unauthenticated("a bearer token is required: get one with TokenService.IssueToken")
    return caller


#: The persons who may read a record's history: the source's 编目员, who loads the records and resolves their
#: conflicts, and its 审批人, who answers the disputes about them; at the authority, also its 审核员, who
#: coordinates. A person's other roles (申请人, 审计员, 管理员) decide nothing about a record's values.
HISTORY_READERS = (DATA_OFFICER, APPROVER, REVIEWER)
#: The persons who read conflicts (each names a record by its key and shows its values, unmasked): those who read
#: its history, for the same reasons (the 编目员 resolves them).
CONFLICT_READERS = HISTORY_READERS


def _history_refusal(caller: Caller, authoritative: str | None, dataset: str) -> ServiceError | None:
    """Why ``caller`` may not read a record's whole history (every version, unmasked), or None.

    The department check alone let every person of the source or of the authority read it, whatever their
    roles: a 申请人 of the 公安局, the authority's 管理员 or 审计员 read any citizen's full record from a
    console session."""
    if not caller.authority and caller.department_code != authoritative:
        return permission_denied("NOT_AUTHORITATIVE_SOURCE",
                                 f"only the authoritative source of {dataset} or the authority sees history")
    try:
        duties.require_role(caller, HISTORY_READERS, f"read the history of a {dataset} record")
    except ServiceError as error:
        return error
    return None


def source_department(caller: Caller, requested: str, violations: list[FieldViolation]) -> str:
    """Whose values a load asserts: the authority may load for any department, others only as themselves."""
    if caller.authority:
        if requested:
            error = credit_code_error(requested)
            if error:
                violations.append(FieldViolation("source_department_code", error))
            return requested
        if not caller.department_code:
            violations.append(FieldViolation("source_department_code", "required for callers without a department"))
        return caller.department_code
    if requested and requested != caller.department_code:
        raise permission_denied("NOT_YOUR_DEPARTMENT",
                                f"department {caller.department_code} loads records only as itself")
    return caller.department_code


def _load_row(record: pb.RecordInput) -> LoadRow:
    if not record.HasField("as_of_time"):
        return LoadRow(dict(record.values))
    problem = timestamp_problem(record.as_of_time)
    if problem is not None:
        return LoadRow(dict(record.values), None, (f"as_of_time: {problem}",))
    return LoadRow(dict(record.values), from_timestamp(record.as_of_time, "as_of_time"))


def conflict_message(conflict: Conflict, caller: Caller) -> pb.Conflict:
    """The conflict as ``caller`` may see it: the authoritative value only for the item's source and the authority."""
    shown = sees_authoritative_value(caller, conflict.authoritative_department_code)
    return pb.Conflict(
        id=conflict.id, dataset=conflict.dataset, key=conflict.key, item=conflict.item,
        authoritative_value=conflict.authoritative_value if shown else "", authoritative_value_withheld=not shown,
        other_value=conflict.other_value, other_source_department_code=conflict.other_source_department_code,
        state=conflict.state, resolution=conflict.resolution, create_time=to_timestamp(conflict.create_time),
        authoritative_department_code=conflict.authoritative_department_code,
        resolved_by=actor_pb(conflict.resolved_by))


def sources_message(sources: DatasetSources) -> pb.DatasetSources:
    return pb.DatasetSources(
        dataset=sources.dataset, authoritative_department_code=sources.authority or "",
        item_authorities=[pb.ItemAuthority(item=item, department_code=code)
                          for item, code in sources.item_authorities.items()],
        sources=[pb.Source(department_code=s.department_code, register_time=to_timestamp(s.register_time))
                 for s in sources.sources],
        designations=[pb.Designation(
            id=d.id, action=d.action, item=d.item, department_code=d.department_code,
            previous_department_code=d.previous_department_code, actor_system_id=d.actor_system_id,
            actor_department_code=d.actor_department_code, create_time=to_timestamp(d.create_time))
            for d in sources.designations])


def designated_department(code: str, violations: list[FieldViolation]) -> str:
    """A department code named by the authority (checked like every 统一社会信用代码)."""
    code = code.strip()
    error = credit_code_error(code) if code else "required"
    if error:
        violations.append(FieldViolation("department_code", error))
    return code


def designated_item(dataset: Dataset | None, item: str, violations: list[FieldViolation]) -> str:
    """Empty (the whole dataset) or a non-key item of it (the key identifies the record: it has no source)."""
    if item and dataset is not None and item not in {i.name for i in dataset.non_key_items}:
        names = ", ".join(i.name for i in dataset.non_key_items)
        violations.append(FieldViolation("item", f"must be empty or one of {names}"))
    return item


def _dataset_and_source(request: pb.RegisterSourceRequest | pb.RetireSourceRequest) -> tuple[Dataset, str]:
    """The dataset and the department a source registration or retirement names, or INVALID_ARGUMENT naming each
    field that is wrong."""
    violations: list[FieldViolation] = []
    dataset = find_dataset(request.dataset, violations)
    department = designated_department(request.department_code, violations)
    if violations or dataset is None:
        raise invalid_argument(violations)
    return dataset, department


def _record_key(dataset: Dataset, typed: str) -> str:
    """The key as the dataset stores it; one a Chinese input method typed (３４２３…Ｘ, full width) is read as
    the ASCII code it stands for, as a query's key is (services/query/keys.py), when it is not valid as typed."""
    item = dataset.by_name[dataset.key_item]
    try:
        return str(item.parse(typed, china_today()))
    except ValueProblem:
        if typed.isascii():
            raise
        return str(item.parse(unicodedata.normalize("NFKC", typed).strip(), china_today()))


def _note(typed: str) -> str:
    """A conflict's note with its line breaks as LF: a client on Windows (a textarea's form, a REST call from a
    .NET program) sends CRLF, whose CR was refused as a control character in a note that may run over lines.

    The note is then checked for what nobody sees (services.runtime.errors.invisible_character) but its line breaks
    and tabs: ``str.isprintable`` refused a full-width space (全角空格, typed between a Chinese note's phrases)
    and an ideograph of a CJK extension newer than the server's Unicode data as control characters."""
    return typed.replace("\r\n", "\n").replace("\r", "\n")


def _history_position(token: str, violations: list[FieldViolation]) -> int | None:
    """The history row id a GetRecordHistory page token resumes before; None for the first page (which begins with
    the current version)."""
    position = _collect(violations, lambda: decode_token(token))
    if not isinstance(position, dict):
        return None
    before = position.get("before")
    if isinstance(before, bool) or not isinstance(before, int) or not 0 < before <= MAX_ID:
        violations.append(FieldViolation("page_token", NOT_ISSUED))
        return None
    return before


def _version(record: StoredRecord) -> pb.RecordVersion:
    return pb.RecordVersion(values=record.values, source_department_code=record.source_department_code,
                            as_of_time=to_timestamp(record.as_of_time),
                            recorded_time=to_timestamp(record.recorded_time))


def _dataset_target(name: str) -> str:
    """A logged refusal's target: the dataset's name when it is one, never text the caller made up."""
    return name if name in DATASETS else ""


class FoundationAdminServicer(foundation_pb2_grpc.FoundationAdminServiceServicer):
    def __init__(self, verifier: AssertionVerifier, loader: Loader, store: FoundationStore,
                 registry: SourceRegistry, recorded: Callable[[], None] = lambda: None,
                 sessions: Callable[[], PersonSessions | None] = lambda: None) -> None:
        """``recorded`` is called after a read wrote an administrative event (the outbox relay's notify);
        ``sessions`` gives what reads a person's session against their row (None until the process started, or
        for a service started alone)."""
        self._verifier = verifier
        self._loader = loader
        self._store = store
        self._registry = registry
        self._recorded = recorded
        self._sessions = sessions

    def _refusals_logged(self, caller: Caller, action: str, target: str) -> AbstractAsyncContextManager[None]:
        """Logs a refusal (PERMISSION_DENIED) of ``action`` on ``target`` (a dataset's name only when it is one),
        as a refused load of a department that is not a source is: a 审批人 loading data, another department than
        the authority registering or designating a source, the other source resolving a conflict, left no trace
        (R-SEC-3)."""

        async def record(event: AdminEvent) -> None:
            await self._store.record_admin_event(event)
            self._recorded()

        known = target in DATASETS or target.startswith("conflict/")
        return refusals_logged(record, caller, action, target if known else "")

    async def _still_theirs(self, caller: Caller, action: str, target: str) -> None:
        """Refuses a person's session ended while the announcement of the end has not reached this process
        (Redis lost it: the verifier learns of it at its reload, a minute later), before a load, a conflict's
        resolution or a change of the sources of theirs: one question to the authorization service, logged when
        refused."""
        if (sessions := self._sessions()) is not None:
            async def record(event: AdminEvent) -> None:
                await self._store.record_admin_event(event)
                self._recorded()

            await sessions.still_theirs(caller, record, action, target)

    async def LoadRecords(self, request: pb.LoadRecordsRequest, context: grpc.aio.ServicerContext
                          ) -> pb.LoadRecordsResponse:
        caller = identified(self._verifier.from_context(context))
        async with self._refusals_logged(caller, "foundation.load_records", request.dataset):
            duties.require_role(caller, DATA_OFFICER, "load data")
        await self._still_theirs(caller, "foundation.load_records", _dataset_target(request.dataset))
        violations: list[FieldViolation] = []
        dataset = find_dataset(request.dataset, violations)
        if len(request.records) > MAX_RECORDS:
            violations.append(FieldViolation("records", f"at most {MAX_RECORDS} per call, got {len(request.records)}"))
        source = source_department(caller, request.source_department_code, violations)
        if violations or dataset is None:
            raise invalid_argument(violations)
        outcome = await self._loader.load(dataset, source, [_load_row(r) for r in request.records], caller=caller)
        return pb.LoadRecordsResponse(
            accepted=outcome.accepted, conflicts=outcome.conflicts,
            kept_for_cross_checking=outcome.kept_for_cross_checking,
            rejected=[pb.RejectedRecord(index=r.index, key=r.key, reasons=r.reasons) for r in outcome.rejected])

    async def ListConflicts(self, request: pb.ListConflictsRequest, context: grpc.aio.ServicerContext
                            ) -> pb.ListConflictsResponse:
        caller = identified(self._verifier.from_context(context))
        violations: list[FieldViolation] = []
        dataset = find_dataset(request.dataset, violations) if request.dataset else None
        if request.state not in pb.ConflictState.values():
            violations.append(FieldViolation("state", "must be a ConflictState"))
        size = _collect(violations, lambda: page_size(request.page_size))
        position = _collect(violations, lambda: decode_token(request.page_token))
        after = position.get("after") if isinstance(position, dict) else 0
        if not isinstance(after, int) or not 0 <= after <= MAX_ID:
            violations.append(FieldViolation("page_token", "is not a token returned by a previous call"))
        if violations or not isinstance(size, int) or not isinstance(after, int):
            raise invalid_argument(violations)
        # A refused read is logged, as a refused read of a record's history is (the dataset's name only when it is
        # one: checked above).
        async with self._refusals_logged(caller, "foundation.list_conflicts", request.dataset):
            duties.require_role(caller, CONFLICT_READERS, "read conflicts between sources")
        viewer = None if caller.authority else caller.department_code
        conflicts = await self._store.list_conflicts(dataset.name if dataset else None, request.state or None,
                                                     after, size + 1, viewer)
        token = encode_token({"after": conflicts[size - 1].id}) if len(conflicts) > size else ""
        return pb.ListConflictsResponse(conflicts=[conflict_message(c, caller) for c in conflicts[:size]],
                                        next_page_token=token)

    async def ResolveConflict(self, request: pb.ResolveConflictRequest, context: grpc.aio.ServicerContext
                              ) -> pb.ResolveConflictResponse:
        caller = identified(self._verifier.from_context(context))
        violations: list[FieldViolation] = []
        if request.id <= 0:
            violations.append(FieldViolation("id", "must be the id of a conflict"))
        note = _note(request.note)
        if len(note) > MAX_NOTE:
            violations.append(FieldViolation("note", f"must be at most {MAX_NOTE} characters"))
        elif (hidden := invisible_character(note.replace("\n", " ").replace("\t", " "))) is not None:
            violations.append(FieldViolation("note", hidden))
        if violations:
            raise invalid_argument(violations)
        # Asked first: an ended session learns nothing of which conflicts exist either.
        await self._still_theirs(caller, "foundation.resolve_conflict", f"conflict/{request.id}")
        # A refusal comes only for a conflict the caller may see (others are NOT_FOUND): its id is the target.
        async with self._refusals_logged(caller, "foundation.resolve_conflict", f"conflict/{request.id}"):
            conflict = await self._loader.resolve(caller, request.id, request.adopt_other_value, note.strip())
        return pb.ResolveConflictResponse(conflict=conflict_message(conflict, caller))

    async def GetRecordHistory(self, request: pb.GetRecordHistoryRequest, context: grpc.aio.ServicerContext
                               ) -> pb.GetRecordHistoryResponse:
        """The current version first, then the superseded ones, newest first, a page at a time.

        Paged by the history row's id: the answer held the newest 1,000 superseded versions and said nothing of the
        older ones, though it was documented as a record's every version (a licence whose status a source changed
        daily for three years lost its first ones without a word)."""
        caller = identified(self._verifier.from_context(context))
        violations: list[FieldViolation] = []
        dataset = find_dataset(request.dataset, violations)
        size = _collect(violations, lambda: page_size(request.page_size))
        before = _history_position(request.page_token, violations)
        key = request.key.strip()
        if not key:
            violations.append(FieldViolation("key", "required"))
        elif dataset is not None:
            try:
                key = _record_key(dataset, key)
            except ValueProblem as problem:
                violations.append(FieldViolation("key", str(problem)))
        if violations or dataset is None or not isinstance(size, int):
            raise invalid_argument(violations)
        authority = await self._store.authoritative_department(dataset.name)
        if (refusal := _history_refusal(caller, authority, dataset.name)) is not None:
            # An attempt at a person's whole record is evidence too: who tried, on which dataset (never the key).
            await self._store.record_admin_event(AdminEvent.by(caller, "foundation.read_history", dataset.name,
                                                               result=refusal.reason))
            self._recorded()
            raise refusal
        current = await self._store.lookup(dataset.name, key) if before is None else None
        first = [current] if current else []
        # One row more than the page holds says whether another page follows.
        older = await self._store.history(dataset.name, key, before or MAX_ID, size - len(first) + 1)
        shown = older[:size - len(first)]
        versions = first + [version for _, version in shown]
        if not versions and before is None:
            raise not_found(f"a {dataset.name} record with this key")  # no key in error texts
        token = ""
        if len(first) + len(older) > size:
            token = encode_token({"before": shown[-1][0] if shown else MAX_ID})
        # A person's whole record, unmasked and with its past versions, leaves the platform only with who read it
        # in the administrative log (R-SEC-3), written before the answer: the dataset and the count, never the key.
        await self._store.record_admin_event(AdminEvent.by(caller, "foundation.read_history", dataset.name,
                                                           {"versions": len(versions)}))
        self._recorded()
        return pb.GetRecordHistoryResponse(versions=[_version(v) for v in versions], next_page_token=token)

    async def ListDatasets(self, request: pb.ListDatasetsRequest, context: grpc.aio.ServicerContext
                           ) -> pb.ListDatasetsResponse:
        identified(self._verifier.from_context(context))
        return pb.ListDatasetsResponse(datasets=[
            pb.Dataset(name=d.name, key_item=d.key_item, authoritative_department_code=d.authoritative_department_code,
                       record_count=d.record_count)
            for d in await self._store.datasets()])

    async def RegisterSource(self, request: pb.RegisterSourceRequest, context: grpc.aio.ServicerContext
                             ) -> pb.RegisterSourceResponse:
        caller = identified(self._verifier.from_context(context))
        async with self._refusals_logged(caller, "foundation.register_source", request.dataset):
            duties.require_role(caller, ADMINISTRATOR, "register sources")
            await self._still_theirs(caller, "foundation.register_source", _dataset_target(request.dataset))
            registered = await self._registry.register(caller, *_dataset_and_source(request))
        return pb.RegisterSourceResponse(sources=sources_message(registered))

    async def RetireSource(self, request: pb.RetireSourceRequest, context: grpc.aio.ServicerContext
                           ) -> pb.RetireSourceResponse:
        caller = identified(self._verifier.from_context(context))
        async with self._refusals_logged(caller, "foundation.retire_source", request.dataset):
            duties.require_role(caller, ADMINISTRATOR, "retire sources")
            await self._still_theirs(caller, "foundation.retire_source", _dataset_target(request.dataset))
            retired = await self._registry.retire(caller, *_dataset_and_source(request))
        return pb.RetireSourceResponse(sources=sources_message(retired))

    async def DesignateAuthoritativeSource(self, request: pb.DesignateAuthoritativeSourceRequest,
                                           context: grpc.aio.ServicerContext
                                           ) -> pb.DesignateAuthoritativeSourceResponse:
        caller = identified(self._verifier.from_context(context))
        action = "foundation.designate_item_source" if request.item else "foundation.designate_source"
        async with self._refusals_logged(caller, action, request.dataset):
            duties.require_role(caller, ADMINISTRATOR, "designate authoritative sources")
            await self._still_theirs(caller, action, _dataset_target(request.dataset))
            violations: list[FieldViolation] = []
            dataset = find_dataset(request.dataset, violations)
            item = designated_item(dataset, request.item, violations)
            department = designated_department(request.department_code, violations)
            if violations or dataset is None:
                raise invalid_argument(violations)
            designated = await self._registry.designate(caller, dataset, item, department)
        return pb.DesignateAuthoritativeSourceResponse(sources=sources_message(designated))

    async def ListSources(self, request: pb.ListSourcesRequest, context: grpc.aio.ServicerContext
                          ) -> pb.ListSourcesResponse:
        caller = identified(self._verifier.from_context(context))
        violations: list[FieldViolation] = []
        dataset = find_dataset(request.dataset, violations)
        if violations or dataset is None:
            raise invalid_argument(violations)
        sources = await self._registry.sources(caller, dataset, request.page_size, request.page_token)
        return pb.ListSourcesResponse(sources=sources_message(sources), next_page_token=(
            sources.next_position.token() if sources.next_position else ""))
