"""Access decisions: one AuthorizationService.Check per distinct question, cached in process.

A decision answers "may system S of department D read items I of resource R for
purpose P by method M?" and carries its own expiry, so the hot path asks the
authorization service only on a miss (concurrent identical misses share one
call). Grant and catalog change events drop the affected decisions at once; while
the subscription to them is broken nothing is kept; the expiry (capped by
``decision_ttl_seconds``) bounds staleness should an event be lost otherwise.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass, replace

import asyncpg
import grpc

from govshare.authorization.v1 import authorization_pb2, authorization_pb2_grpc
from govshare.common.v1 import common_pb2
from services.query.projection import Plan, make_plan
from services.runtime.callers_time import within_callers_time
from services.runtime.clients import call_metadata
from services.runtime.enums import ShortNames
from services.runtime.errors import ServiceError
from services.runtime.identity import AssertionSigner, Caller
from services.runtime.singleflight import SingleFlight
from services.runtime.telemetry import CACHE_LOOKUPS

# (system_id, department_code, resource_code, purpose type, requested items (sorted, unique), method)
DecisionKey = tuple[str, str, str, int, tuple[str, ...], int]
#: Asks for the decision on a question; the second argument names grants found used up (decided without them), an
#: optional third the one grant to decide under (CheckRequest.only_grant_id).
Check = Callable[..., Awaitable[authorization_pb2.Decision]]

_DENY_REASONS = ShortNames(common_pb2.DenyReason)
log = logging.getLogger(__name__)
_HIT = CACHE_LOOKUPS.labels("decision", "hit")
_MISS = CACHE_LOOKUPS.labels("decision", "miss")


def deny_reason_name(value: int) -> str:
    """The DenyReason name without its prefix (NOT_GRANTED, …); unknown values stay recognisable."""
    return _DENY_REASONS.name(value)


@dataclass(frozen=True, slots=True)
class Decision:
    """A decision reduced to what the query path applies."""

    allowed: bool
    #: DenyReason name without prefix when denied, else "".
    deny_reason: str
    message: str
    #: (item, mask rule or None) for every item the caller receives.
    plan: Plan
    allowed_items: tuple[str, ...]
    grant_id: str
    quota: int
    #: time.monotonic() after which the decision must be asked again.
    expires: float
    #: When denied ITEM_NOT_GRANTED: the items asked for that no grant holds (a program narrows its request by them).
    denied_items: tuple[str, ...] = ()
    #: The used-up grants (id, quota) this decision's grant stands in for (instead_of_used_up), in the order they
    #: were used up: a call that finds this one used up too is refused naming them all, and Check is asked
    #: without them all at once.
    replaced: tuple[tuple[str, int], ...] = ()
    #: Allowed the basic items alone, for a request naming none: why no grant gives more (REVOKED, EXPIRED, …, as
    #: a denial names it), "" when a grant serves or the department never had one.
    basic_only_reason: str = ""

    @classmethod
    def of(cls, proto: authorization_pb2.Decision, requested: tuple[str, ...], max_ttl: float,
           now: float, wall: float) -> Decision:
        """Converts a Check answer; the expiry is the decision's own, capped by ``max_ttl``."""
        ttl = max_ttl
        if proto.HasField("expire_time"):
            ttl = min(ttl, proto.expire_time.ToNanoseconds() / 1e9 - wall)
        allowed_items = proto.allowed_items
        if requested:
            # Never hand out more than was asked, whatever the decision lists.
            wanted = set(requested)
            allowed_items = [item for item in allowed_items if item in wanted]
        plan = make_plan(allowed_items, proto.masks) if proto.allowed else ()
        return cls(
            allowed=proto.allowed,
            deny_reason="" if proto.allowed else deny_reason_name(proto.deny_reason or
                                                                  common_pb2.DENY_REASON_NOT_GRANTED),
            message=proto.message,
            plan=plan,
            allowed_items=tuple(item for item, _ in plan),
            grant_id=proto.grant_id,
            quota=proto.quota,
            expires=now + ttl,
            denied_items=() if proto.allowed else tuple(proto.denied_items),
            basic_only_reason=deny_reason_name(proto.deny_reason) if proto.allowed and proto.deny_reason else "",
        )


