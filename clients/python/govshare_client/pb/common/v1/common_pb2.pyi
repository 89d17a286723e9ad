import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ShareType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SHARE_TYPE_UNSPECIFIED: _ClassVar[ShareType]
    SHARE_TYPE_UNCONDITIONAL: _ClassVar[ShareType]
    SHARE_TYPE_CONDITIONAL: _ClassVar[ShareType]
    SHARE_TYPE_NOT_SHARED: _ClassVar[ShareType]

class ShareMethod(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SHARE_METHOD_UNSPECIFIED: _ClassVar[ShareMethod]
    SHARE_METHOD_ONLINE_QUERY: _ClassVar[ShareMethod]
    SHARE_METHOD_SYSTEM_INTEGRATION: _ClassVar[ShareMethod]
    SHARE_METHOD_FRONT_END_EXCHANGE: _ClassVar[ShareMethod]
    SHARE_METHOD_BATCH_DOWNLOAD: _ClassVar[ShareMethod]

class PurposeType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PURPOSE_TYPE_UNSPECIFIED: _ClassVar[PurposeType]
    PURPOSE_TYPE_ADMINISTRATIVE_BASIS: _ClassVar[PurposeType]
    PURPOSE_TYPE_WORK_REFERENCE: _ClassVar[PurposeType]
    PURPOSE_TYPE_DATA_VERIFICATION: _ClassVar[PurposeType]
    PURPOSE_TYPE_BUSINESS_COLLABORATION: _ClassVar[PurposeType]

class Zone(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ZONE_UNSPECIFIED: _ClassVar[Zone]
    ZONE_EXTRANET: _ClassVar[Zone]
    ZONE_INTRANET: _ClassVar[Zone]

class DenyReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DENY_REASON_UNSPECIFIED: _ClassVar[DenyReason]
    DENY_REASON_NOT_GRANTED: _ClassVar[DenyReason]
    DENY_REASON_PURPOSE_NOT_GRANTED: _ClassVar[DenyReason]
    DENY_REASON_ITEM_NOT_GRANTED: _ClassVar[DenyReason]
    DENY_REASON_EXPIRED: _ClassVar[DenyReason]
    DENY_REASON_QUOTA_EXHAUSTED: _ClassVar[DenyReason]
    DENY_REASON_NOT_SHARED: _ClassVar[DenyReason]
    DENY_REASON_WRONG_ZONE: _ClassVar[DenyReason]
    DENY_REASON_METHOD_NOT_GRANTED: _ClassVar[DenyReason]
    DENY_REASON_REVOKED: _ClassVar[DenyReason]
    DENY_REASON_NOT_PUBLISHED: _ClassVar[DenyReason]
    DENY_REASON_SYSTEM_NOT_GRANTED: _ClassVar[DenyReason]
    DENY_REASON_CREDENTIALS_REVOKED: _ClassVar[DenyReason]
    DENY_REASON_SYSTEM_REQUIRED: _ClassVar[DenyReason]
    DENY_REASON_GRANT_LAPSED: _ClassVar[DenyReason]
SHARE_TYPE_UNSPECIFIED: ShareType
SHARE_TYPE_UNCONDITIONAL: ShareType
SHARE_TYPE_CONDITIONAL: ShareType
SHARE_TYPE_NOT_SHARED: ShareType
SHARE_METHOD_UNSPECIFIED: ShareMethod
SHARE_METHOD_ONLINE_QUERY: ShareMethod
SHARE_METHOD_SYSTEM_INTEGRATION: ShareMethod
SHARE_METHOD_FRONT_END_EXCHANGE: ShareMethod
SHARE_METHOD_BATCH_DOWNLOAD: ShareMethod
PURPOSE_TYPE_UNSPECIFIED: PurposeType
PURPOSE_TYPE_ADMINISTRATIVE_BASIS: PurposeType
PURPOSE_TYPE_WORK_REFERENCE: PurposeType
PURPOSE_TYPE_DATA_VERIFICATION: PurposeType
PURPOSE_TYPE_BUSINESS_COLLABORATION: PurposeType
ZONE_UNSPECIFIED: Zone
ZONE_EXTRANET: Zone
ZONE_INTRANET: Zone
DENY_REASON_UNSPECIFIED: DenyReason
DENY_REASON_NOT_GRANTED: DenyReason
DENY_REASON_PURPOSE_NOT_GRANTED: DenyReason
DENY_REASON_ITEM_NOT_GRANTED: DenyReason
DENY_REASON_EXPIRED: DenyReason
DENY_REASON_QUOTA_EXHAUSTED: DenyReason
DENY_REASON_NOT_SHARED: DenyReason
DENY_REASON_WRONG_ZONE: DenyReason
DENY_REASON_METHOD_NOT_GRANTED: DenyReason
DENY_REASON_REVOKED: DenyReason
DENY_REASON_NOT_PUBLISHED: DenyReason
DENY_REASON_SYSTEM_NOT_GRANTED: DenyReason
DENY_REASON_CREDENTIALS_REVOKED: DenyReason
DENY_REASON_SYSTEM_REQUIRED: DenyReason
DENY_REASON_GRANT_LAPSED: DenyReason

class Purpose(_message.Message):
    __slots__ = ("type", "text")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    type: PurposeType
    text: str
    def __init__(self, type: _Optional[_Union[PurposeType, str]] = ..., text: _Optional[str] = ...) -> None: ...

class Provenance(_message.Message):
    __slots__ = ("provider_department_code", "as_of_time", "disputed")
    PROVIDER_DEPARTMENT_CODE_FIELD_NUMBER: _ClassVar[int]
    AS_OF_TIME_FIELD_NUMBER: _ClassVar[int]
    DISPUTED_FIELD_NUMBER: _ClassVar[int]
    provider_department_code: str
    as_of_time: _timestamp_pb2.Timestamp
    disputed: bool
    def __init__(self, provider_department_code: _Optional[str] = ..., as_of_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., disputed: _Optional[bool] = ...) -> None: ...

class Actor(_message.Message):
    __slots__ = ("id", "display_name", "department_code")
    ID_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    DEPARTMENT_CODE_FIELD_NUMBER: _ClassVar[int]
    id: str
    display_name: str
    department_code: str
    def __init__(self, id: _Optional[str] = ..., display_name: _Optional[str] = ..., department_code: _Optional[str] = ...) -> None: ...
