"""OpenID Connect sign-in (issue 12): ExchangeOidcToken against a small real IdP.

The IdP is an HTTP server on a socket serving its JWKS, and ID tokens signed with its RSA key by PyJWT (what
Keycloak does, reduced to what the platform relies on). The platform verifies them itself: a second
authorization server, configured for this IdP, over the test platform's database.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
import socket
import time
import uuid
from collections.abc import AsyncIterator, Iterator

import asyncpg
import grpc
import jwt
import pytest
import pytest_asyncio
from cryptography.hazmat.primitives.asymmetric import rsa
from oidc_idp import AUDIENCE, Idp, running_idp

from govshare.authorization.v1 import admin_log_pb2, admin_log_pb2_grpc, persons_pb2, persons_pb2_grpc
from services.authorization.component import create_component
from services.authorization.oidc import JWKS_CACHE_SECONDS, JWKS_REFETCH_SECONDS, OidcVerifier, token_id
from services.authorization.person_store import PersonStore
from services.runtime.errors import ServiceError, details_of
from services.runtime.server import start_server

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def idp() -> Iterator[Idp]:
    with running_idp() as provider:
        yield provider


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def sessions(platform, idp: Idp) -> AsyncIterator[persons_pb2_grpc.SessionServiceStub]:  # type: ignore[no-untyped-def]
    """SessionService of an authorization server that trusts ``idp`` (same database as the platform)."""
    settings = platform.settings["authorization"].with_overrides(
        listen="127.0.0.1:0", jwks_listen="", oidc_issuer=idp.issuer, oidc_jwks_url=idp.jwks_url,
        oidc_audience=AUDIENCE)
    server = await start_server(settings, create_component(settings))
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{server.port}")
    yield persons_pb2_grpc.SessionServiceStub(channel)
    await channel.close()
    await server.stop(0)


async def _person(platform, username: str,  # type: ignore[no-untyped-def]
                  roles: tuple[int, ...] = (persons_pb2.PERSON_ROLE_APPLICANT,)) -> persons_pb2.Person:
    """An OpenID Connect-only person (no password) of the social department."""
    response = await persons_pb2_grpc.PersonServiceStub(platform.channel).CreatePerson(persons_pb2.CreatePersonRequest(
        person=persons_pb2.Person(username=username, display_name="单点登录",
                                  department_code=platform.credentials.systems["social"]["department"],
                                  roles=list(roles))),
        metadata=platform.metadata("authority"), timeout=10)
    assert not response.person.local_account and not response.totp_provisioning_uri
    return response.person


async def _refused(call) -> tuple[grpc.StatusCode, str, str]:  # type: ignore[no-untyped-def]
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    info, _ = details_of(caught.value)
    return caught.value.code(), info.reason if info is not None else "", caught.value.details() or ""


async def test_an_idp_id_token_signs_its_person_in(platform, idp: Idp, sessions) -> None:  # type: ignore[no-untyped-def]
    username = f"sso.{uuid.uuid4().hex[:8]}"
    person = await _person(platform, username)
    exchanged = await sessions.ExchangeOidcToken(persons_pb2.ExchangeOidcTokenRequest(
        id_token=idp.id_token(username)), timeout=10)
    assert exchanged.session.person.id == person.id
    # The platform's own session token, accepted through the edge like any.
    current = await persons_pb2_grpc.SessionServiceStub(platform.channel).GetCurrentPerson(
        persons_pb2.GetCurrentPersonRequest(), metadata=(("authorization", f"Bearer {exchanged.session.token}"),),
        timeout=10)
    assert current.person.username == username
    # An OIDC-only person has no password to sign in with (answered as an unknown username would be).
    code, reason, message = await _refused(sessions.SignIn(persons_pb2.SignInRequest(
        username=username, password="any password at all", totp_code="123456"), timeout=10))
    assert (code, reason) == (grpc.StatusCode.UNAUTHENTICATED, "BAD_CREDENTIALS")
    assert "identity provider" in message


async def test_tokens_the_idp_did_not_issue_for_us_are_refused(platform, idp: Idp, sessions) -> None:  # type: ignore[no-untyped-def]
    username = f"sso.{uuid.uuid4().hex[:8]}"
    await _person(platform, username)
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cases = {
        "bad signature": idp.id_token(username, key=stranger),
        "wrong audience": idp.id_token(username, aud="another-client"),
        "wrong issuer": idp.id_token(username, iss="https://evil.example/realms/gov"),
        "expired": idp.id_token(username, iat=int(time.time()) - 3600, exp=int(time.time()) - 600),
        # The IdP's public key used as an HMAC secret: never accepted (asymmetric algorithms only).
        "no usable key": jwt.encode({"iss": idp.issuer, "aud": AUDIENCE, "sub": "x", "preferred_username": username,
                                     "iat": int(time.time()), "exp": int(time.time()) + 300},
                                    "s" * 32, algorithm="HS256", headers={"kid": idp.kid}),
    }
    for why, token in cases.items():
        code, reason, message = await _refused(sessions.ExchangeOidcToken(
            persons_pb2.ExchangeOidcTokenRequest(id_token=token), timeout=10))
        assert (code, reason) == (grpc.StatusCode.UNAUTHENTICATED, "OIDC_TOKEN_INVALID"), why
        assert why in message or why == "no usable key", (why, message)
    code, reason, _ = await _refused(sessions.ExchangeOidcToken(
        persons_pb2.ExchangeOidcTokenRequest(id_token=idp.id_token("nobody.here")), timeout=10))
    assert (code, reason) == (grpc.StatusCode.UNAUTHENTICATED, "UNKNOWN_PERSON")


async def test_a_token_the_idp_issued_to_another_client_is_refused_though_it_names_us(  # type: ignore[no-untyped-def]
        platform, idp: Idp, sessions) -> None:
    """Only the audience was checked, and PyJWT accepts a token whose ``aud`` list merely holds ours: a token the
    province's IdP issued to another of its applications (Keycloak's access token of a client given an audience
    mapper to the console, ``azp`` naming that client) signed its holder in as the person, so any application of
    the realm that received a person's token could act as them here. OpenID Connect Core 3.1.3.7: a token for
    several audiences names its authorized party (``azp``), and that must be our client. A token the IdP issued to
    us (``azp`` ours, as Keycloak's ID tokens carry it) still signs in."""
    username = f"sso.{uuid.uuid4().hex[:8]}"
    person = await _person(platform, username)
    cases = {
        "issued to client 'other-app'": idp.id_token(username, aud=["other-app", AUDIENCE], azp="other-app"),
        "issued to client 'other-app' ": idp.id_token(username, aud=AUDIENCE, azp="other-app"),
        "names several audiences and no authorized party": idp.id_token(username, aud=["other-app", AUDIENCE]),
    }
    for why, token in cases.items():
        code, reason, message = await _refused(sessions.ExchangeOidcToken(
            persons_pb2.ExchangeOidcTokenRequest(id_token=token), timeout=10))
        assert (code, reason) == (grpc.StatusCode.UNAUTHENTICATED, "OIDC_TOKEN_INVALID"), (why, message)
        assert why.strip() in message, (why, message)
    ours = await sessions.ExchangeOidcToken(persons_pb2.ExchangeOidcTokenRequest(
        id_token=idp.id_token(username, aud=[AUDIENCE], azp=AUDIENCE)), timeout=10)
    assert ours.session.person.id == person.id


async def test_an_idp_account_named_as_a_local_account_does_not_take_it_over(  # type: ignore[no-untyped-def]
        platform, idp: Idp, sessions) -> None:
    """The IdP's username claim (preferred_username) is no stable identifier: an IdP account naming itself as a
    person with a platform password and TOTP (an administrator, a 审批人) signed in as them, past both factors.
    Such a person signs in with their password only: UNAUTHENTICATED LOCAL_ACCOUNT, logged, the token not used up."""
    username = f"local.{uuid.uuid4().hex[:8]}"
    created = await persons_pb2_grpc.PersonServiceStub(platform.channel).CreatePerson(persons_pb2.CreatePersonRequest(
        person=persons_pb2.Person(username=username, display_name="本地账号",
                                  department_code=platform.credentials.systems["police"]["department"],
                                  roles=[persons_pb2.PERSON_ROLE_APPROVER]), password="correct horse battery"),
        metadata=platform.metadata("authority"), timeout=10)
    code, reason, message = await _refused(sessions.ExchangeOidcToken(
        persons_pb2.ExchangeOidcTokenRequest(id_token=idp.id_token(username)), timeout=10))
    assert (code, reason) == (grpc.StatusCode.UNAUTHENTICATED, "LOCAL_ACCOUNT"), message
    assert "platform password" in message
    events = (await admin_log_pb2_grpc.AdminLogServiceStub(platform.channel).ListAdminEvents(
        admin_log_pb2.ListAdminEventsRequest(action="session.sign_in", page_size=1000),
        metadata=platform.metadata("authority"), timeout=10)).events
    assert [e.result for e in events if e.target == created.person.id] == ["LOCAL_ACCOUNT"]


async def test_the_platform_without_an_idp_says_so(platform, idp: Idp) -> None:  # type: ignore[no-untyped-def]
    code, reason, _ = await _refused(persons_pb2_grpc.SessionServiceStub(platform.channel).ExchangeOidcToken(
        persons_pb2.ExchangeOidcTokenRequest(id_token=idp.id_token("anyone")), timeout=10))
    assert (code, reason) == (grpc.StatusCode.FAILED_PRECONDITION, "OIDC_NOT_CONFIGURED")


async def test_an_idp_that_cannot_be_reached_is_unavailable_not_a_refusal(idp: Idp) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    verifier = OidcVerifier(idp.issuer, f"http://127.0.0.1:{port}/certs", AUDIENCE, "preferred_username")
    with pytest.raises(ServiceError) as caught:
        await verifier.verify(idp.id_token("anyone"))
    assert (caught.value.code, caught.value.reason) == (grpc.StatusCode.UNAVAILABLE, "OIDC_PROVIDER_UNAVAILABLE")


async def _refused_naming(verifier: OidcVerifier, token: str, kid: str) -> None:
    with pytest.raises(ServiceError) as caught:
        await verifier.verify(token)
    assert (caught.value.code, caught.value.reason) == (grpc.StatusCode.UNAUTHENTICATED, "OIDC_TOKEN_INVALID")
    assert f"names key '{kid}', which the provider's JWKS does not publish" in caught.value.message


async def test_the_key_an_idp_rotates_to_signs_in_at_once_and_an_unknown_key_is_named() -> None:
    """The IdP rotating its signing key right after the platform fetched its JWKS: the first ID token of the new
    key fetched the JWKS again only once PyJWKClient's 30 s cooldown had passed, so every person signing in
    meanwhile was refused 'no usable key: PyJWKClientError', which did not say which key. A token naming a key
    not held now fetches at once; a flood of made-up kids right after costs the IdP nothing more."""
    with running_idp() as idp:
        verifier = OidcVerifier(idp.issuer, idp.jwks_url, AUDIENCE, "preferred_username")
        assert (await verifier.verify(idp.id_token("sso.before"))).username == "sso.before"
        idp.rotate()
        assert (await verifier.verify(idp.id_token("sso.after"))).username == "sso.after"
        assert idp.jwks_fetches == 2
        for n in range(20):
            await _refused_naming(verifier, idp.id_token("sso.forged", kid=f"forged{n}"), f"forged{n}")
        assert idp.jwks_fetches == 2


async def test_a_key_the_idp_withdrew_is_refused_from_the_next_fetch_and_misses_fetch_once_an_interval() -> None:
    """A key the IdP no longer publishes (a rotation's last step, or withdrawn at once because it leaked) stayed in
    PyJWKClient's per-key cache for the life of the process: tokens it signed kept signing people in. Now the keys
    are the last fetch's: the withdrawn key is refused from the next fetch (within JWKS_CACHE_SECONDS), naming it;
    unknown keys fetch the JWKS at most once per JWKS_REFETCH_SECONDS."""
    with running_idp() as idp:
        now = [1000.0]
        verifier = OidcVerifier(idp.issuer, idp.jwks_url, AUDIENCE, "preferred_username", clock=lambda: now[0])
        old_token = idp.id_token("sso.person")
        await verifier.verify(old_token)
        old = idp.rotate()
        await verifier.verify(idp.id_token("sso.person"))
        await _refused_naming(verifier, idp.id_token("sso.person", kid="unknown1"), "unknown1")
        assert idp.jwks_fetches == 2
        now[0] += JWKS_REFETCH_SECONDS
        for _ in range(3):
            await _refused_naming(verifier, idp.id_token("sso.person", kid="unknown2"), "unknown2")
        assert idp.jwks_fetches == 3
        assert (await verifier.verify(old_token)).username == "sso.person"  # still published
        idp.withdraw(old)
        now[0] += JWKS_CACHE_SECONDS
        await _refused_naming(verifier, old_token, old)
        assert idp.jwks_fetches == 4


async def test_a_person_without_a_platform_password_is_told_to_change_it_at_the_idp(  # type: ignore[no-untyped-def]
        platform, idp: Idp, sessions) -> None:
    """ChangePassword by an OIDC-only person: a clear FAILED_PRECONDITION, not "the current password is wrong",
    and no failed attempt counted (repeated, it never locks the person)."""
    username = f"sso.{uuid.uuid4().hex[:8]}"
    await _person(platform, username)
    exchanged = await sessions.ExchangeOidcToken(persons_pb2.ExchangeOidcTokenRequest(
        id_token=idp.id_token(username)), timeout=10)
    as_person = (("authorization", f"Bearer {exchanged.session.token}"),)
    stub = persons_pb2_grpc.SessionServiceStub(platform.channel)
    for _ in range(platform.settings["authorization"].signin_max_failures + 1):
        code, reason, message = await _refused(stub.ChangePassword(persons_pb2.ChangePasswordRequest(
            current_password="whatever it is", new_password="a brand new long password", totp_code="123456"),
            metadata=as_person, timeout=10))
        assert (code, reason) == (grpc.StatusCode.FAILED_PRECONDITION, "NO_LOCAL_PASSWORD")
        assert "identity provider" in message
    listed = await persons_pb2_grpc.PersonServiceStub(platform.channel).GetPerson(
        persons_pb2.GetPersonRequest(id=exchanged.session.person.id), metadata=platform.metadata("authority"),
        timeout=10)
    assert not listed.person.HasField("lock_expire_time")


async def test_an_id_token_signs_in_once(platform, idp: Idp, sessions) -> None:  # type: ignore[no-untyped-def]
    """An ID token leaked from a browser, a log or a proxy signed its person in again and again until it expired:
    now a token (by its jti, or by its signed claims without one) signs in once, the replay refused
    OIDC_TOKEN_REPLAYED and logged; two exchanges of one token at once sign in once."""
    username = f"sso.{uuid.uuid4().hex[:8]}"
    person = await _person(platform, username)
    jti = str(uuid.uuid4())
    without_jti, with_jti = idp.id_token(username), idp.id_token(username, jti=jti)
    for token in (without_jti, with_jti):
        await sessions.ExchangeOidcToken(persons_pb2.ExchangeOidcTokenRequest(id_token=token), timeout=10)
        code, reason, message = await _refused(sessions.ExchangeOidcToken(
            persons_pb2.ExchangeOidcTokenRequest(id_token=token), timeout=10))
        assert (code, reason) == (grpc.StatusCode.UNAUTHENTICATED, "OIDC_TOKEN_REPLAYED")
        assert "already used" in message
    # Another token of the same jti (the IdP's, with other claims) is the same token to the platform.
    code, reason, _ = await _refused(sessions.ExchangeOidcToken(persons_pb2.ExchangeOidcTokenRequest(
        id_token=idp.id_token(username, jti=jti)), timeout=10))
    assert reason == "OIDC_TOKEN_REPLAYED"
    concurrent = idp.id_token(username, nonce=str(uuid.uuid4()))  # not the first token, made in the same second
    answers = await asyncio.gather(*(sessions.ExchangeOidcToken(persons_pb2.ExchangeOidcTokenRequest(
        id_token=concurrent), timeout=10) for _ in range(4)), return_exceptions=True)
    assert sorted(type(a).__name__ for a in answers) == ["AioRpcError"] * 3 + ["ExchangeOidcTokenResponse"]
    events = (await admin_log_pb2_grpc.AdminLogServiceStub(platform.channel).ListAdminEvents(
        admin_log_pb2.ListAdminEventsRequest(action="session.sign_in", page_size=1000),
        metadata=platform.metadata("authority"), timeout=10)).events
    assert sorted(e.result for e in events if e.target == person.id) == ["OIDC_TOKEN_REPLAYED"] * 6 + ["OK"] * 3


async def test_used_id_tokens_are_kept_until_they_expire_then_pruned(  # type: ignore[no-untyped-def]
        platform, idp: Idp, sessions) -> None:
    username = f"sso.{uuid.uuid4().hex[:8]}"
    await _person(platform, username)
    kept, expired = (idp.id_token(username, jti=str(uuid.uuid4())) for _ in range(2))
    conn = await asyncpg.connect(platform.settings["authorization"].database_url,
                                 server_settings={"search_path": "authorization"})
    try:
        await sessions.ExchangeOidcToken(persons_pb2.ExchangeOidcTokenRequest(id_token=kept), timeout=10)
        keep_until = await conn.fetchval("SELECT expire_time FROM oidc_used_tokens WHERE token_id = $1",
                                         token_id(kept, jwt.decode(kept, options={"verify_signature": False})))
        assert keep_until > dt.datetime.now(dt.UTC) + dt.timedelta(seconds=300)  # its exp and more
        # A used token's entry past its time (as if the token were expired) is pruned by the next sign-in.
        await conn.execute("INSERT INTO oidc_used_tokens (token_id, person_id, expire_time) VALUES ($1, 'x', now()"
                           " - interval '1 second')", token_id(expired, {"jti": jwt.decode(
                               expired, options={"verify_signature": False})["jti"]}))
        await sessions.ExchangeOidcToken(persons_pb2.ExchangeOidcTokenRequest(
            id_token=idp.id_token(username)), timeout=10)
        assert not await conn.fetchval("SELECT count(*) FROM oidc_used_tokens WHERE expire_time < now()")
    finally:
        await conn.close()


async def test_a_role_removed_while_the_person_exchanges_a_token_is_not_in_their_new_token(  # type: ignore[no-untyped-def]
        platform, idp: Idp, sessions, monkeypatch) -> None:
    """The exchange read the person (their roles) and made the token from that reading: a role the administrator
    removed meanwhile was in a token valid for its whole life (issued after the change's "not before"). The token
    is made under the person's row lock, of the person as they are then."""
    username = f"sso.{uuid.uuid4().hex[:8]}"
    person = await _person(platform, username, (persons_pb2.PERSON_ROLE_APPROVER, persons_pb2.PERSON_ROLE_APPLICANT))
    read = PersonStore.by_username

    async def read_then_change(self: PersonStore, name: str):  # type: ignore[no-untyped-def]
        record = await read(self, name)
        if name == username:
            await persons_pb2_grpc.PersonServiceStub(platform.channel).SetPersonRoles(
                persons_pb2.SetPersonRolesRequest(id=person.id, roles=[persons_pb2.PERSON_ROLE_APPLICANT]),
                metadata=platform.metadata("authority"), timeout=10)
            await asyncio.sleep(1.05 - time.time() % 1)  # the token is made in the next second: past its "not before"
        return record

    monkeypatch.setattr(PersonStore, "by_username", read_then_change)
    exchanged = await sessions.ExchangeOidcToken(persons_pb2.ExchangeOidcTokenRequest(
        id_token=idp.id_token(username)), timeout=10)
    assert list(exchanged.session.person.roles) == [persons_pb2.PERSON_ROLE_APPLICANT]
    assert jwt.decode(exchanged.session.token, options={"verify_signature": False})["roles"] == ["APPLICANT"]
    current = await persons_pb2_grpc.SessionServiceStub(platform.channel).GetCurrentPerson(
        persons_pb2.GetCurrentPersonRequest(), metadata=(("authorization", f"Bearer {exchanged.session.token}"),),
        timeout=10)
    assert list(current.person.roles) == [persons_pb2.PERSON_ROLE_APPLICANT]


async def test_a_person_signs_in_from_the_idp_account_of_their_first_sign_in_only(  # type: ignore[no-untyped-def]
        platform, idp: Idp, sessions) -> None:
    """The username claim (preferred_username) that finds the person is no stable identifier (OpenID Connect Core
    §5.7): another IdP account renamed to it, or given it after a colleague left, signed in as the person. The first
    sign-in binds the person to the token's (iss, sub); another account's token is OIDC_SUBJECT_MISMATCH, logged,
    not used up; and one IdP account signs in as one person only."""
    username, other = (f"sso.{uuid.uuid4().hex[:8]}" for _ in range(2))
    person = await _person(platform, username)
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    signed_in = await sessions.ExchangeOidcToken(persons_pb2.ExchangeOidcTokenRequest(
        id_token=idp.id_token(username, sub=first)), timeout=10)
    assert signed_in.session.person.id == person.id
    # The reply of the sign-in that binds says so, as GetPerson does after it.
    assert (signed_in.session.person.idp_issuer, signed_in.session.person.idp_subject) == (idp.issuer, first)
    impostor = idp.id_token(username, sub=second)
    code, reason, message = await _refused(sessions.ExchangeOidcToken(
        persons_pb2.ExchangeOidcTokenRequest(id_token=impostor), timeout=10))
    assert (code, reason) == (grpc.StatusCode.UNAUTHENTICATED, "OIDC_SUBJECT_MISMATCH"), message
    assert "administrator" in message
    again = await sessions.ExchangeOidcToken(persons_pb2.ExchangeOidcTokenRequest(
        id_token=idp.id_token(username, sub=first, jti=str(uuid.uuid4()))), timeout=10)
    assert again.session.person.id == person.id
    # The first account renamed to another person's username (not bound yet) does not sign in as them either.
    bystander = await _person(platform, other)
    code, reason, message = await _refused(sessions.ExchangeOidcToken(
        persons_pb2.ExchangeOidcTokenRequest(id_token=idp.id_token(other, sub=first)), timeout=10))
    assert (code, reason) == (grpc.StatusCode.UNAUTHENTICATED, "OIDC_SUBJECT_MISMATCH"), message
    assert "another person" in message
    assert (await sessions.ExchangeOidcToken(persons_pb2.ExchangeOidcTokenRequest(
        id_token=idp.id_token(other)), timeout=10)).session.person.id == bystander.id
    events = (await admin_log_pb2_grpc.AdminLogServiceStub(platform.channel).ListAdminEvents(
        admin_log_pb2.ListAdminEventsRequest(action="session.sign_in", page_size=1000),
        metadata=platform.metadata("authority"), timeout=10)).events
    assert sorted(e.result for e in events if e.target == person.id) == ["OIDC_SUBJECT_MISMATCH", "OK", "OK"]
    assert sorted(e.result for e in events if e.target == bystander.id) == ["OIDC_SUBJECT_MISMATCH", "OK"]
    # The first sign-in's entry names the account it bound the person to (the one a later mismatch is against);
    # the later ones bind nothing and say nothing of it.
    bindings = [json.loads(e.details_json).get("oidc_bound") for e in events if e.target == person.id
                and e.result == "OK"]
    assert sorted(bindings, key=str) == sorted([{"issuer": idp.issuer, "subject": first}, None], key=str), bindings


async def test_the_authoritys_administrator_resets_an_idp_binding_logged_with_who_and_why(  # type: ignore[no-untyped-def]
        platform, idp: Idp, sessions) -> None:
    """A person whose IdP account was re-created (a new sub) was OIDC_SUBJECT_MISMATCH for good: no call undid the
    binding. ResetPersonIdpBinding (the authority's administrators, a reason required) unbinds them, logged with
    who, why and the account unbound, their sessions ended; the next sign-in binds the new account."""
    username = f"sso.{uuid.uuid4().hex[:8]}"
    person = await _person(platform, username)
    admin = persons_pb2_grpc.PersonServiceStub(platform.channel)
    old, new = str(uuid.uuid4()), str(uuid.uuid4())
    signed_in = await sessions.ExchangeOidcToken(persons_pb2.ExchangeOidcTokenRequest(
        id_token=idp.id_token(username, sub=old)), timeout=10)
    read = await admin.GetPerson(persons_pb2.GetPersonRequest(id=person.id), metadata=platform.metadata("authority"),
                                 timeout=10)
    assert (read.person.idp_issuer, read.person.idp_subject) == (idp.issuer, old)
    code, reason, _ = await _refused(sessions.ExchangeOidcToken(persons_pb2.ExchangeOidcTokenRequest(
        id_token=idp.id_token(username, sub=new)), timeout=10))
    assert reason == "OIDC_SUBJECT_MISMATCH"

    request = persons_pb2.ResetPersonIdpBindingRequest(id=person.id, reason="统一身份认证账号重建")
    code, reason, _ = await _refused(admin.ResetPersonIdpBinding(request, metadata=platform.metadata("social"),
                                                                 timeout=10))
    assert (code, reason) == (grpc.StatusCode.PERMISSION_DENIED, "ADMINISTRATOR_ONLY")
    code, reason, message = await _refused(admin.ResetPersonIdpBinding(persons_pb2.ResetPersonIdpBindingRequest(
        id=person.id, reason="  "), metadata=platform.metadata("authority"), timeout=10))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "reason" in message
    reset = await admin.ResetPersonIdpBinding(request, metadata=platform.metadata("authority"), timeout=10)
    assert (reset.person.idp_issuer, reset.person.idp_subject) == ("", "")
    code, reason, _ = await _refused(persons_pb2_grpc.SessionServiceStub(platform.channel).GetCurrentPerson(
        persons_pb2.GetCurrentPersonRequest(), metadata=(("authorization", f"Bearer {signed_in.session.token}"),),
        timeout=10))
    assert (code, reason) == (grpc.StatusCode.UNAUTHENTICATED, "CREDENTIALS_RESET")  # said so, not "expired"
    # Unbound, a second reset has nothing to undo; the re-created account signs in and is bound.
    code, reason, _ = await _refused(admin.ResetPersonIdpBinding(request, metadata=platform.metadata("authority"),
                                                                 timeout=10))
    assert (code, reason) == (grpc.StatusCode.FAILED_PRECONDITION, "IDP_NOT_BOUND")
    await sessions.ExchangeOidcToken(persons_pb2.ExchangeOidcTokenRequest(id_token=idp.id_token(username, sub=new)),
                                     timeout=10)
    read = await admin.GetPerson(persons_pb2.GetPersonRequest(id=person.id), metadata=platform.metadata("authority"),
                                 timeout=10)
    assert read.person.idp_subject == new
    code, reason, _ = await _refused(sessions.ExchangeOidcToken(persons_pb2.ExchangeOidcTokenRequest(
        id_token=idp.id_token(username, sub=old, jti=str(uuid.uuid4()))), timeout=10))
    assert reason == "OIDC_SUBJECT_MISMATCH"
    events = (await admin_log_pb2_grpc.AdminLogServiceStub(platform.channel).ListAdminEvents(
        admin_log_pb2.ListAdminEventsRequest(action="person.reset_idp_binding", page_size=1000),
        metadata=platform.metadata("authority"), timeout=10)).events
    mine = [e for e in events if e.target == person.id]
    assert sorted(e.result for e in mine) == ["ADMINISTRATOR_ONLY", "OK"]
    done = next(e for e in mine if e.result == "OK")
    assert done.actor_system_id == platform.credentials.systems["authority"]["system_id"]
    assert json.loads(done.details_json) == {"reason": "统一身份认证账号重建", "issuer": idp.issuer, "subject": old}


async def test_a_token_from_an_idp_whose_clock_differs_says_the_clocks_differ_and_by_how_much() -> None:
    """An IdP whose clock runs ahead of the platform's (two NTP sources in a provincial network) issues every ID
    token 'in the future': each sign-in was refused 'ImmatureSignatureError', which the operator reading the
    console's log had to look up, and one running behind made every token 'expired' with no hint that it was the
    clock, not the person. Both say now which clock is off and by how much."""
    with running_idp() as idp:
        verifier = OidcVerifier(idp.issuer, idp.jwks_url, AUDIENCE, "preferred_username")
        now = int(time.time())
        ahead = idp.id_token("sso.person", iat=now + 120, exp=now + 420)
        with pytest.raises(ServiceError) as caught:
            await verifier.verify(ahead)
        assert caught.value.reason == "OIDC_TOKEN_INVALID"
        message = caught.value.message
        assert re.search(r"issued 1[12]\d s ahead of this service's clock", message) and "NTP" in message, message
        behind = idp.id_token("sso.person", iat=now - 400, exp=now - 100)
        with pytest.raises(ServiceError) as caught:
            await verifier.verify(behind)
        message = caught.value.message
        assert re.search(r"expired (99|10\d) s ago", message) and "clock is behind" in message, message
