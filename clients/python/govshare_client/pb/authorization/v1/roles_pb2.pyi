import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SystemRole(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SYSTEM_ROLE_UNSPECIFIED: _ClassVar[SystemRole]
    SYSTEM_ROLE_SUBJECT_ACCESS_PORTAL: _ClassVar[SystemRole]
SYSTEM_ROLE_UNSPECIFIED: SystemRole
SYSTEM_ROLE_SUBJECT_ACCESS_PORTAL: SystemRole

class RoleAssignment(_message.Message):
    __slots__ = ("system_id", "role", "granted_by", "grant_time")
    SYSTEM_ID_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    GRANTED_BY_FIELD_NUMBER: _ClassVar[int]
    GRANT_TIME_FIELD_NUMBER: _ClassVar[int]
    system_id: str
    role: SystemRole
    granted_by: str
    grant_time: _timestamp_pb2.Timestamp
    def __init__(self, system_id: _Optional[str] = ..., role: _Optional[_Union[SystemRole, str]] = ..., granted_by: _Optional[str] = ..., grant_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GrantSystemRoleRequest(_message.Message):
    __slots__ = ("system_id", "role")
    SYSTEM_ID_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    system_id: str
    role: SystemRole
    def __init__(self, system_id: _Optional[str] = ..., role: _Optional[_Union[SystemRole, str]] = ...) -> None: ...

class GrantSystemRoleResponse(_message.Message):
    __slots__ = ("assignment",)
    ASSIGNMENT_FIELD_NUMBER: _ClassVar[int]
    assignment: RoleAssignment
    def __init__(self, assignment: _Optional[_Union[RoleAssignment, _Mapping]] = ...) -> None: ...

class RevokeSystemRoleRequest(_message.Message):
    __slots__ = ("system_id", "role")
    SYSTEM_ID_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    system_id: str
    role: SystemRole
    def __init__(self, system_id: _Optional[str] = ..., role: _Optional[_Union[SystemRole, str]] = ...) -> None: ...

class RevokeSystemRoleResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListSystemRolesRequest(_message.Message):
    __slots__ = ("system_id",)
    SYSTEM_ID_FIELD_NUMBER: _ClassVar[int]
    system_id: str
    def __init__(self, system_id: _Optional[str] = ...) -> None: ...

class ListSystemRolesResponse(_message.Message):
    __slots__ = ("assignments",)
    ASSIGNMENTS_FIELD_NUMBER: _ClassVar[int]
    assignments: _containers.RepeatedCompositeFieldContainer[RoleAssignment]
    def __init__(self, assignments: _Optional[_Iterable[_Union[RoleAssignment, _Mapping]]] = ...) -> None: ...