class Authorizer:
    """Asks the authorization service for decisions, as the query service (never as the caller)."""

    def __init__(self, channel: grpc.aio.Channel, signer: AssertionSigner, identity: Caller,
                 timeout: float, entry_version: Callable[[str], int] = lambda _code: 0) -> None:
        self._stub = authorization_pb2_grpc.AuthorizationServiceStub(channel)
        self._signer = signer
        self._identity = identity
        self._timeout = timeout
        #: The version of a resource's entry this process answers with (0: none held): the decision is asked on it.
        self._entry_version = entry_version

    async def __call__(self, key: DecisionKey, used_up: tuple[str, ...] = (),
                       only_grant_id: str = "") -> authorization_pb2.Decision:
        system_id, department_code, resource_code, purpose, items, method = key
        request = authorization_pb2.CheckRequest(
            system_id=system_id, department_code=department_code, resource_code=resource_code,
            purpose=purpose, items=items, method=method, exclude_grant_ids=used_up, only_grant_id=only_grant_id,
            min_entry_version=self._entry_version(resource_code))
        try:
            try:
                return (await self._check(request)).decision
            except grpc.aio.AioRpcError as exc:
                if exc.code() != grpc.StatusCode.NOT_FOUND or request.min_entry_version > 0:
                    raise
            # The authorization service holds the entry as absent (asked of before it was published) and was not
            # told of a version to read again: this process's copy of the entry was dropped (a catalog change or a
            # reconnection) between resolving the resource and asking. Asked once more with a version, it asks
            # the catalog itself instead of refusing on its copy for the copy's minute.
            request.min_entry_version = 1
            return (await self._check(request)).decision
        except grpc.aio.AioRpcError as exc:
            # Without a decision nothing may be shared: fail closed.
            raise _no_decision(resource_code, exc) from exc

    async def _check(self, request: authorization_pb2.CheckRequest) -> authorization_pb2.CheckResponse:
        return await self._stub.Check(request, timeout=self._timeout,
                                      metadata=call_metadata(self._signer, self._identity))


def _no_decision(resource_code: str, exc: grpc.aio.AioRpcError) -> ServiceError:
    """What a caller is told when Check gave no decision. NOT_FOUND is not the authorization service failing: the
    catalog, asked by it, holds no entry of a resource this process still answers for (withdrawn, or just
    published, and the change not yet heard by every service): said so, and to try again shortly, once it has
    reached both (this process then answers as the catalog does). UNAVAILABLE, as a retry will be answered."""
    if exc.code() == grpc.StatusCode.NOT_FOUND:
        return ServiceError(grpc.StatusCode.UNAVAILABLE, "AUTHORIZATION_UNAVAILABLE",
                            f"no access decision could be obtained: the authorization service does not know resource "
                            f"{resource_code[:64]} yet (a change of its catalog entry is being propagated to the "
                            "platform's services): try again in a few seconds")
    return ServiceError(grpc.StatusCode.UNAVAILABLE, "AUTHORIZATION_UNAVAILABLE",
                        f"no access decision could be obtained ({exc.code().name})")


#: no_decision_in_time's message, by which the query servicer tells that refusal, made at the caller's deadline.
NO_DECISION_IN_TIME = ("no access decision could be obtained within this call's deadline (the authorization service "
                       "did not answer): try again later, or with a longer deadline")


def no_decision_in_time() -> ServiceError:
    """What a caller is told when the authorization service had not answered by its deadline (the Check goes on,
    to its own timeout, for the other callers of its decision): named, as when it fails, not DEADLINE_EXCEEDED."""
    return ServiceError(grpc.StatusCode.UNAVAILABLE, "AUTHORIZATION_UNAVAILABLE", NO_DECISION_IN_TIME)


