import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from govshare.authorization.v1 import roles_pb2 as _roles_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class GetSystemRolesRequest(_message.Message):
    __slots__ = ("system_id",)
    SYSTEM_ID_FIELD_NUMBER: _ClassVar[int]
    system_id: str
    def __init__(self, system_id: _Optional[str] = ...) -> None: ...

class GetSystemRolesResponse(_message.Message):
    __slots__ = ("roles",)
    ROLES_FIELD_NUMBER: _ClassVar[int]
    roles: _containers.RepeatedScalarFieldContainer[_roles_pb2.SystemRole]
    def __init__(self, roles: _Optional[_Iterable[_Union[_roles_pb2.SystemRole, str]]] = ...) -> None: ...

class ConfidentialGrant(_message.Message):
    __slots__ = ("grant_id", "department_code", "system_ids", "resource_code", "start_time", "end_time", "release_time")
    GRANT_ID_FIELD_NUMBER: _ClassVar[int]
    DEPARTMENT_CODE_FIELD_NUMBER: _ClassVar[int]
    SYSTEM_IDS_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_CODE_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    RELEASE_TIME_FIELD_NUMBER: _ClassVar[int]
    grant_id: str
    department_code: str
    system_ids: _containers.RepeatedScalarFieldContainer[str]
    resource_code: str
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    release_time: _timestamp_pb2.Timestamp
    def __init__(self, grant_id: _Optional[str] = ..., department_code: _Optional[str] = ..., system_ids: _Optional[_Iterable[str]] = ..., resource_code: _Optional[str] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., release_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListConfidentialGrantsRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListConfidentialGrantsResponse(_message.Message):
    __slots__ = ("grants", "next_page_token")
    GRANTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    grants: _containers.RepeatedCompositeFieldContainer[ConfidentialGrant]
    next_page_token: str
    def __init__(self, grants: _Optional[_Iterable[_Union[ConfidentialGrant, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...
