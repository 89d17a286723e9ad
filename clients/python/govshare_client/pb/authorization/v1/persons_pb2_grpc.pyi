"""Typed stubs of govshare/authorization/v1/persons.proto (written by scripts/typed_stubs.py: do not edit)."""

from typing import Any

from govshare_client import calls

import grpc
import grpc.aio
import govshare_client.pb.authorization.v1.persons_pb2 as _govshare_client_pb_authorization_v1_persons_pb2

GRPC_GENERATED_VERSION: str
GRPC_VERSION: str


class SessionServiceStub:
    """Sign-in for persons (the officials who use the console): a short-lived person access token, an EdDSA
    JWT signed like a system's token (same issuer and audience), whose subject is the person and whose
    claims carry the department and the roles. Every service accepts it as the person.

    SignIn, EnrolTotp and ExchangeOidcToken pass the edge without a token (the credentials are in the request).
    Failures are UNAUTHENTICATED with an ErrorInfo reason the console can act on: BAD_CREDENTIALS (unknown
    username or wrong password: one message for both), ACCOUNT_LOCKED (metadata lock_expire_time), TOTP_REQUIRED,
    TOTP_INVALID, TOTP_REUSED (a code already used: not counted toward the lock), TOTP_SUPERSEDED (a code older
    than the last one accepted: not counted either), TOTP_ENROLMENT_REQUIRED (an
    administrator reset the TOTP secret: enrol one with EnrolTotp first), ACCOUNT_DISABLED,
    OIDC_TOKEN_INVALID, OIDC_TOKEN_REPLAYED (an ID token signs in once),
    UNKNOWN_PERSON, OIDC_NOT_CONFIGURED (FAILED_PRECONDITION);
    an expired person token is UNAUTHENTICATED with reason SESSION_EXPIRED at every service, and a token the
    person's account no longer accepts with PERSON_DISABLED (the administrator disabled the person), ROLES_CHANGED
    (sign in again to act with the new roles) or SESSION_ENDED (signed out, or the password or TOTP was reset).
    """
    def __init__(self, channel: grpc.Channel) -> None: ...

    SignIn: calls.UnaryUnary[_govshare_client_pb_authorization_v1_persons_pb2.SignInRequest, _govshare_client_pb_authorization_v1_persons_pb2.SignInResponse]
    """Signs a person in with a local account: username, password and the current TOTP code."""
    EnrolTotp: calls.UnaryUnary[_govshare_client_pb_authorization_v1_persons_pb2.EnrolTotpRequest, _govshare_client_pb_authorization_v1_persons_pb2.EnrolTotpResponse]
    """Enrols the authenticator of a person whose TOTP secret an administrator reset (SignIn refuses them
    TOTP_ENROLMENT_REQUIRED): their username and password, checked as SignIn checks them, give a new secret's
    provisioning URI, shown to them alone. The secret counts once a SignIn with a code of it succeeds; until then
    EnrolTotp again replaces it. A person whose secret is enrolled is FAILED_PRECONDITION TOTP_ENROLLED.
    """
    ExchangeOidcToken: calls.UnaryUnary[_govshare_client_pb_authorization_v1_persons_pb2.ExchangeOidcTokenRequest, _govshare_client_pb_authorization_v1_persons_pb2.ExchangeOidcTokenResponse]
    """Signs a person in with an ID token from the province's OpenID Connect provider (e.g. Keycloak). An ID token
    signs in once: presented again until it expires, UNAUTHENTICATED OIDC_TOKEN_REPLAYED.
    """
    RefreshSession: calls.UnaryUnary[_govshare_client_pb_authorization_v1_persons_pb2.RefreshSessionRequest, _govshare_client_pb_authorization_v1_persons_pb2.RefreshSessionResponse]
    """A fresh token for the signed-in person (same roles as now), never beyond the session's absolute end."""
    SignOut: calls.UnaryUnary[_govshare_client_pb_authorization_v1_persons_pb2.SignOutRequest, _govshare_client_pb_authorization_v1_persons_pb2.SignOutResponse]
    """Signs the person out: every token issued to them until now is refused, on every service, at once."""
    GetCurrentPerson: calls.UnaryUnary[_govshare_client_pb_authorization_v1_persons_pb2.GetCurrentPersonRequest, _govshare_client_pb_authorization_v1_persons_pb2.GetCurrentPersonResponse]
    """The signed-in person (from the directory, not from the token: roles changed since are shown)."""
    ChangePassword: calls.UnaryUnary[_govshare_client_pb_authorization_v1_persons_pb2.ChangePasswordRequest, _govshare_client_pb_authorization_v1_persons_pb2.ChangePasswordResponse]
    """The signed-in person changes their own password (the current one and a TOTP code required)."""


