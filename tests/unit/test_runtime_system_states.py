"""SystemStates (which tokens are refused) and the hash chain, without servers."""

from __future__ import annotations

import asyncio
import datetime as dt
import socket
import time

import grpc
import pytest

from govshare.authorization.v1 import authorization_pb2, authorization_pb2_grpc
from services.runtime import hashchain
from services.runtime.admin_events import AdminEvent
from services.runtime.errors import ServiceError
from services.runtime.identity import PERSON_PREFIX, AssertionSigner, AssertionVerifier, Caller, service_caller
from services.runtime.keys import generate_keys
from services.runtime.person_sessions import PersonSessions
from services.runtime.system_states import (
    CREDENTIALS_RESET,
    DISABLED,
    PERSON_DISABLED,
    ROLES_CHANGED,
    ROTATED,
    SECRET_ROTATED,
    SESSION_ENDED,
    SYSTEM_DISABLED,
    TOKEN_PREDATES_DISABLE,
    SystemState,
    SystemStates,
)
from services.runtime.tokens import TokenVerifier, issue_token

KEY = b"k" * 32


async def _loaded(*states: tuple[str, SystemState]) -> SystemStates:
    async def load() -> list[tuple[str, SystemState]]:
        return list(states)

    holder = SystemStates(load)
    await holder.load_now()
    return holder


async def test_until_loaded_token_callers_are_unavailable_but_services_pass() -> None:
    async def load() -> list[tuple[str, SystemState]]:
        raise ConnectionError("authorization is down")

    holder = SystemStates(load)
    with pytest.raises(ServiceError) as refused:
        holder.check(Caller("sys-1", "D1", issued_at=100))
    assert refused.value.code == grpc.StatusCode.UNAVAILABLE
    holder.check(service_caller("query"))  # platform services carry no token


async def test_tokens_older_than_the_reset_are_refused_newer_ones_pass() -> None:
    holder = await _loaded(("sys-1", SystemState(False, 1000, ROTATED, 3)))
    with pytest.raises(ServiceError, match="rotated") as refused:
        holder.check(Caller("sys-1", "D1", issued_at=999))
    assert refused.value.code == grpc.StatusCode.UNAUTHENTICATED
    holder.check(Caller("sys-1", "D1", issued_at=1000))
    holder.check(Caller("sys-2", "D1", issued_at=1))  # an unrestricted system


async def test_a_persons_refused_token_says_why_their_session_ended() -> None:
    """The console tells a disabled person, or one whose roles changed, just that (it said 登录已过期)."""
    holder = await _loaded((f"{PERSON_PREFIX}p1", SystemState(True, 1000, DISABLED, 1)),
                           (f"{PERSON_PREFIX}p2", SystemState(False, 1000, ROLES_CHANGED, 1)),
                           (f"{PERSON_PREFIX}p3", SystemState(False, 1000, "RESET", 1)),
                           (f"{PERSON_PREFIX}p4", SystemState(False, 1000, CREDENTIALS_RESET, 1)),
                           ("sys-1", SystemState(True, 1000, DISABLED, 1)),
                           (f"{PERSON_PREFIX}p5", SystemState(False, 1000, DISABLED, 2)))
    reasons, messages = [], []
    for system_id in (f"{PERSON_PREFIX}p1", f"{PERSON_PREFIX}p2", f"{PERSON_PREFIX}p3", f"{PERSON_PREFIX}p4",
                      "sys-1", f"{PERSON_PREFIX}p5"):
        with pytest.raises(ServiceError) as refused:
            holder.check(Caller(system_id, "D1", issued_at=999))
        assert refused.value.code == grpc.StatusCode.UNAUTHENTICATED
        reasons.append(refused.value.reason)
        messages.append(refused.value.message)
    assert reasons == [PERSON_DISABLED, ROLES_CHANGED, SESSION_ENDED, CREDENTIALS_RESET, SYSTEM_DISABLED,
                       SESSION_ENDED]
    # An administrator's reset (password, TOTP, IdP binding) is said as such, not as the person's own sign-out: told
    # 登录已过期, the person tried the old password again, counted toward their lock.
    assert "signed out" in messages[2] and "administrator" not in messages[2]
    assert "an administrator reset" in messages[3] and "IdP binding" in messages[3]
    # A session of before a disable since lifted ended with the disable: said so, not as a sign-out.
    assert "was disabled" in messages[5] and "enabled again" in messages[5] and "signed out" not in messages[5]


