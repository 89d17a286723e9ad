import datetime

from google.api import annotations_pb2 as _annotations_pb2
from google.protobuf import field_mask_pb2 as _field_mask_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from govshare_client.pb.common.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Category(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CATEGORY_UNSPECIFIED: _ClassVar[Category]
    CATEGORY_FOUNDATION: _ClassVar[Category]
    CATEGORY_THEME: _ClassVar[Category]
    CATEGORY_DEPARTMENT: _ClassVar[Category]

class FormatClass(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FORMAT_CLASS_UNSPECIFIED: _ClassVar[FormatClass]
    FORMAT_CLASS_ELECTRONIC_FILE: _ClassVar[FormatClass]
    FORMAT_CLASS_SPREADSHEET: _ClassVar[FormatClass]
    FORMAT_CLASS_DATABASE: _ClassVar[FormatClass]
    FORMAT_CLASS_GRAPHIC_IMAGE: _ClassVar[FormatClass]
    FORMAT_CLASS_STREAMING_MEDIA: _ClassVar[FormatClass]
    FORMAT_CLASS_SELF_DESCRIBING: _ClassVar[FormatClass]
    FORMAT_CLASS_OTHER: _ClassVar[FormatClass]

class DataType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DATA_TYPE_UNSPECIFIED: _ClassVar[DataType]
    DATA_TYPE_CHARACTER: _ClassVar[DataType]
    DATA_TYPE_NUMERIC: _ClassVar[DataType]
    DATA_TYPE_CURRENCY: _ClassVar[DataType]
    DATA_TYPE_DATE: _ClassVar[DataType]
    DATA_TYPE_DATETIME: _ClassVar[DataType]
    DATA_TYPE_LOGICAL: _ClassVar[DataType]
    DATA_TYPE_MEMO: _ClassVar[DataType]
    DATA_TYPE_GENERAL: _ClassVar[DataType]
    DATA_TYPE_DOUBLE: _ClassVar[DataType]
    DATA_TYPE_INTEGER: _ClassVar[DataType]
    DATA_TYPE_FLOAT: _ClassVar[DataType]

class IdentifierKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    IDENTIFIER_KIND_UNSPECIFIED: _ClassVar[IdentifierKind]
    IDENTIFIER_KIND_CITIZEN_ID: _ClassVar[IdentifierKind]
    IDENTIFIER_KIND_CREDIT_CODE: _ClassVar[IdentifierKind]
    IDENTIFIER_KIND_REGION_CODE: _ClassVar[IdentifierKind]
    IDENTIFIER_KIND_TEXT: _ClassVar[IdentifierKind]

class UpdateCycle(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    UPDATE_CYCLE_UNSPECIFIED: _ClassVar[UpdateCycle]
    UPDATE_CYCLE_REALTIME: _ClassVar[UpdateCycle]
    UPDATE_CYCLE_DAILY: _ClassVar[UpdateCycle]
    UPDATE_CYCLE_WEEKLY: _ClassVar[UpdateCycle]
    UPDATE_CYCLE_MONTHLY: _ClassVar[UpdateCycle]
    UPDATE_CYCLE_QUARTERLY: _ClassVar[UpdateCycle]
    UPDATE_CYCLE_HALF_YEARLY: _ClassVar[UpdateCycle]
    UPDATE_CYCLE_YEARLY: _ClassVar[UpdateCycle]
    UPDATE_CYCLE_IRREGULAR: _ClassVar[UpdateCycle]

class Secrecy(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SECRECY_UNSPECIFIED: _ClassVar[Secrecy]
    SECRECY_NON_CLASSIFIED: _ClassVar[Secrecy]
    SECRECY_CLASSIFIED: _ClassVar[Secrecy]

class EntryState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ENTRY_STATE_UNSPECIFIED: _ClassVar[EntryState]
    ENTRY_STATE_DRAFT: _ClassVar[EntryState]
    ENTRY_STATE_SUBMITTED: _ClassVar[EntryState]
    ENTRY_STATE_PUBLISHED: _ClassVar[EntryState]
    ENTRY_STATE_RETURNED: _ClassVar[EntryState]
    ENTRY_STATE_RETIRED: _ClassVar[EntryState]
    ENTRY_STATE_SUPERSEDED: _ClassVar[EntryState]

class ReviewDecision(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    REVIEW_DECISION_UNSPECIFIED: _ClassVar[ReviewDecision]
    REVIEW_DECISION_PUBLISH: _ClassVar[ReviewDecision]
    REVIEW_DECISION_RETURN: _ClassVar[ReviewDecision]
CATEGORY_UNSPECIFIED: Category
CATEGORY_FOUNDATION: Category
CATEGORY_THEME: Category
CATEGORY_DEPARTMENT: Category
FORMAT_CLASS_UNSPECIFIED: FormatClass
FORMAT_CLASS_ELECTRONIC_FILE: FormatClass
FORMAT_CLASS_SPREADSHEET: FormatClass
FORMAT_CLASS_DATABASE: FormatClass
FORMAT_CLASS_GRAPHIC_IMAGE: FormatClass
FORMAT_CLASS_STREAMING_MEDIA: FormatClass
FORMAT_CLASS_SELF_DESCRIBING: FormatClass
FORMAT_CLASS_OTHER: FormatClass
DATA_TYPE_UNSPECIFIED: DataType
DATA_TYPE_CHARACTER: DataType
DATA_TYPE_NUMERIC: DataType
DATA_TYPE_CURRENCY: DataType
DATA_TYPE_DATE: DataType
DATA_TYPE_DATETIME: DataType
DATA_TYPE_LOGICAL: DataType
DATA_TYPE_MEMO: DataType
DATA_TYPE_GENERAL: DataType
DATA_TYPE_DOUBLE: DataType
DATA_TYPE_INTEGER: DataType
DATA_TYPE_FLOAT: DataType
IDENTIFIER_KIND_UNSPECIFIED: IdentifierKind
IDENTIFIER_KIND_CITIZEN_ID: IdentifierKind
IDENTIFIER_KIND_CREDIT_CODE: IdentifierKind
IDENTIFIER_KIND_REGION_CODE: IdentifierKind
IDENTIFIER_KIND_TEXT: IdentifierKind
UPDATE_CYCLE_UNSPECIFIED: UpdateCycle
UPDATE_CYCLE_REALTIME: UpdateCycle
UPDATE_CYCLE_DAILY: UpdateCycle
UPDATE_CYCLE_WEEKLY: UpdateCycle
UPDATE_CYCLE_MONTHLY: UpdateCycle
UPDATE_CYCLE_QUARTERLY: UpdateCycle
UPDATE_CYCLE_HALF_YEARLY: UpdateCycle
UPDATE_CYCLE_YEARLY: UpdateCycle
UPDATE_CYCLE_IRREGULAR: UpdateCycle
SECRECY_UNSPECIFIED: Secrecy
SECRECY_NON_CLASSIFIED: Secrecy
SECRECY_CLASSIFIED: Secrecy
ENTRY_STATE_UNSPECIFIED: EntryState
ENTRY_STATE_DRAFT: EntryState
ENTRY_STATE_SUBMITTED: EntryState
ENTRY_STATE_PUBLISHED: EntryState
ENTRY_STATE_RETURNED: EntryState
ENTRY_STATE_RETIRED: EntryState
ENTRY_STATE_SUPERSEDED: EntryState
REVIEW_DECISION_UNSPECIFIED: ReviewDecision
REVIEW_DECISION_PUBLISH: ReviewDecision
REVIEW_DECISION_RETURN: ReviewDecision

class DataItem(_message.Message):
    __slots__ = ("name", "machine_name", "data_type", "length", "sensitive", "mask_rule", "basic", "identifier", "listed_since")
    NAME_FIELD_NUMBER: _ClassVar[int]
    MACHINE_NAME_FIELD_NUMBER: _ClassVar[int]
    DATA_TYPE_FIELD_NUMBER: _ClassVar[int]
    LENGTH_FIELD_NUMBER: _ClassVar[int]
    SENSITIVE_FIELD_NUMBER: _ClassVar[int]
    MASK_RULE_FIELD_NUMBER: _ClassVar[int]
    BASIC_FIELD_NUMBER: _ClassVar[int]
    IDENTIFIER_FIELD_NUMBER: _ClassVar[int]
    LISTED_SINCE_FIELD_NUMBER: _ClassVar[int]
    name: str
    machine_name: str
    data_type: DataType
    length: int
    sensitive: bool
    mask_rule: str
    basic: bool
    identifier: IdentifierKind
    listed_since: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., machine_name: _Optional[str] = ..., data_type: _Optional[_Union[DataType, str]] = ..., length: _Optional[int] = ..., sensitive: _Optional[bool] = ..., mask_rule: _Optional[str] = ..., basic: _Optional[bool] = ..., identifier: _Optional[_Union[IdentifierKind, str]] = ..., listed_since: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ProviderEndpoint(_message.Message):
    __slots__ = ("target", "dataset")
    TARGET_FIELD_NUMBER: _ClassVar[int]
    DATASET_FIELD_NUMBER: _ClassVar[int]
    target: str
    dataset: str
    def __init__(self, target: _Optional[str] = ..., dataset: _Optional[str] = ...) -> None: ...

class Entry(_message.Message):
    __slots__ = ("code", "name", "summary", "category", "subject", "provider_department_code", "provider_name", "format_class", "format_type", "items", "key_item", "share_type", "share_condition", "share_methods", "legal_basis", "open_to_public", "open_condition", "update_cycle", "publish_time", "related_codes", "zone", "secrecy", "state", "version", "endpoint", "project_code", "return_reason", "create_time", "update_time", "submitted_by", "reviewed_by", "etag", "retire_reason", "returns")
    CODE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_DEPARTMENT_CODE_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_NAME_FIELD_NUMBER: _ClassVar[int]
    FORMAT_CLASS_FIELD_NUMBER: _ClassVar[int]
    FORMAT_TYPE_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    KEY_ITEM_FIELD_NUMBER: _ClassVar[int]
    SHARE_TYPE_FIELD_NUMBER: _ClassVar[int]
    SHARE_CONDITION_FIELD_NUMBER: _ClassVar[int]
    SHARE_METHODS_FIELD_NUMBER: _ClassVar[int]
    LEGAL_BASIS_FIELD_NUMBER: _ClassVar[int]
    OPEN_TO_PUBLIC_FIELD_NUMBER: _ClassVar[int]
    OPEN_CONDITION_FIELD_NUMBER: _ClassVar[int]
    UPDATE_CYCLE_FIELD_NUMBER: _ClassVar[int]
    PUBLISH_TIME_FIELD_NUMBER: _ClassVar[int]
    RELATED_CODES_FIELD_NUMBER: _ClassVar[int]
    ZONE_FIELD_NUMBER: _ClassVar[int]
    SECRECY_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    PROJECT_CODE_FIELD_NUMBER: _ClassVar[int]
    RETURN_REASON_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    SUBMITTED_BY_FIELD_NUMBER: _ClassVar[int]
    REVIEWED_BY_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    RETIRE_REASON_FIELD_NUMBER: _ClassVar[int]
    RETURNS_FIELD_NUMBER: _ClassVar[int]
    code: str
    name: str
    summary: str
    category: Category
    subject: str
    provider_department_code: str
    provider_name: str
    format_class: FormatClass
    format_type: str
    items: _containers.RepeatedCompositeFieldContainer[DataItem]
    key_item: str
    share_type: _common_pb2.ShareType
    share_condition: str
    share_methods: _containers.RepeatedScalarFieldContainer[_common_pb2.ShareMethod]
    legal_basis: str
    open_to_public: bool
    open_condition: str
    update_cycle: UpdateCycle
    publish_time: _timestamp_pb2.Timestamp
    related_codes: _containers.RepeatedScalarFieldContainer[str]
    zone: _common_pb2.Zone
    secrecy: Secrecy
    state: EntryState
    version: int
    endpoint: ProviderEndpoint
    project_code: str
    return_reason: str
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    submitted_by: _common_pb2.Actor
    reviewed_by: _common_pb2.Actor
    etag: str
    retire_reason: str
    returns: _containers.RepeatedCompositeFieldContainer[EntryReturn]
    def __init__(self, code: _Optional[str] = ..., name: _Optional[str] = ..., summary: _Optional[str] = ..., category: _Optional[_Union[Category, str]] = ..., subject: _Optional[str] = ..., provider_department_code: _Optional[str] = ..., provider_name: _Optional[str] = ..., format_class: _Optional[_Union[FormatClass, str]] = ..., format_type: _Optional[str] = ..., items: _Optional[_Iterable[_Union[DataItem, _Mapping]]] = ..., key_item: _Optional[str] = ..., share_type: _Optional[_Union[_common_pb2.ShareType, str]] = ..., share_condition: _Optional[str] = ..., share_methods: _Optional[_Iterable[_Union[_common_pb2.ShareMethod, str]]] = ..., legal_basis: _Optional[str] = ..., open_to_public: _Optional[bool] = ..., open_condition: _Optional[str] = ..., update_cycle: _Optional[_Union[UpdateCycle, str]] = ..., publish_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., related_codes: _Optional[_Iterable[str]] = ..., zone: _Optional[_Union[_common_pb2.Zone, str]] = ..., secrecy: _Optional[_Union[Secrecy, str]] = ..., state: _Optional[_Union[EntryState, str]] = ..., version: _Optional[int] = ..., endpoint: _Optional[_Union[ProviderEndpoint, _Mapping]] = ..., project_code: _Optional[str] = ..., return_reason: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., submitted_by: _Optional[_Union[_common_pb2.Actor, _Mapping]] = ..., reviewed_by: _Optional[_Union[_common_pb2.Actor, _Mapping]] = ..., etag: _Optional[str] = ..., retire_reason: _Optional[str] = ..., returns: _Optional[_Iterable[_Union[EntryReturn, _Mapping]]] = ...) -> None: ...

class EntryReturn(_message.Message):
    __slots__ = ("reason", "time", "returned_by")
    REASON_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    RETURNED_BY_FIELD_NUMBER: _ClassVar[int]
    reason: str
    time: _timestamp_pb2.Timestamp
    returned_by: _common_pb2.Actor
    def __init__(self, reason: _Optional[str] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., returned_by: _Optional[_Union[_common_pb2.Actor, _Mapping]] = ...) -> None: ...

class CreateEntryRequest(_message.Message):
    __slots__ = ("entry",)
    ENTRY_FIELD_NUMBER: _ClassVar[int]
    entry: Entry
    def __init__(self, entry: _Optional[_Union[Entry, _Mapping]] = ...) -> None: ...

class CreateEntryResponse(_message.Message):
    __slots__ = ("entry",)
    ENTRY_FIELD_NUMBER: _ClassVar[int]
    entry: Entry
    def __init__(self, entry: _Optional[_Union[Entry, _Mapping]] = ...) -> None: ...

class GetEntryRequest(_message.Message):
    __slots__ = ("code", "version")
    CODE_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    code: str
    version: int
    def __init__(self, code: _Optional[str] = ..., version: _Optional[int] = ...) -> None: ...

class GetEntryResponse(_message.Message):
    __slots__ = ("entry",)
    ENTRY_FIELD_NUMBER: _ClassVar[int]
    entry: Entry
    def __init__(self, entry: _Optional[_Union[Entry, _Mapping]] = ...) -> None: ...

class EntryFilter(_message.Message):
    __slots__ = ("provider_department_code", "category", "share_type", "zone", "state", "update_cycle", "subject", "project_code")
    PROVIDER_DEPARTMENT_CODE_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    SHARE_TYPE_FIELD_NUMBER: _ClassVar[int]
    ZONE_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    UPDATE_CYCLE_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    PROJECT_CODE_FIELD_NUMBER: _ClassVar[int]
    provider_department_code: str
    category: Category
    share_type: _common_pb2.ShareType
    zone: _common_pb2.Zone
    state: EntryState
    update_cycle: UpdateCycle
    subject: str
    project_code: str
    def __init__(self, provider_department_code: _Optional[str] = ..., category: _Optional[_Union[Category, str]] = ..., share_type: _Optional[_Union[_common_pb2.ShareType, str]] = ..., zone: _Optional[_Union[_common_pb2.Zone, str]] = ..., state: _Optional[_Union[EntryState, str]] = ..., update_cycle: _Optional[_Union[UpdateCycle, str]] = ..., subject: _Optional[str] = ..., project_code: _Optional[str] = ...) -> None: ...

class ListEntriesRequest(_message.Message):
    __slots__ = ("filter", "page_size", "page_token")
    FILTER_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    filter: EntryFilter
    page_size: int
    page_token: str
    def __init__(self, filter: _Optional[_Union[EntryFilter, _Mapping]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListEntriesResponse(_message.Message):
    __slots__ = ("entries", "next_page_token")
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.RepeatedCompositeFieldContainer[Entry]
    next_page_token: str
    def __init__(self, entries: _Optional[_Iterable[_Union[Entry, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class SearchEntriesRequest(_message.Message):
    __slots__ = ("query", "filter", "page_size", "page_token")
    QUERY_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    query: str
    filter: EntryFilter
    page_size: int
    page_token: str
    def __init__(self, query: _Optional[str] = ..., filter: _Optional[_Union[EntryFilter, _Mapping]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class SearchEntriesResponse(_message.Message):
    __slots__ = ("entries", "next_page_token", "highlights")
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    HIGHLIGHTS_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.RepeatedCompositeFieldContainer[Entry]
    next_page_token: str
    highlights: _containers.RepeatedCompositeFieldContainer[SearchHighlight]
    def __init__(self, entries: _Optional[_Iterable[_Union[Entry, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., highlights: _Optional[_Iterable[_Union[SearchHighlight, _Mapping]]] = ...) -> None: ...

class SearchHighlight(_message.Message):
    __slots__ = ("code", "name", "summary")
    CODE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    code: str
    name: _containers.RepeatedCompositeFieldContainer[TextRange]
    summary: _containers.RepeatedCompositeFieldContainer[TextRange]
    def __init__(self, code: _Optional[str] = ..., name: _Optional[_Iterable[_Union[TextRange, _Mapping]]] = ..., summary: _Optional[_Iterable[_Union[TextRange, _Mapping]]] = ...) -> None: ...

class TextRange(_message.Message):
    __slots__ = ("start", "end")
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    start: int
    end: int
    def __init__(self, start: _Optional[int] = ..., end: _Optional[int] = ...) -> None: ...

class UpdateEntryRequest(_message.Message):
    __slots__ = ("entry", "update_mask")
    ENTRY_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    entry: Entry
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, entry: _Optional[_Union[Entry, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class UpdateEntryResponse(_message.Message):
    __slots__ = ("entry",)
    ENTRY_FIELD_NUMBER: _ClassVar[int]
    entry: Entry
    def __init__(self, entry: _Optional[_Union[Entry, _Mapping]] = ...) -> None: ...

class SubmitEntryRequest(_message.Message):
    __slots__ = ("code",)
    CODE_FIELD_NUMBER: _ClassVar[int]
    code: str
    def __init__(self, code: _Optional[str] = ...) -> None: ...

class SubmitEntryResponse(_message.Message):
    __slots__ = ("entry",)
    ENTRY_FIELD_NUMBER: _ClassVar[int]
    entry: Entry
    def __init__(self, entry: _Optional[_Union[Entry, _Mapping]] = ...) -> None: ...

class ReviewEntryRequest(_message.Message):
    __slots__ = ("code", "decision", "reason", "etag")
    CODE_FIELD_NUMBER: _ClassVar[int]
    DECISION_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    code: str
    decision: ReviewDecision
    reason: str
    etag: str
    def __init__(self, code: _Optional[str] = ..., decision: _Optional[_Union[ReviewDecision, str]] = ..., reason: _Optional[str] = ..., etag: _Optional[str] = ...) -> None: ...

class ReviewEntryResponse(_message.Message):
    __slots__ = ("entry",)
    ENTRY_FIELD_NUMBER: _ClassVar[int]
    entry: Entry
    def __init__(self, entry: _Optional[_Union[Entry, _Mapping]] = ...) -> None: ...

class RetireEntryRequest(_message.Message):
    __slots__ = ("code", "reason")
    CODE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    code: str
    reason: str
    def __init__(self, code: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class RetireEntryResponse(_message.Message):
    __slots__ = ("entry",)
    ENTRY_FIELD_NUMBER: _ClassVar[int]
    entry: Entry
    def __init__(self, entry: _Optional[_Union[Entry, _Mapping]] = ...) -> None: ...

class ListEntryVersionsRequest(_message.Message):
    __slots__ = ("code", "page_size", "page_token")
    CODE_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    code: str
    page_size: int
    page_token: str
    def __init__(self, code: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListEntryVersionsResponse(_message.Message):
    __slots__ = ("versions", "next_page_token")
    VERSIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    versions: _containers.RepeatedCompositeFieldContainer[Entry]
    next_page_token: str
    def __init__(self, versions: _Optional[_Iterable[_Union[Entry, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetProjectStatusRequest(_message.Message):
    __slots__ = ("project_code",)
    PROJECT_CODE_FIELD_NUMBER: _ClassVar[int]
    project_code: str
    def __init__(self, project_code: _Optional[str] = ...) -> None: ...

class GetProjectStatusResponse(_message.Message):
    __slots__ = ("project_code", "entry_count", "published_count", "all_published", "unpublished_codes")
    PROJECT_CODE_FIELD_NUMBER: _ClassVar[int]
    ENTRY_COUNT_FIELD_NUMBER: _ClassVar[int]
    PUBLISHED_COUNT_FIELD_NUMBER: _ClassVar[int]
    ALL_PUBLISHED_FIELD_NUMBER: _ClassVar[int]
    UNPUBLISHED_CODES_FIELD_NUMBER: _ClassVar[int]
    project_code: str
    entry_count: int
    published_count: int
    all_published: bool
    unpublished_codes: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, project_code: _Optional[str] = ..., entry_count: _Optional[int] = ..., published_count: _Optional[int] = ..., all_published: _Optional[bool] = ..., unpublished_codes: _Optional[_Iterable[str]] = ...) -> None: ...

class ReportMandateChangeRequest(_message.Message):
    __slots__ = ("department_code", "description", "change_time")
    DEPARTMENT_CODE_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    CHANGE_TIME_FIELD_NUMBER: _ClassVar[int]
    department_code: str
    description: str
    change_time: _timestamp_pb2.Timestamp
    def __init__(self, department_code: _Optional[str] = ..., description: _Optional[str] = ..., change_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ReportMandateChangeResponse(_message.Message):
    __slots__ = ("due_time", "due_time_provisional")
    DUE_TIME_FIELD_NUMBER: _ClassVar[int]
    DUE_TIME_PROVISIONAL_FIELD_NUMBER: _ClassVar[int]
    due_time: _timestamp_pb2.Timestamp
    due_time_provisional: bool
    def __init__(self, due_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., due_time_provisional: _Optional[bool] = ...) -> None: ...

class OverdueUpdate(_message.Message):
    __slots__ = ("department_code", "description", "change_time", "due_time", "due_time_provisional")
    DEPARTMENT_CODE_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    CHANGE_TIME_FIELD_NUMBER: _ClassVar[int]
    DUE_TIME_FIELD_NUMBER: _ClassVar[int]
    DUE_TIME_PROVISIONAL_FIELD_NUMBER: _ClassVar[int]
    department_code: str
    description: str
    change_time: _timestamp_pb2.Timestamp
    due_time: _timestamp_pb2.Timestamp
    due_time_provisional: bool
    def __init__(self, department_code: _Optional[str] = ..., description: _Optional[str] = ..., change_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., due_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., due_time_provisional: _Optional[bool] = ...) -> None: ...

class ListOverdueUpdatesRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "department_code")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    DEPARTMENT_CODE_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    department_code: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., department_code: _Optional[str] = ...) -> None: ...

class ListOverdueUpdatesResponse(_message.Message):
    __slots__ = ("updates", "next_page_token")
    UPDATES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    updates: _containers.RepeatedCompositeFieldContainer[OverdueUpdate]
    next_page_token: str
    def __init__(self, updates: _Optional[_Iterable[_Union[OverdueUpdate, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...
