"""gRPC servicers for persons (issue 12): SessionService and PersonService, protobuf ↔ domain only."""

from __future__ import annotations

import datetime as dt

import grpc
import jwt
from google.protobuf import timestamp_pb2

from govshare.authorization.v1 import persons_pb2, persons_pb2_grpc
from services.authorization.person_store import PersonRecord
from services.authorization.persons import NewPerson, Persons
from services.authorization.sessions import Sessions, signin_client
from services.runtime import tokens
from services.runtime.callers import AUTHORIZATION_HEADER, bearer_token
from services.runtime.identity import AssertionVerifier
from services.runtime.timestamps import to_timestamp

Context = grpc.aio.ServicerContext


def person_pb(person: PersonRecord) -> persons_pb2.Person:
    locked = person.lock_until is not None and person.lock_until > dt.datetime.now(dt.UTC)
    return persons_pb2.Person(
        id=person.id, username=person.username, display_name=person.display_name,
        department_code=person.department_code, roles=sorted(person.roles),
        state=persons_pb2.PERSON_STATE_DISABLED if person.disabled else persons_pb2.PERSON_STATE_ACTIVE,
        lock_expire_time=to_timestamp(person.lock_until) if locked else None,
        local_account=bool(person.password_hash), create_time=to_timestamp(person.create_time), etag=person.etag,
        password_change_required=person.password_change_required, idp_issuer=person.oidc_issuer or "",
        idp_subject=person.oidc_subject or "",
        totp_enrolment_required=person.totp_enrolment_required and bool(person.password_hash))


def _session_pb(issued: tokens.IssuedToken, session_end: int, person: PersonRecord) -> persons_pb2.Session:
    return persons_pb2.Session(token=issued.token, expire_time=timestamp_pb2.Timestamp(seconds=int(issued.expires_at)),
                               session_expire_time=timestamp_pb2.Timestamp(seconds=session_end),
                               person=person_pb(person))


def _session_end(context: Context) -> int:
    """The ``sx`` claim of the (already verified) token of this call: the session's absolute end."""
    metadata = dict((k, v) for k, v in context.invocation_metadata() or () if k == AUTHORIZATION_HEADER)
    token = bearer_token(metadata.get(AUTHORIZATION_HEADER))  # type: ignore[arg-type]
    return int(jwt.decode(token, options={"verify_signature": False}).get("sx", 0))


class SessionServicer(persons_pb2_grpc.SessionServiceServicer):
    """SignIn, EnrolTotp and ExchangeOidcToken are reached without a token (the edge lets them through): the request's
    credentials authenticate them. The other methods are the signed-in person's."""

    def __init__(self, verifier: AssertionVerifier, sessions: Sessions, forwarders: tuple[str, ...] = ()) -> None:
        self._verifier = verifier
        self._sessions = sessions
        self._forwarders = forwarders

    def _client(self, context: Context) -> str | None:
        """The address this call's failed passwords count against (``sessions.signin_client``)."""
        return signin_client(context.invocation_metadata() or (), self._forwarders)

    async def SignIn(self, request: persons_pb2.SignInRequest, context: Context) -> persons_pb2.SignInResponse:
        issued, end, person = await self._sessions.sign_in(request.username, request.password, request.totp_code,
                                                           self._client(context))
        return persons_pb2.SignInResponse(session=_session_pb(issued, end, person))

    async def EnrolTotp(self, request: persons_pb2.EnrolTotpRequest, context: Context
                        ) -> persons_pb2.EnrolTotpResponse:
        uri = await self._sessions.enrol_totp(request.username, request.password, self._client(context))
        return persons_pb2.EnrolTotpResponse(totp_provisioning_uri=uri)

    async def ExchangeOidcToken(self, request: persons_pb2.ExchangeOidcTokenRequest, context: Context
                                ) -> persons_pb2.ExchangeOidcTokenResponse:
        issued, end, person = await self._sessions.exchange_oidc(request.id_token)
        return persons_pb2.ExchangeOidcTokenResponse(session=_session_pb(issued, end, person))

    async def RefreshSession(self, request: persons_pb2.RefreshSessionRequest, context: Context
                             ) -> persons_pb2.RefreshSessionResponse:
        caller = self._verifier.from_context(context, password_change=True)
        issued, end, person = await self._sessions.refresh(caller, _session_end(context) if caller.is_person else 0)
        return persons_pb2.RefreshSessionResponse(session=_session_pb(issued, end, person))

    async def SignOut(self, request: persons_pb2.SignOutRequest, context: Context) -> persons_pb2.SignOutResponse:
        await self._sessions.sign_out(self._verifier.from_context(context, password_change=True))
        return persons_pb2.SignOutResponse()

    async def GetCurrentPerson(self, request: persons_pb2.GetCurrentPersonRequest, context: Context
                               ) -> persons_pb2.GetCurrentPersonResponse:
        person = await self._sessions.current(self._verifier.from_context(context, password_change=True))
        return persons_pb2.GetCurrentPersonResponse(person=person_pb(person))

    async def ChangePassword(self, request: persons_pb2.ChangePasswordRequest, context: Context
                             ) -> persons_pb2.ChangePasswordResponse:
        # A person signed in with an administrator's password may call this, and only the session's own calls.
        uri = await self._sessions.change_password(self._verifier.from_context(context, password_change=True),
                                                   request.current_password, request.new_password, request.totp_code)
        return persons_pb2.ChangePasswordResponse(totp_provisioning_uri=uri)