class DecisionCache:
    """Decisions by :data:`DecisionKey`, each kept until its expiry or an invalidating event."""

    def __init__(self, check: Check, max_ttl: float, max_entries: int = 100_000,
                 clock: Callable[[], float] = time.monotonic, wall: Callable[[], float] = time.time) -> None:
        self._check = check
        self._max_ttl = max_ttl
        self._max_entries = max_entries
        self._clock = clock
        self._wall = wall
        self._decisions: dict[DecisionKey, Decision] = {}
        # Decisions whose used-up grant no other grant stands in for (instead_of_used_up), until an invalidation.
        self._sole: dict[DecisionKey, Decision] = {}
        self._flight: SingleFlight[Decision] = SingleFlight()
        # Bumped by every invalidation, so that an answer fetched before it is not cached after it.
        self._generation = 0
        # False while the event subscription is broken (suspend, until resync): a revocation made then is not heard,
        # so no decision is kept, and each call asks again.
        self._holding = True

    @property
    def generation(self) -> int:
        """Bumped by every invalidation (a grant or catalog change heard, the subscription lost or back): read before
        a decision is asked and again before its answer leaves, it tells whether the decision may have changed."""
        return self._generation

    async def get(self, key: DecisionKey) -> Decision:
        decision = self._decisions.get(key)
        if decision is not None and decision.expires > self._clock():
            _HIT.inc()
            return decision
        _MISS.inc()
        # Each caller waits until its own deadline: a stopped authorization service, asked with the call timeout
        # (5 s), left a caller with less time DEADLINE_EXCEEDED naming nobody.
        return await within_callers_time(self._flight.do(key, lambda: self._fetch(key)), no_decision_in_time)

    async def instead_of_used_up(self, key: DecisionKey, decision: Decision, used_up: tuple[str, ...]
                                 ) -> Decision | None:
        """The decision on ``key`` by another grant than the ``used_up`` ones, kept in place of ``decision``; None
        when no other grant gives the caller what ``decision`` gave (the refusal is then the used-up grant's).

        A quota never resets, so the decision that named a used-up grant would refuse every later call until a grant
        change: a department that applied again would never reach its new grant. Asked only when a quota refuses a
        call, so the cached path pays nothing; and once per decision, so a caller that goes on calling with its
        quota used up does not cost the authorization service a Check a call.

        The other may name no grant: a request of basic items alone answered under a grant that only unmasked them
        (R-SHR-4 gives them to every department, masked), whose department would otherwise be refused what it had
        before it applied. A request the used-up grant gave more than basic items is not served by it (the items
        check): the caller is told its quota is used up rather than answered with less."""
        if self._sole.get(key) is decision:
            return None

        def serves(found: Decision) -> bool:
            return (found.allowed and found.grant_id not in used_up
                    and set(decision.allowed_items).issubset(found.allowed_items))

        generation = self._generation
        other = await self._fetch(key, used_up, keep=serves)
        if serves(other):
            kept = replace(other, replaced=(*decision.replaced, (decision.grant_id, decision.quota)))
            if self._decisions.get(key) is other:
                self._decisions[key] = kept
            return kept
        if self._holding and generation == self._generation:
            if len(self._sole) >= self._max_entries:
                self._sole.clear()
            # What the next call of this question will be handed (another used-up grant may be cached meanwhile).
            self._sole[key] = self._decisions.get(key, decision)
        return None

    async def under(self, key: DecisionKey, grant_id: str) -> Decision:
        """The decision on ``key`` under ``grant_id`` alone, asked of the authorization service and not kept: what a
        download begun under that grant is still allowed under it, or why that grant no longer serves it (revoked,
        expired, narrowed: which), in the same one Check. Asked only when the decision for everyone else's calls
        names a different grant (_still_allowed), so never on the cached path."""

        async def fetch() -> Decision:
            proto = await self._check(key, (), grant_id)
            return Decision.of(proto, key[4], self._max_ttl, self._clock(), self._wall())

        return await within_callers_time(fetch(), no_decision_in_time)

    async def _fetch(self, key: DecisionKey, used_up: tuple[str, ...] = (),
                     keep: Callable[[Decision], bool] | None = None) -> Decision:
        generation = self._generation
        proto = await self._check(key, used_up)
        decision = Decision.of(proto, key[4], self._max_ttl, self._clock(), self._wall())
        if keep is not None and not keep(decision):
            return decision
        if self._holding and generation == self._generation and decision.expires > self._clock():
            if len(self._decisions) >= self._max_entries:
                self._evict()
            self._decisions[key] = decision
        return decision

    def _evict(self) -> None:
        now = self._clock()
        for key in [k for k, d in self._decisions.items() if d.expires <= now]:
            del self._decisions[key]
        if len(self._decisions) >= self._max_entries:
            self._decisions.clear()

    def invalidate(self, department_code: str | None = None, resource_code: str | None = None,
                   system_id: str | None = None) -> None:
        """Drops the decisions of one department, resource and/or system; with none, all of them."""
        self._generation += 1
        self._sole.clear()
        if not department_code and not resource_code and not system_id:
            self._decisions.clear()
            return
        doomed = [key for key in self._decisions
                  if (not department_code or key[1] == department_code)
                  and (not resource_code or key[2] == resource_code)
                  and (not system_id or key[0] == system_id)]
        for key in doomed:
            del self._decisions[key]

    def suspend(self) -> None:
        """The event subscription broke: a grant revoked (or narrowed) until it is back would not be heard, and a
        decision kept meanwhile would let its holder in for up to its TTL after the revocation (R-APP-4: at once).
        Nothing is kept until ``resync``."""
        self._holding = False
        self.invalidate()

    def resync(self) -> None:
        """Subscribed again: what was kept is dropped (events may have been missed) and decisions are kept again."""
        self.invalidate()
        self._holding = True

    def on_grants_changed(self, payload: Mapping) -> None:
        """Handler for GRANTS_CHANGED: the department's decisions on the resource are stale."""
        department = payload.get("department_code")
        resource = payload.get("resource_code")
        self.invalidate(department if isinstance(department, str) else None,
                        resource if isinstance(resource, str) else None)

    def on_catalog_changed(self, payload: Mapping) -> None:
        """Handler for CATALOG_CHANGED: a changed entry (share type, items, state) affects everyone's decisions."""
        code = payload.get("code")
        self.invalidate(resource_code=code if isinstance(code, str) and code else None)

    def __len__(self) -> int:
        return len(self._decisions)


