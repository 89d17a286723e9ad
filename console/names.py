"""Department and resource names beside their codes, looked up through the public RPCs and kept a while.

Lists carry codes (a department's 统一社会信用代码, a resource's 信息资源代码); people read names. The console
asks DirectoryService.GetDepartment and CatalogService.GetEntry as the signed-in person (never a database) and
keeps the answers in a small per-process cache shared by every session, so a page of twenty rows costs a few
calls once, not twenty on every view.

What is shared is only what every signed-in person may read anyway: department names (the directory is open
to every caller) and the names of *published* entries (the catalog's public face); a draft's name is used for
the person who could read it and never cached. A name that changed shows within ``ttl`` seconds, and at once where
the console has Redis: ``watch_changes`` puts a renamed department's new name in place on the directory's
``govshare.departments.changed`` event (DirectoryService.RenameDepartment), drops a resource's kept details on the
catalog's ``govshare.catalog.changed`` (an entry updated, made 不予共享, retired: a grant's page reads its share
type and state from here), and forgets everything kept whenever the subscription (re)connects, as events may have
been missed meanwhile.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import grpc

from govshare.authorization.v1 import directory_pb2, directory_pb2_grpc
from govshare.catalog.v1 import catalog_pb2

if TYPE_CHECKING:
    from services.runtime.cache import Subscriber

#: How long a looked-up name is kept (a renamed department shows within this).
TTL_SECONDS = 600.0
#: Names kept at most (the oldest go first): far more than the platform's departments and resources.
MAX_ENTRIES = 4096
#: How long a service that did not answer a lookup (hung: its deadline passed; or down) is not asked again: the
#: pages show codes meanwhile. Each code was asked in turn, each waiting the whole call timeout, so with the
#: directory hung 目录 took 20 s to show four providers' codes, 监督 or 审计 longer still, beyond what a proxy in
#: front of the console waits.
UNANSWERED_PAUSE_SECONDS = 10.0
#: The failures that mean the service did not answer (any other, e.g. NOT_FOUND, is that code's own answer).
_UNANSWERED = frozenset({grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.UNAVAILABLE})


@dataclass(frozen=True)
class Resource:
    """A resource's name, its data items' Chinese names by machine name, its provider's department code, and its
    share type and state as the catalog has them now (a grant's page says when they leave the grant unusable)."""

    name: str = ""
    items: dict[str, str] = field(default_factory=dict)
    provider: str = ""
    share_type: int = 0
    state: int = 0


class _Expiring:
    """A bounded map whose values expire (least recently stored first out when full)."""

    def __init__(self, ttl: float, size: int, clock: Callable[[], float]) -> None:
        self._values: OrderedDict[str, tuple[float, object]] = OrderedDict()
        self._ttl, self._size, self._clock = ttl, size, clock

    def get(self, key: str) -> object | None:
        hit = self._values.get(key)
        if hit is None or hit[0] < self._clock():
            return None
        return hit[1]

    def clear(self) -> None:
        self._values.clear()

    def drop(self, key: str) -> None:
        self._values.pop(key, None)

    def put(self, key: str, value: object) -> None:
        self._values[key] = (self._clock() + self._ttl, value)
        self._values.move_to_end(key)
        while len(self._values) > self._size:
            self._values.popitem(last=False)


class Names:
    """Names for codes, as the person whose token is given may read them; empty when the service does not
    say (a code stays readable on its own: the name is a courtesy)."""

    def __init__(self, services: object, ttl: float = TTL_SECONDS, size: int = MAX_ENTRIES,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._services = services
        self._departments = _Expiring(ttl, size, clock)
        self._resources = _Expiring(ttl, size, clock)
        self._authorities = _Expiring(ttl, size, clock)
        self._systems = _Expiring(ttl, size, clock)
        self._clock = clock
        #: Until when each service that did not answer is not asked ("directory", "catalog": clock time).
        self._paused: dict[str, float] = {}
        #: Calls made to the services (what the cache saves is visible in tests).
        self.lookups = 0

    async def departments(self, token: str, codes: Iterable[str]) -> dict[str, str]:
        """Department code → name for each of ``codes``."""
        names: dict[str, str] = {}
        for code in dict.fromkeys(c for c in codes if c):
            cached = self._departments.get(code)
            if cached is None:
                cached = await self._department(token, code)
            names[code] = str(cached)
        return names

    def renamed(self, event: dict) -> None:
        """Handler for DEPARTMENTS_CHANGED: the department's new name from now on, not its old one for the TTL."""
        code, name = event.get("code"), event.get("name")
        if isinstance(code, str) and isinstance(name, str) and code and name:
            self._departments.put(code, name)

    def catalog_changed(self, event: dict) -> None:
        """Handler for CATALOG_CHANGED: the entry's details are asked again, not shown as they were for the TTL."""
        code = event.get("code")
        if isinstance(code, str) and code:
            self._resources.drop(code)

    def forget(self) -> None:
        """Drops every name and resource kept: changes may have been announced while nobody listened."""
        self._departments.clear()
        self._resources.clear()
        self._authorities.clear()
        self._systems.clear()

    async def is_authority(self, token: str, code: str) -> bool | None:
        """Whether department ``code`` is the sharing authority, None when the directory does not say: a page
        need not ask a service for what only the authority is answered (each refusal is logged)."""
        cached = self._authorities.get(code)
        if cached is None:
            await self._department(token, code)
            cached = self._authorities.get(code)
        return cached if isinstance(cached, bool) else None

    async def resources(self, token: str, codes: Iterable[str]) -> dict[str, Resource]:
        """Resource code → its name and items' names, for each of ``codes``."""
        found: dict[str, Resource] = {}
        for code in dict.fromkeys(c for c in codes if c):
            cached = self._resources.get(code)
            found[code] = cached if isinstance(cached, Resource) else await self._resource(token, code)
        return found

    async def systems(self, token: str, ids: Iterable[str]) -> dict[str, str]:
        """Business system id → name for each of ``ids`` the person may read (their department's, or any for the
        authority; "" otherwise): a violation names its system by name as the reports do, not by sys-… alone."""
        names: dict[str, str] = {}
        for system_id in dict.fromkeys(i for i in ids if i):
            cached = self._systems.get(system_id)
            names[system_id] = str(cached) if cached is not None else await self._system(token, system_id)
        return names

    def _answering(self, service: str) -> bool:
        """Whether ``service`` may be asked: not within the pause after it did not answer."""
        return self._paused.get(service, 0.0) <= self._clock()

    def _failed(self, service: str, error: grpc.aio.AioRpcError) -> None:
        """Pauses the lookups of ``service`` when ``error`` says it did not answer."""
        if error.code() in _UNANSWERED:
            self._paused[service] = self._clock() + UNANSWERED_PAUSE_SECONDS

    async def _directory(self, token: str, method: str, request: object) -> Any:
        """One directory lookup as the person, or None when it failed or the directory is paused (nothing is
        cached: the next page asks again)."""
        if not self._answering("directory"):
            return None
        stub = directory_pb2_grpc.DirectoryServiceStub(self._services.channel)  # type: ignore[attr-defined]
        self.lookups += 1
        try:
            return await self._services.call(token, getattr(stub, method), request)  # type: ignore[attr-defined]
        except grpc.aio.AioRpcError as error:
            self._failed("directory", error)
            return None

    async def _system(self, token: str, system_id: str) -> str:
        reply = await self._directory(token, "GetSystem", directory_pb2.GetSystemRequest(id=system_id))
        if reply is None:
            return ""
        self._systems.put(system_id, reply.system.name)
        return reply.system.name

    async def _department(self, token: str, code: str) -> str:
        reply = await self._directory(token, "GetDepartment", directory_pb2.GetDepartmentRequest(code=code))
        if reply is None:
            return ""
        self._departments.put(code, reply.department.name)
        self._authorities.put(code, reply.department.authority)
        return reply.department.name

    async def _resource(self, token: str, code: str) -> Resource:
        if not self._answering("catalog"):
            return Resource()
        self.lookups += 1
        try:
            reply = await self._services.call(token, self._services.catalog.GetEntry,  # type: ignore[attr-defined]
                                              catalog_pb2.GetEntryRequest(code=code))
        except grpc.aio.AioRpcError as error:
            self._failed("catalog", error)
            return Resource()
        entry = reply.entry
        resource = Resource(entry.name, {i.machine_name: i.name for i in entry.items}, entry.provider_department_code,
                            entry.share_type, entry.state)
        if entry.state == catalog_pb2.ENTRY_STATE_PUBLISHED:
            self._resources.put(code, resource)
        return resource


def watch_changes(names: Names, redis_url: str) -> Subscriber:
    """Keeps ``names`` up with the directory's renames and the catalog's changes (started; the caller stops it).
    Imported here, as the session store's Redis client is: a console without Redis never loads it."""
    from services.runtime.cache import CATALOG_CHANGED, DEPARTMENTS_CHANGED, Subscriber

    subscriber = Subscriber(redis_url, {DEPARTMENTS_CHANGED: names.renamed, CATALOG_CHANGED: names.catalog_changed},
                            resync=names.forget)
    subscriber.start()
    return subscriber