class SessionServiceAsyncStub:
    """Sign-in for persons (the officials who use the console): a short-lived person access token, an EdDSA
    JWT signed like a system's token (same issuer and audience), whose subject is the person and whose
    claims carry the department and the roles. Every service accepts it as the person.

    SignIn, EnrolTotp and ExchangeOidcToken pass the edge without a token (the credentials are in the request).
    Failures are UNAUTHENTICATED with an ErrorInfo reason the console can act on: BAD_CREDENTIALS (unknown
    username or wrong password: one message for both), ACCOUNT_LOCKED (metadata lock_expire_time), TOTP_REQUIRED,
    TOTP_INVALID, TOTP_REUSED (a code already used: not counted toward the lock), TOTP_SUPERSEDED (a code older
    than the last one accepted: not counted either), TOTP_ENROLMENT_REQUIRED (an
    administrator reset the TOTP secret: enrol one with EnrolTotp first), ACCOUNT_DISABLED,
    OIDC_TOKEN_INVALID, OIDC_TOKEN_REPLAYED (an ID token signs in once),
    UNKNOWN_PERSON, OIDC_NOT_CONFIGURED (FAILED_PRECONDITION);
    an expired person token is UNAUTHENTICATED with reason SESSION_EXPIRED at every service, and a token the
    person's account no longer accepts with PERSON_DISABLED (the administrator disabled the person), ROLES_CHANGED
    (sign in again to act with the new roles) or SESSION_ENDED (signed out, or the password or TOTP was reset).
    """
    def __init__(self, channel: grpc.aio.Channel) -> None: ...

    SignIn: calls.AsyncUnaryUnary[_govshare_client_pb_authorization_v1_persons_pb2.SignInRequest, _govshare_client_pb_authorization_v1_persons_pb2.SignInResponse]
    """Signs a person in with a local account: username, password and the current TOTP code."""
    EnrolTotp: calls.AsyncUnaryUnary[_govshare_client_pb_authorization_v1_persons_pb2.EnrolTotpRequest, _govshare_client_pb_authorization_v1_persons_pb2.EnrolTotpResponse]
    """Enrols the authenticator of a person whose TOTP secret an administrator reset (SignIn refuses them
    TOTP_ENROLMENT_REQUIRED): their username and password, checked as SignIn checks them, give a new secret's
    provisioning URI, shown to them alone. The secret counts once a SignIn with a code of it succeeds; until then
    EnrolTotp again replaces it. A person whose secret is enrolled is FAILED_PRECONDITION TOTP_ENROLLED.
    """
    ExchangeOidcToken: calls.AsyncUnaryUnary[_govshare_client_pb_authorization_v1_persons_pb2.ExchangeOidcTokenRequest, _govshare_client_pb_authorization_v1_persons_pb2.ExchangeOidcTokenResponse]
    """Signs a person in with an ID token from the province's OpenID Connect provider (e.g. Keycloak). An ID token
    signs in once: presented again until it expires, UNAUTHENTICATED OIDC_TOKEN_REPLAYED.
    """
    RefreshSession: calls.AsyncUnaryUnary[_govshare_client_pb_authorization_v1_persons_pb2.RefreshSessionRequest, _govshare_client_pb_authorization_v1_persons_pb2.RefreshSessionResponse]
    """A fresh token for the signed-in person (same roles as now), never beyond the session's absolute end."""
    SignOut: calls.AsyncUnaryUnary[_govshare_client_pb_authorization_v1_persons_pb2.SignOutRequest, _govshare_client_pb_authorization_v1_persons_pb2.SignOutResponse]
    """Signs the person out: every token issued to them until now is refused, on every service, at once."""
    GetCurrentPerson: calls.AsyncUnaryUnary[_govshare_client_pb_authorization_v1_persons_pb2.GetCurrentPersonRequest, _govshare_client_pb_authorization_v1_persons_pb2.GetCurrentPersonResponse]
    """The signed-in person (from the directory, not from the token: roles changed since are shown)."""
    ChangePassword: calls.AsyncUnaryUnary[_govshare_client_pb_authorization_v1_persons_pb2.ChangePasswordRequest, _govshare_client_pb_authorization_v1_persons_pb2.ChangePasswordResponse]
    """The signed-in person changes their own password (the current one and a TOTP code required)."""


