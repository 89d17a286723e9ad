import datetime

from google.api import annotations_pb2 as _annotations_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from govshare.common.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ConflictState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CONFLICT_STATE_UNSPECIFIED: _ClassVar[ConflictState]
    CONFLICT_STATE_OPEN: _ClassVar[ConflictState]
    CONFLICT_STATE_RESOLVED: _ClassVar[ConflictState]

class DesignationAction(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DESIGNATION_ACTION_UNSPECIFIED: _ClassVar[DesignationAction]
    DESIGNATION_ACTION_REGISTER_SOURCE: _ClassVar[DesignationAction]
    DESIGNATION_ACTION_DESIGNATE_DATASET: _ClassVar[DesignationAction]
    DESIGNATION_ACTION_DESIGNATE_ITEM: _ClassVar[DesignationAction]
    DESIGNATION_ACTION_RETIRE_SOURCE: _ClassVar[DesignationAction]
CONFLICT_STATE_UNSPECIFIED: ConflictState
CONFLICT_STATE_OPEN: ConflictState
CONFLICT_STATE_RESOLVED: ConflictState
DESIGNATION_ACTION_UNSPECIFIED: DesignationAction
DESIGNATION_ACTION_REGISTER_SOURCE: DesignationAction
DESIGNATION_ACTION_DESIGNATE_DATASET: DesignationAction
DESIGNATION_ACTION_DESIGNATE_ITEM: DesignationAction
DESIGNATION_ACTION_RETIRE_SOURCE: DesignationAction

class RecordInput(_message.Message):
    __slots__ = ("values", "as_of_time")
    class ValuesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    VALUES_FIELD_NUMBER: _ClassVar[int]
    AS_OF_TIME_FIELD_NUMBER: _ClassVar[int]
    values: _containers.ScalarMap[str, str]
    as_of_time: _timestamp_pb2.Timestamp
    def __init__(self, values: _Optional[_Mapping[str, str]] = ..., as_of_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class LoadRecordsRequest(_message.Message):
    __slots__ = ("dataset", "source_department_code", "records")
    DATASET_FIELD_NUMBER: _ClassVar[int]
    SOURCE_DEPARTMENT_CODE_FIELD_NUMBER: _ClassVar[int]
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    dataset: str
    source_department_code: str
    records: _containers.RepeatedCompositeFieldContainer[RecordInput]
    def __init__(self, dataset: _Optional[str] = ..., source_department_code: _Optional[str] = ..., records: _Optional[_Iterable[_Union[RecordInput, _Mapping]]] = ...) -> None: ...

class RejectedRecord(_message.Message):
    __slots__ = ("index", "key", "reasons")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    REASONS_FIELD_NUMBER: _ClassVar[int]
    index: int
    key: str
    reasons: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, index: _Optional[int] = ..., key: _Optional[str] = ..., reasons: _Optional[_Iterable[str]] = ...) -> None: ...

class LoadRecordsResponse(_message.Message):
    __slots__ = ("accepted", "rejected", "conflicts", "kept_for_cross_checking")
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    REJECTED_FIELD_NUMBER: _ClassVar[int]
    CONFLICTS_FIELD_NUMBER: _ClassVar[int]
    KEPT_FOR_CROSS_CHECKING_FIELD_NUMBER: _ClassVar[int]
    accepted: int
    rejected: _containers.RepeatedCompositeFieldContainer[RejectedRecord]
    conflicts: int
    kept_for_cross_checking: bool
    def __init__(self, accepted: _Optional[int] = ..., rejected: _Optional[_Iterable[_Union[RejectedRecord, _Mapping]]] = ..., conflicts: _Optional[int] = ..., kept_for_cross_checking: _Optional[bool] = ...) -> None: ...

class Conflict(_message.Message):
    __slots__ = ("id", "dataset", "key", "item", "authoritative_value", "other_value", "other_source_department_code", "state", "resolution", "create_time", "authoritative_department_code", "authoritative_value_withheld", "resolved_by")
    ID_FIELD_NUMBER: _ClassVar[int]
    DATASET_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    ITEM_FIELD_NUMBER: _ClassVar[int]
    AUTHORITATIVE_VALUE_FIELD_NUMBER: _ClassVar[int]
    OTHER_VALUE_FIELD_NUMBER: _ClassVar[int]
    OTHER_SOURCE_DEPARTMENT_CODE_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    RESOLUTION_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    AUTHORITATIVE_DEPARTMENT_CODE_FIELD_NUMBER: _ClassVar[int]
    AUTHORITATIVE_VALUE_WITHHELD_FIELD_NUMBER: _ClassVar[int]
    RESOLVED_BY_FIELD_NUMBER: _ClassVar[int]
    id: int
    dataset: str
    key: str
    item: str
    authoritative_value: str
    other_value: str
    other_source_department_code: str
    state: ConflictState
    resolution: str
    create_time: _timestamp_pb2.Timestamp
    authoritative_department_code: str
    authoritative_value_withheld: bool
    resolved_by: _common_pb2.Actor
    def __init__(self, id: _Optional[int] = ..., dataset: _Optional[str] = ..., key: _Optional[str] = ..., item: _Optional[str] = ..., authoritative_value: _Optional[str] = ..., other_value: _Optional[str] = ..., other_source_department_code: _Optional[str] = ..., state: _Optional[_Union[ConflictState, str]] = ..., resolution: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., authoritative_department_code: _Optional[str] = ..., authoritative_value_withheld: _Optional[bool] = ..., resolved_by: _Optional[_Union[_common_pb2.Actor, _Mapping]] = ...) -> None: ...

class ListConflictsRequest(_message.Message):
    __slots__ = ("dataset", "state", "page_size", "page_token")
    DATASET_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    dataset: str
    state: ConflictState
    page_size: int
    page_token: str
    def __init__(self, dataset: _Optional[str] = ..., state: _Optional[_Union[ConflictState, str]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListConflictsResponse(_message.Message):
    __slots__ = ("conflicts", "next_page_token")
    CONFLICTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    conflicts: _containers.RepeatedCompositeFieldContainer[Conflict]
    next_page_token: str
    def __init__(self, conflicts: _Optional[_Iterable[_Union[Conflict, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ResolveConflictRequest(_message.Message):
    __slots__ = ("id", "adopt_other_value", "note")
    ID_FIELD_NUMBER: _ClassVar[int]
    ADOPT_OTHER_VALUE_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    id: int
    adopt_other_value: bool
    note: str
    def __init__(self, id: _Optional[int] = ..., adopt_other_value: _Optional[bool] = ..., note: _Optional[str] = ...) -> None: ...

class ResolveConflictResponse(_message.Message):
    __slots__ = ("conflict",)
    CONFLICT_FIELD_NUMBER: _ClassVar[int]
    conflict: Conflict
    def __init__(self, conflict: _Optional[_Union[Conflict, _Mapping]] = ...) -> None: ...

class RecordVersion(_message.Message):
    __slots__ = ("values", "source_department_code", "as_of_time", "recorded_time")
    class ValuesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    VALUES_FIELD_NUMBER: _ClassVar[int]
    SOURCE_DEPARTMENT_CODE_FIELD_NUMBER: _ClassVar[int]
    AS_OF_TIME_FIELD_NUMBER: _ClassVar[int]
    RECORDED_TIME_FIELD_NUMBER: _ClassVar[int]
    values: _containers.ScalarMap[str, str]
    source_department_code: str
    as_of_time: _timestamp_pb2.Timestamp
    recorded_time: _timestamp_pb2.Timestamp
    def __init__(self, values: _Optional[_Mapping[str, str]] = ..., source_department_code: _Optional[str] = ..., as_of_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., recorded_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GetRecordHistoryRequest(_message.Message):
    __slots__ = ("dataset", "key", "page_size", "page_token")
    DATASET_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    dataset: str
    key: str
    page_size: int
    page_token: str
    def __init__(self, dataset: _Optional[str] = ..., key: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class GetRecordHistoryResponse(_message.Message):
    __slots__ = ("versions", "next_page_token")
    VERSIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    versions: _containers.RepeatedCompositeFieldContainer[RecordVersion]
    next_page_token: str
    def __init__(self, versions: _Optional[_Iterable[_Union[RecordVersion, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class Dataset(_message.Message):
    __slots__ = ("name", "key_item", "authoritative_department_code", "record_count")
    NAME_FIELD_NUMBER: _ClassVar[int]
    KEY_ITEM_FIELD_NUMBER: _ClassVar[int]
    AUTHORITATIVE_DEPARTMENT_CODE_FIELD_NUMBER: _ClassVar[int]
    RECORD_COUNT_FIELD_NUMBER: _ClassVar[int]
    name: str
    key_item: str
    authoritative_department_code: str
    record_count: int
    def __init__(self, name: _Optional[str] = ..., key_item: _Optional[str] = ..., authoritative_department_code: _Optional[str] = ..., record_count: _Optional[int] = ...) -> None: ...

class ListDatasetsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListDatasetsResponse(_message.Message):
    __slots__ = ("datasets",)
    DATASETS_FIELD_NUMBER: _ClassVar[int]
    datasets: _containers.RepeatedCompositeFieldContainer[Dataset]
    def __init__(self, datasets: _Optional[_Iterable[_Union[Dataset, _Mapping]]] = ...) -> None: ...

class Designation(_message.Message):
    __slots__ = ("id", "action", "item", "department_code", "previous_department_code", "actor_system_id", "actor_department_code", "create_time")
    ID_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    ITEM_FIELD_NUMBER: _ClassVar[int]
    DEPARTMENT_CODE_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_DEPARTMENT_CODE_FIELD_NUMBER: _ClassVar[int]
    ACTOR_SYSTEM_ID_FIELD_NUMBER: _ClassVar[int]
    ACTOR_DEPARTMENT_CODE_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    id: int
    action: DesignationAction
    item: str
    department_code: str
    previous_department_code: str
    actor_system_id: str
    actor_department_code: str
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[int] = ..., action: _Optional[_Union[DesignationAction, str]] = ..., item: _Optional[str] = ..., department_code: _Optional[str] = ..., previous_department_code: _Optional[str] = ..., actor_system_id: _Optional[str] = ..., actor_department_code: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Source(_message.Message):
    __slots__ = ("department_code", "register_time")
    DEPARTMENT_CODE_FIELD_NUMBER: _ClassVar[int]
    REGISTER_TIME_FIELD_NUMBER: _ClassVar[int]
    department_code: str
    register_time: _timestamp_pb2.Timestamp
    def __init__(self, department_code: _Optional[str] = ..., register_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ItemAuthority(_message.Message):
    __slots__ = ("item", "department_code")
    ITEM_FIELD_NUMBER: _ClassVar[int]
    DEPARTMENT_CODE_FIELD_NUMBER: _ClassVar[int]
    item: str
    department_code: str
    def __init__(self, item: _Optional[str] = ..., department_code: _Optional[str] = ...) -> None: ...

class DatasetSources(_message.Message):
    __slots__ = ("dataset", "authoritative_department_code", "item_authorities", "sources", "designations")
    DATASET_FIELD_NUMBER: _ClassVar[int]
    AUTHORITATIVE_DEPARTMENT_CODE_FIELD_NUMBER: _ClassVar[int]
    ITEM_AUTHORITIES_FIELD_NUMBER: _ClassVar[int]
    SOURCES_FIELD_NUMBER: _ClassVar[int]
    DESIGNATIONS_FIELD_NUMBER: _ClassVar[int]
    dataset: str
    authoritative_department_code: str
    item_authorities: _containers.RepeatedCompositeFieldContainer[ItemAuthority]
    sources: _containers.RepeatedCompositeFieldContainer[Source]
    designations: _containers.RepeatedCompositeFieldContainer[Designation]
    def __init__(self, dataset: _Optional[str] = ..., authoritative_department_code: _Optional[str] = ..., item_authorities: _Optional[_Iterable[_Union[ItemAuthority, _Mapping]]] = ..., sources: _Optional[_Iterable[_Union[Source, _Mapping]]] = ..., designations: _Optional[_Iterable[_Union[Designation, _Mapping]]] = ...) -> None: ...

class RegisterSourceRequest(_message.Message):
    __slots__ = ("dataset", "department_code")
    DATASET_FIELD_NUMBER: _ClassVar[int]
    DEPARTMENT_CODE_FIELD_NUMBER: _ClassVar[int]
    dataset: str
    department_code: str
    def __init__(self, dataset: _Optional[str] = ..., department_code: _Optional[str] = ...) -> None: ...

class RegisterSourceResponse(_message.Message):
    __slots__ = ("sources",)
    SOURCES_FIELD_NUMBER: _ClassVar[int]
    sources: DatasetSources
    def __init__(self, sources: _Optional[_Union[DatasetSources, _Mapping]] = ...) -> None: ...

class RetireSourceRequest(_message.Message):
    __slots__ = ("dataset", "department_code")
    DATASET_FIELD_NUMBER: _ClassVar[int]
    DEPARTMENT_CODE_FIELD_NUMBER: _ClassVar[int]
    dataset: str
    department_code: str
    def __init__(self, dataset: _Optional[str] = ..., department_code: _Optional[str] = ...) -> None: ...

class RetireSourceResponse(_message.Message):
    __slots__ = ("sources",)
    SOURCES_FIELD_NUMBER: _ClassVar[int]
    sources: DatasetSources
    def __init__(self, sources: _Optional[_Union[DatasetSources, _Mapping]] = ...) -> None: ...

class DesignateAuthoritativeSourceRequest(_message.Message):
    __slots__ = ("dataset", "item", "department_code")
    DATASET_FIELD_NUMBER: _ClassVar[int]
    ITEM_FIELD_NUMBER: _ClassVar[int]
    DEPARTMENT_CODE_FIELD_NUMBER: _ClassVar[int]
    dataset: str
    item: str
    department_code: str
    def __init__(self, dataset: _Optional[str] = ..., item: _Optional[str] = ..., department_code: _Optional[str] = ...) -> None: ...

class DesignateAuthoritativeSourceResponse(_message.Message):
    __slots__ = ("sources",)
    SOURCES_FIELD_NUMBER: _ClassVar[int]
    sources: DatasetSources
    def __init__(self, sources: _Optional[_Union[DatasetSources, _Mapping]] = ...) -> None: ...

class ListSourcesRequest(_message.Message):
    __slots__ = ("dataset", "page_size", "page_token")
    DATASET_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    dataset: str
    page_size: int
    page_token: str
    def __init__(self, dataset: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListSourcesResponse(_message.Message):
    __slots__ = ("sources", "next_page_token")
    SOURCES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    sources: DatasetSources
    next_page_token: str
    def __init__(self, sources: _Optional[_Union[DatasetSources, _Mapping]] = ..., next_page_token: _Optional[str] = ...) -> None: ...
