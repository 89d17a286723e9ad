"""The in-process decision cache: expiry, invalidation by events, collapsed misses."""

from __future__ import annotations

import asyncio
import time

import grpc
import pytest

from govshare.authorization.v1 import authorization_pb2, authorization_pb2_grpc
from govshare.common.v1 import common_pb2
from services.query.decisions import Authorizer, Decision, DecisionCache, DecisionKey, deny_reason_name
from services.runtime.errors import ServiceError
from services.runtime.identity import AssertionSigner, service_caller
from services.runtime.pagination import CALL, TokenScope, serving

ONLINE = common_pb2.SHARE_METHOD_ONLINE_QUERY
BASIS = common_pb2.PURPOSE_TYPE_ADMINISTRATIVE_BASIS


def key(department: str = "D1", resource: str = "101001/000001", items: tuple[str, ...] = ()) -> DecisionKey:
    return ("sys-1", department, resource, BASIS, items, ONLINE)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Authority:
    """Answers Check like the authorization service would, counting the calls it gets."""

    def __init__(self, allowed: bool = True, expire_in: float | None = 60.0) -> None:
        self.calls: list[DecisionKey] = []
        self.allowed = allowed
        self.expire_in = expire_in
        self.gate: asyncio.Event | None = None

    async def __call__(self, k: DecisionKey, used_up: tuple[str, ...] = ()) -> authorization_pb2.Decision:
        self.calls.append(k)
        if self.gate is not None:
            await self.gate.wait()
        decision = authorization_pb2.Decision(
            allowed=self.allowed, allowed_items=["name", "sex", "citizen_id"] if self.allowed else [],
            masks={"citizen_id": "citizen_id"},
            deny_reason=common_pb2.DENY_REASON_UNSPECIFIED if self.allowed else common_pb2.DENY_REASON_NOT_GRANTED,
            message="" if self.allowed else "no grant", grant_id="g-1", quota=0)
        if self.expire_in is not None:
            decision.expire_time.FromNanoseconds(int((time.time() + self.expire_in) * 1e9))
        return decision


def cache(authority: Authority, clock: Clock, max_ttl: float = 30.0) -> DecisionCache:
    return DecisionCache(authority, max_ttl=max_ttl, clock=clock)


async def test_a_hit_does_not_ask_again() -> None:
    authority, clock = Authority(), Clock()
    decisions = cache(authority, clock)
    first = await decisions.get(key())
    second = await decisions.get(key())
    assert first is second
    assert len(authority.calls) == 1
    assert first.allowed and first.allowed_items == ("name", "sex", "citizen_id")
    assert dict(first.plan)["citizen_id"] == "citizen_id"


async def test_different_questions_are_different_entries() -> None:
    authority, clock = Authority(), Clock()
    decisions = cache(authority, clock)
    await decisions.get(key(items=("name",)))
    await decisions.get(key(items=("sex",)))
    await decisions.get(key(department="D2"))
    assert len(authority.calls) == 3


@pytest.mark.parametrize(("expire_in", "lifetime"), [(3600, 30), (5, 5)], ids=["max_ttl", "own_expire_time"])
async def test_decisions_expire_at_the_max_ttl_or_their_own_expire_time_whichever_is_first(
        expire_in: float, lifetime: float) -> None:
    authority, clock = Authority(expire_in=expire_in), Clock()
    decisions = cache(authority, clock, max_ttl=30)
    await decisions.get(key())
    clock.now += lifetime - 1
    await decisions.get(key())
    assert len(authority.calls) == 1
    clock.now += 2
    await decisions.get(key())
    assert len(authority.calls) == 2


async def test_an_already_expired_decision_is_applied_once_but_not_cached() -> None:
    authority, clock = Authority(expire_in=-10), Clock()
    decisions = cache(authority, clock)
    assert (await decisions.get(key())).allowed
    await decisions.get(key())
    assert len(authority.calls) == 2
    assert len(decisions) == 0


async def test_grants_changed_drops_that_department_and_resource_only() -> None:
    authority, clock = Authority(), Clock()
    decisions = cache(authority, clock)
    for k in (key("D1", "101001/000001"), key("D1", "101001/000002"), key("D2", "101001/000001")):
        await decisions.get(k)
    decisions.on_grants_changed({"department_code": "D1", "resource_code": "101001/000001", "policy_version": 7})
    assert len(decisions) == 2
    await decisions.get(key("D1", "101001/000001"))
    await decisions.get(key("D2", "101001/000001"))
    assert len(authority.calls) == 4


