"""Persons (issue 12): sign-in through the edge, person tokens accepted by every service, the refusals.

Over the real platform (tests/integration/conftest.py): every call goes through Envoy, which lets SignIn
through without a token and verifies person tokens against the JWKS like systems' tokens.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import threading
import time
import uuid
from collections.abc import Awaitable, Callable

import asyncpg
import grpc
import jwt
import pyotp
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from totp_steps import previous_step_code

from console.errors import field_sentence
from govshare.authorization.v1 import (
    admin_log_pb2,
    admin_log_pb2_grpc,
    directory_pb2,
    directory_pb2_grpc,
    persons_pb2,
    persons_pb2_grpc,
    roles_pb2,
    roles_pb2_grpc,
)
from govshare.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from services.authorization.directory import Department
from services.authorization.person_store import PersonStore
from services.authorization.persons import NewPerson, Persons, caller_of
from services.authorization.policy_events import PolicyEvents
from services.authorization.sessions import Sessions
from services.authorization.store import Store
from services.runtime import db, person_secrets
from services.runtime.embedded import EmbeddedServers, create_database
from services.runtime.errors import ServiceError, details_of
from services.runtime.identity import Caller

pytestmark = pytest.mark.integration

PASSWORD = "correct horse battery"


def _sessions(platform) -> persons_pb2_grpc.SessionServiceStub:  # type: ignore[no-untyped-def]
    return persons_pb2_grpc.SessionServiceStub(platform.channel)


def _admin(platform) -> persons_pb2_grpc.PersonServiceStub:  # type: ignore[no-untyped-def]
    return persons_pb2_grpc.PersonServiceStub(platform.channel)


async def create_person(platform, department: str, *roles: int,  # type: ignore[no-untyped-def]
                        password: str = PASSWORD) -> tuple[persons_pb2.Person, pyotp.TOTP | None]:
    """A person of the demo department ``department``, created by the authority's system; with their TOTP."""
    username = f"u{uuid.uuid4().hex[:10]}"
    response = await _admin(platform).CreatePerson(persons_pb2.CreatePersonRequest(
        person=persons_pb2.Person(username=username, display_name=f"测试{username[-4:]}",
                                  department_code=platform.credentials.systems[department]["department"],
                                  roles=list(roles)), password=password),
        metadata=platform.metadata("authority"), timeout=10)
    totp = pyotp.parse_uri(response.totp_provisioning_uri) if response.totp_provisioning_uri else None
    return response.person, totp  # type: ignore[return-value]


async def sign_in(platform, person: persons_pb2.Person, totp: pyotp.TOTP,  # type: ignore[no-untyped-def]
                  password: str = PASSWORD, steps_ahead: int = 0) -> persons_pb2.Session:
    """Signs in with the code the authenticator shows now, or ``steps_ahead`` steps later: a code is accepted
    once, and the next step's is within the drift allowed (TOTP_DRIFT_STEPS), so a second sign-in need not wait
    for the clock to reach it."""
    code = totp.at(time.time() + steps_ahead * totp.interval)
    response = await _sessions(platform).SignIn(persons_pb2.SignInRequest(
        username=person.username, password=password, totp_code=code), timeout=10)
    return response.session


def bearer(session: persons_pb2.Session) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {session.token}"),)


def _reason(error: grpc.aio.AioRpcError) -> str:
    info, _ = details_of(error)
    return info.reason if info is not None else ""


