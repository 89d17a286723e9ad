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

class ApplicationState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    APPLICATION_STATE_UNSPECIFIED: _ClassVar[ApplicationState]
    APPLICATION_STATE_SUBMITTED: _ClassVar[ApplicationState]
    APPLICATION_STATE_APPROVED: _ClassVar[ApplicationState]
    APPLICATION_STATE_REFUSED: _ClassVar[ApplicationState]
    APPLICATION_STATE_ESCALATED: _ClassVar[ApplicationState]
    APPLICATION_STATE_COORDINATED_GRANTED: _ClassVar[ApplicationState]
    APPLICATION_STATE_COORDINATED_REFUSED: _ClassVar[ApplicationState]
    APPLICATION_STATE_WITHDRAWN: _ClassVar[ApplicationState]
    APPLICATION_STATE_CLOSED: _ClassVar[ApplicationState]

class GrantState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    GRANT_STATE_UNSPECIFIED: _ClassVar[GrantState]
    GRANT_STATE_ACTIVE: _ClassVar[GrantState]
    GRANT_STATE_REVOKED: _ClassVar[GrantState]
    GRANT_STATE_EXPIRED: _ClassVar[GrantState]
    GRANT_STATE_ENDED: _ClassVar[GrantState]

class ApplicationRole(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    APPLICATION_ROLE_UNSPECIFIED: _ClassVar[ApplicationRole]
    APPLICATION_ROLE_APPLICANT: _ClassVar[ApplicationRole]
    APPLICATION_ROLE_PROVIDER: _ClassVar[ApplicationRole]

class ReplyDecision(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    REPLY_DECISION_UNSPECIFIED: _ClassVar[ReplyDecision]
    REPLY_DECISION_APPROVE: _ClassVar[ReplyDecision]
    REPLY_DECISION_REFUSE: _ClassVar[ReplyDecision]
APPLICATION_STATE_UNSPECIFIED: ApplicationState
APPLICATION_STATE_SUBMITTED: ApplicationState
APPLICATION_STATE_APPROVED: ApplicationState
APPLICATION_STATE_REFUSED: ApplicationState
APPLICATION_STATE_ESCALATED: ApplicationState
APPLICATION_STATE_COORDINATED_GRANTED: ApplicationState
APPLICATION_STATE_COORDINATED_REFUSED: ApplicationState
APPLICATION_STATE_WITHDRAWN: ApplicationState
APPLICATION_STATE_CLOSED: ApplicationState
GRANT_STATE_UNSPECIFIED: GrantState
GRANT_STATE_ACTIVE: GrantState
GRANT_STATE_REVOKED: GrantState
GRANT_STATE_EXPIRED: GrantState
GRANT_STATE_ENDED: GrantState
APPLICATION_ROLE_UNSPECIFIED: ApplicationRole
APPLICATION_ROLE_APPLICANT: ApplicationRole
APPLICATION_ROLE_PROVIDER: ApplicationRole
REPLY_DECISION_UNSPECIFIED: ReplyDecision
REPLY_DECISION_APPROVE: ReplyDecision
REPLY_DECISION_REFUSE: ReplyDecision

class ApplicationEvent(_message.Message):
    __slots__ = ("action", "actor_department_code", "actor_system_id", "note", "time", "actor_display_name")
    ACTION_FIELD_NUMBER: _ClassVar[int]
    ACTOR_DEPARTMENT_CODE_FIELD_NUMBER: _ClassVar[int]
    ACTOR_SYSTEM_ID_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    ACTOR_DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    action: str
    actor_department_code: str
    actor_system_id: str
    note: str
    time: _timestamp_pb2.Timestamp
    actor_display_name: str
    def __init__(self, action: _Optional[str] = ..., actor_department_code: _Optional[str] = ..., actor_system_id: _Optional[str] = ..., note: _Optional[str] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., actor_display_name: _Optional[str] = ...) -> None: ...

class Application(_message.Message):
    __slots__ = ("id", "applicant_department_code", "system_ids", "resource_code", "provider_department_code", "items", "purposes", "purpose_text", "basis", "requested_expire_time", "methods", "quota", "state", "reply_due_time", "overdue", "reply_reason", "grant_id", "history", "create_time", "reply_due_time_provisional", "replied_by", "coordinated_by", "coordination_reason")
    ID_FIELD_NUMBER: _ClassVar[int]
    APPLICANT_DEPARTMENT_CODE_FIELD_NUMBER: _ClassVar[int]
    SYSTEM_IDS_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_CODE_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_DEPARTMENT_CODE_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    PURPOSES_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_TEXT_FIELD_NUMBER: _ClassVar[int]
    BASIS_FIELD_NUMBER: _ClassVar[int]
    REQUESTED_EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    METHODS_FIELD_NUMBER: _ClassVar[int]
    QUOTA_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    REPLY_DUE_TIME_FIELD_NUMBER: _ClassVar[int]
    OVERDUE_FIELD_NUMBER: _ClassVar[int]
    REPLY_REASON_FIELD_NUMBER: _ClassVar[int]
    GRANT_ID_FIELD_NUMBER: _ClassVar[int]
    HISTORY_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    REPLY_DUE_TIME_PROVISIONAL_FIELD_NUMBER: _ClassVar[int]
    REPLIED_BY_FIELD_NUMBER: _ClassVar[int]
    COORDINATED_BY_FIELD_NUMBER: _ClassVar[int]
    COORDINATION_REASON_FIELD_NUMBER: _ClassVar[int]
    id: str
    applicant_department_code: str
    system_ids: _containers.RepeatedScalarFieldContainer[str]
    resource_code: str
    provider_department_code: str
    items: _containers.RepeatedScalarFieldContainer[str]
    purposes: _containers.RepeatedScalarFieldContainer[_common_pb2.PurposeType]
    purpose_text: str
    basis: str
    requested_expire_time: _timestamp_pb2.Timestamp
    methods: _containers.RepeatedScalarFieldContainer[_common_pb2.ShareMethod]
    quota: int
    state: ApplicationState
    reply_due_time: _timestamp_pb2.Timestamp
    overdue: bool
    reply_reason: str
    grant_id: str
    history: _containers.RepeatedCompositeFieldContainer[ApplicationEvent]
    create_time: _timestamp_pb2.Timestamp
    reply_due_time_provisional: bool
    replied_by: _common_pb2.Actor
    coordinated_by: _common_pb2.Actor
    coordination_reason: str
    def __init__(self, id: _Optional[str] = ..., applicant_department_code: _Optional[str] = ..., system_ids: _Optional[_Iterable[str]] = ..., resource_code: _Optional[str] = ..., provider_department_code: _Optional[str] = ..., items: _Optional[_Iterable[str]] = ..., purposes: _Optional[_Iterable[_Union[_common_pb2.PurposeType, str]]] = ..., purpose_text: _Optional[str] = ..., basis: _Optional[str] = ..., requested_expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., methods: _Optional[_Iterable[_Union[_common_pb2.ShareMethod, str]]] = ..., quota: _Optional[int] = ..., state: _Optional[_Union[ApplicationState, str]] = ..., reply_due_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., overdue: _Optional[bool] = ..., reply_reason: _Optional[str] = ..., grant_id: _Optional[str] = ..., history: _Optional[_Iterable[_Union[ApplicationEvent, _Mapping]]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., reply_due_time_provisional: _Optional[bool] = ..., replied_by: _Optional[_Union[_common_pb2.Actor, _Mapping]] = ..., coordinated_by: _Optional[_Union[_common_pb2.Actor, _Mapping]] = ..., coordination_reason: _Optional[str] = ...) -> None: ...

class Grant(_message.Message):
    __slots__ = ("id", "application_id", "department_code", "system_ids", "resource_code", "items", "unmasked_items", "purposes", "methods", "expire_time", "quota", "state", "revoke_reason", "policy_version", "create_time", "confidential", "release_time", "granted_by", "changed_by", "etag", "lapsed_items")
    ID_FIELD_NUMBER: _ClassVar[int]
    APPLICATION_ID_FIELD_NUMBER: _ClassVar[int]
    DEPARTMENT_CODE_FIELD_NUMBER: _ClassVar[int]
    SYSTEM_IDS_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_CODE_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    UNMASKED_ITEMS_FIELD_NUMBER: _ClassVar[int]
    PURPOSES_FIELD_NUMBER: _ClassVar[int]
    METHODS_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    QUOTA_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    REVOKE_REASON_FIELD_NUMBER: _ClassVar[int]
    POLICY_VERSION_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    CONFIDENTIAL_FIELD_NUMBER: _ClassVar[int]
    RELEASE_TIME_FIELD_NUMBER: _ClassVar[int]
    GRANTED_BY_FIELD_NUMBER: _ClassVar[int]
    CHANGED_BY_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    LAPSED_ITEMS_FIELD_NUMBER: _ClassVar[int]
    id: str
    application_id: str
    department_code: str
    system_ids: _containers.RepeatedScalarFieldContainer[str]
    resource_code: str
    items: _containers.RepeatedScalarFieldContainer[str]
    unmasked_items: _containers.RepeatedScalarFieldContainer[str]
    purposes: _containers.RepeatedScalarFieldContainer[_common_pb2.PurposeType]
    methods: _containers.RepeatedScalarFieldContainer[_common_pb2.ShareMethod]
    expire_time: _timestamp_pb2.Timestamp
    quota: int
    state: GrantState
    revoke_reason: str
    policy_version: int
    create_time: _timestamp_pb2.Timestamp
    confidential: bool
    release_time: _timestamp_pb2.Timestamp
    granted_by: _common_pb2.Actor
    changed_by: _common_pb2.Actor
    etag: str
    lapsed_items: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, id: _Optional[str] = ..., application_id: _Optional[str] = ..., department_code: _Optional[str] = ..., system_ids: _Optional[_Iterable[str]] = ..., resource_code: _Optional[str] = ..., items: _Optional[_Iterable[str]] = ..., unmasked_items: _Optional[_Iterable[str]] = ..., purposes: _Optional[_Iterable[_Union[_common_pb2.PurposeType, str]]] = ..., methods: _Optional[_Iterable[_Union[_common_pb2.ShareMethod, str]]] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., quota: _Optional[int] = ..., state: _Optional[_Union[GrantState, str]] = ..., revoke_reason: _Optional[str] = ..., policy_version: _Optional[int] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., confidential: _Optional[bool] = ..., release_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., granted_by: _Optional[_Union[_common_pb2.Actor, _Mapping]] = ..., changed_by: _Optional[_Union[_common_pb2.Actor, _Mapping]] = ..., etag: _Optional[str] = ..., lapsed_items: _Optional[_Iterable[str]] = ...) -> None: ...

class SubmitApplicationRequest(_message.Message):
    __slots__ = ("application", "request_id")
    APPLICATION_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    application: Application
    request_id: str
    def __init__(self, application: _Optional[_Union[Application, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class SubmitApplicationResponse(_message.Message):
    __slots__ = ("application",)
    APPLICATION_FIELD_NUMBER: _ClassVar[int]
    application: Application
    def __init__(self, application: _Optional[_Union[Application, _Mapping]] = ...) -> None: ...

class GetApplicationRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class GetApplicationResponse(_message.Message):
    __slots__ = ("application",)
    APPLICATION_FIELD_NUMBER: _ClassVar[int]
    application: Application
    def __init__(self, application: _Optional[_Union[Application, _Mapping]] = ...) -> None: ...

class ListApplicationsRequest(_message.Message):
    __slots__ = ("role", "state", "overdue_only", "page_size", "page_token", "order_by")
    ROLE_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    OVERDUE_ONLY_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    ORDER_BY_FIELD_NUMBER: _ClassVar[int]
    role: ApplicationRole
    state: ApplicationState
    overdue_only: bool
    page_size: int
    page_token: str
    order_by: str
    def __init__(self, role: _Optional[_Union[ApplicationRole, str]] = ..., state: _Optional[_Union[ApplicationState, str]] = ..., overdue_only: _Optional[bool] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., order_by: _Optional[str] = ...) -> None: ...

class ListApplicationsResponse(_message.Message):
    __slots__ = ("applications", "next_page_token")
    APPLICATIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    applications: _containers.RepeatedCompositeFieldContainer[Application]
    next_page_token: str
    def __init__(self, applications: _Optional[_Iterable[_Union[Application, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ReplyApplicationRequest(_message.Message):
    __slots__ = ("id", "decision", "reason", "items", "unmasked_items", "expire_time", "quota", "purposes")
    ID_FIELD_NUMBER: _ClassVar[int]
    DECISION_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    UNMASKED_ITEMS_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    QUOTA_FIELD_NUMBER: _ClassVar[int]
    PURPOSES_FIELD_NUMBER: _ClassVar[int]
    id: str
    decision: ReplyDecision
    reason: str
    items: _containers.RepeatedScalarFieldContainer[str]
    unmasked_items: _containers.RepeatedScalarFieldContainer[str]
    expire_time: _timestamp_pb2.Timestamp
    quota: int
    purposes: _containers.RepeatedScalarFieldContainer[_common_pb2.PurposeType]
    def __init__(self, id: _Optional[str] = ..., decision: _Optional[_Union[ReplyDecision, str]] = ..., reason: _Optional[str] = ..., items: _Optional[_Iterable[str]] = ..., unmasked_items: _Optional[_Iterable[str]] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., quota: _Optional[int] = ..., purposes: _Optional[_Iterable[_Union[_common_pb2.PurposeType, str]]] = ...) -> None: ...

class ReplyApplicationResponse(_message.Message):
    __slots__ = ("application", "grant")
    APPLICATION_FIELD_NUMBER: _ClassVar[int]
    GRANT_FIELD_NUMBER: _ClassVar[int]
    application: Application
    grant: Grant
    def __init__(self, application: _Optional[_Union[Application, _Mapping]] = ..., grant: _Optional[_Union[Grant, _Mapping]] = ...) -> None: ...

class EscalateApplicationRequest(_message.Message):
    __slots__ = ("id", "reason")
    ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    id: str
    reason: str
    def __init__(self, id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class EscalateApplicationResponse(_message.Message):
    __slots__ = ("application",)
    APPLICATION_FIELD_NUMBER: _ClassVar[int]
    application: Application
    def __init__(self, application: _Optional[_Union[Application, _Mapping]] = ...) -> None: ...

class WithdrawApplicationRequest(_message.Message):
    __slots__ = ("id", "reason")
    ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    id: str
    reason: str
    def __init__(self, id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class WithdrawApplicationResponse(_message.Message):
    __slots__ = ("application",)
    APPLICATION_FIELD_NUMBER: _ClassVar[int]
    application: Application
    def __init__(self, application: _Optional[_Union[Application, _Mapping]] = ...) -> None: ...

class RecordCoordinationDecisionRequest(_message.Message):
    __slots__ = ("id", "grant", "reason", "items", "expire_time", "quota", "unmasked_items", "purposes")
    ID_FIELD_NUMBER: _ClassVar[int]
    GRANT_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    QUOTA_FIELD_NUMBER: _ClassVar[int]
    UNMASKED_ITEMS_FIELD_NUMBER: _ClassVar[int]
    PURPOSES_FIELD_NUMBER: _ClassVar[int]
    id: str
    grant: bool
    reason: str
    items: _containers.RepeatedScalarFieldContainer[str]
    expire_time: _timestamp_pb2.Timestamp
    quota: int
    unmasked_items: _containers.RepeatedScalarFieldContainer[str]
    purposes: _containers.RepeatedScalarFieldContainer[_common_pb2.PurposeType]
    def __init__(self, id: _Optional[str] = ..., grant: _Optional[bool] = ..., reason: _Optional[str] = ..., items: _Optional[_Iterable[str]] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., quota: _Optional[int] = ..., unmasked_items: _Optional[_Iterable[str]] = ..., purposes: _Optional[_Iterable[_Union[_common_pb2.PurposeType, str]]] = ...) -> None: ...

class RecordCoordinationDecisionResponse(_message.Message):
    __slots__ = ("application", "grant")
    APPLICATION_FIELD_NUMBER: _ClassVar[int]
    GRANT_FIELD_NUMBER: _ClassVar[int]
    application: Application
    grant: Grant
    def __init__(self, application: _Optional[_Union[Application, _Mapping]] = ..., grant: _Optional[_Union[Grant, _Mapping]] = ...) -> None: ...

class GetGrantRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class GetGrantResponse(_message.Message):
    __slots__ = ("grant",)
    GRANT_FIELD_NUMBER: _ClassVar[int]
    grant: Grant
    def __init__(self, grant: _Optional[_Union[Grant, _Mapping]] = ...) -> None: ...

class ListGrantsRequest(_message.Message):
    __slots__ = ("resource_code", "state", "page_size", "page_token", "role", "expire_before", "provider_adjusted_after")
    RESOURCE_CODE_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_BEFORE_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_ADJUSTED_AFTER_FIELD_NUMBER: _ClassVar[int]
    resource_code: str
    state: GrantState
    page_size: int
    page_token: str
    role: ApplicationRole
    expire_before: _timestamp_pb2.Timestamp
    provider_adjusted_after: _timestamp_pb2.Timestamp
    def __init__(self, resource_code: _Optional[str] = ..., state: _Optional[_Union[GrantState, str]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., role: _Optional[_Union[ApplicationRole, str]] = ..., expire_before: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., provider_adjusted_after: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListGrantsResponse(_message.Message):
    __slots__ = ("grants", "next_page_token")
    GRANTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    grants: _containers.RepeatedCompositeFieldContainer[Grant]
    next_page_token: str
    def __init__(self, grants: _Optional[_Iterable[_Union[Grant, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class UpdateGrantRequest(_message.Message):
    __slots__ = ("grant", "update_mask", "reason")
    GRANT_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    grant: Grant
    update_mask: _field_mask_pb2.FieldMask
    reason: str
    def __init__(self, grant: _Optional[_Union[Grant, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ..., reason: _Optional[str] = ...) -> None: ...

class UpdateGrantResponse(_message.Message):
    __slots__ = ("grant",)
    GRANT_FIELD_NUMBER: _ClassVar[int]
    grant: Grant
    def __init__(self, grant: _Optional[_Union[Grant, _Mapping]] = ...) -> None: ...

class RevokeGrantRequest(_message.Message):
    __slots__ = ("id", "reason")
    ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    id: str
    reason: str
    def __init__(self, id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class RevokeGrantResponse(_message.Message):
    __slots__ = ("grant",)
    GRANT_FIELD_NUMBER: _ClassVar[int]
    grant: Grant
    def __init__(self, grant: _Optional[_Union[Grant, _Mapping]] = ...) -> None: ...

class SetGrantConfidentialityRequest(_message.Message):
    __slots__ = ("grant_id", "confidential", "release_time", "reason")
    GRANT_ID_FIELD_NUMBER: _ClassVar[int]
    CONFIDENTIAL_FIELD_NUMBER: _ClassVar[int]
    RELEASE_TIME_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    grant_id: str
    confidential: bool
    release_time: _timestamp_pb2.Timestamp
    reason: str
    def __init__(self, grant_id: _Optional[str] = ..., confidential: _Optional[bool] = ..., release_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., reason: _Optional[str] = ...) -> None: ...

class SetGrantConfidentialityResponse(_message.Message):
    __slots__ = ("grant",)
    GRANT_FIELD_NUMBER: _ClassVar[int]
    grant: Grant
    def __init__(self, grant: _Optional[_Union[Grant, _Mapping]] = ...) -> None: ...