async def test_an_event_without_department_or_resource_drops_everything() -> None:
    authority, clock = Authority(), Clock()
    decisions = cache(authority, clock)
    await decisions.get(key("D1"))
    await decisions.get(key("D2"))
    decisions.on_grants_changed({})
    assert len(decisions) == 0


async def test_catalog_change_drops_every_departments_decisions_on_the_resource() -> None:
    authority, clock = Authority(), Clock()
    decisions = cache(authority, clock)
    await decisions.get(key("D1", "101001/000001"))
    await decisions.get(key("D2", "101001/000001"))
    await decisions.get(key("D2", "101001/000009"))
    decisions.on_catalog_changed({"code": "101001/000001"})
    assert len(decisions) == 1


async def test_denials_are_cached_and_dropped_by_a_new_grant() -> None:
    authority, clock = Authority(allowed=False), Clock()
    decisions = cache(authority, clock)
    denied = await decisions.get(key())
    assert not denied.allowed and denied.deny_reason == "NOT_GRANTED" and denied.message == "no grant"
    assert denied.plan == ()
    authority.allowed = True
    assert not (await decisions.get(key())).allowed
    decisions.on_grants_changed({"department_code": "D1", "resource_code": "101001/000001"})
    assert (await decisions.get(key())).allowed


async def test_concurrent_identical_misses_share_one_check() -> None:
    authority, clock = Authority(), Clock()
    authority.gate = asyncio.Event()
    decisions = cache(authority, clock)
    waiting = [asyncio.create_task(decisions.get(key())) for _ in range(20)]
    await asyncio.sleep(0)
    authority.gate.set()
    results = await asyncio.gather(*waiting)
    assert len(authority.calls) == 1
    assert all(result is results[0] for result in results)


async def test_an_answer_fetched_across_an_invalidation_is_not_cached() -> None:
    authority, clock = Authority(), Clock()
    authority.gate = asyncio.Event()
    decisions = cache(authority, clock)
    pending = asyncio.create_task(decisions.get(key()))
    for _ in range(100):  # until the Check is out (the fetch runs in a task of its own: a few loop turns)
        if authority.calls:
            break
        await asyncio.sleep(0)
    assert authority.calls
    decisions.on_grants_changed({"department_code": "D1", "resource_code": "101001/000001"})  # e.g. a revocation
    authority.gate.set()
    await pending
    assert len(decisions) == 0


def test_decisions_never_allow_more_items_than_asked() -> None:
    proto = authorization_pb2.Decision(allowed=True, allowed_items=["name", "sex", "address"])
    decision = Decision.of(proto, ("name",), max_ttl=30, now=0.0, wall=time.time())
    assert decision.allowed_items == ("name",)


def test_deny_reason_names_drop_the_prefix_and_survive_unknown_values() -> None:
    assert deny_reason_name(common_pb2.DENY_REASON_QUOTA_EXHAUSTED) == "QUOTA_EXHAUSTED"
    assert deny_reason_name(999) == "UNKNOWN_999"


async def test_a_system_state_change_drops_that_systems_decisions_only() -> None:
    authority, clock = Authority(), Clock()
    decisions = cache(authority, clock)
    other = ("sys-2", *key()[1:])
    await decisions.get(key())
    await decisions.get(other)  # type: ignore[arg-type]
    decisions.invalidate(system_id="sys-1")  # e.g. sys-1 was disabled
    assert len(decisions) == 1
    await decisions.get(other)  # type: ignore[arg-type]
    await decisions.get(key())
    assert [k[0] for k in authority.calls] == ["sys-1", "sys-2", "sys-1"]


async def test_while_the_event_subscription_is_broken_no_decision_is_kept() -> None:
    """R-APP-4: a revocation takes effect at once. With the subscription to grant events broken (Redis away), the
    cache dropped its decisions once and then kept new ones for their TTL: a grant revoked meanwhile went on letting
    its holder in until then, its event never heard. Until the subscription is back, every call asks again."""
    authority, clock = Authority(), Clock()
    decisions = cache(authority, clock)
    await decisions.get(key())
    decisions.suspend()
    await decisions.get(key())
    authority.allowed = False  # revoked while no event can arrive
    assert not (await decisions.get(key())).allowed
    assert len(authority.calls) == 3 and len(decisions) == 0
    decisions.resync()  # subscribed again: decisions are kept again
    await decisions.get(key())
    await decisions.get(key())
    assert len(authority.calls) == 4


