import datetime

from google.api import annotations_pb2 as _annotations_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from govshare_client.pb.common.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class VerifyOutcome(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    VERIFY_OUTCOME_UNSPECIFIED: _ClassVar[VerifyOutcome]
    VERIFY_OUTCOME_MATCH: _ClassVar[VerifyOutcome]
    VERIFY_OUTCOME_MISMATCH: _ClassVar[VerifyOutcome]
    VERIFY_OUTCOME_NO_RECORD: _ClassVar[VerifyOutcome]
    VERIFY_OUTCOME_NO_VALUE: _ClassVar[VerifyOutcome]
VERIFY_OUTCOME_UNSPECIFIED: VerifyOutcome
VERIFY_OUTCOME_MATCH: VerifyOutcome
VERIFY_OUTCOME_MISMATCH: VerifyOutcome
VERIFY_OUTCOME_NO_RECORD: VerifyOutcome
VERIFY_OUTCOME_NO_VALUE: VerifyOutcome

class NotifyRecordsChangedRequest(_message.Message):
    __slots__ = ("resource_code", "keys", "all_records")
    RESOURCE_CODE_FIELD_NUMBER: _ClassVar[int]
    KEYS_FIELD_NUMBER: _ClassVar[int]
    ALL_RECORDS_FIELD_NUMBER: _ClassVar[int]
    resource_code: str
    keys: _containers.RepeatedScalarFieldContainer[str]
    all_records: bool
    def __init__(self, resource_code: _Optional[str] = ..., keys: _Optional[_Iterable[str]] = ..., all_records: _Optional[bool] = ...) -> None: ...

class NotifyRecordsChangedResponse(_message.Message):
    __slots__ = ("keys_dropped",)
    KEYS_DROPPED_FIELD_NUMBER: _ClassVar[int]
    keys_dropped: int
    def __init__(self, keys_dropped: _Optional[int] = ...) -> None: ...

class QueryRequest(_message.Message):
    __slots__ = ("resource_code", "key", "items", "purpose")
    RESOURCE_CODE_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    resource_code: str
    key: str
    items: _containers.RepeatedScalarFieldContainer[str]
    purpose: _common_pb2.Purpose
    def __init__(self, resource_code: _Optional[str] = ..., key: _Optional[str] = ..., items: _Optional[_Iterable[str]] = ..., purpose: _Optional[_Union[_common_pb2.Purpose, _Mapping]] = ...) -> None: ...

class QueryResponse(_message.Message):
    __slots__ = ("values", "masked_items", "provenance", "audit_id")
    class ValuesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    VALUES_FIELD_NUMBER: _ClassVar[int]
    MASKED_ITEMS_FIELD_NUMBER: _ClassVar[int]
    PROVENANCE_FIELD_NUMBER: _ClassVar[int]
    AUDIT_ID_FIELD_NUMBER: _ClassVar[int]
    values: _containers.ScalarMap[str, str]
    masked_items: _containers.RepeatedScalarFieldContainer[str]
    provenance: _common_pb2.Provenance
    audit_id: str
    def __init__(self, values: _Optional[_Mapping[str, str]] = ..., masked_items: _Optional[_Iterable[str]] = ..., provenance: _Optional[_Union[_common_pb2.Provenance, _Mapping]] = ..., audit_id: _Optional[str] = ...) -> None: ...

class BatchQueryRequest(_message.Message):
    __slots__ = ("resource_code", "keys", "items", "purpose")
    RESOURCE_CODE_FIELD_NUMBER: _ClassVar[int]
    KEYS_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    resource_code: str
    keys: _containers.RepeatedScalarFieldContainer[str]
    items: _containers.RepeatedScalarFieldContainer[str]
    purpose: _common_pb2.Purpose
    def __init__(self, resource_code: _Optional[str] = ..., keys: _Optional[_Iterable[str]] = ..., items: _Optional[_Iterable[str]] = ..., purpose: _Optional[_Union[_common_pb2.Purpose, _Mapping]] = ...) -> None: ...

class BatchQueryResult(_message.Message):
    __slots__ = ("key", "found", "values", "provenance", "error")
    class ValuesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    KEY_FIELD_NUMBER: _ClassVar[int]
    FOUND_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    PROVENANCE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    key: str
    found: bool
    values: _containers.ScalarMap[str, str]
    provenance: _common_pb2.Provenance
    error: str
    def __init__(self, key: _Optional[str] = ..., found: _Optional[bool] = ..., values: _Optional[_Mapping[str, str]] = ..., provenance: _Optional[_Union[_common_pb2.Provenance, _Mapping]] = ..., error: _Optional[str] = ...) -> None: ...

class BatchQueryResponse(_message.Message):
    __slots__ = ("results", "masked_items", "audit_id")
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    MASKED_ITEMS_FIELD_NUMBER: _ClassVar[int]
    AUDIT_ID_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[BatchQueryResult]
    masked_items: _containers.RepeatedScalarFieldContainer[str]
    audit_id: str
    def __init__(self, results: _Optional[_Iterable[_Union[BatchQueryResult, _Mapping]]] = ..., masked_items: _Optional[_Iterable[str]] = ..., audit_id: _Optional[str] = ...) -> None: ...

class VerifyRequest(_message.Message):
    __slots__ = ("resource_code", "key", "claims", "purpose")
    class ClaimsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    RESOURCE_CODE_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    CLAIMS_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    resource_code: str
    key: str
    claims: _containers.ScalarMap[str, str]
    purpose: _common_pb2.Purpose
    def __init__(self, resource_code: _Optional[str] = ..., key: _Optional[str] = ..., claims: _Optional[_Mapping[str, str]] = ..., purpose: _Optional[_Union[_common_pb2.Purpose, _Mapping]] = ...) -> None: ...

class VerifyResponse(_message.Message):
    __slots__ = ("outcomes", "provenance", "audit_id")
    class OutcomesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: VerifyOutcome
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[VerifyOutcome, str]] = ...) -> None: ...
    OUTCOMES_FIELD_NUMBER: _ClassVar[int]
    PROVENANCE_FIELD_NUMBER: _ClassVar[int]
    AUDIT_ID_FIELD_NUMBER: _ClassVar[int]
    outcomes: _containers.ScalarMap[str, VerifyOutcome]
    provenance: _common_pb2.Provenance
    audit_id: str
    def __init__(self, outcomes: _Optional[_Mapping[str, VerifyOutcome]] = ..., provenance: _Optional[_Union[_common_pb2.Provenance, _Mapping]] = ..., audit_id: _Optional[str] = ...) -> None: ...

