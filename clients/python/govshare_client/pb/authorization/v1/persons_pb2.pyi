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

class PersonRole(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PERSON_ROLE_UNSPECIFIED: _ClassVar[PersonRole]
    PERSON_ROLE_DATA_OFFICER: _ClassVar[PersonRole]
    PERSON_ROLE_APPROVER: _ClassVar[PersonRole]
    PERSON_ROLE_APPLICANT: _ClassVar[PersonRole]
    PERSON_ROLE_REVIEWER: _ClassVar[PersonRole]
    PERSON_ROLE_AUDITOR: _ClassVar[PersonRole]
    PERSON_ROLE_ADMINISTRATOR: _ClassVar[PersonRole]

class PersonState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PERSON_STATE_UNSPECIFIED: _ClassVar[PersonState]
    PERSON_STATE_ACTIVE: _ClassVar[PersonState]
    PERSON_STATE_DISABLED: _ClassVar[PersonState]
PERSON_ROLE_UNSPECIFIED: PersonRole
PERSON_ROLE_DATA_OFFICER: PersonRole
PERSON_ROLE_APPROVER: PersonRole
PERSON_ROLE_APPLICANT: PersonRole
PERSON_ROLE_REVIEWER: PersonRole
PERSON_ROLE_AUDITOR: PersonRole
PERSON_ROLE_ADMINISTRATOR: PersonRole
PERSON_STATE_UNSPECIFIED: PersonState
PERSON_STATE_ACTIVE: PersonState
PERSON_STATE_DISABLED: PersonState

class Person(_message.Message):
    __slots__ = ("id", "username", "display_name", "department_code", "roles", "state", "lock_expire_time", "local_account", "create_time", "etag", "password_change_required", "idp_issuer", "idp_subject", "totp_enrolment_required")
    ID_FIELD_NUMBER: _ClassVar[int]
    USERNAME_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    DEPARTMENT_CODE_FIELD_NUMBER: _ClassVar[int]
    ROLES_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    LOCK_EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    LOCAL_ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_CHANGE_REQUIRED_FIELD_NUMBER: _ClassVar[int]
    IDP_ISSUER_FIELD_NUMBER: _ClassVar[int]
    IDP_SUBJECT_FIELD_NUMBER: _ClassVar[int]
    TOTP_ENROLMENT_REQUIRED_FIELD_NUMBER: _ClassVar[int]
    id: str
    username: str
    display_name: str
    department_code: str
    roles: _containers.RepeatedScalarFieldContainer[PersonRole]
    state: PersonState
    lock_expire_time: _timestamp_pb2.Timestamp
    local_account: bool
    create_time: _timestamp_pb2.Timestamp
    etag: str
    password_change_required: bool
    idp_issuer: str
    idp_subject: str
    totp_enrolment_required: bool
    def __init__(self, id: _Optional[str] = ..., username: _Optional[str] = ..., display_name: _Optional[str] = ..., department_code: _Optional[str] = ..., roles: _Optional[_Iterable[_Union[PersonRole, str]]] = ..., state: _Optional[_Union[PersonState, str]] = ..., lock_expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., local_account: _Optional[bool] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., etag: _Optional[str] = ..., password_change_required: _Optional[bool] = ..., idp_issuer: _Optional[str] = ..., idp_subject: _Optional[str] = ..., totp_enrolment_required: _Optional[bool] = ...) -> None: ...

class Session(_message.Message):
    __slots__ = ("token", "expire_time", "session_expire_time", "person")
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    SESSION_EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    PERSON_FIELD_NUMBER: _ClassVar[int]
    token: str
    expire_time: _timestamp_pb2.Timestamp
    session_expire_time: _timestamp_pb2.Timestamp
    person: Person
    def __init__(self, token: _Optional[str] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., session_expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., person: _Optional[_Union[Person, _Mapping]] = ...) -> None: ...

class SignInRequest(_message.Message):
    __slots__ = ("username", "password", "totp_code")
    USERNAME_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_FIELD_NUMBER: _ClassVar[int]
    TOTP_CODE_FIELD_NUMBER: _ClassVar[int]
    username: str
    password: str
    totp_code: str
    def __init__(self, username: _Optional[str] = ..., password: _Optional[str] = ..., totp_code: _Optional[str] = ...) -> None: ...

class SignInResponse(_message.Message):
    __slots__ = ("session",)
    SESSION_FIELD_NUMBER: _ClassVar[int]
    session: Session
    def __init__(self, session: _Optional[_Union[Session, _Mapping]] = ...) -> None: ...

class EnrolTotpRequest(_message.Message):
    __slots__ = ("username", "password")
    USERNAME_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_FIELD_NUMBER: _ClassVar[int]
    username: str
    password: str
    def __init__(self, username: _Optional[str] = ..., password: _Optional[str] = ...) -> None: ...

class EnrolTotpResponse(_message.Message):
    __slots__ = ("totp_provisioning_uri",)
    TOTP_PROVISIONING_URI_FIELD_NUMBER: _ClassVar[int]
    totp_provisioning_uri: str
    def __init__(self, totp_provisioning_uri: _Optional[str] = ...) -> None: ...

class ExchangeOidcTokenRequest(_message.Message):
    __slots__ = ("id_token",)
    ID_TOKEN_FIELD_NUMBER: _ClassVar[int]
    id_token: str
    def __init__(self, id_token: _Optional[str] = ...) -> None: ...

class ExchangeOidcTokenResponse(_message.Message):
    __slots__ = ("session",)
    SESSION_FIELD_NUMBER: _ClassVar[int]
    session: Session
    def __init__(self, session: _Optional[_Union[Session, _Mapping]] = ...) -> None: ...

class RefreshSessionRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class RefreshSessionResponse(_message.Message):
    __slots__ = ("session",)
    SESSION_FIELD_NUMBER: _ClassVar[int]
    session: Session
    def __init__(self, session: _Optional[_Union[Session, _Mapping]] = ...) -> None: ...

class SignOutRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class SignOutResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetCurrentPersonRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetCurrentPersonResponse(_message.Message):
    __slots__ = ("person",)
    PERSON_FIELD_NUMBER: _ClassVar[int]
    person: Person
    def __init__(self, person: _Optional[_Union[Person, _Mapping]] = ...) -> None: ...

class ChangePasswordRequest(_message.Message):
    __slots__ = ("current_password", "new_password", "totp_code")
    CURRENT_PASSWORD_FIELD_NUMBER: _ClassVar[int]
    NEW_PASSWORD_FIELD_NUMBER: _ClassVar[int]
    TOTP_CODE_FIELD_NUMBER: _ClassVar[int]
    current_password: str
    new_password: str
    totp_code: str
    def __init__(self, current_password: _Optional[str] = ..., new_password: _Optional[str] = ..., totp_code: _Optional[str] = ...) -> None: ...

class ChangePasswordResponse(_message.Message):
    __slots__ = ("totp_provisioning_uri",)
    TOTP_PROVISIONING_URI_FIELD_NUMBER: _ClassVar[int]
    totp_provisioning_uri: str
    def __init__(self, totp_provisioning_uri: _Optional[str] = ...) -> None: ...

class CreatePersonRequest(_message.Message):
    __slots__ = ("person", "password")
    PERSON_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_FIELD_NUMBER: _ClassVar[int]
    person: Person
    password: str
    def __init__(self, person: _Optional[_Union[Person, _Mapping]] = ..., password: _Optional[str] = ...) -> None: ...

class CreatePersonResponse(_message.Message):
    __slots__ = ("person", "totp_provisioning_uri")
    PERSON_FIELD_NUMBER: _ClassVar[int]
    TOTP_PROVISIONING_URI_FIELD_NUMBER: _ClassVar[int]
    person: Person
    totp_provisioning_uri: str
    def __init__(self, person: _Optional[_Union[Person, _Mapping]] = ..., totp_provisioning_uri: _Optional[str] = ...) -> None: ...

class GetPersonRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class GetPersonResponse(_message.Message):
    __slots__ = ("person",)
    PERSON_FIELD_NUMBER: _ClassVar[int]
    person: Person
    def __init__(self, person: _Optional[_Union[Person, _Mapping]] = ...) -> None: ...

class ListPersonsRequest(_message.Message):
    __slots__ = ("department_code", "page_size", "page_token", "role", "state", "text")
    DEPARTMENT_CODE_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    department_code: str
    page_size: int
    page_token: str
    role: PersonRole
    state: PersonState
    text: str
    def __init__(self, department_code: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., role: _Optional[_Union[PersonRole, str]] = ..., state: _Optional[_Union[PersonState, str]] = ..., text: _Optional[str] = ...) -> None: ...

class ListPersonsResponse(_message.Message):
    __slots__ = ("persons", "next_page_token")
    PERSONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    persons: _containers.RepeatedCompositeFieldContainer[Person]
    next_page_token: str
    def __init__(self, persons: _Optional[_Iterable[_Union[Person, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class SetPersonRolesRequest(_message.Message):
    __slots__ = ("id", "roles", "etag")
    ID_FIELD_NUMBER: _ClassVar[int]
    ROLES_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    id: str
    roles: _containers.RepeatedScalarFieldContainer[PersonRole]
    etag: str
    def __init__(self, id: _Optional[str] = ..., roles: _Optional[_Iterable[_Union[PersonRole, str]]] = ..., etag: _Optional[str] = ...) -> None: ...

class SetPersonRolesResponse(_message.Message):
    __slots__ = ("person",)
    PERSON_FIELD_NUMBER: _ClassVar[int]
    person: Person
    def __init__(self, person: _Optional[_Union[Person, _Mapping]] = ...) -> None: ...

class DisablePersonRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class DisablePersonResponse(_message.Message):
    __slots__ = ("person",)
    PERSON_FIELD_NUMBER: _ClassVar[int]
    person: Person
    def __init__(self, person: _Optional[_Union[Person, _Mapping]] = ...) -> None: ...

class EnablePersonRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class EnablePersonResponse(_message.Message):
    __slots__ = ("person",)
    PERSON_FIELD_NUMBER: _ClassVar[int]
    person: Person
    def __init__(self, person: _Optional[_Union[Person, _Mapping]] = ...) -> None: ...

class ResetPersonPasswordRequest(_message.Message):
    __slots__ = ("id", "password")
    ID_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_FIELD_NUMBER: _ClassVar[int]
    id: str
    password: str
    def __init__(self, id: _Optional[str] = ..., password: _Optional[str] = ...) -> None: ...

class ResetPersonPasswordResponse(_message.Message):
    __slots__ = ("person",)
    PERSON_FIELD_NUMBER: _ClassVar[int]
    person: Person
    def __init__(self, person: _Optional[_Union[Person, _Mapping]] = ...) -> None: ...

class ResetPersonTotpRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class ResetPersonTotpResponse(_message.Message):
    __slots__ = ("person", "totp_provisioning_uri")
    PERSON_FIELD_NUMBER: _ClassVar[int]
    TOTP_PROVISIONING_URI_FIELD_NUMBER: _ClassVar[int]
    person: Person
    totp_provisioning_uri: str
    def __init__(self, person: _Optional[_Union[Person, _Mapping]] = ..., totp_provisioning_uri: _Optional[str] = ...) -> None: ...

class UnlockPersonRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class UnlockPersonResponse(_message.Message):
    __slots__ = ("person",)
    PERSON_FIELD_NUMBER: _ClassVar[int]
    person: Person
    def __init__(self, person: _Optional[_Union[Person, _Mapping]] = ...) -> None: ...

class ResetPersonIdpBindingRequest(_message.Message):
    __slots__ = ("id", "reason")
    ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    id: str
    reason: str
    def __init__(self, id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class ResetPersonIdpBindingResponse(_message.Message):
    __slots__ = ("person",)
    PERSON_FIELD_NUMBER: _ClassVar[int]
    person: Person
    def __init__(self, person: _Optional[_Union[Person, _Mapping]] = ...) -> None: ...