def announcements_lost(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Redis refuses every announcement of a change (the verifiers' states are not told) until
    ``monkeypatch.undo()``: as when it is away for a moment; the services catch up at their reload."""
    from services.authorization import policy_events

    async def redis_away(*_: object) -> None:
        raise ConnectionError("Redis is away")

    monkeypatch.setattr(policy_events, "publish", redis_away)


async def _all_refused(calls: tuple[Awaitable[object], ...], reason: str) -> None:
    """Each of ``calls`` is refused UNAUTHENTICATED with ``reason``."""
    for call in calls:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await call
        assert (refused.value.code(), _reason(refused.value)) == (grpc.StatusCode.UNAUTHENTICATED, reason)


async def test_a_person_signs_in_through_the_edge_and_calls_public_services_as_themselves(platform) -> None:  # type: ignore[no-untyped-def]
    person, totp = await create_person(platform, "social", persons_pb2.PERSON_ROLE_APPLICANT)
    assert totp is not None and person.local_account and person.id.startswith("psn-")
    session = await sign_in(platform, person, totp)
    assert session.person.id == person.id and session.person.roles == [persons_pb2.PERSON_ROLE_APPLICANT]
    assert session.expire_time.seconds <= session.session_expire_time.seconds

    current = await _sessions(platform).GetCurrentPerson(persons_pb2.GetCurrentPersonRequest(),
                                                         metadata=bearer(session), timeout=10)
    assert current.person.username == person.username
    departments = await directory_pb2_grpc.DirectoryServiceStub(platform.channel).ListDepartments(
        directory_pb2.ListDepartmentsRequest(), metadata=bearer(session), timeout=10)
    assert departments.departments


async def test_sign_in_failures_say_what_to_do_and_lock_the_account(platform) -> None:  # type: ignore[no-untyped-def]
    person, totp = await create_person(platform, "civil", persons_pb2.PERSON_ROLE_APPLICANT)
    sessions = _sessions(platform)

    async def refused(username: str, password: str, code: str) -> tuple[str, str]:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await sessions.SignIn(persons_pb2.SignInRequest(username=username, password=password, totp_code=code),
                                  timeout=10)
        assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
        return _reason(caught.value), caught.value.details() or ""

    unknown = await refused("nobody-here", PASSWORD, totp.now())
    wrong = await refused(person.username, "wrong password!", totp.now())
    assert unknown[0] == wrong[0] == "BAD_CREDENTIALS" and unknown[1] == wrong[1]  # never says which
    # A name no username can be (a NUL, pasted from a file or a C string) is an unknown name: it reached the
    # database's lock lookup, which refused it INVALID_ARGUMENT naming the field "request".
    assert await refused(f"{person.username}\x00", PASSWORD, totp.now()) == unknown
    assert (await refused(person.username, PASSWORD, ""))[0] == "TOTP_REQUIRED"
    assert (await refused(person.username, PASSWORD, "000000" if totp.now() != "000000" else "111111"))[0] == \
        "TOTP_INVALID"
    # Two failures so far (wrong password, wrong code); three more lock it (the default is five).
    for _ in range(3):
        await refused(person.username, "wrong password!", "")
    reason, message = await refused(person.username, PASSWORD, totp.now())
    assert reason == "ACCOUNT_LOCKED" and "locked until" in message

    await _admin(platform).UnlockPerson(persons_pb2.UnlockPersonRequest(id=person.id),
                                        metadata=platform.metadata("authority"), timeout=10)
    assert (await sign_in(platform, person, totp)).token
    # The unlock's log entry says what it lifted: the lock and its end; an unlock of nothing says so too.
    await _admin(platform).UnlockPerson(persons_pb2.UnlockPersonRequest(id=person.id),
                                        metadata=platform.metadata("authority"), timeout=10)
    events = (await admin_log_pb2_grpc.AdminLogServiceStub(platform.channel).ListAdminEvents(
        admin_log_pb2.ListAdminEventsRequest(action="person.unlock", page_size=1000),
        metadata=platform.metadata("authority"), timeout=10)).events
    lifted = sorted((json.loads(e.details_json or "{}") for e in events if e.target == person.id),
                    key=lambda d: d.get("locked_until") is None)
    assert len(lifted) == 2 and lifted[0]["locked_until"] and lifted[0]["failed_attempts"] == 0
    assert lifted[1] == {"locked_until": None, "failed_attempts": 0}



async def test_an_unknown_username_locks_as_an_account_does(platform) -> None:  # type: ignore[no-untyped-def]
    """Five wrong passwords locked a real account (ACCOUNT_LOCKED, even with the right password) while an unknown
    username answered BAD_CREDENTIALS for ever: anyone could tell which usernames exist, five calls each. Both
    lock now, after the same failures, with the same answer."""
    person, totp = await create_person(platform, "civil", persons_pb2.PERSON_ROLE_APPLICANT)
    unknown = f"u{uuid.uuid4().hex[:10]}"
    sessions = _sessions(platform)

    async def refused(username: str, password: str) -> tuple[str, str, dict[str, str]]:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await sessions.SignIn(persons_pb2.SignInRequest(username=username, password=password,
                                                            totp_code=totp.now()), timeout=10)
        info, _ = details_of(caught.value)
        assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
        return (info.reason if info else ""), caught.value.details() or "", dict(info.metadata) if info else {}

    for _ in range(5):  # the default GOVSHARE_SIGNIN_MAX_FAILURES
        assert (await refused(person.username, "wrong password!"))[0] == "BAD_CREDENTIALS"
        assert (await refused(unknown, "wrong password!"))[0] == "BAD_CREDENTIALS"
    real, decoy = await refused(person.username, PASSWORD), await refused(unknown.upper(), PASSWORD)
    assert real[0] == decoy[0] == "ACCOUNT_LOCKED", (real, decoy)
    assert set(real[2]) == set(decoy[2]) == {"lock_expire_time"}
    assert real[1].split(" until ")[0] == decoy[1].split(" until ")[0]

async def test_an_unknown_username_locks_as_an_account_does_across_replicas(platform) -> None:  # type: ignore[no-untyped-def]
    """A real account's failures are counted in PostgreSQL, an unknown name's were counted in each replica's memory:
    with failures spread over two authorization replicas, the account locked and the made-up name did not, so the
    answer told again which usernames exist. Both are counted where the account's are."""
    person, totp = await create_person(platform, "civil", persons_pb2.PERSON_ROLE_APPLICANT)
    assert totp is not None
    unknown = f"u{uuid.uuid4().hex[:10]}"
    replica = _replica(platform)

    async def here(username: str, password: str) -> str:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await _sessions(platform).SignIn(persons_pb2.SignInRequest(username=username, password=password,
                                                                       totp_code=totp.now()), timeout=10)
        return _reason(caught.value)

    async def there(username: str, password: str) -> str:
        with pytest.raises(ServiceError) as caught:
            await replica.sign_in(username, password, totp.now())
        return caught.value.reason

    for answer in (here, there, here, there, here):  # the default GOVSHARE_SIGNIN_MAX_FAILURES, spread over two
        assert await asyncio.gather(answer(person.username, "wrong password!"),
                                    answer(unknown, "wrong password!")) == ["BAD_CREDENTIALS"] * 2
    for answer in (here, there):
        assert await asyncio.gather(answer(person.username, PASSWORD), answer(unknown, PASSWORD)) == \
            ["ACCOUNT_LOCKED"] * 2


async def test_a_totp_code_is_accepted_once_its_replay_refused_as_such_and_not_counted(platform) -> None:  # type: ignore[no-untyped-def]
    """A code is accepted once; typed again (a second sign-in, 修改密码 right after signing in) it was TOTP_INVALID,
    counted as a guess: five replays locked the account, so a person retyping the code their authenticator still
    showed locked themselves out, and anyone who saw a code typed (with the password) could lock the account with
    it. The replay is refused TOTP_REUSED, logged, and counts nothing; a wrong code still counts."""
    person, totp = await create_person(platform, "civil", persons_pb2.PERSON_ROLE_APPLICANT)
    sessions = _sessions(platform)
    code = totp.now()
    session = (await sessions.SignIn(persons_pb2.SignInRequest(username=person.username, password=PASSWORD,
                                                               totp_code=code), timeout=10)).session

    async def refused(call: Awaitable[object]) -> tuple[str, str]:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call
        assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
        return _reason(caught.value), caught.value.details() or ""

    for _ in range(5):  # the default GOVSHARE_SIGNIN_MAX_FAILURES
        reason, message = await refused(sessions.SignIn(persons_pb2.SignInRequest(
            username=person.username, password=PASSWORD, totp_code=code), timeout=10))
        assert reason == "TOTP_REUSED" and "already used" in message, (reason, message)
    assert (await refused(sessions.ChangePassword(persons_pb2.ChangePasswordRequest(
        current_password=PASSWORD, new_password="a new long password", totp_code=code), metadata=bearer(session),
        timeout=10)))[0] == "TOTP_REUSED"
    # Not locked: the next step's code (one step of drift is accepted) signs in.
    assert (await sessions.SignIn(persons_pb2.SignInRequest(username=person.username, password=PASSWORD,
                                                            totp_code=totp.at(time.time() + 30)),
                                  timeout=10)).session.token
    log = admin_log_pb2_grpc.AdminLogServiceStub(platform.channel)

    async def results(action: str) -> list[str]:
        events = await log.ListAdminEvents(admin_log_pb2.ListAdminEventsRequest(action=action, page_size=1000),
                                           metadata=platform.metadata("authority"), timeout=10)
        return sorted(e.result for e in events.events if e.target == person.id)

    assert await results("session.sign_in") == ["OK"] * 2 + ["TOTP_REUSED"] * 5
    assert await results("session.change_password") == ["TOTP_REUSED"]
    assert await results("session.lock") == []
    wrong = "000000" if "000000" not in (code, totp.now(), totp.at(time.time() + 30)) else "111111"
    assert (await refused(sessions.SignIn(persons_pb2.SignInRequest(
        username=person.username, password=PASSWORD, totp_code=wrong), timeout=10)))[0] == "TOTP_INVALID"


async def test_a_code_older_than_one_accepted_is_refused_as_such_not_as_already_used(platform) -> None:  # type: ignore[no-untyped-def]
    """After a sign-in with the next step's code (a device whose clock is ahead, or a second authenticator), the
    current step's code, which nobody had typed, was refused TOTP_REUSED "this authenticator code was already
    used": the person looked for whoever had used their code. It is TOTP_SUPERSEDED, saying a later code was
    accepted; logged, and not counted toward the lock, as a reuse is; the code of the step used is still a reuse."""
    person, totp = await create_person(platform, "civil", persons_pb2.PERSON_ROLE_APPLICANT)
    sessions = _sessions(platform)
    step = int(time.time() // totp.interval)
    ahead, current = totp.at((step + 1) * totp.interval), totp.at(step * totp.interval)
    session = (await sessions.SignIn(persons_pb2.SignInRequest(username=person.username, password=PASSWORD,
                                                               totp_code=ahead), timeout=10)).session

    async def refused(call: Awaitable[object]) -> tuple[str, str]:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call
        assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
        return _reason(caught.value), caught.value.details() or ""

    for _ in range(5):  # the default GOVSHARE_SIGNIN_MAX_FAILURES: none counted
        reason, message = await refused(sessions.SignIn(persons_pb2.SignInRequest(
            username=person.username, password=PASSWORD, totp_code=current), timeout=10))
        assert reason == "TOTP_SUPERSEDED" and "already used" not in message, (reason, message)
        assert "a later authenticator code than this one was already accepted" in message
    assert (await refused(sessions.ChangePassword(persons_pb2.ChangePasswordRequest(
        current_password=PASSWORD, new_password="a new long password", totp_code=current), metadata=bearer(session),
        timeout=10)))[0] == "TOTP_SUPERSEDED"
    assert (await refused(sessions.SignIn(persons_pb2.SignInRequest(
        username=person.username, password=PASSWORD, totp_code=ahead), timeout=10)))[0] == "TOTP_REUSED"
    log = admin_log_pb2_grpc.AdminLogServiceStub(platform.channel)

    async def results(action: str) -> list[str]:
        events = await log.ListAdminEvents(admin_log_pb2.ListAdminEventsRequest(action=action, page_size=1000),
                                           metadata=platform.metadata("authority"), timeout=10)
        return sorted(e.result for e in events.events if e.target == person.id)

    assert await results("session.sign_in") == ["OK", "TOTP_REUSED"] + ["TOTP_SUPERSEDED"] * 5
    assert await results("session.change_password") == ["TOTP_SUPERSEDED"]
    assert await results("session.lock") == []


def _replica(platform) -> Sessions:  # type: ignore[no-untyped-def]
    """Another authorization replica's SessionService workflows on the platform's database: its own in-process
    state (the per-username turns, the decoys' locks), the same persons table."""
    component = platform.servers["authorization"].component
    return Sessions(component._person_store, component._persons, component._events, component._settings,
                    sealer=component._sealer)


async def _password_change_held(platform, monkeypatch, code_of):  # type: ignore[no-untyped-def]
    """A new applicant's ChangePassword, with the code ``code_of(totp)`` gives, held while it hashes the new password
    (until the event returned is set): the person, their authenticator, the change under way and that event."""
    from services.authorization import person_credentials

    person, totp = await create_person(platform, "civil", persons_pb2.PERSON_ROLE_APPLICANT)
    assert totp is not None
    hashing, release = threading.Event(), threading.Event()
    hash_password = person_credentials.hash_password

    def slow_hash(password: str) -> str:
        hashing.set()
        release.wait(10)
        return hash_password(password)

    monkeypatch.setattr(person_credentials, "hash_password", slow_hash)
    record = await platform.servers["authorization"].component._persons.find(person.id)
    changing = asyncio.ensure_future(_replica(platform).change_password(
        caller_of(record), PASSWORD, "a new long password", code_of(totp)))
    assert await asyncio.to_thread(hashing.wait, 10)
    return person, totp, changing, release


async def test_a_code_a_sign_in_on_another_replica_used_meanwhile_changes_no_password(  # type: ignore[no-untyped-def]
        platform, monkeypatch) -> None:
    """ChangePassword checked its code against the step last used as read before hashing the new password, then
    wrote its own step unconditionally: a sign-in with the same code on another replica meanwhile (the per-username
    turn is per process) was accepted too, so one code served twice. Refused TOTP_REUSED, as a sign-in is, and
    nothing changes."""
    at = time.time()
    person, totp, changing, signed_in = await _password_change_held(platform, monkeypatch, lambda totp: totp.at(at))
    code = totp.at(at)
    session = (await _sessions(platform).SignIn(persons_pb2.SignInRequest(
        username=person.username, password=PASSWORD, totp_code=code), timeout=10)).session
    signed_in.set()
    with pytest.raises(ServiceError) as refused:
        await changing
    assert refused.value.code == grpc.StatusCode.UNAUTHENTICATED and refused.value.reason == "TOTP_REUSED"
    # The password is unchanged and the session the code made stands.
    await _sessions(platform).GetCurrentPerson(persons_pb2.GetCurrentPersonRequest(), metadata=bearer(session),
                                               timeout=10)
    monkeypatch.undo()
    with pytest.raises(grpc.aio.AioRpcError) as old:
        await _sessions(platform).SignIn(persons_pb2.SignInRequest(
            username=person.username, password=PASSWORD, totp_code=code), timeout=10)
    assert _reason(old.value) == "TOTP_REUSED"


async def test_a_code_a_sign_in_with_a_later_code_passed_meanwhile_is_refused_as_older_not_as_used(  # type: ignore[no-untyped-def]
        platform, monkeypatch) -> None:
    """A password change whose code's step a sign-in elsewhere passed meanwhile with the next step's code (a second
    device whose clock is ahead) was refused TOTP_REUSED, "already used", though nobody had used that code: it is
    TOTP_SUPERSEDED, as the same code sent after the sign-in is; nothing changes."""
    at = time.time()
    person, totp, changing, signed_in = await _password_change_held(platform, monkeypatch, lambda totp: totp.at(at))
    session = (await _sessions(platform).SignIn(persons_pb2.SignInRequest(
        username=person.username, password=PASSWORD, totp_code=totp.at(at + totp.interval)),
        timeout=10)).session
    signed_in.set()
    with pytest.raises(ServiceError) as refused:
        await changing
    assert (refused.value.code, refused.value.reason) == (grpc.StatusCode.UNAUTHENTICATED, "TOTP_SUPERSEDED")
    monkeypatch.undo()
    await _sessions(platform).GetCurrentPerson(persons_pb2.GetCurrentPersonRequest(), metadata=bearer(session),
                                               timeout=10)  # the password is unchanged: the session stands


async def test_a_totp_reset_while_the_person_changes_their_password_is_not_undone(  # type: ignore[no-untyped-def]
        platform, monkeypatch) -> None:
    """ChangePassword wrote back the TOTP secret it had read before hashing the new password: an administrator's
    reset meanwhile (a phone reported stolen) was undone, the old secret's codes signing in again and the reset's
    new one refused. The change is refused CREDENTIALS_CHANGED, as a sign-in is, and the reset stands."""
    person, _, changing, reset = await _password_change_held(platform, monkeypatch, lambda totp: totp.now())
    renewed = pyotp.parse_uri((await _admin(platform).ResetPersonTotp(persons_pb2.ResetPersonTotpRequest(
        id=person.id), metadata=platform.metadata("authority"), timeout=10)).totp_provisioning_uri)
    reset.set()
    with pytest.raises(ServiceError) as refused:
        await changing
    assert refused.value.code == grpc.StatusCode.UNAUTHENTICATED and refused.value.reason == "CREDENTIALS_CHANGED"
    monkeypatch.undo()
    assert (await sign_in(platform, person, renewed)).token  # the reset's secret, with the password unchanged


async def test_a_totp_code_typed_in_full_width_digits_is_the_same_code(platform) -> None:  # type: ignore[no-untyped-def]
    """A Chinese input method types １２３４５６: the same code, not an INTERNAL error; other scripts' digits
    (٠١٢…) are a wrong code, said as such."""
    person, totp = await create_person(platform, "civil", persons_pb2.PERSON_ROLE_APPLICANT)
    other_digits = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _sessions(platform).SignIn(persons_pb2.SignInRequest(
            username=person.username, password=PASSWORD, totp_code=totp.now().translate(other_digits)), timeout=10)
    assert _reason(caught.value) == "TOTP_INVALID"
    full_width = totp.now().translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    signed = await _sessions(platform).SignIn(persons_pb2.SignInRequest(
        username=person.username, password=PASSWORD, totp_code=full_width), timeout=10)
    assert signed.session.token


async def test_a_totp_code_typed_as_the_authenticator_groups_it_is_the_same_code(platform) -> None:  # type: ignore[no-untyped-def]
    """Authenticator apps show a code in two groups (123 456): typed or copied so, at sign-in or at 修改密码, it was
    TOTP_INVALID, counted toward the lock, five such tries locking the person out. The blanks are not read."""
    person, totp = await create_person(platform, "civil", persons_pb2.PERSON_ROLE_APPLICANT)
    code = totp.now()
    session = (await _sessions(platform).SignIn(persons_pb2.SignInRequest(
        username=person.username, password=PASSWORD, totp_code=f"{code[:3]} {code[3:]}"), timeout=10)).session
    following = totp.at(time.time() + totp.interval)  # a full-width space between the groups, blanks around
    await _sessions(platform).ChangePassword(persons_pb2.ChangePasswordRequest(
        current_password=PASSWORD, new_password="a new long password",
        totp_code=f" {following[:3]}\u3000{following[3:]} "), metadata=bearer(session), timeout=10)


async def test_sign_out_and_disable_end_the_sessions_everywhere(platform) -> None:  # type: ignore[no-untyped-def]
    person, totp = await create_person(platform, "social", persons_pb2.PERSON_ROLE_APPLICANT)
    session = await sign_in(platform, person, totp)
    directory = directory_pb2_grpc.DirectoryServiceStub(platform.channel)
    await directory.ListDepartments(directory_pb2.ListDepartmentsRequest(), metadata=bearer(session), timeout=10)
    catalog = catalog_pb2_grpc.CatalogServiceStub(platform.channel)
    await catalog.ListEntries(catalog_pb2.ListEntriesRequest(page_size=1), metadata=bearer(session), timeout=10)
    await _sessions(platform).SignOut(persons_pb2.SignOutRequest(), metadata=bearer(session), timeout=10)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await directory.ListDepartments(directory_pb2.ListDepartmentsRequest(), metadata=bearer(session), timeout=10)
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED and "sign in again" in (caught.value.details() or "")
    # Every other service refuses it too, once the event reaches it (a bounded wait: it is asynchronous).
    for _ in range(100):
        try:
            await catalog.ListEntries(catalog_pb2.ListEntriesRequest(page_size=1), metadata=bearer(session),
                                      timeout=10)
        except grpc.aio.AioRpcError as refused:
            assert refused.code() == grpc.StatusCode.UNAUTHENTICATED
            break
        await asyncio.sleep(0.05)
    else:
        pytest.fail("the catalog service still accepts a signed-out person's token")


async def test_the_demo_persons_sign_in_with_the_printed_password_and_govshare_totp(platform, tmp_path,  # type: ignore[no-untyped-def]
                                                                                     capsys) -> None:
    from services.cli import main

    accounts = platform.credentials.accounts
    assert {a["department"] for a in accounts.values()} == {"police", "social", "authority"}
    platform.credentials.save(tmp_path / "demo-credentials.json")
    main(["totp", "social.approver", "--data-dir", str(tmp_path)])
    code = capsys.readouterr().out.split()[0]
    response = await _sessions(platform).SignIn(persons_pb2.SignInRequest(
        username="social.approver", password=str(accounts["social.approver"]["password"]), totp_code=code),
        timeout=10)
    assert response.session.person.display_name == accounts["social.approver"]["display_name"]
    assert list(response.session.person.roles) == [persons_pb2.PERSON_ROLE_APPROVER]


async def test_an_expired_session_is_refused_saying_sign_in_again(platform) -> None:  # type: ignore[no-untyped-def]
    """A person token past its expiry: SESSION_EXPIRED at every service (the edge refuses it first)."""
    from caller_metadata import person_of

    from services.runtime.duties import APPLICANT
    from services.runtime.identity import Caller
    from services.runtime.tokens import issue_token

    entry = platform.credentials.systems["social"]
    person = person_of(Caller(entry["system_id"], entry["department"]), APPLICANT)
    expired = issue_token(platform.settings["authorization"].token_private_key, person, -60).token
    metadata = (("authorization", f"Bearer {expired}"),)
    async with grpc.aio.insecure_channel(platform.port("catalog")) as channel:
        from govshare.catalog.v1 import catalog_pb2, catalog_pb2_grpc

        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await catalog_pb2_grpc.CatalogServiceStub(channel).ListEntries(catalog_pb2.ListEntriesRequest(),
                                                                           metadata=metadata, timeout=10)
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED and _reason(caught.value) == "SESSION_EXPIRED"
    assert "sign in again" in (caught.value.details() or "")
    with pytest.raises(grpc.aio.AioRpcError) as at_edge:
        await _sessions(platform).GetCurrentPerson(persons_pb2.GetCurrentPersonRequest(), metadata=metadata,
                                                   timeout=10)
    assert at_edge.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_disabling_a_person_or_changing_their_roles_ends_their_sessions(platform) -> None:  # type: ignore[no-untyped-def]
    person, totp = await create_person(platform, "social", persons_pb2.PERSON_ROLE_APPLICANT)
    session = await sign_in(platform, person, totp)
    current = persons_pb2.GetCurrentPersonRequest()
    await _sessions(platform).GetCurrentPerson(current, metadata=bearer(session), timeout=10)
    changed = await _admin(platform).SetPersonRoles(persons_pb2.SetPersonRolesRequest(
        id=person.id, roles=[persons_pb2.PERSON_ROLE_AUDITOR]), metadata=platform.metadata("authority"), timeout=10)
    assert list(changed.person.roles) == [persons_pb2.PERSON_ROLE_AUDITOR]
    with pytest.raises(grpc.aio.AioRpcError) as stale:
        await _sessions(platform).GetCurrentPerson(current, metadata=bearer(session), timeout=10)
    assert stale.value.code() == grpc.StatusCode.UNAUTHENTICATED  # the old token carried the old roles
    assert _reason(stale.value) == "ROLES_CHANGED"  # said so (the console tells the person, not 登录已过期)

    # A fresh session has the new roles; disabling the person refuses it at once, and sign-in says why.
    session = await sign_in(platform, person, totp, steps_ahead=1)  # a TOTP code signs in once
    assert list(session.person.roles) == [persons_pb2.PERSON_ROLE_AUDITOR]
    await _admin(platform).DisablePerson(persons_pb2.DisablePersonRequest(id=person.id),
                                         metadata=platform.metadata("authority"), timeout=10)
    with pytest.raises(grpc.aio.AioRpcError) as disabled:
        await _sessions(platform).GetCurrentPerson(current, metadata=bearer(session), timeout=10)
    assert disabled.value.code() == grpc.StatusCode.UNAUTHENTICATED and "disabled" in (disabled.value.details() or "")
    assert _reason(disabled.value) == "PERSON_DISABLED"
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await sign_in(platform, person, totp)
    assert _reason(refused.value) == "ACCOUNT_DISABLED"

    # Enabled again, the session of before the disable stays ended, said as ended by the disable: it was told "the
    # person signed out, or changed their password", neither of which they had done.
    await _admin(platform).EnablePerson(persons_pb2.EnablePersonRequest(id=person.id),
                                        metadata=platform.metadata("authority"), timeout=10)
    for _ in range(500):  # until the enable's announcement reaches the verifier (PERSON_DISABLED before it)
        with pytest.raises(grpc.aio.AioRpcError) as ended:
            await _sessions(platform).GetCurrentPerson(current, metadata=bearer(session), timeout=10)
        if _reason(ended.value) != "PERSON_DISABLED":
            break
        await asyncio.sleep(0.02)
    assert (ended.value.code(), _reason(ended.value)) == (grpc.StatusCode.UNAUTHENTICATED, "SESSION_ENDED")
    said = ended.value.details() or ""
    assert "was disabled" in said and "enabled again" in said and "signed out" not in said, said


async def _signing_in_while(platform, monkeypatch, person: persons_pb2.Person, totp: pyotp.TOTP,  # type: ignore[no-untyped-def]
                           change: Callable[[], Awaitable[object]]) -> persons_pb2.Session:
    """Signs ``person`` in, making ``change`` while their password is being checked (the slow step), and
    finishing the sign-in in the next second: past the "not before" the change gave the person's tokens."""
    from services.authorization import person_credentials

    checking, changed = threading.Event(), threading.Event()
    verify = person_credentials.verify_password

    def slow_verify(password: str, stored: str) -> bool:
        matches = verify(password, stored)
        checking.set()
        changed.wait(10)
        time.sleep(1.05 - time.time() % 1)
        return matches

    monkeypatch.setattr(person_credentials, "verify_password", slow_verify)
    signing_in = asyncio.ensure_future(sign_in(platform, person, totp))
    assert await asyncio.to_thread(checking.wait, 10)
    await change()
    changed.set()
    return await signing_in


async def test_a_role_removed_while_the_person_signs_in_is_not_in_their_new_token(  # type: ignore[no-untyped-def]
        platform, monkeypatch) -> None:
    """The sign-in read the person (their roles) before the slow password check; the roles it then put in the
    token outlived their removal meanwhile, for the token's whole life. The token has the roles as they are."""
    person, totp = await create_person(platform, "social", persons_pb2.PERSON_ROLE_APPROVER,
                                       persons_pb2.PERSON_ROLE_APPLICANT)
    session = await _signing_in_while(platform, monkeypatch, person, totp, lambda: _admin(platform).SetPersonRoles(
        persons_pb2.SetPersonRolesRequest(id=person.id, roles=[persons_pb2.PERSON_ROLE_APPLICANT]),
        metadata=platform.metadata("authority"), timeout=10))
    assert list(session.person.roles) == [persons_pb2.PERSON_ROLE_APPLICANT]
    claims = jwt.decode(session.token, options={"verify_signature": False})
    assert claims["roles"] == ["APPLICANT"]
    current = await _sessions(platform).GetCurrentPerson(persons_pb2.GetCurrentPersonRequest(),
                                                         metadata=bearer(session), timeout=10)
    assert list(current.person.roles) == [persons_pb2.PERSON_ROLE_APPLICANT]


async def test_a_password_reset_while_the_person_signs_in_with_the_old_one_refuses_the_sign_in(  # type: ignore[no-untyped-def]
        platform, monkeypatch) -> None:
    person, totp = await create_person(platform, "social", persons_pb2.PERSON_ROLE_APPLICANT)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        session = await _signing_in_while(
            platform, monkeypatch, person, totp, lambda: _admin(platform).ResetPersonPassword(
                persons_pb2.ResetPersonPasswordRequest(id=person.id, password="a brand new password"),
                metadata=platform.metadata("authority"), timeout=10))
        await _sessions(platform).GetCurrentPerson(persons_pb2.GetCurrentPersonRequest(),  # (before: answered)
                                                   metadata=bearer(session), timeout=10)
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert _reason(refused.value) == "CREDENTIALS_CHANGED", refused.value.details()
    events = await admin_log_pb2_grpc.AdminLogServiceStub(platform.channel).ListAdminEvents(
        admin_log_pb2.ListAdminEventsRequest(action="session.sign_in", page_size=1000),
        metadata=platform.metadata("authority"), timeout=10)
    assert [e.result for e in events.events if e.target == person.id] == ["CREDENTIALS_CHANGED"]


async def test_totp_secrets_are_sealed_at_rest_and_clear_ones_are_sealed_at_start(platform) -> None:  # type: ignore[no-untyped-def]
    """A copy of the persons table must not hand out second factors (GOVSHARE_PERSON_SECRET_KEY)."""
    person, totp = await create_person(platform, "civil", persons_pb2.PERSON_ROLE_APPLICANT)
    assert totp is not None
    conn = await asyncpg.connect(platform.settings["authorization"].database_url,
                                 server_settings={"search_path": "authorization"})
    try:
        stored = await conn.fetchval("SELECT totp_secret FROM persons WHERE id = $1", person.id)
        assert stored.startswith(person_secrets.PREFIX) and totp.secret not in stored
        await sign_in(platform, person, totp)

        # A row from before sealing existed (the secret in the clear) still signs in, and is sealed at start.
        await conn.execute("UPDATE persons SET totp_secret = $2 WHERE id = $1", person.id, totp.secret)
        await sign_in(platform, person, totp, steps_ahead=1)  # the next code: each is accepted once
        component = platform.servers["authorization"].component
        sealed, unreadable = await component._person_store.seal_secrets(component._sealer)
        assert sealed >= 1 and unreadable == 0
        resealed = await conn.fetchval("SELECT totp_secret FROM persons WHERE id = $1", person.id)
        assert resealed.startswith(person_secrets.PREFIX) and totp.secret not in resealed

        # A sealed secret copied onto another person's row does not open there: refused with what to do.
        other, other_totp = await create_person(platform, "civil", persons_pb2.PERSON_ROLE_APPLICANT)
        assert other_totp is not None
        await conn.execute("UPDATE persons SET totp_secret = $2 WHERE id = $1", other.id, resealed)
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await sign_in(platform, other, totp)
        assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert _reason(refused.value) == "TOTP_SECRET_UNREADABLE" and "reset" in (refused.value.details() or "")
    finally:
        await conn.close()


async def test_without_the_sealing_key_local_accounts_are_refused(platform) -> None:  # type: ignore[no-untyped-def]
    component = platform.servers["authorization"].component
    keyless = Persons(component._store, component._person_store, component._events, sealer=None)
    authority = platform.credentials.systems["authority"]
    caller = Caller(authority["system_id"], authority["department"], authority=True)
    with pytest.raises(ServiceError) as refused:
        await keyless.create(caller, NewPerson(username=f"u{uuid.uuid4().hex[:10]}", display_name="无密钥",
                                               department_code=authority["department"],
                                               roles=(persons_pb2.PERSON_ROLE_AUDITOR,), password=PASSWORD))
    assert refused.value.code == grpc.StatusCode.FAILED_PRECONDITION
    assert refused.value.reason == "LOCAL_ACCOUNTS_NEED_KEY" and "GOVSHARE_PERSON_SECRET_KEY" in refused.value.message


async def test_persons_are_listed_by_department_role_and_state_page_by_page(platform) -> None:  # type: ignore[no-untyped-def]
    """The console's 人员 list filters on the service (a page of a filtered list is a full page)."""
    approvers = [(await create_person(platform, "resources", persons_pb2.PERSON_ROLE_APPROVER))[0] for _ in range(3)]
    officer, _ = await create_person(platform, "resources", persons_pb2.PERSON_ROLE_DATA_OFFICER)
    admin = _admin(platform)
    metadata = platform.metadata("authority")
    await admin.DisablePerson(persons_pb2.DisablePersonRequest(id=approvers[0].id), metadata=metadata, timeout=10)
    resources = platform.credentials.systems["resources"]["department"]

    async def walk(**filters: object) -> list[str]:
        seen, token = [], ""
        while True:
            page = await admin.ListPersons(persons_pb2.ListPersonsRequest(department_code=resources, page_size=1,
                                                                          page_token=token, **filters),
                                           metadata=metadata, timeout=10)
            assert len(page.persons) <= 1
            seen += [p.id for p in page.persons]
            token = page.next_page_token
            if not token:
                return seen

    active = await walk(role=persons_pb2.PERSON_ROLE_APPROVER, state=persons_pb2.PERSON_STATE_ACTIVE)
    assert set(active) >= {approvers[1].id, approvers[2].id}
    assert approvers[0].id not in active and officer.id not in active
    disabled = await walk(state=persons_pb2.PERSON_STATE_DISABLED)
    assert approvers[0].id in disabled and approvers[1].id not in disabled
    assert officer.id in await walk(role=persons_pb2.PERSON_ROLE_DATA_OFFICER)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await admin.ListPersons(persons_pb2.ListPersonsRequest(role=99), metadata=metadata, timeout=10)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    _, bad = details_of(refused.value)
    assert bad is not None and bad.field_violations[0].field == "role"


async def test_persons_are_found_by_a_text_in_their_username_or_display_name(platform) -> None:  # type: ignore[no-untyped-def]
    """ListPersons filtered by department, role and state only: an administrator looking for 张三 among a
    province's persons paged through them (the console's 人员 list twenty at a time). ``text`` finds them by
    username or display name, in any case, a % or _ typed being a character like any."""
    admin = _admin(platform)
    metadata = platform.metadata("authority")
    mark = uuid.uuid4().hex[:8]
    named = await admin.CreatePerson(persons_pb2.CreatePersonRequest(person=persons_pb2.Person(
        username=f"zhang.{mark}", display_name=f"张{mark}_三", roles=[persons_pb2.PERSON_ROLE_APPLICANT],
        department_code=platform.credentials.systems["civil"]["department"])), metadata=metadata, timeout=10)
    other, _ = await create_person(platform, "civil", persons_pb2.PERSON_ROLE_APPLICANT)

    async def found(text: str) -> list[str]:
        page = await admin.ListPersons(persons_pb2.ListPersonsRequest(text=text, page_size=100), metadata=metadata,
                                       timeout=10)
        return [p.id for p in page.persons]

    assert await found(f"ZHANG.{mark.upper()}") == [named.person.id]
    assert await found(f"张{mark}") == [named.person.id]
    assert await found(f"{mark}_三") == [named.person.id] and await found(f"{mark}%") == []
    assert await found(other.username) == [other.id]
    # Typed by a Chinese input method in 全角 mode, as SignIn and CreatePerson read a username: the same person.
    full_width = "".join(chr(ord(c) + 0xFEE0) for c in f"ZHANG.{mark}")
    assert await found(full_width) == [named.person.id]
    assert await found(f"张{mark}＿三") == [named.person.id]
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await found("长" * 65)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    _, bad = details_of(refused.value)
    assert bad is not None and bad.field_violations[0].field == "text"


async def test_an_administrator_can_neither_disable_themselves_nor_drop_their_own_administrator_role(  # type: ignore[no-untyped-def]
        platform) -> None:
    admin, totp = await create_person(platform, "authority", persons_pb2.PERSON_ROLE_ADMINISTRATOR)
    session = await sign_in(platform, admin, totp)
    for call, request in (
            (_admin(platform).DisablePerson, persons_pb2.DisablePersonRequest(id=admin.id)),
            (_admin(platform).SetPersonRoles, persons_pb2.SetPersonRolesRequest(
                id=admin.id, roles=[persons_pb2.PERSON_ROLE_AUDITOR]))):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await call(request, metadata=bearer(session), timeout=10)
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT, request
    assert "another administrator must" in (refused.value.details() or "")
    kept = await _admin(platform).GetPerson(persons_pb2.GetPersonRequest(id=admin.id), metadata=bearer(session),
                                            timeout=10)
    assert list(kept.person.roles) == [persons_pb2.PERSON_ROLE_ADMINISTRATOR]
    assert kept.person.state == persons_pb2.PERSON_STATE_ACTIVE
    # Adding a role beside their own ADMINISTRATOR is theirs to do; another administrator may remove it.
    both = await _admin(platform).SetPersonRoles(persons_pb2.SetPersonRolesRequest(
        id=admin.id, roles=[persons_pb2.PERSON_ROLE_ADMINISTRATOR, persons_pb2.PERSON_ROLE_AUDITOR]),
        metadata=bearer(session), timeout=10)
    assert set(both.person.roles) == {persons_pb2.PERSON_ROLE_ADMINISTRATOR, persons_pb2.PERSON_ROLE_AUDITOR}
    removed = await _admin(platform).SetPersonRoles(persons_pb2.SetPersonRolesRequest(
        id=admin.id, roles=[persons_pb2.PERSON_ROLE_AUDITOR]), metadata=platform.metadata("authority"), timeout=10)
    assert list(removed.person.roles) == [persons_pb2.PERSON_ROLE_AUDITOR]


async def test_an_administrator_cannot_reset_their_own_password_or_totp(platform) -> None:  # type: ignore[no-untyped-def]
    """A reset asks neither the current password nor a TOTP code (ChangePassword asks both): an administrator's
    session token alone used to set a new password and mint a new TOTP secret, keeping the account for good."""
    admin, totp = await create_person(platform, "authority", persons_pb2.PERSON_ROLE_ADMINISTRATOR)
    session = await sign_in(platform, admin, totp)
    for call, request in (
            (_admin(platform).ResetPersonPassword, persons_pb2.ResetPersonPasswordRequest(
                id=admin.id, password="a taken-over password")),
            (_admin(platform).ResetPersonTotp, persons_pb2.ResetPersonTotpRequest(id=admin.id))):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await call(request, metadata=bearer(session), timeout=10)
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT, request
        assert "another administrator must" in (refused.value.details() or "")
    # Nothing changed: a reset ends the person's sessions, and this one still works.
    await _sessions(platform).GetCurrentPerson(persons_pb2.GetCurrentPersonRequest(), metadata=bearer(session),
                                               timeout=10)
    # Another administrator (here the authority's system) still may.
    reset = await _admin(platform).ResetPersonTotp(persons_pb2.ResetPersonTotpRequest(id=admin.id),
                                                   metadata=platform.metadata("authority"), timeout=10)
    assert reset.totp_provisioning_uri.startswith("otpauth://")


async def test_a_repeated_character_or_the_username_is_refused_as_a_password_everywhere_one_is_set(  # type: ignore[no-untyped-def]
        platform) -> None:
    """Twelve spaces, aaaaaaaaaaaa or the username itself passed the length check alone, at creation, at a reset
    and at a person's own change."""
    person, totp = await create_person(platform, "police", persons_pb2.PERSON_ROLE_APPLICANT)
    session = await sign_in(platform, person, totp)
    calls = (
        (_admin(platform).CreatePerson, persons_pb2.CreatePersonRequest(person=persons_pb2.Person(
            username="zhang.weak", display_name="张弱", department_code=person.department_code,
            roles=[persons_pb2.PERSON_ROLE_APPLICANT]), password="zhang.weak2026"), platform.metadata("authority"),
         "password"),
        (_admin(platform).ResetPersonPassword, persons_pb2.ResetPersonPasswordRequest(id=person.id, password=" " * 12),
         platform.metadata("authority"), "password"),
        (_sessions(platform).ChangePassword, persons_pb2.ChangePasswordRequest(
            current_password=PASSWORD, new_password=f"{person.username.upper()}!", totp_code="000000"),
         bearer(session), "new_password"),
    )
    for call, request, metadata, field in calls:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await call(request, metadata=metadata, timeout=10)
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT, request
        _, bad = details_of(refused.value)
        assert bad is not None and [v.field for v in bad.field_violations] == [field], bad
    # Nothing was set: a reset or a change would have ended this session.
    await _sessions(platform).GetCurrentPerson(persons_pb2.GetCurrentPersonRequest(), metadata=bearer(session),
                                               timeout=10)


async def test_a_password_holding_a_character_nobody_can_type_is_refused_where_it_is_set(  # type: ignore[no-untyped-def]
        platform) -> None:
    """A password was taken with a line break (a provisioning job reading the first password from its file keeps
    the final newline, as a secret's reader does), a tab or a zero-width space (copied from a document): set so, no
    sign-in form can type it, and the person, typing what they were given, was told 'wrong password' until the
    account locked. Refused where it is set, naming the character and where it is (never the password)."""
    person, totp = await create_person(platform, "police", persons_pb2.PERSON_ROLE_APPLICANT)
    session = await sign_in(platform, person, totp)
    calls = (
        (_admin(platform).CreatePerson, persons_pb2.CreatePersonRequest(person=persons_pb2.Person(
            username=f"u{uuid.uuid4().hex[:10]}", display_name="张新", department_code=person.department_code,
            roles=[persons_pb2.PERSON_ROLE_APPLICANT]), password="river\u200bstone lantern"),
         platform.metadata("authority"), "password", "character 6 is U+200B"),
        (_admin(platform).ResetPersonPassword, persons_pb2.ResetPersonPasswordRequest(
            id=person.id, password="a brand new password\n"), platform.metadata("authority"), "password",
         "character 21 is U+000A"),
        (_sessions(platform).ChangePassword, persons_pb2.ChangePasswordRequest(
            current_password=PASSWORD, new_password="river\tstone lantern", totp_code="000000"),
         bearer(session), "new_password", "character 6 is U+0009"),
    )
    for call, request, metadata, field, where in calls:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await call(request, metadata=metadata, timeout=10)
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT, request
        _, bad = details_of(refused.value)
        assert bad is not None and [v.field for v in bad.field_violations] == [field], bad
        assert where in bad.field_violations[0].description, bad
        assert "stone" not in bad.field_violations[0].description and "brand" not in bad.field_violations[0].description
    # Nothing was set: a reset or a change would have ended this session.
    await _sessions(platform).GetCurrentPerson(persons_pb2.GetCurrentPersonRequest(), metadata=bearer(session),
                                               timeout=10)


async def test_a_password_signs_in_however_unicode_writes_the_same_characters(platform) -> None:  # type: ignore[no-untyped-def]
    """A password was compared as the bytes it was set with: one set in full-width letters (a Chinese input method
    in 全角 mode, or a provisioning job's file) was refused typed in ordinary ones, and an accented letter set
    precomposed (Windows) refused typed decomposed (macOS), each try counted toward the lock, though the person
    typed the same characters. Passwords are now read in NFKC, as the username and the TOTP code are (NIST SP
    800-63B 5.1.1.2)."""
    admin = platform.metadata("authority")
    for given, typed in (("ｒｉｖｅｒ ｓｔｏｎｅ ｌａｎｔｅｒｎ", "river stone lantern"),
                         ("cafe\u0301 au lait fourteen", "caf\u00e9 au lait fourteen")):
        person, totp = await create_person(platform, "police", persons_pb2.PERSON_ROLE_APPLICANT)
        await _admin(platform).ResetPersonPassword(persons_pb2.ResetPersonPasswordRequest(
            id=person.id, password=given), metadata=admin, timeout=10)
        session = await sign_in(platform, person, totp, password=typed)
        assert session.person.id == person.id, given


async def test_roles_set_to_what_they_are_end_no_session(platform) -> None:  # type: ignore[no-untyped-def]
    """SetPersonRoles ended the person's sessions (ROLES_CHANGED, "sign in again to act with the new roles") even
    when it set the roles they had: an administrator saving 修改角色 unchanged, or the authority's directory sync
    applying every person's roles again each night, signed every officer out mid-work, told their roles changed.
    Their sessions go on; the call is logged all the same (who, and the roles before and after)."""
    person, totp = await create_person(platform, "social", persons_pb2.PERSON_ROLE_APPROVER,
                                       persons_pb2.PERSON_ROLE_APPLICANT)
    session = await sign_in(platform, person, totp)
    await _admin(platform).SetPersonRoles(persons_pb2.SetPersonRolesRequest(
        id=person.id, roles=[persons_pb2.PERSON_ROLE_APPLICANT, persons_pb2.PERSON_ROLE_APPROVER,
                             persons_pb2.PERSON_ROLE_APPLICANT]), metadata=platform.metadata("authority"), timeout=10)
    current = await _sessions(platform).GetCurrentPerson(persons_pb2.GetCurrentPersonRequest(),
                                                         metadata=bearer(session), timeout=10)
    assert current.person.id == person.id
    await _sessions(platform).RefreshSession(persons_pb2.RefreshSessionRequest(), metadata=bearer(session),
                                             timeout=10)
    events = await admin_log_pb2_grpc.AdminLogServiceStub(platform.channel).ListAdminEvents(
        admin_log_pb2.ListAdminEventsRequest(action="person.set_roles", page_size=1000),
        metadata=platform.metadata("authority"), timeout=10)
    logged = [json.loads(e.details_json) for e in events.events if e.target == person.id]
    assert logged == [{"roles": ["APPLICANT", "APPROVER"], "before": ["APPLICANT", "APPROVER"]}], logged


async def test_a_username_typed_in_full_width_creates_the_account_it_shows(platform) -> None:  # type: ignore[no-untyped-def]
    """SignIn reads a username typed in full-width letters (a Chinese input method in 全角 mode) as the ASCII it
    shows, but CreatePerson refused the same typing with "must be 3-64 characters of a-z 0-9 . _ -", to an
    administrator looking at exactly those characters. It is read as SignIn reads it: the account is the ASCII
    name, and signs in typed either way."""
    suffix = uuid.uuid4().hex[:6]
    full_width = str.maketrans("0123456789abcdef", "０１２３４５６７８９ａｂｃｄｅｆ")
    typed = "ＺＨＡＮＧ．ｓａｎ－" + suffix.translate(full_width)
    response = await _admin(platform).CreatePerson(persons_pb2.CreatePersonRequest(
        person=persons_pb2.Person(username=typed, display_name="张三",
                                  department_code=platform.credentials.systems["civil"]["department"],
                                  roles=[persons_pb2.PERSON_ROLE_APPLICANT]), password=PASSWORD),
        metadata=platform.metadata("authority"), timeout=10)
    assert response.person.username == f"zhang.san-{suffix}"
    totp = pyotp.parse_uri(response.totp_provisioning_uri)
    signed = await _sessions(platform).SignIn(persons_pb2.SignInRequest(
        username=typed, password=PASSWORD, totp_code=totp.now()), timeout=10)
    assert signed.session.person.id == response.person.id


async def test_an_administrators_session_ended_while_redis_missed_it_changes_no_person(  # type: ignore[no-untyped-def]
        platform, monkeypatch) -> None:
    """An administrator's change of a person checked, under the administrators' lock, that its maker was still an
    enabled 管理员, but not that their token was still theirs: with the announcement of their sign-out lost (Redis
    away for a moment), whoever held the token they signed out of (a shared terminal, a copied request) reset any
    person's password, or created an administrator with a password of their choosing, until the services'
    reload a minute later. The token is now read against its maker's row there too: refused, nothing changed."""
    administrator, totp = await create_person(platform, "authority", persons_pb2.PERSON_ROLE_ADMINISTRATOR)
    session = await sign_in(platform, administrator, totp)
    victim, _ = await create_person(platform, "police", persons_pb2.PERSON_ROLE_APPROVER)
    announcements_lost(monkeypatch)
    await _sessions(platform).SignOut(persons_pb2.SignOutRequest(), metadata=bearer(session), timeout=10)
    calls = (_admin(platform).ResetPersonPassword(persons_pb2.ResetPersonPasswordRequest(
                 id=victim.id, password="the leakers password"), metadata=bearer(session), timeout=10),
             _admin(platform).CreatePerson(persons_pb2.CreatePersonRequest(person=persons_pb2.Person(
                 username=f"u{uuid.uuid4().hex[:10]}", display_name="新管理员", department_code=victim.department_code,
                 roles=[persons_pb2.PERSON_ROLE_APPROVER]), password="the leakers password"),
                 metadata=bearer(session), timeout=10))
    await _all_refused(calls, "SESSION_ENDED")
    monkeypatch.undo()
    assert not (await _admin(platform).GetPerson(persons_pb2.GetPersonRequest(id=victim.id),
                                                 metadata=platform.metadata("authority"), timeout=10)
                ).person.password_change_required  # never reset


async def test_an_approvers_session_ended_while_redis_missed_it_grants_nothing(  # type: ignore[no-untyped-def]
        platform, monkeypatch) -> None:
    """A 审批人's reply and grant changes checked their roles in the token, and the token against the verifier's
    states alone, which learn of a disable from an event: with it lost (Redis away for a moment), the session of an
    approver just disabled (who left, or was suspended) approved an application, opening another department's access
    to personal data, and widened or revoked grants, until the services' reload a minute later. The token is now read
    against its person's row, as for an administrator's change: refused, logged, nothing changed."""
    import datetime as dt

    from google.protobuf import field_mask_pb2, timestamp_pb2

    from govshare.authorization.v1 import sharing_pb2, sharing_pb2_grpc
    from services.runtime.duties import APPLICANT, APPROVER
    from tests.integration.test_duties import _application

    approver, totp = await create_person(platform, "police", persons_pb2.PERSON_ROLE_APPROVER)
    session = await sign_in(platform, approver, totp)
    sharing = sharing_pb2_grpc.SharingServiceStub(platform.channel)

    async def submitted() -> sharing_pb2.Application:
        return (await sharing.SubmitApplication(sharing_pb2.SubmitApplicationRequest(
            application=_application(["citizen_id", "name", "birth_date"])),
            metadata=platform.person("social", APPLICANT), timeout=10)).application

    pending, granted = await submitted(), await submitted()
    grant = (await sharing.ReplyApplication(sharing_pb2.ReplyApplicationRequest(
        id=granted.id, decision=sharing_pb2.REPLY_DECISION_APPROVE, items=["citizen_id", "birth_date"]),
        metadata=platform.person("police", APPROVER), timeout=10)).grant
    release = timestamp_pb2.Timestamp()
    release.FromDatetime(dt.datetime.now(dt.UTC) + dt.timedelta(days=7))
    announcements_lost(monkeypatch)
    await _admin(platform).DisablePerson(persons_pb2.DisablePersonRequest(id=approver.id),
                                         metadata=platform.metadata("authority"), timeout=10)
    calls = (sharing.ReplyApplication(sharing_pb2.ReplyApplicationRequest(
                 id=pending.id, decision=sharing_pb2.REPLY_DECISION_APPROVE, items=["citizen_id", "name"]),
                 metadata=bearer(session), timeout=10),
             sharing.UpdateGrant(sharing_pb2.UpdateGrantRequest(
                 grant=sharing_pb2.Grant(id=grant.id, items=["citizen_id", "name", "birth_date"]),
                 update_mask=field_mask_pb2.FieldMask(paths=["items"])), metadata=bearer(session), timeout=10),
             sharing.RevokeGrant(sharing_pb2.RevokeGrantRequest(id=grant.id, reason="离职前撤销"),
                                 metadata=bearer(session), timeout=10),
             sharing.SetGrantConfidentiality(sharing_pb2.SetGrantConfidentialityRequest(
                 grant_id=grant.id, confidential=True, release_time=release, reason="在办案件"),
                 metadata=bearer(session), timeout=10))
    await _all_refused(calls, "PERSON_DISABLED")
    monkeypatch.undo()
    authority = platform.metadata("authority")
    assert (await sharing.GetApplication(sharing_pb2.GetApplicationRequest(id=pending.id), metadata=authority,
                                         timeout=10)).application.state == pending.state
    kept = (await sharing.GetGrant(sharing_pb2.GetGrantRequest(id=grant.id), metadata=authority, timeout=10)).grant
    assert (list(kept.items), kept.state, kept.confidential) == (["citizen_id", "birth_date"], grant.state, False)
    events = await admin_log_pb2_grpc.AdminLogServiceStub(platform.channel).ListAdminEvents(
        admin_log_pb2.ListAdminEventsRequest(page_size=1000), metadata=authority, timeout=10)
    tried = sorted((e.action, e.result) for e in events.events
                   if e.actor_system_id == approver.id and e.action.startswith("sharing."))
    assert tried == [(action, "CREDENTIALS_REVOKED") for action in (
        "sharing.approved", "sharing.grant_confidentiality", "sharing.grant_revoked", "sharing.grant_updated")], tried


async def test_a_persons_decisions_outside_authorization_need_their_session_still_theirs(  # type: ignore[no-untyped-def]
        platform, monkeypatch) -> None:
    """Catalog, query and foundation checked a person's token against their verifier's states alone, which learn of
    a disable from an event: with it lost (Redis away for a moment), the sessions of a 审核员 and of a 审批人 and
    编目员 just disabled published a catalog entry, retired one, answered a dispute (closing it for its reporter),
    resolved a conflict between sources and loaded data, and a 管理员's designated a dataset's source and changed
    the evaluation's weights, until the services' reload a minute later. Each such
    decision now asks authorization for the person's row first: refused as every service refuses it, logged with
    result CREDENTIALS_REVOKED, nothing changed."""
    import random

    from govshare.foundation.v1 import foundation_pb2, foundation_pb2_grpc
    from govshare.query.v1 import dispute_pb2, dispute_pb2_grpc
    from govshare.supervision.v1 import supervision_pb2, supervision_pb2_grpc
    from services.demo import demo_entries
    from services.foundation import synthetic
    from services.runtime.duties import APPROVER, DATA_OFFICER, REVIEWER

    reviewer, reviewer_totp = await create_person(platform, "authority", persons_pb2.PERSON_ROLE_REVIEWER)
    administrator, administrator_totp = await create_person(platform, "authority",
                                                            persons_pb2.PERSON_ROLE_ADMINISTRATOR)
    officer, officer_totp = await create_person(platform, "police", persons_pb2.PERSON_ROLE_APPROVER,
                                                persons_pb2.PERSON_ROLE_DATA_OFFICER)
    reviewing, answering = await sign_in(platform, reviewer, reviewer_totp), await sign_in(platform, officer,
                                                                                             officer_totp)
    administering = await sign_in(platform, administrator, administrator_totp)
    catalog = catalog_pb2_grpc.CatalogServiceStub(platform.channel)
    entry = catalog_pb2.Entry()
    entry.CopyFrom(next(e for e in demo_entries() if e.code == "101001/000001"))  # the police's population
    entry.code, entry.name = f"101001/{random.randrange(200, 10**6):06d}", "人口变动信息"
    entry.endpoint.dataset = f"population_{entry.code[-6:]}"
    police = platform.person("police", DATA_OFFICER)
    await catalog.CreateEntry(catalog_pb2.CreateEntryRequest(entry=entry), metadata=police, timeout=10)
    await catalog.SubmitEntry(catalog_pb2.SubmitEntryRequest(code=entry.code), metadata=police, timeout=10)
    disputes = dispute_pb2_grpc.DisputeServiceStub(platform.channel)
    citizen = synthetic.person(23, platform.credentials.seed)["citizen_id"]  # loaded by the demo
    dispute = (await disputes.ReportDispute(dispute_pb2.ReportDisputeRequest(dispute=dispute_pb2.Dispute(
        resource_code="101001/000001", key=citizen, item="name", claimed_value="王小明", evidence="户口簿")),
        metadata=platform.metadata("civil"), timeout=10)).dispute
    supervision = supervision_pb2_grpc.SupervisionServiceStub(platform.channel)
    (weight, *_) = (await supervision.GetEvaluationWeights(supervision_pb2.GetEvaluationWeightsRequest(),
                                                          metadata=platform.metadata("authority"), timeout=10)).weights
    licences = next(dataset for dataset in (await foundation_pb2_grpc.FoundationAdminServiceStub(
        platform.channel).ListDatasets(foundation_pb2.ListDatasetsRequest(), metadata=platform.metadata("authority"),
                                       timeout=10)).datasets if dataset.name == "licence")
    foundation_db = await asyncpg.connect(platform.settings["foundation"].database_url,
                                          server_settings={"search_path": "foundation"})
    try:
        conflict_id = await foundation_db.fetchval(
            "INSERT INTO conflicts (dataset, key, item, authoritative_value, other_value,"
            " other_source_department_code) VALUES ('population', $1, 'address', '户籍地址甲', '户籍地址乙', $2)"
            " RETURNING id", citizen, platform.credentials.systems["social"]["department"])
        announcements_lost(monkeypatch)
        for person in (reviewer, officer, administrator):
            await _admin(platform).DisablePerson(persons_pb2.DisablePersonRequest(id=person.id),
                                                 metadata=platform.metadata("authority"), timeout=10)
        foundation = foundation_pb2_grpc.FoundationAdminServiceStub(platform.channel)
        # One after the other (a call is sent as it is made): a refusal teaches the service's states the end, and
        # the same person's next call there is refused by its verifier, unlogged, whichever came first.
        for call in (
                lambda: catalog.ReviewEntry(catalog_pb2.ReviewEntryRequest(
                    code=entry.code, decision=catalog_pb2.REVIEW_DECISION_PUBLISH), metadata=bearer(reviewing),
                    timeout=10),
                lambda: catalog.RetireEntry(catalog_pb2.RetireEntryRequest(code=entry.code, reason="不再采集"),
                                            metadata=bearer(answering), timeout=10),
                lambda: disputes.AnswerDispute(dispute_pb2.AnswerDisputeRequest(
                    id=dispute.id, corrected=False, answer="经核实无误"), metadata=bearer(answering), timeout=10),
                lambda: foundation.ResolveConflict(foundation_pb2.ResolveConflictRequest(
                    id=conflict_id, note="以户籍底册为准"), metadata=bearer(answering), timeout=10),
                lambda: foundation.LoadRecords(foundation_pb2.LoadRecordsRequest(dataset="population"),
                                               metadata=bearer(answering), timeout=10),
                # The authority's 管理员: the same source and weight as now, so the parent's answer changed nothing.
                lambda: foundation.DesignateAuthoritativeSource(foundation_pb2.DesignateAuthoritativeSourceRequest(
                    dataset="licence", department_code=licences.authoritative_department_code),
                    metadata=bearer(administering), timeout=10),
                lambda: supervision.UpdateEvaluationWeights(supervision_pb2.UpdateEvaluationWeightsRequest(
                    weights=[weight]), metadata=bearer(administering), timeout=10)):
            await _all_refused((call(),), "PERSON_DISABLED")
        monkeypatch.undo()
        assert await foundation_db.fetchval("SELECT state FROM conflicts WHERE id = $1", conflict_id) == 1  # open
        authority = platform.metadata("authority")
        kept = await catalog.GetEntry(catalog_pb2.GetEntryRequest(code=entry.code), metadata=authority, timeout=10)
        assert kept.entry.state == catalog_pb2.ENTRY_STATE_SUBMITTED
        # Still open: the provider's 审批人 answers it (and so leaves no open dispute to the other tests).
        answered = await disputes.AnswerDispute(dispute_pb2.AnswerDisputeRequest(
            id=dispute.id, corrected=False, answer="经核实无误"), metadata=platform.person("police", APPROVER),
            timeout=10)
        assert answered.dispute.state == dispute_pb2.DISPUTE_STATE_CONFIRMED
        await catalog.ReviewEntry(catalog_pb2.ReviewEntryRequest(
            code=entry.code, decision=catalog_pb2.REVIEW_DECISION_RETURN, reason="测试结束"),
            metadata=platform.person("authority", REVIEWER), timeout=10)
        expected = [("catalog.publish", reviewer.id), ("catalog.retire", officer.id),
                    ("dispute.confirmed", officer.id), ("foundation.resolve_conflict", officer.id),
                    ("foundation.designate_source", administrator.id),
                    ("supervision.update_weights", administrator.id)]
        await _logged_revoked(platform, expected)
    finally:
        await foundation_db.execute("DELETE FROM conflicts WHERE id = $1", conflict_id)
        await foundation_db.close()


async def test_a_persons_lesser_actions_after_a_disable_redis_missed_are_refused(  # type: ignore[no-untyped-def]
        platform, monkeypatch) -> None:
    """The decisions above asked authorization for the person's row; their lesser actions trusted the verifier's
    states for up to a minute after Redis lost the disable: a 编目员 who left drafted, edited and submitted entries
    in their department's name, reported a mandate change, dropped a resource's records from every cache and
    reported a dispute, and a 管理员 recomputed a month's snapshots. Each now asks too: refused as every service
    refuses it, logged with result CREDENTIALS_REVOKED, nothing changed."""
    import random

    from google.protobuf import field_mask_pb2

    from govshare.query.v1 import dispute_pb2, dispute_pb2_grpc, query_pb2, query_pb2_grpc
    from govshare.supervision.v1 import supervision_pb2, supervision_pb2_grpc
    from services.demo import demo_entries
    from services.foundation import synthetic
    from services.runtime.duties import ADMINISTRATOR, APPLICANT, DATA_OFFICER
    from services.runtime.tokens import issue_token

    # One person per action of a service: a refusal teaches that service's states the end, and the same person's
    # next call there is refused by its verifier, unlogged (query's states are its own: its two reuse two). Without
    # a password (nothing hashed), their tokens issued as SignIn issues them.
    officers = [person for person, _ in await asyncio.gather(*(create_person(
        platform, "police", persons_pb2.PERSON_ROLE_DATA_OFFICER, persons_pb2.PERSON_ROLE_APPLICANT, password="")
        for _ in range(4)))]
    administrator, _ = await create_person(platform, "authority", persons_pb2.PERSON_ROLE_ADMINISTRATOR, password="")

    def session(person: persons_pb2.Person, *roles: str) -> tuple[tuple[str, str], ...]:
        caller = Caller(person.id, person.department_code, authority=person.department_code == authority_code,
                        display_name=person.display_name, roles=roles)
        return (("authorization", f"Bearer {issue_token(private_key, caller, 600).token}"),)

    private_key = platform.settings["authorization"].token_private_key
    authority_code = platform.credentials.systems["authority"]["department"]
    sessions = [*(session(officer, DATA_OFFICER, APPLICANT) for officer in officers),
                session(administrator, ADMINISTRATOR)]
    catalog = catalog_pb2_grpc.CatalogServiceStub(platform.channel)
    drafts = []
    for _ in range(2):
        entry = catalog_pb2.Entry()
        entry.CopyFrom(next(e for e in demo_entries() if e.code == "101001/000001"))  # the police's population
        entry.code, entry.name = f"101001/{random.randrange(200, 10**6):06d}", "人口变动信息"
        entry.endpoint.dataset = f"population_{entry.code[-6:]}"
        drafts.append(entry)
    drafted, new = drafts
    await catalog.CreateEntry(catalog_pb2.CreateEntryRequest(entry=drafted),
                              metadata=platform.person("police", DATA_OFFICER), timeout=10)
    renamed = catalog_pb2.Entry(code=drafted.code, name="人口变动信息（改）")
    police = platform.credentials.systems["police"]["department"]
    citizen = synthetic.person(23, platform.credentials.seed)["citizen_id"]  # loaded by the demo
    announcements_lost(monkeypatch)
    for person in [*officers, administrator]:
        await _admin(platform).DisablePerson(persons_pb2.DisablePersonRequest(id=person.id),
                                             metadata=platform.metadata("authority"), timeout=10)
    supervision = supervision_pb2_grpc.SupervisionServiceStub(platform.channel)
    await _all_refused((
        catalog.CreateEntry(catalog_pb2.CreateEntryRequest(entry=new), metadata=sessions[0], timeout=10),
        catalog.UpdateEntry(catalog_pb2.UpdateEntryRequest(
            entry=renamed, update_mask=field_mask_pb2.FieldMask(paths=["name"])), metadata=sessions[1], timeout=10),
        catalog.SubmitEntry(catalog_pb2.SubmitEntryRequest(code=drafted.code), metadata=sessions[2], timeout=10),
        catalog.ReportMandateChange(catalog_pb2.ReportMandateChangeRequest(
            department_code=police, description="职能调整"), metadata=sessions[3], timeout=10),
        query_pb2_grpc.QueryServiceStub(platform.channel).NotifyRecordsChanged(
            query_pb2.NotifyRecordsChangedRequest(resource_code="101001/000001", all_records=True),
            metadata=sessions[0], timeout=10),
        dispute_pb2_grpc.DisputeServiceStub(platform.channel).ReportDispute(dispute_pb2.ReportDisputeRequest(
            dispute=dispute_pb2.Dispute(resource_code="101001/000001", key=citizen, item="name",
                                        claimed_value="王小明", evidence="户口簿")), metadata=sessions[1], timeout=10),
        supervision.ComputeSnapshots(supervision_pb2.ComputeSnapshotsRequest(year=2025, month=1),
                                     metadata=sessions[4], timeout=10)), "PERSON_DISABLED")
    monkeypatch.undo()
    authority = platform.metadata("authority")
    kept = (await catalog.GetEntry(catalog_pb2.GetEntryRequest(code=drafted.code), metadata=authority,
                                   timeout=10)).entry
    assert (kept.name, kept.state) == (drafted.name, catalog_pb2.ENTRY_STATE_DRAFT)
    with pytest.raises(grpc.aio.AioRpcError) as absent:
        await catalog.GetEntry(catalog_pb2.GetEntryRequest(code=new.code), metadata=authority, timeout=10)
    assert absent.value.code() == grpc.StatusCode.NOT_FOUND
    actions = ("catalog.create", "catalog.update", "catalog.submit", "catalog.report_mandate_change",
               "query.notify_records_changed", "dispute.report")
    actors = [person.id for person in officers]
    await _logged_revoked(platform, [*zip(actions, [*actors, *actors[:2]], strict=True),
                                     ("supervision.compute_snapshots", administrator.id)])


async def _logged_revoked(platform, expected: list[tuple[str, str]]) -> None:  # type: ignore[no-untyped-def]
    """Waits until the administrative log holds each (action, actor) of ``expected`` with result
    CREDENTIALS_REVOKED: catalog's, query's and foundation's entries are relayed from their outboxes (at once after
    the commit; 10 s of slack for a loaded machine)."""
    log = admin_log_pb2_grpc.AdminLogServiceStub(platform.channel)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while True:
        found = set()
        for action, _ in expected:
            events = await log.ListAdminEvents(admin_log_pb2.ListAdminEventsRequest(action=action, page_size=1000),
                                               metadata=platform.metadata("authority"), timeout=10)
            found |= {(e.action, e.actor_system_id) for e in events.events if e.result == "CREDENTIALS_REVOKED"}
        if set(expected) <= found:
            return
        assert loop.time() < deadline, f"not logged: {set(expected) - found}"
        await asyncio.sleep(0.05)


async def _administrator_signed_out_unheard(platform, monkeypatch):  # type: ignore[no-untyped-def]
    """An administrator's session, a business system of a demo department, and the session signed out while Redis
    refuses every announcement (the verifiers not told): the token ended, and only its row says so."""
    administrator, totp = await create_person(platform, "authority", persons_pb2.PERSON_ROLE_ADMINISTRATOR)
    session = await sign_in(platform, administrator, totp)
    department = platform.credentials.systems["social"]["department"]
    system = (await directory_pb2_grpc.DirectoryServiceStub(platform.channel).CreateSystem(
        directory_pb2.CreateSystemRequest(system=directory_pb2.System(department_code=department, name="窗口受理系统")),
        metadata=platform.metadata("authority"), timeout=10)).system
    announcements_lost(monkeypatch)
    await _sessions(platform).SignOut(persons_pb2.SignOutRequest(), metadata=bearer(session), timeout=10)
    return administrator, session, department, system


async def test_an_administrators_session_ended_while_redis_missed_it_gets_no_system_secret(  # type: ignore[no-untyped-def]
        platform, monkeypatch) -> None:
    """As for persons: the token an administrator signed out of, while the announcement was lost, registered a
    business system or rotated one's secret, and its holder got the secret. Both read the token against the
    administrator's row now: refused, no secret handed out."""
    administrator, session, department, system = await _administrator_signed_out_unheard(platform, monkeypatch)
    directory = directory_pb2_grpc.DirectoryServiceStub(platform.channel)
    calls = (directory.CreateSystem(directory_pb2.CreateSystemRequest(system=directory_pb2.System(
                 department_code=department, name="窗口受理系统")), metadata=bearer(session), timeout=10),
             directory.RotateSystemSecret(directory_pb2.RotateSystemSecretRequest(id=system.id),
                                          metadata=bearer(session), timeout=10))
    await _all_refused(calls, "SESSION_ENDED")
    monkeypatch.undo()
    log = admin_log_pb2_grpc.AdminLogServiceStub(platform.channel)
    for action, target in (("directory.create_system", department), ("directory.rotate_system_secret", system.id)):
        events = (await log.ListAdminEvents(admin_log_pb2.ListAdminEventsRequest(action=action, page_size=1000),
                                            metadata=platform.metadata("authority"), timeout=10)).events
        assert [(e.target, e.result) for e in events if e.actor_system_id == administrator.id] == [
            (target, "CREDENTIALS_REVOKED")], action


async def test_an_administrators_session_ended_while_redis_missed_it_changes_no_system_department_or_role(  # type: ignore[no-untyped-def]
        platform, monkeypatch) -> None:
    """The same window for the directory's other changes (found by auth21): the token an administrator signed out
    of, while the announcement was lost, disabled and enabled systems, registered, renamed and retired departments,
    and granted the role that lists who accessed a citizen's records. Each reads the token against the
    administrator's row now: refused SESSION_ENDED, logged CREDENTIALS_REVOKED, nothing changed."""
    administrator, session, department, system = await _administrator_signed_out_unheard(platform, monkeypatch)
    directory = directory_pb2_grpc.DirectoryServiceStub(platform.channel)
    stale = bearer(session)
    roles = roles_pb2_grpc.RoleServiceStub(platform.channel)
    calls = (directory.DisableSystem(directory_pb2.DisableSystemRequest(id=system.id), metadata=stale, timeout=10),
             directory.EnableSystem(directory_pb2.EnableSystemRequest(id=system.id), metadata=stale, timeout=10),
             directory.RenameDepartment(directory_pb2.RenameDepartmentRequest(code=department, name="改名局"),
                                        metadata=stale, timeout=10),
             directory.RetireDepartment(directory_pb2.RetireDepartmentRequest(code=department), metadata=stale,
                                        timeout=10),
             roles.GrantSystemRole(roles_pb2.GrantSystemRoleRequest(
                 system_id=system.id, role=roles_pb2.SYSTEM_ROLE_SUBJECT_ACCESS_PORTAL), metadata=stale, timeout=10))
    await _all_refused(calls, "SESSION_ENDED")
    monkeypatch.undo()
    got = await directory.GetSystem(directory_pb2.GetSystemRequest(id=system.id),
                                    metadata=platform.metadata("authority"), timeout=10)
    assert not got.system.disabled
    log = admin_log_pb2_grpc.AdminLogServiceStub(platform.channel)
    events = (await log.ListAdminEvents(admin_log_pb2.ListAdminEventsRequest(page_size=1000),
                                        metadata=platform.metadata("authority"), timeout=10)).events
    assert sorted((e.action, e.result) for e in events if e.actor_system_id == administrator.id
                  and e.result == "CREDENTIALS_REVOKED") == sorted([
        ("directory.disable_system", "CREDENTIALS_REVOKED"), ("directory.enable_system", "CREDENTIALS_REVOKED"),
        ("directory.rename_department", "CREDENTIALS_REVOKED"), ("directory.retire_department", "CREDENTIALS_REVOKED"),
        ("roles.grant_system_role", "CREDENTIALS_REVOKED")])


async def test_a_role_change_logs_the_roles_it_replaced_when_another_administrator_changed_them_meanwhile(  # type: ignore[no-untyped-def]
        platform) -> None:
    """The roles 'before' were read ahead of the change's transaction: of two administrators changing the same
    person at once, the second's log entry named the roles the first had already replaced."""
    component = platform.servers["authorization"].component
    person, _ = await create_person(platform, "social", persons_pb2.PERSON_ROLE_APPLICANT)
    authority = platform.credentials.systems["authority"]
    caller = Caller(authority["system_id"], authority["department"], authority=True)
    other = Persons(component._store, component._person_store, component._events, sealer=None)

    class Interleaved(Persons):
        async def find(self, person_id: str):  # type: ignore[no-untyped-def]
            found = await super().find(person_id)
            # The other administrator's change commits between this one's read and its write.
            await other.set_roles(caller, person_id, (persons_pb2.PERSON_ROLE_APPROVER,))
            return found

    interleaved = Interleaved(component._store, component._person_store, component._events, sealer=None)
    await interleaved.set_roles(caller, person.id, (persons_pb2.PERSON_ROLE_DATA_OFFICER,))
    page = await admin_log_pb2_grpc.AdminLogServiceStub(platform.channel).ListAdminEvents(
        admin_log_pb2.ListAdminEventsRequest(action="person.set_roles", page_size=100),
        metadata=platform.metadata("authority"), timeout=10)
    logged = [json.loads(e.details_json) for e in page.events if e.target == person.id]  # newest first
    assert [(d["before"], d["roles"]) for d in logged] == [(["APPROVER"], ["DATA_OFFICER"]),
                                                          (["APPLICANT"], ["APPROVER"])]


async def test_a_role_change_made_over_another_administrators_is_refused_when_it_sends_the_etag_it_read(  # type: ignore[no-untyped-def]
        platform) -> None:
    """Two administrators editing one person: the second's form, filled in before the first's change, silently
    replaced it (the console's 修改角色 sent no version). With Person.etag sent back, it is ABORTED and nothing
    changes; without one (an older client), the change is made as before."""
    admin = _admin(platform)
    metadata = platform.metadata("authority")
    person, _ = await create_person(platform, "social", persons_pb2.PERSON_ROLE_APPLICANT)
    read = (await admin.GetPerson(persons_pb2.GetPersonRequest(id=person.id), metadata=metadata, timeout=10)).person
    assert read.etag and read.etag == person.etag
    first = await admin.SetPersonRoles(persons_pb2.SetPersonRolesRequest(
        id=person.id, roles=[persons_pb2.PERSON_ROLE_APPROVER], etag=read.etag), metadata=metadata, timeout=10)
    assert first.person.etag != read.etag
    with pytest.raises(grpc.aio.AioRpcError) as stale:
        await admin.SetPersonRoles(persons_pb2.SetPersonRolesRequest(
            id=person.id, roles=[persons_pb2.PERSON_ROLE_DATA_OFFICER], etag=read.etag), metadata=metadata, timeout=10)
    assert stale.value.code() == grpc.StatusCode.ABORTED, stale.value.details()
    info, _ = details_of(stale.value)
    assert info is not None and info.reason == "ETAG_MISMATCH"
    assert "changed by another administrator" in stale.value.details() and "APPROVER" in stale.value.details()
    now = (await admin.GetPerson(persons_pb2.GetPersonRequest(id=person.id), metadata=metadata, timeout=10)).person
    assert list(now.roles) == [persons_pb2.PERSON_ROLE_APPROVER] and now.etag == first.person.etag
    # The etag is of the roles: a change of something else (here, a disable and an enable) does not refuse it.
    await admin.DisablePerson(persons_pb2.DisablePersonRequest(id=person.id), metadata=metadata, timeout=10)
    await admin.EnablePerson(persons_pb2.EnablePersonRequest(id=person.id), metadata=metadata, timeout=10)
    current = await admin.SetPersonRoles(persons_pb2.SetPersonRolesRequest(
        id=person.id, roles=[persons_pb2.PERSON_ROLE_DATA_OFFICER], etag=now.etag), metadata=metadata, timeout=10)
    assert list(current.person.roles) == [persons_pb2.PERSON_ROLE_DATA_OFFICER]
    unchecked = await admin.SetPersonRoles(persons_pb2.SetPersonRolesRequest(
        id=person.id, roles=[persons_pb2.PERSON_ROLE_APPLICANT]), metadata=metadata, timeout=10)
    assert list(unchecked.person.roles) == [persons_pb2.PERSON_ROLE_APPLICANT]


@pytest.mark.parametrize("change", ["roles", "disable"])
async def test_two_administrators_removing_each_other_at_once_leave_one_administrator(  # type: ignore[no-untyped-def]
        platform, change: str) -> None:
    """Each check passed on its own (neither removes their own role), and both changes used to commit: the
    platform was left without an administrator. The second now finds its maker no longer one."""
    first, first_totp = await create_person(platform, "authority", persons_pb2.PERSON_ROLE_ADMINISTRATOR)
    second, second_totp = await create_person(platform, "authority", persons_pb2.PERSON_ROLE_ADMINISTRATOR)
    sessions = await asyncio.gather(sign_in(platform, first, first_totp), sign_in(platform, second, second_totp))

    def remove(target: persons_pb2.Person, session: persons_pb2.Session):  # type: ignore[no-untyped-def]
        if change == "roles":
            return _admin(platform).SetPersonRoles(persons_pb2.SetPersonRolesRequest(
                id=target.id, roles=[persons_pb2.PERSON_ROLE_AUDITOR]), metadata=bearer(session), timeout=10)
        return _admin(platform).DisablePerson(persons_pb2.DisablePersonRequest(id=target.id),
                                              metadata=bearer(session), timeout=10)

    results = await asyncio.gather(remove(second, sessions[0]), remove(first, sessions[1]), return_exceptions=True)
    refused = [r for r in results if isinstance(r, BaseException)]
    assert len(refused) == 1, results
    assert isinstance(refused[0], grpc.aio.AioRpcError), refused
    # PERMISSION_DENIED when both were in flight together; UNAUTHENTICATED when the first had already cut the
    # other's token (a change of roles, or disabling, ends the person's sessions).
    assert refused[0].code() in (grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.UNAUTHENTICATED), refused[0]
    if refused[0].code() == grpc.StatusCode.PERMISSION_DENIED:
        assert "no longer an enabled 管理员" in (refused[0].details() or "")
    persons = [(await _admin(platform).GetPerson(persons_pb2.GetPersonRequest(id=p.id),
                                                 metadata=platform.metadata("authority"), timeout=10)).person
               for p in (first, second)]
    still = [p for p in persons if persons_pb2.PERSON_ROLE_ADMINISTRATOR in p.roles
             and p.state == persons_pb2.PERSON_STATE_ACTIVE]
    assert len(still) == 1, persons


async def test_the_last_enabled_administrator_is_neither_disabled_nor_demoted(  # type: ignore[no-untyped-def]
        embedded: EmbeddedServers, base_settings) -> None:
    """An administrator cannot disable or demote themselves, but the authority's system (provisioning) or a second
    administrator could disable or demote the last enabled one, leaving nobody to administer persons in the
    console. On a database of its own, so that the other tests' administrators do not count."""
    url = await create_database(embedded.database_url, f"govshare_admins_{uuid.uuid4().hex[:8]}")
    await db.migrate(url, "authorization")
    store, events = Store(), PolicyEvents()
    await store.open(url, min_size=1, max_size=2)
    await events.open(base_settings.redis_url)
    try:
        authority = "11110100MB00000014"
        level = directory_pb2.ADMINISTRATIVE_LEVEL_MUNICIPAL
        await store.ensure_authority(Department(authority, "市大数据管理局", level, "110100"))
        persons = Persons(store, PersonStore(store), events, sealer=None)
        system = Caller("sys-00000000000000aa", authority, authority=True)
        first, second = [(await persons.create(system, NewPerson(
            username=f"admin{n}", display_name=f"管理{n}", department_code=authority,
            roles=(persons_pb2.PERSON_ROLE_ADMINISTRATOR,), password="")))[0] for n in (1, 2)]
        await persons.disable(system, first.id)
        for change in (persons.disable(system, second.id),
                       persons.set_roles(system, second.id, (persons_pb2.PERSON_ROLE_AUDITOR,))):
            with pytest.raises(ServiceError) as refused:
                await change
            assert refused.value.code == grpc.StatusCode.FAILED_PRECONDITION
            assert refused.value.reason == "LAST_ADMINISTRATOR" and "admin2" in refused.value.message
        kept = await persons.find(second.id)
        assert not kept.disabled and persons_pb2.PERSON_ROLE_ADMINISTRATOR in kept.roles
        # Another enabled administrator first, and then it may.
        await persons.enable(system, first.id)
        assert (await persons.set_roles(system, second.id, (persons_pb2.PERSON_ROLE_AUDITOR,))).roles == (
            persons_pb2.PERSON_ROLE_AUDITOR,)
    finally:
        await events.close()
        await store.close()


async def test_change_password_checks_nothing_while_the_account_is_locked(platform) -> None:  # type: ignore[no-untyped-def]
    """ChangePassword counted a wrong current password toward the lock but never looked at the lock: whoever held a
    person's session (a browser left signed in) went on guessing after the fifth failure, and the right password
    answered TOTP_INVALID instead of BAD_CREDENTIALS, so the page told them when they had found it. Locked, it is
    ACCOUNT_LOCKED whatever is typed, as at sign-in."""
    person, totp = await create_person(platform, "police", persons_pb2.PERSON_ROLE_APPLICANT)
    session = await sign_in(platform, person, totp)

    async def change(current: str) -> tuple[str, str]:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await _sessions(platform).ChangePassword(persons_pb2.ChangePasswordRequest(
                current_password=current, new_password="a new long password", totp_code="000000"),
                metadata=bearer(session), timeout=10)
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
        return _reason(refused.value), refused.value.details() or ""

    for _ in range(5):  # the default GOVSHARE_SIGNIN_MAX_FAILURES
        assert (await change("wrong password!"))[0] == "BAD_CREDENTIALS"
    reason, message = await change(PASSWORD)
    assert reason == "ACCOUNT_LOCKED" and "locked until" in message, (reason, message)
    assert (await change("wrong password!"))[0] == "ACCOUNT_LOCKED"
    # The session itself still serves: the lock stops the guessing, not the person's work.
    await _sessions(platform).GetCurrentPerson(persons_pb2.GetCurrentPersonRequest(), metadata=bearer(session),
                                               timeout=10)


async def test_a_failed_password_change_is_logged_as_one_not_as_a_sign_in(platform) -> None:  # type: ignore[no-untyped-def]
    """A wrong current password or code given to ChangePassword was written to the administrative log as a failed
    sign-in (session.sign_in BAD_PASSWORD): an auditor tracing guesses looked at the sign-in page for someone who
    held a signed-in session and was guessing on 修改密码."""
    person, totp = await create_person(platform, "police", persons_pb2.PERSON_ROLE_APPLICANT)
    session = await sign_in(platform, person, totp)
    wrong_code = "000000" if totp.now() != "000000" else "111111"
    for current in ("wrong password!", PASSWORD):
        with pytest.raises(grpc.aio.AioRpcError):
            await _sessions(platform).ChangePassword(persons_pb2.ChangePasswordRequest(
                current_password=current, new_password="a new long password", totp_code=wrong_code),
                metadata=bearer(session), timeout=10)
    log = admin_log_pb2_grpc.AdminLogServiceStub(platform.channel)

    async def results(action: str) -> list[str]:
        events = await log.ListAdminEvents(admin_log_pb2.ListAdminEventsRequest(action=action, page_size=1000),
                                           metadata=platform.metadata("authority"), timeout=10)
        return sorted(e.result for e in events.events if e.target == person.id)

    assert await results("session.change_password") == ["BAD_PASSWORD", "BAD_TOTP"]
    assert await results("session.sign_in") == ["OK"]


async def test_a_password_change_clears_the_failures_before_it(platform) -> None:  # type: ignore[no-untyped-def]
    """The failures counted before a successful ChangePassword (both factors proved, as at a sign-in, whose success
    clears them) stayed: four mistyped current passwords, then the change, and the first mistyped new password at
    the next sign-in locked the account."""
    person, totp = await create_person(platform, "police", persons_pb2.PERSON_ROLE_APPLICANT)
    session = await sign_in(platform, person, totp)
    for _ in range(4):  # one short of the default GOVSHARE_SIGNIN_MAX_FAILURES
        with pytest.raises(grpc.aio.AioRpcError):
            await _sessions(platform).ChangePassword(persons_pb2.ChangePasswordRequest(
                current_password="wrong password!", new_password="a new long password", totp_code="000000"),
                metadata=bearer(session), timeout=10)
    # The sign-in used this step's code: the next step's, as the authenticator shows it a moment later.
    await _sessions(platform).ChangePassword(persons_pb2.ChangePasswordRequest(
        current_password=PASSWORD, new_password="a new long password", totp_code=totp.at(time.time() + 30)),
        metadata=bearer(session), timeout=10)
    for _ in range(2):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await _sessions(platform).SignIn(persons_pb2.SignInRequest(
                username=person.username, password="a new long passw0rd", totp_code=""), timeout=10)
        assert _reason(refused.value) == "BAD_CREDENTIALS", refused.value.details()


async def test_guesses_sent_at_once_are_checked_against_the_lock_in_turn(platform) -> None:  # type: ignore[no-untyped-def]
    """The lock was read before the slow password check and the failure counted after it: sixteen guesses sent at
    once were all checked (fifteen BAD_CREDENTIALS, and TOTP_REQUIRED for the right password among them) where
    five lock the account, so a burst per lock period tried as many passwords as it held calls. Now the fifth
    failure locks it for the guesses still waiting, and a username without an account answers the same."""
    person, _ = await create_person(platform, "civil", persons_pb2.PERSON_ROLE_APPLICANT)
    sessions = _sessions(platform)

    async def reason(username: str, password: str) -> str:
        try:
            await sessions.SignIn(persons_pb2.SignInRequest(username=username, password=password), timeout=30)
        except grpc.aio.AioRpcError as refused:
            return _reason(refused)
        return "OK"

    for username in (person.username, f"u{uuid.uuid4().hex[:10]}"):
        answers = await asyncio.gather(*(reason(username, f"wrong password {i}!") for i in range(8)))
        assert sorted(answers) == ["ACCOUNT_LOCKED"] * 3 + ["BAD_CREDENTIALS"] * 5, (username, answers)


async def test_a_sign_in_refused_for_a_disabled_or_locked_account_is_logged(platform) -> None:  # type: ignore[no-untyped-def]
    """A disabled person (a departed officer) signing in with their right password, or anyone going on guessing a
    locked account's password, was refused without a trace, though every other sign-in of an existing username is
    logged: each is now a session.sign_in entry on the person, the refusal's reason as its result."""
    disabled, totp = await create_person(platform, "civil", persons_pb2.PERSON_ROLE_APPLICANT)
    await _admin(platform).DisablePerson(persons_pb2.DisablePersonRequest(id=disabled.id),
                                         metadata=platform.metadata("authority"), timeout=10)
    locked, _ = await create_person(platform, "civil", persons_pb2.PERSON_ROLE_APPLICANT)
    attempts = [(disabled, PASSWORD)] + [(locked, "wrong password!")] * 6  # five lock it (the default)
    for person, password in attempts:
        with pytest.raises(grpc.aio.AioRpcError):
            await _sessions(platform).SignIn(persons_pb2.SignInRequest(
                username=person.username, password=password, totp_code=totp.now()), timeout=10)
    events = (await admin_log_pb2_grpc.AdminLogServiceStub(platform.channel).ListAdminEvents(
        admin_log_pb2.ListAdminEventsRequest(action="session.sign_in", page_size=1000),
        metadata=platform.metadata("authority"), timeout=10)).events
    assert [e.result for e in events if e.target == disabled.id] == ["ACCOUNT_DISABLED"]
    # (the fifth failure is the session.lock entry)
    assert sorted(e.result for e in events if e.target == locked.id) == ["ACCOUNT_LOCKED"] + ["BAD_PASSWORD"] * 4
    assert all(e.actor_system_id == e.target for e in events if e.target in (disabled.id, locked.id))


async def test_the_lock_entry_says_which_failure_locked_the_account(platform) -> None:  # type: ignore[no-untyped-def]
    """The failure that locks an account is logged as the lock (session.lock, LOCKED) instead of as itself, and
    the entry did not say what it was: four wrong passwords and then the right password with a wrong code (the
    password found by whoever is guessing) read the same as five wrong passwords. Its details say it now."""
    person, totp = await create_person(platform, "civil", persons_pb2.PERSON_ROLE_APPLICANT)
    wrong = "000000" if "000000" not in (totp.at(time.time() + d) for d in (-30, 0, 30)) else "111111"
    for password, code in [("wrong password!", totp.now())] * 4 + [(PASSWORD, wrong)]:
        with pytest.raises(grpc.aio.AioRpcError):
            await _sessions(platform).SignIn(persons_pb2.SignInRequest(
                username=person.username, password=password, totp_code=code), timeout=10)
    events = (await admin_log_pb2_grpc.AdminLogServiceStub(platform.channel).ListAdminEvents(
        admin_log_pb2.ListAdminEventsRequest(action="session.lock", page_size=1000),
        metadata=platform.metadata("authority"), timeout=10)).events
    locks = [e for e in events if e.target == person.id]
    assert [e.result for e in locks] == ["LOCKED"]
    details = json.loads(locks[0].details_json)
    assert (details["failure"], details["during"]) == ("BAD_TOTP", "session.sign_in"), details


async def test_the_right_password_without_its_code_is_logged(platform) -> None:  # type: ignore[no-untyped-def]
    """A stolen password tried without the authenticator left no trace: SignIn's TOTP_REQUIRED (the right password,
    no code) and EnrolTotp's TOTP_ENROLLED (the right password, to replace an enrolled authenticator) were neither
    logged nor counted, while a wrong password is both. Both are now session.* entries on the person, their reason
    as the result (still not counted toward the lock: the console asks for a code it was not given)."""
    person, _ = await create_person(platform, "civil", persons_pb2.PERSON_ROLE_APPLICANT)
    sessions = _sessions(platform)
    for call, request in ((sessions.SignIn, persons_pb2.SignInRequest(username=person.username, password=PASSWORD)),
                          (sessions.EnrolTotp, persons_pb2.EnrolTotpRequest(username=person.username,
                                                                            password=PASSWORD))):
        with pytest.raises(grpc.aio.AioRpcError):
            await call(request, timeout=10)
    log = admin_log_pb2_grpc.AdminLogServiceStub(platform.channel)
    results = {action: [e.result for e in (await log.ListAdminEvents(admin_log_pb2.ListAdminEventsRequest(
        action=action, page_size=1000), metadata=platform.metadata("authority"), timeout=10)).events
        if e.target == person.id] for action in ("session.sign_in", "session.enrol_totp")}
    assert results == {"session.sign_in": ["TOTP_REQUIRED"], "session.enrol_totp": ["TOTP_ENROLLED"]}


async def test_a_password_change_to_the_same_password_is_refused(platform) -> None:  # type: ignore[no-untyped-def]
    """ChangePassword took the current password again as the new one: a person told to replace the first password
    the administrator handed over 'changed' it and the administrator still knew it. It is INVALID_ARGUMENT on
    new_password now, before anything is checked (both are the caller's own input: nothing is told), and counts
    no failure."""
    person, totp = await create_person(platform, "police", persons_pb2.PERSON_ROLE_APPLICANT)
    session = await sign_in(platform, person, totp)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await _sessions(platform).ChangePassword(persons_pb2.ChangePasswordRequest(
            current_password=PASSWORD, new_password=PASSWORD, totp_code=totp.at(time.time() + 30)),
            metadata=bearer(session), timeout=10)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT, refused.value.details()
    _, bad = details_of(refused.value)
    assert bad is not None and [(v.field, v.description) for v in bad.field_violations] == [
        ("new_password", "must differ from the current password")]
    assert field_sentence(bad.field_violations[0].description) == "新密码不能与当前密码相同。"  # the console's words
    # The code was not used up: the change with a new password takes it.
    await _sessions(platform).ChangePassword(persons_pb2.ChangePasswordRequest(
        current_password=PASSWORD, new_password="a new long password", totp_code=totp.at(time.time() + 30)),
        metadata=bearer(session), timeout=10)


async def test_a_lock_by_someone_elses_guesses_does_not_end_a_signed_in_session(platform) -> None:  # type: ignore[no-untyped-def]
    """The lock stops guessing at sign-in. RefreshSession refused ACCOUNT_LOCKED too, so anyone who knew an
    officer's username ended their working session within a token's lifetime by typing five wrong passwords, and
    kept it ended by doing so again every lock period; docs/api.md says the session goes on. It is renewed now
    (a disabled person's is not)."""
    person, totp = await create_person(platform, "police", persons_pb2.PERSON_ROLE_APPLICANT)
    session = await sign_in(platform, person, totp)
    for _ in range(5):  # the default GOVSHARE_SIGNIN_MAX_FAILURES
        with pytest.raises(grpc.aio.AioRpcError):
            await _sessions(platform).SignIn(persons_pb2.SignInRequest(
                username=person.username, password="wrong password!", totp_code=""), timeout=10)
    renewed = (await _sessions(platform).RefreshSession(persons_pb2.RefreshSessionRequest(),
                                                        metadata=bearer(session), timeout=10)).session
    assert renewed.token and renewed.session_expire_time == session.session_expire_time
    await _admin(platform).DisablePerson(persons_pb2.DisablePersonRequest(id=person.id),
                                         metadata=platform.metadata("authority"), timeout=10)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await _sessions(platform).RefreshSession(persons_pb2.RefreshSessionRequest(), metadata=bearer(renewed),
                                                 timeout=10)
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_a_role_removed_while_the_session_is_renewed_is_not_in_the_new_token(  # type: ignore[no-untyped-def]
        platform, monkeypatch) -> None:
    """RefreshSession compared the token's roles with the person as read, then made the new token from that
    reading: a role removed meanwhile, the token made in the next second (past the change's "not before"), was
    in a token accepted for its whole life. The comparison and the token are now of the person under their row
    lock: the refresh is refused ROLES_CHANGED."""
    person, totp = await create_person(platform, "social", persons_pb2.PERSON_ROLE_APPROVER,
                                       persons_pb2.PERSON_ROLE_APPLICANT)
    session = await sign_in(platform, person, totp)
    find, changes = Persons.find, [1]

    async def find_then_change(self: Persons, person_id: str):  # type: ignore[no-untyped-def]
        record = await find(self, person_id)
        if person_id == person.id and changes:  # once (SetPersonRoles reads the person too)
            changes.pop()
            await _admin(platform).SetPersonRoles(persons_pb2.SetPersonRolesRequest(
                id=person.id, roles=[persons_pb2.PERSON_ROLE_APPLICANT]), metadata=platform.metadata("authority"),
                timeout=10)
            await asyncio.sleep(1.05 - time.time() % 1)  # the token is made in the next second
        return record

    monkeypatch.setattr(Persons, "find", find_then_change)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await _sessions(platform).RefreshSession(persons_pb2.RefreshSessionRequest(), metadata=bearer(session),
                                                 timeout=10)
    assert (refused.value.code(), _reason(refused.value)) == (grpc.StatusCode.UNAUTHENTICATED, "ROLES_CHANGED")


async def test_a_totp_reset_unlocks_the_account_as_a_password_reset_does(platform) -> None:  # type: ignore[no-untyped-def]
    """A person who lost their authenticator locks the account trying codes, and asks the administrator: the
    new TOTP secret came back and the sign-in with its first code was still ACCOUNT_LOCKED for up to the lock
    period (ResetPersonPassword clears the failures; ResetPersonTotp did not), unless the administrator also knew
    to UnlockPerson. A TOTP reset now clears them too."""
    person, totp = await create_person(platform, "police", persons_pb2.PERSON_ROLE_APPLICANT)
    wrong = "000000" if totp.now() != "000000" else "111111"
    for _ in range(5):  # the default GOVSHARE_SIGNIN_MAX_FAILURES
        with pytest.raises(grpc.aio.AioRpcError):
            await _sessions(platform).SignIn(persons_pb2.SignInRequest(
                username=person.username, password=PASSWORD, totp_code=wrong), timeout=10)
    reset = await _admin(platform).ResetPersonTotp(persons_pb2.ResetPersonTotpRequest(id=person.id),
                                                   metadata=platform.metadata("authority"), timeout=10)
    assert not reset.person.HasField("lock_expire_time")
    assert (await sign_in(platform, person, pyotp.parse_uri(reset.totp_provisioning_uri))).token


async def test_a_totp_reset_by_an_administrator_is_enrolled_by_the_person_alone(platform) -> None:  # type: ignore[no-untyped-def]
    """ResetPersonTotp showed the administrator the person's new TOTP secret to hand over, and the person had no way
    to re-key it: the administrator could produce the person's codes for good. An administrator's reset now shows no
    secret; the person's next sign-in is TOTP_ENROLMENT_REQUIRED, EnrolTotp (their password) gives them a secret of
    their own, which counts once a code of it signs in; after that nobody enrols another with the password alone."""
    admin, admin_totp = await create_person(platform, "authority", persons_pb2.PERSON_ROLE_ADMINISTRATOR)
    admin_session = await sign_in(platform, admin, admin_totp)
    person, _ = await create_person(platform, "police", persons_pb2.PERSON_ROLE_APPLICANT)
    reset = await _admin(platform).ResetPersonTotp(persons_pb2.ResetPersonTotpRequest(id=person.id),
                                                   metadata=bearer(admin_session), timeout=10)
    assert reset.totp_provisioning_uri == ""
    sessions = _sessions(platform)

    async def refused(call, request) -> tuple[grpc.StatusCode, str]:  # type: ignore[no-untyped-def]
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call(request, timeout=10)
        return caught.value.code(), _reason(caught.value)

    assert await refused(sessions.SignIn, persons_pb2.SignInRequest(
        username=person.username, password=PASSWORD, totp_code="123456")) == (
        grpc.StatusCode.UNAUTHENTICATED, "TOTP_ENROLMENT_REQUIRED")
    # The password is checked as at a sign-in: a wrong one enrols nothing and says nothing of the enrolment.
    assert await refused(sessions.EnrolTotp, persons_pb2.EnrolTotpRequest(
        username=person.username, password="wrong horse battery")) == (
        grpc.StatusCode.UNAUTHENTICATED, "BAD_CREDENTIALS")
    first = pyotp.parse_uri((await sessions.EnrolTotp(persons_pb2.EnrolTotpRequest(
        username=person.username, password=PASSWORD), timeout=10)).totp_provisioning_uri)
    # Not confirmed yet: enrolling again (the first scan failed) replaces it.
    own = pyotp.parse_uri((await sessions.EnrolTotp(persons_pb2.EnrolTotpRequest(
        username=person.username, password=PASSWORD), timeout=10)).totp_provisioning_uri)
    assert own.secret != first.secret
    with pytest.raises(grpc.aio.AioRpcError):
        await sign_in(platform, person, first)
    session = await sign_in(platform, person, own)
    assert session.person.id == person.id
    assert await refused(sessions.EnrolTotp, persons_pb2.EnrolTotpRequest(
        username=person.username, password=PASSWORD)) == (grpc.StatusCode.FAILED_PRECONDITION, "TOTP_ENROLLED")
    log = admin_log_pb2_grpc.AdminLogServiceStub(platform.channel)
    events = {action: [e for e in (await log.ListAdminEvents(admin_log_pb2.ListAdminEventsRequest(
        action=action, page_size=1000), metadata=platform.metadata("authority"), timeout=10)).events
        if e.target == person.id] for action in ("person.reset_totp", "session.enrol_totp", "session.sign_in")}
    assert [json.loads(e.details_json).get("enrolment") for e in events["person.reset_totp"]] == [True]
    assert sorted(e.result for e in events["session.enrol_totp"]) == ["OK", "OK", "TOTP_ENROLLED"]
    assert any(json.loads(e.details_json).get("totp_enrolled") for e in events["session.sign_in"])


async def test_an_administrator_sees_who_has_not_enrolled_an_authenticator(platform) -> None:  # type: ignore[no-untyped-def]
    """After an administrator's TOTP reset the person enrols their own authenticator at their next sign-in, and the
    administrator was shown nothing: the person looked like any other, so nobody could tell who had not finished
    (or who had been reset and not signed in since). Person.totp_enrolment_required says it until a code of the
    person's own authenticator signs in."""
    admin, admin_totp = await create_person(platform, "authority", persons_pb2.PERSON_ROLE_ADMINISTRATOR)
    admin_session = await sign_in(platform, admin, admin_totp)
    person, _ = await create_person(platform, "police", persons_pb2.PERSON_ROLE_APPLICANT)

    async def pending() -> bool:
        read = await _admin(platform).GetPerson(persons_pb2.GetPersonRequest(id=person.id),
                                                metadata=bearer(admin_session), timeout=10)
        return read.person.totp_enrolment_required

    assert not await pending()
    await _admin(platform).ResetPersonTotp(persons_pb2.ResetPersonTotpRequest(id=person.id),
                                           metadata=bearer(admin_session), timeout=10)
    assert await pending()
    listed = await _admin(platform).ListPersons(persons_pb2.ListPersonsRequest(text=person.username),
                                                metadata=bearer(admin_session), timeout=10)
    assert [p.totp_enrolment_required for p in listed.persons] == [True]
    own = pyotp.parse_uri((await _sessions(platform).EnrolTotp(persons_pb2.EnrolTotpRequest(
        username=person.username, password=PASSWORD), timeout=10)).totp_provisioning_uri)
    assert await pending()  # enrolled, not yet confirmed by a sign-in
    await sign_in(platform, person, own)
    assert not await pending()


async def test_a_secret_an_older_release_showed_the_administrator_is_renewed_at_the_password_change(  # type: ignore[no-untyped-def]
        platform) -> None:
    """An account an older release's administrator created: they were shown its TOTP secret with its password
    (migration 019 marks it totp_handed_over). Its ChangePassword still gives the person a new secret, and the one
    the administrator saw signs in no more; an enrolled secret (the test above) is kept."""
    person, totp = await create_person(platform, "police", persons_pb2.PERSON_ROLE_APPLICANT)
    connection = await asyncpg.connect(platform.settings["authorization"].database_url,
                                       server_settings={"search_path": "authorization"})
    try:
        await connection.execute("UPDATE persons SET password_change_required = true, totp_handed_over = true"
                                 " WHERE id = $1", person.id)
    finally:
        await connection.close()
    session = await sign_in(platform, person, totp)
    changed = await _sessions(platform).ChangePassword(persons_pb2.ChangePasswordRequest(
        current_password=PASSWORD, new_password="only the officer knows", totp_code=totp.at(time.time() + 30)),
        metadata=bearer(session), timeout=10)
    renewed = pyotp.parse_uri(changed.totp_provisioning_uri)
    assert renewed.secret != totp.secret
    assert (await sign_in(platform, person, renewed, "only the officer knows")).person.id == person.id


async def test_a_password_an_administrator_set_signs_in_to_nothing_but_setting_ones_own(platform) -> None:  # type: ignore[no-untyped-def]
    """An administrator creating a 审批人 received its first password and TOTP URI, and the account was usable
    as it was: the administrator could sign in as the new person and decide in their name. Now the session of a
    password an administrator (a person) set is refused everything but its own calls (PERMISSION_DENIED
    PASSWORD_CHANGE_REQUIRED) until the person sets their own; a reset by an administrator asks it again."""
    admin, admin_totp = await create_person(platform, "authority", persons_pb2.PERSON_ROLE_ADMINISTRATOR)
    administrator = bearer(await sign_in(platform, admin, admin_totp))
    created = await _admin(platform).CreatePerson(persons_pb2.CreatePersonRequest(
        person=persons_pb2.Person(username=f"u{uuid.uuid4().hex[:10]}", display_name="新审批人",
                                  department_code=platform.credentials.systems["police"]["department"],
                                  roles=[persons_pb2.PERSON_ROLE_APPROVER]), password=PASSWORD),
        metadata=administrator, timeout=10)
    # The administrator is shown no TOTP secret: the person enrols their own at their first sign-in.
    assert created.totp_provisioning_uri == ""
    person = created.person
    assert person.password_change_required
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await _sessions(platform).SignIn(persons_pb2.SignInRequest(
            username=person.username, password=PASSWORD, totp_code="123456"), timeout=10)
    assert _reason(refused.value) == "TOTP_ENROLMENT_REQUIRED"
    totp = pyotp.parse_uri((await _sessions(platform).EnrolTotp(persons_pb2.EnrolTotpRequest(
        username=person.username, password=PASSWORD), timeout=10)).totp_provisioning_uri)
    # Three sign-ins and changes below, each with a later code (the previous one, the current one, the next).
    session = (await _sessions(platform).SignIn(persons_pb2.SignInRequest(
        username=person.username, password=PASSWORD, totp_code=await previous_step_code(totp)), timeout=10)).session
    assert session.person.password_change_required
    directory = directory_pb2_grpc.DirectoryServiceStub(platform.channel)
    catalog = catalog_pb2_grpc.CatalogServiceStub(platform.channel)
    for call in (directory.ListDepartments(directory_pb2.ListDepartmentsRequest(), metadata=bearer(session),
                                           timeout=10),
                 catalog.ListEntries(catalog_pb2.ListEntriesRequest(page_size=1), metadata=bearer(session),
                                     timeout=10)):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await call
        assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED, refused.value.details()
        assert _reason(refused.value) == "PASSWORD_CHANGE_REQUIRED"
        assert "ChangePassword" in (refused.value.details() or "")
    current = await _sessions(platform).GetCurrentPerson(persons_pb2.GetCurrentPersonRequest(),
                                                         metadata=bearer(session), timeout=10)
    assert current.person.password_change_required
    renewed = (await _sessions(platform).RefreshSession(persons_pb2.RefreshSessionRequest(), metadata=bearer(session),
                                                        timeout=10)).session
    with pytest.raises(grpc.aio.AioRpcError) as refused:  # a renewed session is no way around it
        await directory.ListDepartments(directory_pb2.ListDepartmentsRequest(), metadata=bearer(renewed), timeout=10)
    assert _reason(refused.value) == "PASSWORD_CHANGE_REQUIRED"
    changed = await _sessions(platform).ChangePassword(persons_pb2.ChangePasswordRequest(
        current_password=PASSWORD, new_password="only the approver knows", totp_code=totp.now()),
        metadata=bearer(renewed), timeout=10)
    # The secret is the person's own (enrolled, never shown to the administrator): the change keeps it.
    assert changed.totp_provisioning_uri == ""
    own = (await _sessions(platform).SignIn(persons_pb2.SignInRequest(
        username=person.username, password="only the approver knows", totp_code=totp.at(time.time() + 30)),
        timeout=10)).session
    assert not own.person.password_change_required
    assert (await directory.ListDepartments(directory_pb2.ListDepartmentsRequest(), metadata=bearer(own),
                                            timeout=10)).departments
    reset = await _admin(platform).ResetPersonPassword(persons_pb2.ResetPersonPasswordRequest(
        id=person.id, password="the administrator's again"), metadata=administrator, timeout=10)
    assert reset.person.password_change_required
    by_system = await _admin(platform).ResetPersonPassword(persons_pb2.ResetPersonPasswordRequest(
        id=person.id, password="provisioned by a directory"), metadata=platform.metadata("authority"), timeout=10)
    assert not by_system.person.password_change_required  # the authority's system hands no password over


async def test_a_session_ended_while_redis_missed_the_announcement_is_not_renewed(  # type: ignore[no-untyped-def]
        platform, monkeypatch) -> None:
    """RefreshSession trusted the verifiers' states alone to refuse a token a sign-out or a reset had ended. Those
    states learn of the end from an event on Redis (or a reload, a minute later): with the announcement lost
    (Redis away for a moment, or the event not there yet), whoever held the signed-out token renewed it, and
    the new token, issued after the end, was accepted for the whole session, the sign-out undone. The renewal now
    compares the token with the person's row, as it compares their roles: refused, saying why."""
    admin = platform.metadata("authority")
    for end, reason in (("sign out", "SESSION_ENDED"), ("password reset", "CREDENTIALS_RESET")):
        person, totp = await create_person(platform, "social", persons_pb2.PERSON_ROLE_APPLICANT)
        session = await sign_in(platform, person, totp)
        announcements_lost(monkeypatch)
        if end == "sign out":
            await _sessions(platform).SignOut(persons_pb2.SignOutRequest(), metadata=bearer(session), timeout=10)
        else:
            await _admin(platform).ResetPersonPassword(persons_pb2.ResetPersonPasswordRequest(
                id=person.id, password="a brand new password"), metadata=admin, timeout=10)
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await _sessions(platform).RefreshSession(persons_pb2.RefreshSessionRequest(), metadata=bearer(session),
                                                     timeout=10)
        monkeypatch.undo()
        assert (refused.value.code(), _reason(refused.value)) == (grpc.StatusCode.UNAUTHENTICATED, reason), end
        assert "sign in again" in (refused.value.details() or ""), end


async def test_one_password_tried_against_many_usernames_from_one_address_locks_the_address(  # type: ignore[no-untyped-def]
        platform) -> None:
    """Password spraying: one client trying a password against many usernames was answered BAD_CREDENTIALS each
    time, each account locking after its own five failures only. Twenty wrong passwords (by default) from one
    address, across accounts and replicas, now lock the address: RESOURCE_EXHAUSTED ADDRESS_LOCKED with the
    lock's end and RetryInfo, the same answer for a real person's right password and an unknown name, logged
    once without a username. Another
    address, and the console's own calls without a browser's address, are not held; an address a client sends
    as the edge's is dropped by the edge. (This test's client is on the loopback, a GOVSHARE_SIGNIN_FORWARDERS
    default, so it passes addresses as the console does.)"""
    person, totp = await create_person(platform, "civil", persons_pb2.PERSON_ROLE_APPLICANT)
    assert totp is not None
    sessions = _sessions(platform)
    sprayer, other = (f"2001:db8:{uuid.uuid4().hex[:4]}:{i}::7" for i in (1, 2))  # each a /64 of its own

    async def answer(username: str, password: str, *metadata: tuple[str, str]) -> tuple[grpc.StatusCode, str]:
        try:
            await sessions.SignIn(persons_pb2.SignInRequest(username=username, password=password),
                                  metadata=metadata, timeout=30)
        except grpc.aio.AioRpcError as refused:
            return refused.code(), _reason(refused)
        return grpc.StatusCode.OK, "OK"

    # Two wrong passwords, counted by another replica set to lock an address after two (the count is kept in
    # PostgreSQL, shared: twenty, the default, cost a password check each here).
    component = platform.servers["authorization"].component
    replica = Sessions(component._person_store, component._persons, component._events,
                       dataclasses.replace(component._settings, signin_address_max_failures=2),
                       sealer=component._sealer)
    for username, password in ((f"u{uuid.uuid4().hex[:10]}", PASSWORD), (person.username, "wrong password!")):
        with pytest.raises(ServiceError) as failed:
            await replica.sign_in(username, password, "", client=sprayer.replace("::7", "::/64"))
        assert failed.value.reason == "BAD_CREDENTIALS"
    from_sprayer = ("govshare-signin-client", sprayer)
    with pytest.raises(grpc.aio.AioRpcError) as held:
        await sessions.SignIn(persons_pb2.SignInRequest(username=person.username, password=PASSWORD),
                              metadata=(from_sprayer,), timeout=30)
    info, _ = details_of(held.value)
    assert info is not None
    assert (held.value.code(), info.reason) == (grpc.StatusCode.RESOURCE_EXHAUSTED, "ADDRESS_LOCKED")
    assert set(info.metadata) == {"lock_expire_time"}
    retry = error_details_pb2.RetryInfo()
    assert [d.Unpack(retry) for d in rpc_status.from_call(held.value).details  # type: ignore[union-attr]
            if d.Is(error_details_pb2.RetryInfo.DESCRIPTOR)] == [True] and retry.retry_delay.seconds > 0
    assert person.username not in (held.value.details() or "")
    # The same /64 is the same client; an unknown name is answered alike; EnrolTotp checks passwords too.
    neighbour = ("govshare-signin-client", sprayer.replace("::7", "::8"))
    assert await answer(f"u{uuid.uuid4().hex[:10]}", PASSWORD, neighbour) == (grpc.StatusCode.RESOURCE_EXHAUSTED,
                                                                             "ADDRESS_LOCKED")
    with pytest.raises(grpc.aio.AioRpcError) as enrol:
        await sessions.EnrolTotp(persons_pb2.EnrolTotpRequest(username=person.username, password=PASSWORD),
                                 metadata=(from_sprayer,), timeout=30)
    assert _reason(enrol.value) == "ADDRESS_LOCKED"
    # The console passes the browser's address and says the refusal in Chinese.
    from console.signin import SignInRefused
    from console.signin import sign_in as console_sign_in
    with pytest.raises(SignInRefused) as console_held:
        await console_sign_in(platform.channel, person.username, PASSWORD, "", 30, client=sprayer)
    assert console_held.value.reason == "ADDRESS_LOCKED" and console_held.value.message.startswith("您所在网络地址")
    totp_required = (grpc.StatusCode.UNAUTHENTICATED, "TOTP_REQUIRED")
    assert await answer(person.username, PASSWORD, ("govshare-signin-client", other)) == totp_required
    assert await answer(person.username, PASSWORD) == totp_required  # the forwarder's own: no address
    # A client's own "edge address" is dropped: the edge sets the one it saw (the forwarder's, passing none).
    assert await answer(person.username, PASSWORD, ("govshare-client-address", sprayer)) == totp_required
    events = (await admin_log_pb2_grpc.AdminLogServiceStub(platform.channel).ListAdminEvents(
        admin_log_pb2.ListAdminEventsRequest(action="session.address_lock", page_size=1000),
        metadata=platform.metadata("authority"), timeout=10)).events
    mine = [e for e in events if sprayer.split("::")[0] in e.target]
    assert len(mine) == 1 and mine[0].result == "ADDRESS_LOCKED", mine
    assert person.username not in str(mine[0]) and person.id not in str(mine[0])
