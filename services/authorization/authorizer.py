"""AuthorizationService.Check: gathers what ``decide`` needs and labels the decision with the policy version.

Only platform services call it (query, on a decision-cache miss). The entry comes
from the in-process catalog cache; the grants and the policy version come from
one consistent snapshot, so query can tell a decision made before a grant change
from one made after it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from govshare.catalog.v1 import catalog_pb2
from govshare.common.v1 import common_pb2
from services.authorization.decisions import AccessRequest, Decision, decide, request_problems
from services.authorization.entries import EntryLookup
from services.authorization.roles import require_service
from services.authorization.sharing import Clock, utc_now
from services.authorization.store import Store
from services.runtime.errors import invalid_argument, not_found
from services.runtime.identity import Caller
from services.runtime.settings import Settings


class Authorizer:
    def __init__(self, store: Store, entries: EntryLookup, settings: Settings, clock: Clock = utc_now) -> None:
        self._store = store
        self._entries = entries
        self._zone = settings.zone
        self._ttl = dt.timedelta(seconds=settings.decision_ttl_seconds)
        self._clock = clock

    async def check(self, caller: Caller, request: AccessRequest) -> Decision:
        require_service(caller)
        if problems := request_problems(request):
            raise invalid_argument(problems)
        entry = await self._entries.get(request.resource_code)
        if _older_than_asked(entry, request.min_entry_version):
            # The query service heard the entry's change event first: decided on the version held here, an item the
            # catalog now masks went out whole, and the decision was kept for its TTL; with "no such entry" held (asked
            # of before it was published), a resource query answers with was NOT_FOUND for the copy's minute. The
            # catalog is asked again.
            entry = await self._entries.get(request.resource_code, fresh=True)
        if entry is None:
            raise not_found(f"resource {request.resource_code}")
        if entry.share_type == common_pb2.SHARE_TYPE_UNCONDITIONAL:
            version, grants = await self._store.policy_version(), []
        else:
            version, grants = await self._store.policy_snapshot(request.department_code, request.resource_code)
        decision = decide(entry, grants, request, self._clock(), self._zone, self._ttl)
        return dataclasses.replace(decision, policy_version=version)


def _older_than_asked(entry: catalog_pb2.Entry | None, min_entry_version: int) -> bool:
    """True when the copy held is older than the version the caller answers with: a lower version, or none at all (a
    code looked up before its entry was published is held as unknown) while the caller names one."""
    if min_entry_version <= 0:
        return False
    return entry is None or entry.version < min_entry_version
