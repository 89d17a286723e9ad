"""govshare.provider.v1.ProviderService over the department's database: what the platform calls.

Every call is the platform's or nothing: the per-call assertion is verified first (signature with the
platform's public keys, this endpoint as audience, expiry, a jti never seen before), then the rate limit,
then the request. Keys are normalised and validated by the dataset's key kind with the platform's own rules
(services.query.keys), so a key the platform would refuse is INVALID_ARGUMENT here too and never reaches
SQL. Each call served leaves a line in the access log, and so does each call refused before it was served.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterator

import grpc

from frontproc.access_log import MAX_DATASET, NOT_SERVED_DATASET, AccessLog
from frontproc.config import FrontprocConfig, ResourceConfig
from frontproc.limits import RateLimit
from frontproc.store import DepartmentStore, Row
from govshare.provider.v1 import provider_pb2 as pb
from govshare.provider.v1 import provider_pb2_grpc
from services.query.keys import key_error, normalize_key
from services.runtime.errors import FieldViolation, ServiceError, dependency_failure, invalid_argument, masked
from services.runtime.pagination import page_size_violations
from services.runtime.provider_assertions import ProviderAssertionVerifier, VerifiedAssertion
from services.runtime.server import MAX_MESSAGE_BYTES
from services.runtime.timestamps import to_timestamp

log = logging.getLogger(__name__)
MAX_BATCH_KEYS = 1000
#: A refused assertion is logged at most this often per reason (callers other than the platform may insist).
REFUSAL_LOG_INTERVAL_SECONDS = 60.0
#: What the data officer does about a refusal that comes from the platform's own calls.
_REFUSAL_ADVICE = {
    "platform assertion is signed by a key this endpoint does not trust":
        "if the platform calls so, platform.public_keys (platform.pem) is not the platform's provider public key: ask "
        "its operator for provider-public.pem (during a key rotation, both keys in one file: a changed "
        "public_keys_file is read again within a second, with no restart)",
    "platform assertion is for another endpoint":
        "if the platform calls so, set `endpoint` in the configuration to the target the catalog entry registers",
    "platform assertion has expired":
        "if the platform calls so, this machine's clock is off: synchronise it (NTP)",
    "platform assertion was issued before this endpoint started":
        "a call sent before the 前置机 started is refused so; if the platform's calls are, for a while after each "
        "start, this machine's clock is ahead of the platform's: synchronise it (NTP)",
    "platform assertion is not valid yet":
        "if the platform calls so, this machine's clock is behind the platform's: synchronise it (NTP)",
}
DEFAULT_EXPORT_PAGE = 500
#: The outcome of a line for a call that failed once admitted (the database refused or went away, the call ended).
FAILED = "FAILED"
MAX_EXPORT_PAGE = 5000
#: The most an export's message carries of records (a page heavier is sent in several): half what a message of the
#: platform may be, so that the platform's answer of it, records masked and keys projected, fits one too.
EXPORT_RESPONSE_BYTES = MAX_MESSAGE_BYTES // 2
#: The key of _refusals_said for the platform asking for a dataset not served here.
_NOT_SERVED = "dataset not served"


def _failure(error: BaseException) -> dict[str, str]:
    """The status the platform got for a call that ended in ``error`` (not a ServiceError), and why, for its line."""
    if isinstance(error, asyncio.CancelledError | GeneratorExit):
        return {"status": grpc.StatusCode.CANCELLED.name, "reason": "the platform's call ended"}
    if (failure := dependency_failure(error)) is not None:
        return {"status": grpc.StatusCode.UNAVAILABLE.name, "reason": f"{failure[0]} unavailable"}
    return {"status": grpc.StatusCode.INTERNAL.name, "reason": type(error).__name__}


def _responses(records: list[pb.Record], skipped: int) -> Iterator[pb.ExportResponse]:
    """A page's records in messages of at most EXPORT_RESPONSE_BYTES each (a record larger goes alone: a record is
    at most store.MAX_RECORD_BYTES), the page's ``skipped`` with the first; nothing for an empty page.

    A page went as one message whatever its records weighed: 500 records of 140 KB (a scanned document shared as
    base64, as the docs advise for a bytea) made a message of 70 MB, over the 64 MiB the platform's channel takes,
    and every batch download of the resource failed, the platform saying the department did not answer; one over
    the 8 MiB the platform's own messages keep to went on to its caller as it was."""
    chunk: list[pb.Record] = []
    weight = 0
    for record in records:
        size = record.ByteSize()
        if chunk and weight + size > EXPORT_RESPONSE_BYTES:
            yield pb.ExportResponse(records=chunk, skipped=skipped)
            chunk, weight, skipped = [], 0, 0
        chunk.append(record)
        weight += size
    if chunk or skipped:
        yield pb.ExportResponse(records=chunk, skipped=skipped)