class CallerTime:
    """A grpc context's time_remaining: the deadline of the call being served."""

    def __init__(self, seconds: float) -> None:
        self.deadline = time.monotonic() + seconds

    def time_remaining(self) -> float:
        return self.deadline - time.monotonic()


async def test_a_caller_is_told_no_decision_came_by_its_deadline_and_the_check_goes_on() -> None:
    """An authorization service that does not answer (stopped), its Check asked with the call timeout (5 s): a
    caller with less time waited to its deadline and was DEADLINE_EXCEEDED naming nobody. It is told
    AUTHORIZATION_UNAVAILABLE a moment before its deadline; the Check goes on, and answers the next caller."""
    authority = Authority()
    authority.gate = asyncio.Event()
    decisions = cache(authority, Clock())
    reset = serving(TokenScope("QueryService/Query", b"k" * 32), None, CallerTime(0.5))
    try:
        started = time.monotonic()
        with pytest.raises(ServiceError) as refused:
            await asyncio.wait_for(decisions.get(key()), 2)
        assert time.monotonic() - started < 0.5
    finally:
        CALL.reset(reset)
    assert refused.value.reason == "AUTHORIZATION_UNAVAILABLE" and "deadline" in refused.value.message
    authority.gate.set()
    assert (await decisions.get(key())).allowed
    assert len(authority.calls) == 1


class _Catalogued(authorization_pb2_grpc.AuthorizationServiceServicer):
    """Authorization's Check over a copy holding resource ``code`` as absent (asked of before it was published): a
    Check naming no entry version is NOT_FOUND, one naming a version reads the catalog again, which has it when
    ``published``."""

    def __init__(self, published: bool) -> None:
        self.published = published
        self.asked: list[int] = []

    async def Check(self, request: authorization_pb2.CheckRequest, context: grpc.aio.ServicerContext
                    ) -> authorization_pb2.CheckResponse:
        self.asked.append(request.min_entry_version)
        if request.min_entry_version == 0 or not self.published:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"resource {request.resource_code}")
        return authorization_pb2.CheckResponse(decision=authorization_pb2.Decision(allowed=True,
                                                                                   allowed_items=["name"]))


async def _asked(authority: _Catalogued, version: int) -> authorization_pb2.Decision:
    """A decision on key() asked of ``authority`` by query's Authorizer, its copy of the entry at ``version``."""
    server = grpc.aio.server()
    authorization_pb2_grpc.add_AuthorizationServiceServicer_to_server(authority, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            check = Authorizer(channel, AssertionSigner(b"k" * 32), service_caller("query"), 5.0,
                               entry_version=lambda _code: version)
            return await check(key())
    finally:
        await server.stop(None)


async def test_a_resource_authorization_holds_as_absent_is_asked_again_then_said_to_be_propagating() -> None:
    """Authorization's Check answering NOT_FOUND for a resource query answers for reached the caller as UNAVAILABLE
    "no access decision could be obtained (NOT_FOUND)": read as the authorization service failing, and nothing
    said of what to do. Query's copy dropped between resolving the resource and asking (version 0), it asks once
    more naming a version, so that authorization reads the catalog, and is answered; when the catalog has none, the
    caller is told the change is being propagated and to try again shortly."""
    healed = _Catalogued(published=True)
    assert (await _asked(healed, version=0)).allowed and healed.asked == [0, 1]
    gone = _Catalogued(published=False)
    with pytest.raises(ServiceError) as refused:
        await _asked(gone, version=0)
    assert gone.asked == [0, 1]
    error = refused.value
    assert error.code == grpc.StatusCode.UNAVAILABLE and error.reason == "AUTHORIZATION_UNAVAILABLE"
    assert "(NOT_FOUND)" not in error.message and "101001/000001" in error.message
    assert "being propagated" in error.message and "try again in a few seconds" in error.message
    named = _Catalogued(published=False)  # authorization read the catalog already: not asked twice
    with pytest.raises(ServiceError, match="being propagated"):
        await _asked(named, version=4)
    assert named.asked == [4]