async def test_a_systems_refused_token_says_why_in_its_reason() -> None:
    """A program tells "the system is disabled" (stop, ask the authority) from "the secret was rotated" (the secret
    it holds is dead) and from "issued before a disable since lifted" (a new token is accepted) by the reason: all
    three were UNAUTHENTICATED "UNAUTHENTICATED", as an expired token is, told apart only in English words."""
    holder = await _loaded(("sys-1", SystemState(True, 1000, DISABLED, 1)),
                           ("sys-2", SystemState(False, 1000, ROTATED, 1)),
                           ("sys-3", SystemState(False, 1000, DISABLED, 2)))
    said = {}
    for system_id in ("sys-1", "sys-2", "sys-3"):
        with pytest.raises(ServiceError) as refused:
            holder.check(Caller(system_id, "D1", issued_at=999))
        assert refused.value.code == grpc.StatusCode.UNAUTHENTICATED
        said[system_id] = (refused.value.reason, refused.value.message)
    assert said == {
        "sys-1": (SYSTEM_DISABLED, "system sys-1 was disabled: its tokens are no longer accepted, and no new one is "
                                   "issued until the authority's 管理员 (ADMINISTRATOR) enables it again "
                                   "(DirectoryService.EnableSystem): ask them, retrying does not help"),
        "sys-2": (SECRET_ROTATED, "this token was issued before the secret of system sys-2 was rotated: request a "
                                  "new one with TokenService.IssueToken and the new secret"),
        "sys-3": (TOKEN_PREDATES_DISABLE, "this token was issued before system sys-3 was disabled: request a new one "
                                          "with TokenService.IssueToken"),
    }


async def test_a_disabled_system_is_refused_whatever_its_token_and_an_older_event_never_wins() -> None:
    holder = await _loaded()
    changed: list[str] = []
    holder.add_listener(changed.append)
    holder.on_event({"system_id": "sys-1", "disabled": True, "not_before": 1000, "reason": DISABLED, "version": 5})
    with pytest.raises(ServiceError, match="disabled"):
        holder.check(Caller("sys-1", "D1", issued_at=2000))
    holder.on_event({"system_id": "sys-1", "disabled": False, "not_before": 0, "reason": "", "version": 4})
    with pytest.raises(ServiceError, match="disabled"):
        holder.check(Caller("sys-1", "D1", issued_at=2000))
    holder.on_event({"system_id": "sys-1", "disabled": False, "not_before": 1000, "reason": DISABLED, "version": 6})
    holder.check(Caller("sys-1", "D1", issued_at=2000))
    with pytest.raises(ServiceError, match="before system sys-1 was disabled"):
        holder.check(Caller("sys-1", "D1", issued_at=999))
    holder.on_event({"system_id": "sys-1"})  # malformed: ignored
    assert changed == ["sys-1", "sys-1"]


async def test_the_gateway_verifier_refuses_a_cached_token_once_its_system_is_disabled() -> None:
    keys = generate_keys()
    holder = await _loaded()
    verifier = TokenVerifier(keys.token_public_key, check=holder.check)
    token = issue_token(keys.token_private_key, Caller("sys-1", "D1"), 600).token
    assert verifier.verify(token).issued_at > 0
    holder.apply("sys-1", SystemState(True, int(time.time()) + 1, DISABLED, 1))
    with pytest.raises(ServiceError, match="disabled"):
        verifier.verify(token)