def _reason(error: ServiceError) -> str:
    """Why a call admitted was refused, for its line: the reason, and for a request the 前置机 refuses the fields
    at fault (``INVALID_ARGUMENT: dataset``), never their values (a key is personal data, and a refusal of one
    quotes part of it: its region code, its birth date)."""
    fields = list(dict.fromkeys(violation.field for violation in error.violations))
    return f"{error.reason}: {', '.join(fields)}" if fields else error.reason


class FrontprocServicer(provider_pb2_grpc.ProviderServiceServicer):
    def __init__(self, config: FrontprocConfig, verifier: ProviderAssertionVerifier, store: DepartmentStore,
                 access_log: AccessLog, limit: RateLimit) -> None:
        self._config = config
        self._verifier = verifier
        self._store = store
        self._log = access_log
        self._limit = limit
        self._refusals_said: dict[str, float] = {}

    def _admit(self, context: grpc.aio.ServicerContext, operation: str, dataset: str) -> VerifiedAssertion:
        """The call's verified assertion within the rate limit; a refusal is written to the access log first, and
        a refused assertion to the department's log too (``_say_refused``)."""
        assertion: VerifiedAssertion | None = None
        try:
            assertion = self._verifier.verify(context.invocation_metadata())
            self._limit.take()
        except ServiceError as error:
            self._log.refused(operation, self._named(dataset, assertion), context.peer() or "", error, assertion)
            if assertion is None:
                self._say_refused(masked(error.message))
            raise
        return assertion

    def _named(self, dataset: str, assertion: VerifiedAssertion | None) -> str:
        """The dataset a refused call's line names: as asked when the platform asked (its assertion verified) or when
        this 前置机 serves it, else withheld. Anyone reaching the port chooses the text of a call without a valid
        assertion, and its line wrote it (64 characters: an ID number, a name, a phone number fit) into a file the
        department keeps, which holds no key by design."""
        return dataset if assertion is not None or dataset in self._config.resources else NOT_SERVED_DATASET

    def _say_refused(self, why: str) -> None:
        """A refused assertion in the department's log, each reason at most once a minute (anyone may call).

        The caller was told, but the caller is the platform: when it is refused for a configuration to fix here
        (platform.pem not the platform's key, ``endpoint`` not the registered target, a clock far off), the data
        officer saw only the platform report the 前置机 as not answering, and nothing in this log.
        """
        start, advice = next(((start, advice) for start, advice in _REFUSAL_ADVICE.items() if why.startswith(start)),
                             (why, "a call not from the platform is refused so"))
        # Once a minute per reason, not per message: a refusal may quote what the caller sent (the key it names).
        now = time.monotonic()
        if now - self._refusals_said.get(start, -REFUSAL_LOG_INTERVAL_SECONDS) < REFUSAL_LOG_INTERVAL_SECONDS:
            return
        self._refusals_said[start] = now
        log.warning("a call was refused (UNAUTHENTICATED): %s; %s", why, advice)

    @contextlib.contextmanager
    def _outcome_logged(self, assertion: VerifiedAssertion, operation: str, dataset: str,
                        keys: int | Callable[[], int], sent: Callable[[], int] = lambda: 0) -> Iterator[None]:
        """A call that fails once admitted leaves its line too: a record the database cannot send (outcome
        RECORD_UNREADABLE: its audit id is how the department finds the row, the key not being in the log), or
        any other end (outcome FAILED, with the status the platform got and, for an export, the records that had
        left: ``sent``).

        An export whose table was renamed between two pages, whose database went away, or whose platform call
        ended (a deadline, the caller's cancel) had sent records and left no line: the department's log, reconciled
        with the platform's audit by audit id, missed a download the platform recorded. So did a call refused once
        admitted for what it asked (INVALID_ARGUMENT: a dataset not served here, a key; an export of a ``query``):
        a ``dataset`` renamed in dept.yaml left the platform's every call so refused (its callers answered 库无),
        and this log without a line of them. ``keys``, a count or what gives it once the keys are read."""
        try:
            yield
        except ServiceError as error:
            keys = keys() if callable(keys) else keys
            if error.reason == "RECORD_UNREADABLE":
                self._log.write(assertion, operation, dataset, keys, sent(), outcome=error.reason)
            else:
                self._log.write(assertion, operation, dataset, keys, sent(), outcome=FAILED,
                                status=error.code.name, reason=_reason(error))
            raise
        except BaseException as error:
            keys = keys() if callable(keys) else keys
            self._log.write(assertion, operation, dataset, keys, sent(), outcome=FAILED, **_failure(error))
            raise

    def _resource(self, dataset: str, violations: list[FieldViolation]) -> ResourceConfig | None:
        resource = self._config.resources.get(dataset)
        if resource is None:
            violations.append(FieldViolation("dataset", f"this endpoint serves {', '.join(self._config.resources)}"))
            self._say_not_served(dataset)
        return resource

    def _say_not_served(self, dataset: str) -> None:
        """The platform asking for a dataset this 前置机 does not serve, in the department's log at most once a
        minute: its callers are answered as if the records were absent (库无), which only this file can fix."""
        now = time.monotonic()
        if now - self._refusals_said.get(_NOT_SERVED, -REFUSAL_LOG_INTERVAL_SECONDS) < REFUSAL_LOG_INTERVAL_SECONDS:
            return
        self._refusals_said[_NOT_SERVED] = now
        log.warning("the platform asked for dataset %r, which this 前置机 does not serve (it serves %s): its calls "
                    "are refused (INVALID_ARGUMENT) and the platform answers its callers as if the records were "
                    "absent; the catalog entry's endpoint.dataset names it: serve it under that name in %s (a dataset "
                    "renamed there?)", dataset[:MAX_DATASET], ", ".join(self._config.resources), self._config.path)

    @staticmethod
    def _key(resource: ResourceConfig, raw: str, field: str, violations: list[FieldViolation]) -> str:
        key = normalize_key(resource.key_kind, raw)
        problem = key_error(resource.key_kind, key)
        if problem is not None:
            violations.append(FieldViolation(field, problem))
        return key

    def _record(self, row: Row, resource: ResourceConfig) -> pb.Record:
        """The record as the platform receives it. Its as-of time is the row's as_of_column; without that column,
        the time of the read (the department's table is read as it is now); a row whose as_of_column is NULL has
        none: nobody dated it.

        Such a row was said to be true as of the read too: a record perhaps years old passed for current in the
        platform's provenance (DOMAIN R-USE-3: each record carries its as-of time), which freshness is judged by.
        Without an as-of time the caller is told the provider does not say when the record was true."""
        record = pb.Record(key=row.key, values=row.values, source_department_code=self._config.department_code)
        if row.as_of is not None:
            record.as_of_time.CopyFrom(to_timestamp(row.as_of))
        elif resource.as_of_column is None:
            record.as_of_time.GetCurrentTime()
        return record

    async def Lookup(self, request: pb.LookupRequest, context: grpc.aio.ServicerContext) -> pb.LookupResponse:
        assertion = self._admit(context, "Lookup", request.dataset)
        with self._outcome_logged(assertion, "Lookup", request.dataset[:MAX_DATASET], 1):
            violations: list[FieldViolation] = []
            resource = self._resource(request.dataset, violations)
            key = self._key(resource, request.key, "key", violations) if resource is not None else ""
            if violations or resource is None:
                raise invalid_argument(violations)
            row = await self._store.lookup(resource.dataset, key)
        self._log.write(assertion, "Lookup", resource.dataset, 1, 0 if row is None else 1)
        return pb.LookupResponse(found=False) if row is None else pb.LookupResponse(found=True,
                                                                                    record=self._record(row, resource))

    async def BatchLookup(self, request: pb.BatchLookupRequest, context: grpc.aio.ServicerContext
                          ) -> pb.BatchLookupResponse:
        assertion = self._admit(context, "BatchLookup", request.dataset)
        asked = len(request.keys)
        with self._outcome_logged(assertion, "BatchLookup", request.dataset[:MAX_DATASET], lambda: asked):
            violations: list[FieldViolation] = []
            resource = self._resource(request.dataset, violations)
            if len(request.keys) > MAX_BATCH_KEYS:
                violations.append(FieldViolation("keys", f"at most {MAX_BATCH_KEYS} per call, got "
                                                         f"{len(request.keys)}"))
                raise invalid_argument(violations)
            keys = [self._key(resource, raw, f"keys[{index}]", violations)
                    for index, raw in enumerate(request.keys)] if resource is not None else []
            if violations or resource is None:
                raise invalid_argument(violations)
            unique = list(dict.fromkeys(keys))
            asked = len(unique)
            rows = await self._store.batch_lookup(resource.dataset, unique) if unique else []
        self._log.write(assertion, "BatchLookup", resource.dataset, len(unique), len(rows))
        return pb.BatchLookupResponse(records=[self._record(row, resource) for row in rows])

    async def Export(self, request: pb.ExportRequest, context: grpc.aio.ServicerContext
                     ) -> AsyncIterator[pb.ExportResponse]:
        assertion = self._admit(context, "Export", request.dataset)
        after: str | bytes = ""
        sent, skipped = 0, 0
        with self._outcome_logged(assertion, "Export", request.dataset[:MAX_DATASET], 0, sent=lambda: sent):
            violations: list[FieldViolation] = []
            resource = self._resource(request.dataset, violations)
            violations.extend(page_size_violations(request.page_size))
            if violations or resource is None:
                raise invalid_argument(violations)
            if not self._store.can_export(resource.dataset):
                raise ServiceError(grpc.StatusCode.UNIMPLEMENTED, "EXPORT_NOT_CONFIGURED",
                                   f"{resource.dataset} is served from a query: give it a table to export it")
            size = min(request.page_size or DEFAULT_EXPORT_PAGE, MAX_EXPORT_PAGE)
            while True:
                page = await self._store.page(resource.dataset, after, size)
                for response in _responses([self._record(row, resource) for row in page.rows], page.skipped):
                    # Counted as it is handed over: a page the call's end cut on its way may have left.
                    sent, skipped = sent + len(response.records), skipped + response.skipped
                    yield response
                if not page.after:
                    break
                after = page.after
        # An export that left rows out says how many in its line (outcome RECORD_UNREADABLE), as the caller is told.
        self._log.write(assertion, "Export", resource.dataset, 0, sent,
                        outcome="RECORD_UNREADABLE" if skipped else "OK", skipped=skipped)

    async def Describe(self, request: pb.DescribeRequest, context: grpc.aio.ServicerContext) -> pb.DescribeResponse:
        self._admit(context, "Describe", request.dataset)
        resource = self._config.resources.get(request.dataset)
        if resource is None:
            return pb.DescribeResponse(serves=False, department_code=self._config.department_code)
        return pb.DescribeResponse(serves=True, department_code=self._config.department_code,
                                   items=sorted(resource.items), key_kind=resource.key_kind_name)