class SessionServiceServicer:
    def SignIn(self, request: _govshare_client_pb_authorization_v1_persons_pb2.SignInRequest, context: Any) -> Any: ...
    def EnrolTotp(self, request: _govshare_client_pb_authorization_v1_persons_pb2.EnrolTotpRequest, context: Any) -> Any: ...
    def ExchangeOidcToken(self, request: _govshare_client_pb_authorization_v1_persons_pb2.ExchangeOidcTokenRequest, context: Any) -> Any: ...
    def RefreshSession(self, request: _govshare_client_pb_authorization_v1_persons_pb2.RefreshSessionRequest, context: Any) -> Any: ...
    def SignOut(self, request: _govshare_client_pb_authorization_v1_persons_pb2.SignOutRequest, context: Any) -> Any: ...
    def GetCurrentPerson(self, request: _govshare_client_pb_authorization_v1_persons_pb2.GetCurrentPersonRequest, context: Any) -> Any: ...
    def ChangePassword(self, request: _govshare_client_pb_authorization_v1_persons_pb2.ChangePasswordRequest, context: Any) -> Any: ...


def add_SessionServiceServicer_to_server(servicer: SessionServiceServicer, server: Any) -> None: ...


class SessionService:
    SignIn: Any
    EnrolTotp: Any
    ExchangeOidcToken: Any
    RefreshSession: Any
    SignOut: Any
    GetCurrentPerson: Any
    ChangePassword: Any