async def test_a_token_issued_right_after_a_reset_carries_the_reset_second() -> None:
    keys = generate_keys()
    not_before = int(time.time()) + 1
    token = issue_token(keys.token_private_key, Caller("sys-1", "D1"), 600, not_before=not_before).token
    assert TokenVerifier(keys.token_public_key).verify(token).issued_at == not_before


async def test_the_assertion_carries_the_tokens_iat_to_services_that_check_it() -> None:
    holder = await _loaded(("sys-1", SystemState(False, 1000, ROTATED, 1)))
    metadata = AssertionSigner(KEY).metadata(Caller("sys-1", "D1", issued_at=999))
    with pytest.raises(ServiceError, match="rotated"):
        AssertionVerifier(KEY, check=holder.check).caller(metadata)
    fresh = AssertionSigner(KEY).metadata(Caller("sys-1", "D1", issued_at=1000))
    assert AssertionVerifier(KEY, check=holder.check).caller(fresh).issued_at == 1000


def test_the_chain_finds_a_changed_a_removed_and_an_inserted_row() -> None:
    when = dt.datetime(2026, 11, 30, 8, 0, 0, 123456, tzinfo=dt.UTC)
    rows, prev = [], hashchain.GENESIS
    for seq in range(1, 5):
        fields = [seq, f"event-{seq}", when, {"n": seq}]
        digest = hashchain.chain_hash(prev, fields)
        rows.append((seq, prev, digest, fields))
        prev = digest

    def first_problem(candidate: list) -> str | None:
        checker = hashchain.ChainChecker()
        for seq, link, digest, fields in candidate:
            if problem := checker.check(seq, link, digest, fields):
                return problem
        return None

    assert first_problem(rows) is None
    changed = [*rows[:2], (3, rows[2][1], rows[2][2], [3, "event-3", when, {"n": 30}]), rows[3]]
    assert "row 3" in (first_problem(changed) or "") and "changed" in (first_problem(changed) or "")
    assert "missing" in (first_problem([rows[0], *rows[2:]]) or "")
    relinked = [rows[0], (2, rows[0][2], rows[2][2], rows[2][3])]
    assert first_problem(relinked) is not None


async def test_a_resync_after_reconnecting_loads_what_a_lost_event_would_have_said() -> None:
    snapshots: list[list[tuple[str, SystemState]]] = [[], [("sys-1", SystemState(True, 1000, DISABLED, 1))]]

    async def load() -> list[tuple[str, SystemState]]:
        """The first load knows nothing; every later one knows of the disable."""
        return snapshots.pop(0) if len(snapshots) > 1 else snapshots[0]

    holder = SystemStates(load, refresh_seconds=3600)
    holder.start()
    try:
        assert await asyncio.wait_for(holder.first_attempt(), timeout=10)
        holder.check(Caller("sys-1", "D1", issued_at=2000))  # nothing known yet
        holder.resync()  # the event stream reconnected: the disable it missed comes with the reload
        async with asyncio.timeout(10):
            while True:
                try:
                    holder.check(Caller("sys-1", "D1", issued_at=2000))
                except ServiceError:
                    break
                await asyncio.sleep(0.01)
    finally:
        await holder.stop()


@pytest.mark.parametrize(("claim", "value", "what"), [
    ("authority", "false", "authority claim is not a boolean"),
    ("authority", 1, "authority claim is not a boolean"),
    ("authority", "true", "authority claim is not a boolean"),
    ("dept", 91110000, "dept claim is not a string"),
])
def test_a_claim_of_the_wrong_type_is_refused_naming_it(claim: str, value: object, what: str) -> None:
    """The authority claim was read with bool(): a token whose claim was the string "false" (or 1) carried the
    authority's rights, and a numeric dept became a department code. Each is UNAUTHENTICATED naming the claim."""
    import jwt

    from services.runtime.keys import ed25519_private_key
    from services.runtime.tokens import ALGORITHM, ISSUER, audience

    keys = generate_keys()
    claims = {"iss": ISSUER, "aud": audience("extranet"), "sub": "sys-1", "dept": "D1", "authority": False,
              "iat": int(time.time()), "exp": int(time.time()) + 60, claim: value}
    token = jwt.encode(claims, ed25519_private_key(keys.token_private_key), algorithm=ALGORITHM)
    with pytest.raises(ServiceError) as refused:
        TokenVerifier(keys.token_public_key).verify(token)
    assert refused.value.code == grpc.StatusCode.UNAUTHENTICATED
    assert what in refused.value.message


