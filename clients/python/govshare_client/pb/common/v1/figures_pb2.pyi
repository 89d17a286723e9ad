from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class Figure(_message.Message):
    __slots__ = ("department_code", "name", "dimension", "value")
    DEPARTMENT_CODE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DIMENSION_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    department_code: str
    name: str
    dimension: str
    value: int
    def __init__(self, department_code: _Optional[str] = ..., name: _Optional[str] = ..., dimension: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