class PersonServiceStub:
    """Persons and their roles: the authority's administrators (PERSON_ROLE_ADMINISTRATOR) only (and the
    authority's own systems, for provisioning). Every change goes to the administrative log.
    """
    def __init__(self, channel: grpc.Channel) -> None: ...

    CreatePerson: calls.UnaryUnary[_govshare_client_pb_authorization_v1_persons_pb2.CreatePersonRequest, _govshare_client_pb_authorization_v1_persons_pb2.CreatePersonResponse]
    """Creates a person; with a password, a local account. Created by an administrator (a person), its TOTP secret
    is the person's to enrol at their first sign-in (SessionService.EnrolTotp), shown to them alone; created by
    the authority's system (provisioning), the secret's provisioning URI is returned once.
    """
    GetPerson: calls.UnaryUnary[_govshare_client_pb_authorization_v1_persons_pb2.GetPersonRequest, _govshare_client_pb_authorization_v1_persons_pb2.GetPersonResponse]
    ListPersons: calls.UnaryUnary[_govshare_client_pb_authorization_v1_persons_pb2.ListPersonsRequest, _govshare_client_pb_authorization_v1_persons_pb2.ListPersonsResponse]
    SetPersonRoles: calls.UnaryUnary[_govshare_client_pb_authorization_v1_persons_pb2.SetPersonRolesRequest, _govshare_client_pb_authorization_v1_persons_pb2.SetPersonRolesResponse]
    """Replaces a person's roles; their tokens issued before are refused (they sign in again with the new roles)."""
    DisablePerson: calls.UnaryUnary[_govshare_client_pb_authorization_v1_persons_pb2.DisablePersonRequest, _govshare_client_pb_authorization_v1_persons_pb2.DisablePersonResponse]
    """Disables a person: no sign-in, and their tokens are refused at once."""
    EnablePerson: calls.UnaryUnary[_govshare_client_pb_authorization_v1_persons_pb2.EnablePersonRequest, _govshare_client_pb_authorization_v1_persons_pb2.EnablePersonResponse]
    ResetPersonPassword: calls.UnaryUnary[_govshare_client_pb_authorization_v1_persons_pb2.ResetPersonPasswordRequest, _govshare_client_pb_authorization_v1_persons_pb2.ResetPersonPasswordResponse]
    """Sets a new password (and unlocks the account); the person's tokens are refused from now on."""
    ResetPersonTotp: calls.UnaryUnary[_govshare_client_pb_authorization_v1_persons_pb2.ResetPersonTotpRequest, _govshare_client_pb_authorization_v1_persons_pb2.ResetPersonTotpResponse]
    """A new TOTP secret; the old authenticator stops working. Reset by an administrator (a person), the secret is
    the person's to enrol at their next sign-in (EnrolTotp), shown to them alone: the administrator is shown
    none, so they cannot produce the person's codes. Reset by the authority's system (provisioning), the new
    secret's provisioning URI is returned once.
    """
    UnlockPerson: calls.UnaryUnary[_govshare_client_pb_authorization_v1_persons_pb2.UnlockPersonRequest, _govshare_client_pb_authorization_v1_persons_pb2.UnlockPersonResponse]
    """Lifts a lock after failed sign-ins before it runs out."""
    ResetPersonIdpBinding: calls.UnaryUnary[_govshare_client_pb_authorization_v1_persons_pb2.ResetPersonIdpBindingRequest, _govshare_client_pb_authorization_v1_persons_pb2.ResetPersonIdpBindingResponse]
    """Undoes the person's binding to the IdP account (iss, sub) of their first OpenID Connect sign-in, so that
    their next sign-in through the IdP binds them afresh: for an IdP account re-created (a new sub) or a new
    realm, which is otherwise OIDC_SUBJECT_MISMATCH for good. The reason is required; it goes to the
    administrative log (person.reset_idp_binding) with the account unbound. The person's tokens are refused from
    now on. FAILED_PRECONDITION IDP_NOT_BOUND when the person is bound to no IdP account.
    """


