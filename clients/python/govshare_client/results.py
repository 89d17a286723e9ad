"""Plain Python results of the convenience methods (no protobuf types to learn for the common calls)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum

from govshare_client.errors import GovshareError
from govshare_client.pb.common.v1 import common_pb2
from govshare_client.pb.query.v1 import query_pb2


class Purpose(StrEnum):
    """Why the data is used (DOMAIN R-USE-1); every query declares one, conditional data only for granted ones."""

    ADMINISTRATIVE_BASIS = "administrative_basis"  # 行政依据
    WORK_REFERENCE = "work_reference"  # 工作参考
    DATA_VERIFICATION = "data_verification"  # 数据校核
    BUSINESS_COLLABORATION = "business_collaboration"  # 业务协同

    def to_proto(self, text: str = "") -> common_pb2.Purpose:
        """The ``Purpose`` message a raw stub's request carries, with ``text`` (the case or matter number)."""
        return common_pb2.Purpose(type=common_pb2.PurposeType.Value(f"PURPOSE_TYPE_{self.name}"), text=text)


class VerifyOutcome(StrEnum):
    """One claimed item against the record: 一致 / 不一致 / 库无 (no record) / 无值 (the record holds no value for
    the item: neither confirmed nor denied)."""

    MATCH = "match"
    MISMATCH = "mismatch"
    NO_RECORD = "no_record"
    NO_VALUE = "no_value"
    UNSPECIFIED = "unspecified"

    @classmethod
    def of(cls, value: int) -> VerifyOutcome:
        """The outcome of the proto's ``VerifyOutcome`` number; one this SDK does not know (a newer platform's) is
        UNSPECIFIED — neither a match nor a mismatch — instead of a ValueError that lost the whole answer after the
        platform had made, audited and counted the verification."""
        try:
            return cls(query_pb2.VerifyOutcome.Name(value).removeprefix("VERIFY_OUTCOME_").lower())
        except ValueError:
            return cls.UNSPECIFIED


@dataclass(frozen=True)
class Provenance:
    """Who provides the record, as of when, and whether a dispute about it is open (the desk must know)."""

    provider_department_code: str = ""
    as_of_time: dt.datetime | None = None
    disputed: bool = False

    @classmethod
    def from_proto(cls, message: common_pb2.Provenance) -> Provenance:
        """Made from the platform's ``Provenance`` message, as a raw stub answers it."""
        as_of = message.as_of_time.ToDatetime(tzinfo=dt.UTC) if message.HasField("as_of_time") else None
        return cls(message.provider_department_code, as_of, message.disputed)


@dataclass(frozen=True)
class QueryResult:
    """The granted items of one record (masked where the rules say so) and the id of its audit record."""

    values: dict[str, str]
    masked_items: list[str]
    provenance: Provenance
    audit_id: str

    @classmethod
    def from_proto(cls, message: query_pb2.QueryResponse) -> QueryResult:
        """Made from the platform's ``QueryResponse`` message, as a raw stub answers it."""
        return cls(dict(message.values), list(message.masked_items), Provenance.from_proto(message.provenance),
                   message.audit_id)


@dataclass(frozen=True)
class BatchItem:
    """One key of a batch: ``found`` with ``values``, or not found, or ``error`` saying what is wrong with it."""

    key: str
    found: bool
    values: dict[str, str] = field(default_factory=dict)
    provenance: Provenance = field(default_factory=Provenance)
    error: str = ""


@dataclass(frozen=True)
class BatchQueryResult:
    """Every key's answer, in the order given (duplicates included)."""

    items: list[BatchItem]
    masked_items: list[str]
    audit_id: str

    @classmethod
    def from_proto(cls, message: query_pb2.BatchQueryResponse) -> BatchQueryResult:
        """Made from the platform's ``BatchQueryResponse`` message, as a raw stub answers it."""
        items = [BatchItem(r.key, r.found, dict(r.values), Provenance.from_proto(r.provenance), r.error)
                 for r in message.results]
        return cls(items, list(message.masked_items), message.audit_id)


@dataclass(frozen=True)
class ExportRow:
    """One record of a batch download (部门批量下载): its key, granted items (masked by rule), as-of time, and
    whether the record is under an open dispute (a 疑义 a user reported; its values may be corrected)."""

    key: str
    values: dict[str, str]
    as_of_time: dt.datetime | None
    disputed: bool = False

    @classmethod
    def from_proto(cls, message: query_pb2.ExportRow) -> ExportRow:
        """Made from the platform's ``ExportRow`` message, as a raw stub answers it."""
        as_of = message.as_of_time.ToDatetime(tzinfo=dt.UTC) if message.HasField("as_of_time") else None
        return cls(message.key, dict(message.values), as_of, message.disputed)


@dataclass(frozen=True)
class VerifyResult:
    """Per claimed item, whether it matches the record; never the record's data."""

    outcomes: dict[str, VerifyOutcome]
    provenance: Provenance
    audit_id: str

    @classmethod
    def from_proto(cls, message: query_pb2.VerifyResponse) -> VerifyResult:
        """Made from the platform's ``VerifyResponse`` message, as a raw stub answers it."""
        outcomes = {item: VerifyOutcome.of(value) for item, value in message.outcomes.items()}
        return cls(outcomes, Provenance.from_proto(message.provenance), message.audit_id)


#: The initial-metadata header naming an export's access record (docs/api.md), sent before its first row.
AUDIT_ID_HEADER = "x-govshare-audit-id"


class ExportSummary:
    """What an export (批量下载) says of itself, besides its rows: read once the rows have been read.

    The stream's last message holds no rows: it says the export is ``complete`` with the ``row_count`` sent and
    the ``skipped_count`` of records the provider holds but could not send (its 前置机 left them out, naming
    each in its log). An iterator of rows alone hid it: a caller could not tell an export holding every record
    from one missing some, nor how many. ``complete`` stays False until that message has been read: an export
    that raised, or that the caller stopped reading, is not whole. ``audit_id`` names the export's access record
    (the ``x-govshare-audit-id`` header, sent before the first row), as a query answer's ``audit_id`` does.
    """

    complete: bool = False
    row_count: int = 0
    skipped_count: int = 0
    audit_id: str = ""

    def _read(self, message: query_pb2.ExportResponse) -> None:
        """Takes the stream's closing message (``complete``) when ``message`` is it."""
        if message.complete:
            self.complete, self.row_count, self.skipped_count = True, message.row_count, message.skipped_count

    def _named(self, failure: GovshareError) -> GovshareError:
        """``failure`` naming this export's access record: one the caller's deadline, a cancellation or the network
        ended carries no trailers, so its error named none, although the platform had named it before the first
        row (and records how the export ended under it)."""
        if self.audit_id and not failure.audit_id:
            failure.metadata["audit_id"] = self.audit_id
        return failure

    def _read_headers(self, metadata: Iterable[tuple[str, str | bytes]] | None) -> None:
        """Takes the export's ``audit_id`` from its initial metadata (None when the stream sent none)."""
        for key, value in metadata or ():
            if key == AUDIT_ID_HEADER:
                self.audit_id = value if isinstance(value, str) else value.decode()
