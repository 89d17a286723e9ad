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

class AccessResult(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ACCESS_RESULT_UNSPECIFIED: _ClassVar[AccessResult]
    ACCESS_RESULT_ANSWERED: _ClassVar[AccessResult]
    ACCESS_RESULT_NOT_FOUND: _ClassVar[AccessResult]
    ACCESS_RESULT_DENIED: _ClassVar[AccessResult]
    ACCESS_RESULT_INVALID: _ClassVar[AccessResult]
    ACCESS_RESULT_FAILED: _ClassVar[AccessResult]

class ChainState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CHAIN_STATE_UNSPECIFIED: _ClassVar[ChainState]
    CHAIN_STATE_INTACT: _ClassVar[ChainState]
    CHAIN_STATE_TRUNCATED: _ClassVar[ChainState]
    CHAIN_STATE_VANISHED: _ClassVar[ChainState]
    CHAIN_STATE_BROKEN: _ClassVar[ChainState]

class AuditVerificationState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    AUDIT_VERIFICATION_STATE_UNSPECIFIED: _ClassVar[AuditVerificationState]
    AUDIT_VERIFICATION_STATE_RUNNING: _ClassVar[AuditVerificationState]
    AUDIT_VERIFICATION_STATE_DONE: _ClassVar[AuditVerificationState]
    AUDIT_VERIFICATION_STATE_CANCELLED: _ClassVar[AuditVerificationState]

class AuditVerificationResult(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    AUDIT_VERIFICATION_RESULT_UNSPECIFIED: _ClassVar[AuditVerificationResult]
    AUDIT_VERIFICATION_RESULT_INTACT: _ClassVar[AuditVerificationResult]
    AUDIT_VERIFICATION_RESULT_BROKEN: _ClassVar[AuditVerificationResult]
ACCESS_RESULT_UNSPECIFIED: AccessResult
ACCESS_RESULT_ANSWERED: AccessResult
ACCESS_RESULT_NOT_FOUND: AccessResult
ACCESS_RESULT_DENIED: AccessResult
ACCESS_RESULT_INVALID: AccessResult
ACCESS_RESULT_FAILED: AccessResult
CHAIN_STATE_UNSPECIFIED: ChainState
CHAIN_STATE_INTACT: ChainState
CHAIN_STATE_TRUNCATED: ChainState
CHAIN_STATE_VANISHED: ChainState
CHAIN_STATE_BROKEN: ChainState
AUDIT_VERIFICATION_STATE_UNSPECIFIED: AuditVerificationState
AUDIT_VERIFICATION_STATE_RUNNING: AuditVerificationState
AUDIT_VERIFICATION_STATE_DONE: AuditVerificationState
AUDIT_VERIFICATION_STATE_CANCELLED: AuditVerificationState
AUDIT_VERIFICATION_RESULT_UNSPECIFIED: AuditVerificationResult
AUDIT_VERIFICATION_RESULT_INTACT: AuditVerificationResult
AUDIT_VERIFICATION_RESULT_BROKEN: AuditVerificationResult

class AccessRecord(_message.Message):
    __slots__ = ("id", "time", "system_id", "department_code", "resource_code", "provider_department_code", "operation", "items", "key", "purpose", "purpose_text", "result", "deny_reason", "trace_id", "failure_reason", "end_time", "rows_sent", "pages_sent", "grant_id")
    ID_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    SYSTEM_ID_FIELD_NUMBER: _ClassVar[int]
    DEPARTMENT_CODE_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_CODE_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_DEPARTMENT_CODE_FIELD_NUMBER: _ClassVar[int]
    OPERATION_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_TEXT_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    DENY_REASON_FIELD_NUMBER: _ClassVar[int]
    TRACE_ID_FIELD_NUMBER: _ClassVar[int]
    FAILURE_REASON_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    ROWS_SENT_FIELD_NUMBER: _ClassVar[int]
    PAGES_SENT_FIELD_NUMBER: _ClassVar[int]
    GRANT_ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    time: _timestamp_pb2.Timestamp
    system_id: str
    department_code: str
    resource_code: str
    provider_department_code: str
    operation: str
    items: _containers.RepeatedScalarFieldContainer[str]
    key: str
    purpose: _common_pb2.PurposeType
    purpose_text: str
    result: AccessResult
    deny_reason: _common_pb2.DenyReason
    trace_id: str
    failure_reason: str
    end_time: _timestamp_pb2.Timestamp
    rows_sent: int
    pages_sent: int
    grant_id: str
    def __init__(self, id: _Optional[str] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., system_id: _Optional[str] = ..., department_code: _Optional[str] = ..., resource_code: _Optional[str] = ..., provider_department_code: _Optional[str] = ..., operation: _Optional[str] = ..., items: _Optional[_Iterable[str]] = ..., key: _Optional[str] = ..., purpose: _Optional[_Union[_common_pb2.PurposeType, str]] = ..., purpose_text: _Optional[str] = ..., result: _Optional[_Union[AccessResult, str]] = ..., deny_reason: _Optional[_Union[_common_pb2.DenyReason, str]] = ..., trace_id: _Optional[str] = ..., failure_reason: _Optional[str] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., rows_sent: _Optional[int] = ..., pages_sent: _Optional[int] = ..., grant_id: _Optional[str] = ...) -> None: ...

class ListAccessesRequest(_message.Message):
    __slots__ = ("resource_code", "department_code", "start_time", "end_time", "page_size", "page_token", "result", "grant_id", "system_id", "deny_reason")
    RESOURCE_CODE_FIELD_NUMBER: _ClassVar[int]
    DEPARTMENT_CODE_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    GRANT_ID_FIELD_NUMBER: _ClassVar[int]
    SYSTEM_ID_FIELD_NUMBER: _ClassVar[int]
    DENY_REASON_FIELD_NUMBER: _ClassVar[int]
    resource_code: str
    department_code: str
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    page_size: int
    page_token: str
    result: AccessResult
    grant_id: str
    system_id: str
    deny_reason: _common_pb2.DenyReason
    def __init__(self, resource_code: _Optional[str] = ..., department_code: _Optional[str] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., result: _Optional[_Union[AccessResult, str]] = ..., grant_id: _Optional[str] = ..., system_id: _Optional[str] = ..., deny_reason: _Optional[_Union[_common_pb2.DenyReason, str]] = ...) -> None: ...

class ListAccessesResponse(_message.Message):
    __slots__ = ("accesses", "next_page_token")
    ACCESSES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    accesses: _containers.RepeatedCompositeFieldContainer[AccessRecord]
    next_page_token: str
    def __init__(self, accesses: _Optional[_Iterable[_Union[AccessRecord, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class UsageRow(_message.Message):
    __slots__ = ("resource_code", "department_code", "purpose", "answered", "denied", "not_found", "invalid", "failed")
    RESOURCE_CODE_FIELD_NUMBER: _ClassVar[int]
    DEPARTMENT_CODE_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    ANSWERED_FIELD_NUMBER: _ClassVar[int]
    DENIED_FIELD_NUMBER: _ClassVar[int]
    NOT_FOUND_FIELD_NUMBER: _ClassVar[int]
    INVALID_FIELD_NUMBER: _ClassVar[int]
    FAILED_FIELD_NUMBER: _ClassVar[int]
    resource_code: str
    department_code: str
    purpose: _common_pb2.PurposeType
    answered: int
    denied: int
    not_found: int
    invalid: int
    failed: int
    def __init__(self, resource_code: _Optional[str] = ..., department_code: _Optional[str] = ..., purpose: _Optional[_Union[_common_pb2.PurposeType, str]] = ..., answered: _Optional[int] = ..., denied: _Optional[int] = ..., not_found: _Optional[int] = ..., invalid: _Optional[int] = ..., failed: _Optional[int] = ...) -> None: ...

class GetUsageSummaryRequest(_message.Message):
    __slots__ = ("resource_code", "start_time", "end_time")
    RESOURCE_CODE_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    resource_code: str
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    def __init__(self, resource_code: _Optional[str] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GetUsageSummaryResponse(_message.Message):
    __slots__ = ("rows",)
    ROWS_FIELD_NUMBER: _ClassVar[int]
    rows: _containers.RepeatedCompositeFieldContainer[UsageRow]
    def __init__(self, rows: _Optional[_Iterable[_Union[UsageRow, _Mapping]]] = ...) -> None: ...

class AuditCheckpoint(_message.Message):
    __slots__ = ("chain_id", "sequence", "hash", "time", "final", "key_id", "signature")
    CHAIN_ID_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    HASH_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    FINAL_FIELD_NUMBER: _ClassVar[int]
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    chain_id: str
    sequence: int
    hash: str
    time: _timestamp_pb2.Timestamp
    final: bool
    key_id: str
    signature: bytes
    def __init__(self, chain_id: _Optional[str] = ..., sequence: _Optional[int] = ..., hash: _Optional[str] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., final: _Optional[bool] = ..., key_id: _Optional[str] = ..., signature: _Optional[bytes] = ...) -> None: ...

class VerifyAuditChainRequest(_message.Message):
    __slots__ = ("checkpoints", "page_size", "page_token")
    CHECKPOINTS_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    checkpoints: _containers.RepeatedCompositeFieldContainer[AuditCheckpoint]
    page_size: int
    page_token: str
    def __init__(self, checkpoints: _Optional[_Iterable[_Union[AuditCheckpoint, _Mapping]]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ChainVerification(_message.Message):
    __slots__ = ("chain_id", "state", "records", "last_sequence", "last_matching_checkpoint", "closed", "first_bad_id", "detail", "unsigned_records")
    CHAIN_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    LAST_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    LAST_MATCHING_CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    CLOSED_FIELD_NUMBER: _ClassVar[int]
    FIRST_BAD_ID_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    UNSIGNED_RECORDS_FIELD_NUMBER: _ClassVar[int]
    chain_id: str
    state: ChainState
    records: int
    last_sequence: int
    last_matching_checkpoint: AuditCheckpoint
    closed: bool
    first_bad_id: str
    detail: str
    unsigned_records: int
    def __init__(self, chain_id: _Optional[str] = ..., state: _Optional[_Union[ChainState, str]] = ..., records: _Optional[int] = ..., last_sequence: _Optional[int] = ..., last_matching_checkpoint: _Optional[_Union[AuditCheckpoint, _Mapping]] = ..., closed: _Optional[bool] = ..., first_bad_id: _Optional[str] = ..., detail: _Optional[str] = ..., unsigned_records: _Optional[int] = ...) -> None: ...

class ForgedCheckpoint(_message.Message):
    __slots__ = ("checkpoint", "reason")
    CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    checkpoint: AuditCheckpoint
    reason: str
    def __init__(self, checkpoint: _Optional[_Union[AuditCheckpoint, _Mapping]] = ..., reason: _Optional[str] = ...) -> None: ...

class VerifyAuditChainResponse(_message.Message):
    __slots__ = ("intact", "records_checked", "first_bad_id", "detail", "chains", "forged_checkpoints", "chains_checked", "next_page_token")
    INTACT_FIELD_NUMBER: _ClassVar[int]
    RECORDS_CHECKED_FIELD_NUMBER: _ClassVar[int]
    FIRST_BAD_ID_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    CHAINS_FIELD_NUMBER: _ClassVar[int]
    FORGED_CHECKPOINTS_FIELD_NUMBER: _ClassVar[int]
    CHAINS_CHECKED_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    intact: bool
    records_checked: int
    first_bad_id: str
    detail: str
    chains: _containers.RepeatedCompositeFieldContainer[ChainVerification]
    forged_checkpoints: _containers.RepeatedCompositeFieldContainer[ForgedCheckpoint]
    chains_checked: int
    next_page_token: str
    def __init__(self, intact: _Optional[bool] = ..., records_checked: _Optional[int] = ..., first_bad_id: _Optional[str] = ..., detail: _Optional[str] = ..., chains: _Optional[_Iterable[_Union[ChainVerification, _Mapping]]] = ..., forged_checkpoints: _Optional[_Iterable[_Union[ForgedCheckpoint, _Mapping]]] = ..., chains_checked: _Optional[int] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class AuditVerification(_message.Message):
    __slots__ = ("id", "state", "result", "records_verified", "records_estimate", "progress_percent", "current_chain_id", "current_sequence", "resume_token", "problems_found", "forged_checkpoints", "chains_checked", "first_bad_chain_id", "first_bad_id", "first_bad_sequence", "detail", "create_time", "update_time", "end_time", "creator_system_id", "cancel_system_id", "pages", "held_checkpoints")
    ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    RECORDS_VERIFIED_FIELD_NUMBER: _ClassVar[int]
    RECORDS_ESTIMATE_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_PERCENT_FIELD_NUMBER: _ClassVar[int]
    CURRENT_CHAIN_ID_FIELD_NUMBER: _ClassVar[int]
    CURRENT_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    RESUME_TOKEN_FIELD_NUMBER: _ClassVar[int]
    PROBLEMS_FOUND_FIELD_NUMBER: _ClassVar[int]
    FORGED_CHECKPOINTS_FIELD_NUMBER: _ClassVar[int]
    CHAINS_CHECKED_FIELD_NUMBER: _ClassVar[int]
    FIRST_BAD_CHAIN_ID_FIELD_NUMBER: _ClassVar[int]
    FIRST_BAD_ID_FIELD_NUMBER: _ClassVar[int]
    FIRST_BAD_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    CREATOR_SYSTEM_ID_FIELD_NUMBER: _ClassVar[int]
    CANCEL_SYSTEM_ID_FIELD_NUMBER: _ClassVar[int]
    PAGES_FIELD_NUMBER: _ClassVar[int]
    HELD_CHECKPOINTS_FIELD_NUMBER: _ClassVar[int]
    id: str
    state: AuditVerificationState
    result: AuditVerificationResult
    records_verified: int
    records_estimate: int
    progress_percent: int
    current_chain_id: str
    current_sequence: int
    resume_token: str
    problems_found: int
    forged_checkpoints: int
    chains_checked: int
    first_bad_chain_id: str
    first_bad_id: str
    first_bad_sequence: int
    detail: str
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    creator_system_id: str
    cancel_system_id: str
    pages: int
    held_checkpoints: int
    def __init__(self, id: _Optional[str] = ..., state: _Optional[_Union[AuditVerificationState, str]] = ..., result: _Optional[_Union[AuditVerificationResult, str]] = ..., records_verified: _Optional[int] = ..., records_estimate: _Optional[int] = ..., progress_percent: _Optional[int] = ..., current_chain_id: _Optional[str] = ..., current_sequence: _Optional[int] = ..., resume_token: _Optional[str] = ..., problems_found: _Optional[int] = ..., forged_checkpoints: _Optional[int] = ..., chains_checked: _Optional[int] = ..., first_bad_chain_id: _Optional[str] = ..., first_bad_id: _Optional[str] = ..., first_bad_sequence: _Optional[int] = ..., detail: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., creator_system_id: _Optional[str] = ..., cancel_system_id: _Optional[str] = ..., pages: _Optional[int] = ..., held_checkpoints: _Optional[int] = ...) -> None: ...

class StartAuditVerificationRequest(_message.Message):
    __slots__ = ("resume_token", "page_size", "checkpoints")
    RESUME_TOKEN_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINTS_FIELD_NUMBER: _ClassVar[int]
    resume_token: str
    page_size: int
    checkpoints: _containers.RepeatedCompositeFieldContainer[AuditCheckpoint]
    def __init__(self, resume_token: _Optional[str] = ..., page_size: _Optional[int] = ..., checkpoints: _Optional[_Iterable[_Union[AuditCheckpoint, _Mapping]]] = ...) -> None: ...

class StartAuditVerificationResponse(_message.Message):
    __slots__ = ("verification",)
    VERIFICATION_FIELD_NUMBER: _ClassVar[int]
    verification: AuditVerification
    def __init__(self, verification: _Optional[_Union[AuditVerification, _Mapping]] = ...) -> None: ...

class GetAuditVerificationRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class GetAuditVerificationResponse(_message.Message):
    __slots__ = ("verification",)
    VERIFICATION_FIELD_NUMBER: _ClassVar[int]
    verification: AuditVerification
    def __init__(self, verification: _Optional[_Union[AuditVerification, _Mapping]] = ...) -> None: ...

class ListAuditVerificationsRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListAuditVerificationsResponse(_message.Message):
    __slots__ = ("verifications", "next_page_token")
    VERIFICATIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    verifications: _containers.RepeatedCompositeFieldContainer[AuditVerification]
    next_page_token: str
    def __init__(self, verifications: _Optional[_Iterable[_Union[AuditVerification, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class CancelAuditVerificationRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class CancelAuditVerificationResponse(_message.Message):
    __slots__ = ("verification",)
    VERIFICATION_FIELD_NUMBER: _ClassVar[int]
    verification: AuditVerification
    def __init__(self, verification: _Optional[_Union[AuditVerification, _Mapping]] = ...) -> None: ...

class ExportAuditCheckpointsRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ExportAuditCheckpointsResponse(_message.Message):
    __slots__ = ("checkpoints", "next_page_token", "key_id", "public_key_pem")
    CHECKPOINTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    PUBLIC_KEY_PEM_FIELD_NUMBER: _ClassVar[int]
    checkpoints: _containers.RepeatedCompositeFieldContainer[AuditCheckpoint]
    next_page_token: str
    key_id: str
    public_key_pem: str
    def __init__(self, checkpoints: _Optional[_Iterable[_Union[AuditCheckpoint, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., key_id: _Optional[str] = ..., public_key_pem: _Optional[str] = ...) -> None: ...

class ListSubjectAccessesRequest(_message.Message):
    __slots__ = ("citizen_id", "credit_code", "purpose", "start_time", "end_time", "page_size", "page_token")
    CITIZEN_ID_FIELD_NUMBER: _ClassVar[int]
    CREDIT_CODE_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    citizen_id: str
    credit_code: str
    purpose: _common_pb2.Purpose
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    page_size: int
    page_token: str
    def __init__(self, citizen_id: _Optional[str] = ..., credit_code: _Optional[str] = ..., purpose: _Optional[_Union[_common_pb2.Purpose, _Mapping]] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class SubjectAccess(_message.Message):
    __slots__ = ("id", "time", "department_code", "system_id", "resource_code", "provider_department_code", "operation", "items", "purpose", "purpose_text", "result")
    ID_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    DEPARTMENT_CODE_FIELD_NUMBER: _ClassVar[int]
    SYSTEM_ID_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_CODE_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_DEPARTMENT_CODE_FIELD_NUMBER: _ClassVar[int]
    OPERATION_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_TEXT_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    id: str
    time: _timestamp_pb2.Timestamp
    department_code: str
    system_id: str
    resource_code: str
    provider_department_code: str
    operation: str
    items: _containers.RepeatedScalarFieldContainer[str]
    purpose: _common_pb2.PurposeType
    purpose_text: str
    result: AccessResult
    def __init__(self, id: _Optional[str] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., department_code: _Optional[str] = ..., system_id: _Optional[str] = ..., resource_code: _Optional[str] = ..., provider_department_code: _Optional[str] = ..., operation: _Optional[str] = ..., items: _Optional[_Iterable[str]] = ..., purpose: _Optional[_Union[_common_pb2.PurposeType, str]] = ..., purpose_text: _Optional[str] = ..., result: _Optional[_Union[AccessResult, str]] = ...) -> None: ...

class ListSubjectAccessesResponse(_message.Message):
    __slots__ = ("accesses", "next_page_token", "lookup_audit_id")
    ACCESSES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    LOOKUP_AUDIT_ID_FIELD_NUMBER: _ClassVar[int]
    accesses: _containers.RepeatedCompositeFieldContainer[SubjectAccess]
    next_page_token: str
    lookup_audit_id: str
    def __init__(self, accesses: _Optional[_Iterable[_Union[SubjectAccess, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., lookup_audit_id: _Optional[str] = ...) -> None: ...
