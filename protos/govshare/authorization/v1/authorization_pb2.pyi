import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from govshare.authorization.v1 import admin_log_pb2 as _admin_log_pb2
from govshare.common.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CheckRequest(_message.Message):
    __slots__ = ("system_id", "department_code", "resource_code", "purpose", "items", "method", "exclude_grant_ids", "only_grant_id", "min_entry_version")
    SYSTEM_ID_FIELD_NUMBER: _ClassVar[int]
    DEPARTMENT_CODE_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_CODE_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    EXCLUDE_GRANT_IDS_FIELD_NUMBER: _ClassVar[int]
    ONLY_GRANT_ID_FIELD_NUMBER: _ClassVar[int]
    MIN_ENTRY_VERSION_FIELD_NUMBER: _ClassVar[int]
    system_id: str
    department_code: str
    resource_code: str
    purpose: _common_pb2.PurposeType
    items: _containers.RepeatedScalarFieldContainer[str]
    method: _common_pb2.ShareMethod
    exclude_grant_ids: _containers.RepeatedScalarFieldContainer[str]
    only_grant_id: str
    min_entry_version: int
    def __init__(self, system_id: _Optional[str] = ..., department_code: _Optional[str] = ..., resource_code: _Optional[str] = ..., purpose: _Optional[_Union[_common_pb2.PurposeType, str]] = ..., items: _Optional[_Iterable[str]] = ..., method: _Optional[_Union[_common_pb2.ShareMethod, str]] = ..., exclude_grant_ids: _Optional[_Iterable[str]] = ..., only_grant_id: _Optional[str] = ..., min_entry_version: _Optional[int] = ...) -> None: ...

class Decision(_message.Message):
    __slots__ = ("allowed", "deny_reason", "message", "allowed_items", "masks", "expire_time", "policy_version", "grant_id", "quota", "denied_items")
    class MasksEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ALLOWED_FIELD_NUMBER: _ClassVar[int]
    DENY_REASON_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    ALLOWED_ITEMS_FIELD_NUMBER: _ClassVar[int]
    MASKS_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    POLICY_VERSION_FIELD_NUMBER: _ClassVar[int]
    GRANT_ID_FIELD_NUMBER: _ClassVar[int]
    QUOTA_FIELD_NUMBER: _ClassVar[int]
    DENIED_ITEMS_FIELD_NUMBER: _ClassVar[int]
    allowed: bool
    deny_reason: _common_pb2.DenyReason
    message: str
    allowed_items: _containers.RepeatedScalarFieldContainer[str]
    masks: _containers.ScalarMap[str, str]
    expire_time: _timestamp_pb2.Timestamp
    policy_version: int
    grant_id: str
    quota: int
    denied_items: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, allowed: _Optional[bool] = ..., deny_reason: _Optional[_Union[_common_pb2.DenyReason, str]] = ..., message: _Optional[str] = ..., allowed_items: _Optional[_Iterable[str]] = ..., masks: _Optional[_Mapping[str, str]] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., policy_version: _Optional[int] = ..., grant_id: _Optional[str] = ..., quota: _Optional[int] = ..., denied_items: _Optional[_Iterable[str]] = ...) -> None: ...

class CheckResponse(_message.Message):
    __slots__ = ("decision",)
    DECISION_FIELD_NUMBER: _ClassVar[int]
    decision: Decision
    def __init__(self, decision: _Optional[_Union[Decision, _Mapping]] = ...) -> None: ...

class ListSystemStatesRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class SystemState(_message.Message):
    __slots__ = ("system_id", "disabled", "not_before_time", "not_before_reason", "version")
    SYSTEM_ID_FIELD_NUMBER: _ClassVar[int]
    DISABLED_FIELD_NUMBER: _ClassVar[int]
    NOT_BEFORE_TIME_FIELD_NUMBER: _ClassVar[int]
    NOT_BEFORE_REASON_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    system_id: str
    disabled: bool
    not_before_time: _timestamp_pb2.Timestamp
    not_before_reason: str
    version: int
    def __init__(self, system_id: _Optional[str] = ..., disabled: _Optional[bool] = ..., not_before_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., not_before_reason: _Optional[str] = ..., version: _Optional[int] = ...) -> None: ...

class ListSystemStatesResponse(_message.Message):
    __slots__ = ("states", "next_page_token")
    STATES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    states: _containers.RepeatedCompositeFieldContainer[SystemState]
    next_page_token: str
    def __init__(self, states: _Optional[_Iterable[_Union[SystemState, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetPersonStateRequest(_message.Message):
    __slots__ = ("person_id",)
    PERSON_ID_FIELD_NUMBER: _ClassVar[int]
    person_id: str
    def __init__(self, person_id: _Optional[str] = ...) -> None: ...

class GetPersonStateResponse(_message.Message):
    __slots__ = ("state",)
    STATE_FIELD_NUMBER: _ClassVar[int]
    state: SystemState
    def __init__(self, state: _Optional[_Union[SystemState, _Mapping]] = ...) -> None: ...

class AppendEventsRequest(_message.Message):
    __slots__ = ("events",)
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[_admin_log_pb2.AdminEvent]
    def __init__(self, events: _Optional[_Iterable[_Union[_admin_log_pb2.AdminEvent, _Mapping]]] = ...) -> None: ...

class AppendEventsResponse(_message.Message):
    __slots__ = ("appended_count",)
    APPENDED_COUNT_FIELD_NUMBER: _ClassVar[int]
    appended_count: int
    def __init__(self, appended_count: _Optional[int] = ...) -> None: ...
