import datetime

from google.api import annotations_pb2 as _annotations_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AdminLogState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ADMIN_LOG_STATE_UNSPECIFIED: _ClassVar[AdminLogState]
    ADMIN_LOG_STATE_INTACT: _ClassVar[AdminLogState]
    ADMIN_LOG_STATE_TRUNCATED: _ClassVar[AdminLogState]
    ADMIN_LOG_STATE_VANISHED: _ClassVar[AdminLogState]
    ADMIN_LOG_STATE_BROKEN: _ClassVar[AdminLogState]
ADMIN_LOG_STATE_UNSPECIFIED: AdminLogState
ADMIN_LOG_STATE_INTACT: AdminLogState
ADMIN_LOG_STATE_TRUNCATED: AdminLogState
ADMIN_LOG_STATE_VANISHED: AdminLogState
ADMIN_LOG_STATE_BROKEN: AdminLogState

class AdminLogCheckpoint(_message.Message):
    __slots__ = ("sequence", "hash", "time", "key_id", "signature")
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    HASH_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    sequence: int
    hash: str
    time: _timestamp_pb2.Timestamp
    key_id: str
    signature: bytes
    def __init__(self, sequence: _Optional[int] = ..., hash: _Optional[str] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., key_id: _Optional[str] = ..., signature: _Optional[bytes] = ...) -> None: ...

class ForgedAdminLogCheckpoint(_message.Message):
    __slots__ = ("checkpoint", "reason")
    CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    checkpoint: AdminLogCheckpoint
    reason: str
    def __init__(self, checkpoint: _Optional[_Union[AdminLogCheckpoint, _Mapping]] = ..., reason: _Optional[str] = ...) -> None: ...

class AdminEvent(_message.Message):
    __slots__ = ("id", "seq", "time", "service", "actor_system_id", "actor_department_code", "action", "target", "details_json", "result", "hash")
    ID_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    ACTOR_SYSTEM_ID_FIELD_NUMBER: _ClassVar[int]
    ACTOR_DEPARTMENT_CODE_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    DETAILS_JSON_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    HASH_FIELD_NUMBER: _ClassVar[int]
    id: str
    seq: int
    time: _timestamp_pb2.Timestamp
    service: str
    actor_system_id: str
    actor_department_code: str
    action: str
    target: str
    details_json: str
    result: str
    hash: str
    def __init__(self, id: _Optional[str] = ..., seq: _Optional[int] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., service: _Optional[str] = ..., actor_system_id: _Optional[str] = ..., actor_department_code: _Optional[str] = ..., action: _Optional[str] = ..., target: _Optional[str] = ..., details_json: _Optional[str] = ..., result: _Optional[str] = ..., hash: _Optional[str] = ...) -> None: ...

class ListAdminEventsRequest(_message.Message):
    __slots__ = ("actor_department_code", "action", "start_time", "end_time", "page_size", "page_token")
    ACTOR_DEPARTMENT_CODE_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    actor_department_code: str
    action: str
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    page_size: int
    page_token: str
    def __init__(self, actor_department_code: _Optional[str] = ..., action: _Optional[str] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListAdminEventsResponse(_message.Message):
    __slots__ = ("events", "next_page_token")
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[AdminEvent]
    next_page_token: str
    def __init__(self, events: _Optional[_Iterable[_Union[AdminEvent, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class VerifyAdminLogRequest(_message.Message):
    __slots__ = ("checkpoints",)
    CHECKPOINTS_FIELD_NUMBER: _ClassVar[int]
    checkpoints: _containers.RepeatedCompositeFieldContainer[AdminLogCheckpoint]
    def __init__(self, checkpoints: _Optional[_Iterable[_Union[AdminLogCheckpoint, _Mapping]]] = ...) -> None: ...

class VerifyAdminLogResponse(_message.Message):
    __slots__ = ("intact", "checked_count", "first_broken_seq", "problem", "head_hash", "state", "last_matching_checkpoint", "unsigned_count", "forged_checkpoints")
    INTACT_FIELD_NUMBER: _ClassVar[int]
    CHECKED_COUNT_FIELD_NUMBER: _ClassVar[int]
    FIRST_BROKEN_SEQ_FIELD_NUMBER: _ClassVar[int]
    PROBLEM_FIELD_NUMBER: _ClassVar[int]
    HEAD_HASH_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    LAST_MATCHING_CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    UNSIGNED_COUNT_FIELD_NUMBER: _ClassVar[int]
    FORGED_CHECKPOINTS_FIELD_NUMBER: _ClassVar[int]
    intact: bool
    checked_count: int
    first_broken_seq: int
    problem: str
    head_hash: str
    state: AdminLogState
    last_matching_checkpoint: AdminLogCheckpoint
    unsigned_count: int
    forged_checkpoints: _containers.RepeatedCompositeFieldContainer[ForgedAdminLogCheckpoint]
    def __init__(self, intact: _Optional[bool] = ..., checked_count: _Optional[int] = ..., first_broken_seq: _Optional[int] = ..., problem: _Optional[str] = ..., head_hash: _Optional[str] = ..., state: _Optional[_Union[AdminLogState, str]] = ..., last_matching_checkpoint: _Optional[_Union[AdminLogCheckpoint, _Mapping]] = ..., unsigned_count: _Optional[int] = ..., forged_checkpoints: _Optional[_Iterable[_Union[ForgedAdminLogCheckpoint, _Mapping]]] = ...) -> None: ...

class ExportAdminLogCheckpointsRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ExportAdminLogCheckpointsResponse(_message.Message):
    __slots__ = ("checkpoints", "next_page_token", "key_id", "public_key_pem")
    CHECKPOINTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    PUBLIC_KEY_PEM_FIELD_NUMBER: _ClassVar[int]
    checkpoints: _containers.RepeatedCompositeFieldContainer[AdminLogCheckpoint]
    next_page_token: str
    key_id: str
    public_key_pem: str
    def __init__(self, checkpoints: _Optional[_Iterable[_Union[AdminLogCheckpoint, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., key_id: _Optional[str] = ..., public_key_pem: _Optional[str] = ...) -> None: ...
