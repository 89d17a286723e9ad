import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Record(_message.Message):
    __slots__ = ("key", "values", "source_department_code", "as_of_time")
    class ValuesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    KEY_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    SOURCE_DEPARTMENT_CODE_FIELD_NUMBER: _ClassVar[int]
    AS_OF_TIME_FIELD_NUMBER: _ClassVar[int]
    key: str
    values: _containers.ScalarMap[str, str]
    source_department_code: str
    as_of_time: _timestamp_pb2.Timestamp
    def __init__(self, key: _Optional[str] = ..., values: _Optional[_Mapping[str, str]] = ..., source_department_code: _Optional[str] = ..., as_of_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class LookupRequest(_message.Message):
    __slots__ = ("dataset", "key")
    DATASET_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    dataset: str
    key: str
    def __init__(self, dataset: _Optional[str] = ..., key: _Optional[str] = ...) -> None: ...

class LookupResponse(_message.Message):
    __slots__ = ("found", "record")
    FOUND_FIELD_NUMBER: _ClassVar[int]
    RECORD_FIELD_NUMBER: _ClassVar[int]
    found: bool
    record: Record
    def __init__(self, found: _Optional[bool] = ..., record: _Optional[_Union[Record, _Mapping]] = ...) -> None: ...

class BatchLookupRequest(_message.Message):
    __slots__ = ("dataset", "keys")
    DATASET_FIELD_NUMBER: _ClassVar[int]
    KEYS_FIELD_NUMBER: _ClassVar[int]
    dataset: str
    keys: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, dataset: _Optional[str] = ..., keys: _Optional[_Iterable[str]] = ...) -> None: ...

class BatchLookupResponse(_message.Message):
    __slots__ = ("records",)
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    records: _containers.RepeatedCompositeFieldContainer[Record]
    def __init__(self, records: _Optional[_Iterable[_Union[Record, _Mapping]]] = ...) -> None: ...

class ExportRequest(_message.Message):
    __slots__ = ("dataset", "page_size")
    DATASET_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    dataset: str
    page_size: int
    def __init__(self, dataset: _Optional[str] = ..., page_size: _Optional[int] = ...) -> None: ...

class ExportResponse(_message.Message):
    __slots__ = ("records", "skipped")
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    SKIPPED_FIELD_NUMBER: _ClassVar[int]
    records: _containers.RepeatedCompositeFieldContainer[Record]
    skipped: int
    def __init__(self, records: _Optional[_Iterable[_Union[Record, _Mapping]]] = ..., skipped: _Optional[int] = ...) -> None: ...

class DescribeRequest(_message.Message):
    __slots__ = ("dataset",)
    DATASET_FIELD_NUMBER: _ClassVar[int]
    dataset: str
    def __init__(self, dataset: _Optional[str] = ...) -> None: ...

class DescribeResponse(_message.Message):
    __slots__ = ("serves", "department_code", "items", "key_kind")
    SERVES_FIELD_NUMBER: _ClassVar[int]
    DEPARTMENT_CODE_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    KEY_KIND_FIELD_NUMBER: _ClassVar[int]
    serves: bool
    department_code: str
    items: _containers.RepeatedScalarFieldContainer[str]
    key_kind: str
    def __init__(self, serves: _Optional[bool] = ..., department_code: _Optional[str] = ..., items: _Optional[_Iterable[str]] = ..., key_kind: _Optional[str] = ...) -> None: ...