class PersonServiceAsyncStub:
    """Persons and their roles: the authority's administrators (PERSON_ROLE_ADMINISTRATOR) only (and the
    authority's own systems, for provisioning). Every change goes to the administrative log.
    """
    def __init__(self, channel: grpc.aio.Channel) -> None: ...

    CreatePerson: calls.AsyncUnaryUnary[_govshare_client_pb_authorization_v1_persons_pb2.CreatePersonRequest, _govshare_client_pb_authorization_v1_persons_pb2.CreatePersonResponse]
    """Creates a person; with a password, a local account. Created by an administrator (a person), its TOTP secret
    is the person's to enrol at their first sign-in (SessionService.EnrolTotp), shown to them alone; created by
    the authority's system (provisioning), the secret's provisioning URI is returned once.
    """
    GetPerson: calls.AsyncUnaryUnary[_govshare_client_pb_authorization_v1_persons_pb2.GetPersonRequest, _govshare_client_pb_authorization_v1_persons_pb2.GetPersonResponse]
    ListPersons: calls.AsyncUnaryUnary[_govshare_client_pb_authorization_v1_persons_pb2.ListPersonsRequest, _govshare_client_pb_authorization_v1_persons_pb2.ListPersonsResponse]
    SetPersonRoles: calls.AsyncUnaryUnary[_govshare_client_pb_authorization_v1_persons_pb2.SetPersonRolesRequest, _govshare_client_pb_authorization_v1_persons_pb2.SetPersonRolesResponse]
    """Replaces a person's roles; their tokens issued before are refused (they sign in again with the new roles)."""
    DisablePerson: calls.AsyncUnaryUnary[_govshare_client_pb_authorization_v1_persons_pb2.DisablePersonRequest, _govshare_client_pb_authorization_v1_persons_pb2.DisablePersonResponse]
    """Disables a person: no sign-in, and their tokens are refused at once."""
    EnablePerson: calls.AsyncUnaryUnary[_govshare_client_pb_authorization_v1_persons_pb2.EnablePersonRequest, _govshare_client_pb_authorization_v1_persons_pb2.EnablePersonResponse]
    ResetPersonPassword: calls.AsyncUnaryUnary[_govshare_client_pb_authorization_v1_persons_pb2.ResetPersonPasswordRequest, _govshare_client_pb_authorization_v1_persons_pb2.ResetPersonPasswordResponse]
    """Sets a new password (and unlocks the account); the person's tokens are refused from now on."""
    ResetPersonTotp: calls.AsyncUnaryUnary[_govshare_client_pb_authorization_v1_persons_pb2.ResetPersonTotpRequest, _govshare_client_pb_authorization_v1_persons_pb2.ResetPersonTotpResponse]
    """A new TOTP secret; the old authenticator stops working. Reset by an administrator (a person), the secret is
    the person's to enrol at their next sign-in (EnrolTotp), shown to them alone: the administrator is shown
    none, so they cannot produce the person's codes. Reset by the authority's system (provisioning), the new
    secret's provisioning URI is returned once.
    """
    UnlockPerson: calls.AsyncUnaryUnary[_govshare_client_pb_authorization_v1_persons_pb2.UnlockPersonRequest, _govshare_client_pb_authorization_v1_persons_pb2.UnlockPersonResponse]
    """Lifts a lock after failed sign-ins before it runs out."""
    ResetPersonIdpBinding: calls.AsyncUnaryUnary[_govshare_client_pb_authorization_v1_persons_pb2.ResetPersonIdpBindingRequest, _govshare_client_pb_authorization_v1_persons_pb2.ResetPersonIdpBindingResponse]
    """Undoes the person's binding to the IdP account (iss, sub) of their first OpenID Connect sign-in, so that
    their next sign-in through the IdP binds them afresh: for an IdP account re-created (a new sub) or a new
    realm, which is otherwise OIDC_SUBJECT_MISMATCH for good. The reason is required; it goes to the
    administrative log (person.reset_idp_binding) with the account unbound. The person's tokens are refused from
    now on. FAILED_PRECONDITION IDP_NOT_BOUND when the person is bound to no IdP account.
    """


class PersonServiceServicer:
    def CreatePerson(self, request: _govshare_client_pb_authorization_v1_persons_pb2.CreatePersonRequest, context: Any) -> Any: ...
    def GetPerson(self, request: _govshare_client_pb_authorization_v1_persons_pb2.GetPersonRequest, context: Any) -> Any: ...
    def ListPersons(self, request: _govshare_client_pb_authorization_v1_persons_pb2.ListPersonsRequest, context: Any) -> Any: ...
    def SetPersonRoles(self, request: _govshare_client_pb_authorization_v1_persons_pb2.SetPersonRolesRequest, context: Any) -> Any: ...
    def DisablePerson(self, request: _govshare_client_pb_authorization_v1_persons_pb2.DisablePersonRequest, context: Any) -> Any: ...
    def EnablePerson(self, request: _govshare_client_pb_authorization_v1_persons_pb2.EnablePersonRequest, context: Any) -> Any: ...
    def ResetPersonPassword(self, request: _govshare_client_pb_authorization_v1_persons_pb2.ResetPersonPasswordRequest, context: Any) -> Any: ...
    def ResetPersonTotp(self, request: _govshare_client_pb_authorization_v1_persons_pb2.ResetPersonTotpRequest, context: Any) -> Any: ...
    def UnlockPerson(self, request: _govshare_client_pb_authorization_v1_persons_pb2.UnlockPersonRequest, context: Any) -> Any: ...
    def ResetPersonIdpBinding(self, request: _govshare_client_pb_authorization_v1_persons_pb2.ResetPersonIdpBindingRequest, context: Any) -> Any: ...


def add_PersonServiceServicer_to_server(servicer: PersonServiceServicer, server: Any) -> None: ...


class PersonService:
    CreatePerson: Any
    GetPerson: Any
    ListPersons: Any
    SetPersonRoles: Any
    DisablePerson: Any
    EnablePerson: Any
    ResetPersonPassword: Any
    ResetPersonTotp: Any
    UnlockPerson: Any
    ResetPersonIdpBinding: Any