class PersonServicer(persons_pb2_grpc.PersonServiceServicer):
    def __init__(self, verifier: AssertionVerifier, persons: Persons) -> None:
        self._verifier = verifier
        self._persons = persons

    async def CreatePerson(self, request: persons_pb2.CreatePersonRequest, context: Context
                           ) -> persons_pb2.CreatePersonResponse:
        caller = self._verifier.from_context(context)
        given = request.person
        created, uri = await self._persons.create(caller, NewPerson(
            username=given.username, display_name=given.display_name, department_code=given.department_code.strip(),
            roles=tuple(given.roles), password=request.password))
        return persons_pb2.CreatePersonResponse(person=person_pb(created), totp_provisioning_uri=uri)

    async def GetPerson(self, request: persons_pb2.GetPersonRequest, context: Context
                        ) -> persons_pb2.GetPersonResponse:
        person = await self._persons.get(self._verifier.from_context(context), request.id)
        return persons_pb2.GetPersonResponse(person=person_pb(person))

    async def ListPersons(self, request: persons_pb2.ListPersonsRequest, context: Context
                          ) -> persons_pb2.ListPersonsResponse:
        persons, token = await self._persons.list(self._verifier.from_context(context), request.department_code,
                                                  request.page_size, request.page_token, request.role,
                                                  request.state, request.text)
        return persons_pb2.ListPersonsResponse(persons=[person_pb(p) for p in persons], next_page_token=token)

    async def SetPersonRoles(self, request: persons_pb2.SetPersonRolesRequest, context: Context
                             ) -> persons_pb2.SetPersonRolesResponse:
        person = await self._persons.set_roles(self._verifier.from_context(context), request.id,
                                               tuple(request.roles), request.etag)
        return persons_pb2.SetPersonRolesResponse(person=person_pb(person))

    async def DisablePerson(self, request: persons_pb2.DisablePersonRequest, context: Context
                            ) -> persons_pb2.DisablePersonResponse:
        person = await self._persons.disable(self._verifier.from_context(context), request.id)
        return persons_pb2.DisablePersonResponse(person=person_pb(person))

    async def EnablePerson(self, request: persons_pb2.EnablePersonRequest, context: Context
                           ) -> persons_pb2.EnablePersonResponse:
        person = await self._persons.enable(self._verifier.from_context(context), request.id)
        return persons_pb2.EnablePersonResponse(person=person_pb(person))

    async def ResetPersonPassword(self, request: persons_pb2.ResetPersonPasswordRequest, context: Context
                                  ) -> persons_pb2.ResetPersonPasswordResponse:
        person = await self._persons.reset_password(self._verifier.from_context(context), request.id,
                                                    request.password)
        return persons_pb2.ResetPersonPasswordResponse(person=person_pb(person))

    async def ResetPersonTotp(self, request: persons_pb2.ResetPersonTotpRequest, context: Context
                              ) -> persons_pb2.ResetPersonTotpResponse:
        person, uri = await self._persons.reset_totp(self._verifier.from_context(context), request.id)
        return persons_pb2.ResetPersonTotpResponse(person=person_pb(person), totp_provisioning_uri=uri)

    async def UnlockPerson(self, request: persons_pb2.UnlockPersonRequest, context: Context
                           ) -> persons_pb2.UnlockPersonResponse:
        person = await self._persons.unlock(self._verifier.from_context(context), request.id)
        return persons_pb2.UnlockPersonResponse(person=person_pb(person))

    async def ResetPersonIdpBinding(self, request: persons_pb2.ResetPersonIdpBindingRequest, context: Context
                                    ) -> persons_pb2.ResetPersonIdpBindingResponse:
        person = await self._persons.reset_idp_binding(self._verifier.from_context(context), request.id,
                                                       request.reason)
        return persons_pb2.ResetPersonIdpBindingResponse(person=person_pb(person))