class ExportRequest(_message.Message):
    __slots__ = ("resource_code", "items", "purpose")
    RESOURCE_CODE_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    resource_code: str
    items: _containers.RepeatedScalarFieldContainer[str]
    purpose: _common_pb2.Purpose
    def __init__(self, resource_code: _Optional[str] = ..., items: _Optional[_Iterable[str]] = ..., purpose: _Optional[_Union[_common_pb2.Purpose, _Mapping]] = ...) -> None: ...

class ExportResponse(_message.Message):
    __slots__ = ("rows", "complete", "row_count", "skipped_count")
    ROWS_FIELD_NUMBER: _ClassVar[int]
    COMPLETE_FIELD_NUMBER: _ClassVar[int]
    ROW_COUNT_FIELD_NUMBER: _ClassVar[int]
    SKIPPED_COUNT_FIELD_NUMBER: _ClassVar[int]
    rows: _containers.RepeatedCompositeFieldContainer[ExportRow]
    complete: bool
    row_count: int
    skipped_count: int
    def __init__(self, rows: _Optional[_Iterable[_Union[ExportRow, _Mapping]]] = ..., complete: _Optional[bool] = ..., row_count: _Optional[int] = ..., skipped_count: _Optional[int] = ...) -> None: ...

class ExportRow(_message.Message):
    __slots__ = ("key", "values", "as_of_time", "disputed")
    class ValuesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    KEY_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    AS_OF_TIME_FIELD_NUMBER: _ClassVar[int]
    DISPUTED_FIELD_NUMBER: _ClassVar[int]
    key: str
    values: _containers.ScalarMap[str, str]
    as_of_time: _timestamp_pb2.Timestamp
    disputed: bool
    def __init__(self, key: _Optional[str] = ..., values: _Optional[_Mapping[str, str]] = ..., as_of_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., disputed: _Optional[bool] = ...) -> None: ...