def test_a_boolean_authority_claim_is_read_as_it_is() -> None:
    keys = generate_keys()
    caller = Caller("sys-1", "D1", authority=True)
    verifier = TokenVerifier(keys.token_public_key)
    assert verifier.verify(issue_token(keys.token_private_key, caller, 60).token).authority is True
    plain = Caller("sys-2", "D1")
    assert verifier.verify(issue_token(keys.token_private_key, plain, 60).token).authority is False


# -- a person's session read against their row (services.runtime.person_sessions) --------------------------------


class _PersonRows(authorization_pb2_grpc.AuthorizationServiceServicer):
    """Authorization's GetPersonState over one person's row, disabled."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    async def GetPersonState(self, request: authorization_pb2.GetPersonStateRequest, context: object
                             ) -> authorization_pb2.GetPersonStateResponse:
        self.asked.append(request.person_id)
        return authorization_pb2.GetPersonStateResponse(state=authorization_pb2.SystemState(
            system_id=request.person_id, disabled=True, version=7))


async def test_a_persons_ended_session_read_from_their_row_is_refused_logged_and_learned() -> None:
    """Catalog, query and foundation ask authorization before a person's decision: the row's disable refuses it
    as the verifier would (PERSON_DISABLED), logs the try CREDENTIALS_REVOKED, and the process's states learn it
    (the next call is refused without asking); a system's token is not asked about."""
    rows, server = _PersonRows(), grpc.aio.server()
    authorization_pb2_grpc.add_AuthorizationServiceServicer_to_server(rows, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    states, logged = await _loaded(), []

    async def record(event: AdminEvent) -> None:
        logged.append((event.action, event.target, event.result))

    person = Caller(f"{PERSON_PREFIX}0000000000000001", "D1", issued_at=int(time.time()))
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            sessions = PersonSessions(channel, AssertionSigner(KEY), service_caller("catalog"), 5.0, states)
            await sessions.still_theirs(Caller("sys-1", "D1"), record, "catalog.publish", "101001/000001")
            with pytest.raises(ServiceError) as refused:
                await sessions.still_theirs(person, record, "catalog.publish", "101001/000001")
    finally:
        await server.stop(None)
    assert (refused.value.code, refused.value.reason) == (grpc.StatusCode.UNAUTHENTICATED, PERSON_DISABLED)
    assert rows.asked == [person.system_id]
    assert logged == [("catalog.publish", "101001/000001", "CREDENTIALS_REVOKED")]
    with pytest.raises(ServiceError, match="disabled"):  # the state learned refuses the token on every call
        states.check(person)


async def test_a_persons_decision_with_authorization_not_answering_is_unavailable_naming_it() -> None:
    """The decision waits, UNAVAILABLE naming the authorization service: neither taken unchecked nor INTERNAL."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]  # closed below: nothing listens there
    logged: list[AdminEvent] = []

    async def record(event: AdminEvent) -> None:
        logged.append(event)

    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        sessions = PersonSessions(channel, AssertionSigner(KEY), service_caller("query"), 5.0)
        with pytest.raises(ServiceError) as refused:
            await sessions.still_theirs(Caller(f"{PERSON_PREFIX}0000000000000002", "D1", issued_at=1), record,
                                        "dispute.confirmed", "1")
    assert (refused.value.code, refused.value.reason) == (grpc.StatusCode.UNAVAILABLE, "AUTHORIZATION_UNAVAILABLE")
    assert "authorization" in refused.value.message and not logged