ConsumeBatch = Callable[[str, list[int], list[int]], Awaitable[list[bool]]]
AddCalls = Callable[[list[tuple[str, int]]], Awaitable[None]]
_QUOTA_BATCH_MAX = 256
#: The quota a grant without one is counted with in consume_quota: no count reaches it.
UNLIMITED = 2 ** 62
#: seconds: how long the calls of grants without a quota wait in the process before they are written, together.
TALLY_SECONDS = 1.0
#: seconds: how long a stopping process waits for PostgreSQL to take the calls it tallied.
CLOSE_WRITE_SECONDS = 5.0


@dataclass(slots=True)
class _QuotaLane:
    """The calls of one grant waiting to be counted, and whether a batch of them is being counted."""

    pending: list[tuple[int, int, asyncio.Future | None]]
    in_flight: bool = False
    scheduled: bool = False


class Quotas:
    """Call quotas of grants, counted in PostgreSQL (``query.quota_usage``) so that every replica shares them
    and no Redis flush or failover hands a grant its quota again.

    The calls of grants without a quota are counted too (``tally``), since a quota counts the calls of the grant's
    whole term and its provider may set one later (SharingService.UpdateGrant narrows a grant to a quota): counted
    from then only, a grant that had served 5,000 calls and was set a quota of 1,000 served 1,000 more. They are
    written together about once a second, without the call waiting, and with the next counted call of their grant
    when it has a quota by then. The calls of one grant with a quota that arrive in the same turn of the event
    loop, or while a batch of that grant is being counted, are counted together: one statement
    (``consume_quota``, migration 010) takes them in arrival order, each all or nothing — the outcome of one
    upsert per call in that order, for one round trip per batch instead of one per call. Redis keeps no copy:
    a fast path there would need re-seeding from PostgreSQL and a second source of truth for a figure that
    must never be wrong.
    """

    def __init__(self, consume: ConsumeBatch, release: Callable[[str, int], Awaitable[None]] | None = None,
                 add: AddCalls | None = None, tally_seconds: float = TALLY_SECONDS) -> None:
        self._consume = consume
        self._release = release
        self._add = add
        self._tally_seconds = tally_seconds
        self._lanes: dict[str, _QuotaLane] = {}
        self._tasks: set[asyncio.Task] = set()
        #: Calls of grants without a quota not written yet, by grant.
        self._tallied: dict[str, int] = {}
        self._writer: asyncio.Task | None = None
        #: Done once the tallies being written are (a counted call waits for them: they come before it).
        self._writing: asyncio.Future | None = None
        self._writing_grants: Collection[str] = ()
        self._closed = False
        self._tally_failing = False

    def tally(self, grant_id: str, calls: int) -> None:
        """Counts ``calls`` of a grant without a quota: written within ``tally_seconds``, the call not waiting (a
        grant with no quota refuses none), so that a quota its provider sets later counts them."""
        if calls <= 0 or self._add is None:
            return
        self._tallied[grant_id] = self._tallied.get(grant_id, 0) + calls
        self._write_soon()

    def _write_soon(self) -> None:
        if not self._closed and (self._writer is None or self._writer.done()):
            self._writer = asyncio.create_task(self._keep_writing(), name="quota-tally")

    async def _keep_writing(self) -> None:
        while self._tallied:
            await asyncio.sleep(self._tally_seconds)
            await self.write_tallies()

    async def write_tallies(self) -> None:
        """Writes the calls tallied so far; kept for the next try when PostgreSQL does not take them."""
        tallied, self._tallied = self._tallied, {}
        if not tallied or self._add is None:
            return
        writing = self._writing = asyncio.get_running_loop().create_future()
        self._writing_grants = tallied.keys()
        try:
            await self._add(sorted(tallied.items()))
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError) as exc:
            self._keep(tallied)
            if not self._tally_failing:  # once per outage, not every second of it
                log.warning("calls of %d grants without a quota could not be counted yet (%s); trying again every "
                            "%g s", len(tallied), type(exc).__name__, self._tally_seconds)
            self._tally_failing = True
        except BaseException:  # cancelled (the process stopping): written by close
            self._keep(tallied)
            raise
        else:
            self._tally_failing = False
        finally:
            writing.set_result(None)

    def _keep(self, tallied: Mapping[str, int]) -> None:
        for grant_id, calls in tallied.items():
            self._tallied[grant_id] = self._tallied.get(grant_id, 0) + calls
        self._write_soon()

    async def close(self) -> None:
        """Writes what is tallied (a process stopping keeps no count of its own)."""
        self._closed = True
        if self._writer is not None:
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer
            self._writer = None
        try:
            async with asyncio.timeout(CLOSE_WRITE_SECONDS):
                await self.write_tallies()
        except TimeoutError:  # a hung PostgreSQL must not hold the process's stop
            log.warning("calls of %d grants without a quota were not counted: PostgreSQL did not answer as the "
                        "process stopped", len(self._tallied))

    async def consume(self, grant_id: str, quota: int, calls: int) -> bool:
        """Counts ``calls`` against the grant; False (and nothing counted) when that would exceed ``quota``."""
        loop = asyncio.get_running_loop()
        lane = self._lanes.get(grant_id)
        if lane is None:
            lane = self._lanes[grant_id] = _QuotaLane(pending=[])
        future = loop.create_future()
        lane.pending.append((quota, calls, future))
        if not lane.in_flight and not lane.scheduled:
            # Leaves on the next turn of the loop: the calls of this turn join it.
            lane.scheduled = True
            loop.call_soon(self._flush, grant_id, lane)
        # A caller that goes away leaves its count to the batch (as a cancelled single upsert might have).
        return await asyncio.shield(future)

    async def give_back(self, grant_id: str, calls: int) -> None:
        """Uncounts ``calls`` of a call that failed unanswered (its provider down, its reply too large): a retry,
        which the SDK makes of such a call, would otherwise count again, and a 1,000-key BatchQuery against a provider
        that is down used 8,000 of the grant's quota with nothing answered. A failure to give back is logged, not
        raised: the caller is told why its call failed, not that its quota could not be given back."""
        if self._tallied.get(grant_id, 0) >= calls:  # tallied, not written yet: uncounted here
            self._tallied[grant_id] -= calls
            return
        if self._release is None:
            return
        try:
            await self._release(grant_id, calls)
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError) as exc:
            log.warning("calls of grant %s could not be given back to its quota (%s)", grant_id, type(exc).__name__)

    def give_back_detached(self, grant_id: str, calls: int) -> None:
        """give_back for a call being cancelled (its answer will not leave): run on its own, as the call ends now
        and must not wait on PostgreSQL again."""
        task = asyncio.create_task(self.give_back(grant_id, calls), name="quota-give-back")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _flush(self, grant_id: str, lane: _QuotaLane) -> None:
        lane.scheduled = False
        if lane.in_flight:
            return
        if not lane.pending:
            if self._lanes.get(grant_id) is lane:
                del self._lanes[grant_id]
            return
        batch, lane.pending = lane.pending[:_QUOTA_BATCH_MAX], lane.pending[_QUOTA_BATCH_MAX:]
        if tallied := self._tallied.pop(grant_id, 0):
            # Calls of the grant made before it had a quota, counted first: its first counted call finds them.
            batch.insert(0, (UNLIMITED, tallied, None))
        lane.in_flight = True
        task = asyncio.create_task(self._send(grant_id, lane, batch), name="quota-batch")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send(self, grant_id: str, lane: _QuotaLane,
                    batch: list[tuple[int, int, asyncio.Future | None]]) -> None:
        counted = False
        try:
            if self._writing is not None and not self._writing.done() and grant_id in self._writing_grants:
                await self._writing  # the grant's calls tallied before these are in it
            granted = await self._consume(grant_id, [quota for quota, _, _ in batch],
                                          [calls for _, calls, _ in batch])
            counted = True
        except (asyncpg.PostgresConnectionError, asyncpg.InterfaceError, OSError, TimeoutError) as exc:
            # A quota that cannot be counted cannot be enforced: fail closed. One error per call: the servicer
            # adds the call's own audit id to the error it raises.
            _settle(batch, error=lambda cause=exc: _quota_unavailable(cause))
        except Exception as exc:
            _settle(batch, error=lambda cause=exc: cause)
        else:
            _settle(batch, granted=granted)
        finally:
            if not counted and batch[0][2] is None:  # the tallied calls it carried are written another time
                self._keep({grant_id: batch[0][1]})
            lane.in_flight = False
            self._flush(grant_id, lane)  # what queued meanwhile leaves at once


def _quota_unavailable(cause: BaseException) -> ServiceError:
    error = ServiceError(grpc.StatusCode.UNAVAILABLE, "QUOTA_UNAVAILABLE", "the call quota could not be counted")
    error.__cause__ = cause
    return error


def _settle(batch: list[tuple[int, int, asyncio.Future | None]], granted: list[bool] | None = None,
            error: Callable[[], BaseException] | None = None) -> None:
    for index, (_, _, future) in enumerate(batch):
        if future is None or future.done():  # None: tallied calls of the grant, which nobody waits for
            continue
        if error is not None:
            future.set_exception(error())
        else:
            assert granted is not None
            future.set_result(bool(granted[index]))
        future.add_done_callback(_retrieved)


def _retrieved(future: asyncio.Future) -> None:
    """Marks a settled future's outcome as seen (its caller may have gone away)."""
    if not future.cancelled():
        future.exception()
