"""Announces grant changes on Redis, so query replicas drop their cached decisions at once (R-APP-4),
and system state changes (disabled, enabled, secret rotated), so every token verifier refuses the
system's older tokens at once.

Events are pub/sub: a failed publish is logged rather than failing a change that
is already committed. A grant change that could not be announced is announced
again every second until Redis takes it (R-APP-4: a revocation takes effect at
once; a lost one was otherwise bounded only by the decisions' TTL, 30 s).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import redis.asyncio as aioredis

from services.authorization.grants import Grant
from services.runtime.cache import (
    DEPARTMENTS_CHANGED,
    GRANTS_CHANGED,
    INVALIDATION_RETRY_SECONDS,
    SYSTEMS_CHANGED,
    create_client,
    publish,
)
from services.runtime.system_states import SystemState

log = logging.getLogger(__name__)


class PolicyEvents:
    def __init__(self, retry_seconds: float = INVALIDATION_RETRY_SECONDS) -> None:
        self._client: aioredis.Redis | None = None
        self._retry_seconds = retry_seconds
        # Grant changes not yet announced, by (holder, resource): the newest payload of each.
        self._unannounced: dict[tuple[str, str], dict] = {}
        self._retry: asyncio.Task | None = None

    async def open(self, redis_url: str) -> None:
        self._client = create_client(redis_url)
        await self._client.ping()

    async def close(self) -> None:
        if self._retry is not None:
            self._retry.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._retry
            self._retry = None
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    @property
    def unannounced(self) -> int:
        """Grant changes still to be announced (each holder and resource once)."""
        return len(self._unannounced)

    async def grant_changed(self, grant: Grant) -> None:
        """Publishes GRANTS_CHANGED for the grant's holder and resource, with the version it now has; one Redis
        does not take now is published again until it does."""
        payload = {"department_code": grant.department_code, "resource_code": grant.resource_code,
                   "policy_version": grant.policy_version}
        if self._client is None:
            log.warning("grant %s changed before the event bus was open; decisions expire by TTL", grant.id)
            return
        where = (grant.department_code, grant.resource_code)
        try:
            await publish(self._client, GRANTS_CHANGED, payload)
            self._unannounced.pop(where, None)  # announced now: an earlier failed announcement is said by this one
        except Exception as exc:
            log.error("could not announce the change of grant %s (%s); announcing it again until Redis takes it",
                      grant.id, type(exc).__name__)
            self._unannounced[where] = payload
            if self._retry is None or self._retry.done():
                self._retry = asyncio.create_task(self._announce_until_done(), name="grant-event-retry")

    async def _announce_until_done(self) -> None:
        while self._unannounced and self._client is not None:
            await asyncio.sleep(self._retry_seconds)
            for where, payload in list(self._unannounced.items()):
                try:
                    await publish(self._client, GRANTS_CHANGED, payload)
                except Exception:
                    break  # still away: the rest wait for the next round
                if self._unannounced.get(where) is payload:
                    del self._unannounced[where]

    async def system_changed(self, system_id: str, state: SystemState) -> None:
        """Publishes SYSTEMS_CHANGED with the system's whole token state (verifiers keep the newest version).

        A lost event is caught up by the verifiers' periodic and on-reconnect reloads."""
        payload = {"system_id": system_id, "disabled": state.disabled, "not_before": state.not_before,
                   "reason": state.reason, "version": state.version}
        if self._client is None:
            log.warning("system %s changed before the event bus was open; verifiers catch up on reload", system_id)
            return
        try:
            await publish(self._client, SYSTEMS_CHANGED, payload)
        except Exception as exc:
            log.warning("could not announce the change of system %s (%s); verifiers catch up on reload",
                        system_id, exc)

    async def department_renamed(self, code: str, name: str) -> None:
        """Publishes DEPARTMENTS_CHANGED with the department's new name, so the processes keeping names (the
        console's) drop the old one at once instead of showing it for their TTL. A lost event leaves it to the TTL."""
        if self._client is None:
            log.warning("department %s was renamed before the event bus was open; names expire by TTL", code)
            return
        try:
            await publish(self._client, DEPARTMENTS_CHANGED, {"code": code, "name": name})
        except Exception as exc:
            log.warning("could not announce the rename of department %s (%s); names expire by TTL", code, exc)

    async def department_retired(self, code: str, name: str, merged_into: str) -> None:
        """Publishes DEPARTMENTS_CHANGED with ``retired`` (and ``merged_into``), as a rename is announced: the
        processes keeping departments drop what they kept of it at once. A lost event leaves it to their TTL."""
        if self._client is None:
            log.warning("department %s was retired before the event bus was open; caches expire by TTL", code)
            return
        try:
            await publish(self._client, DEPARTMENTS_CHANGED,
                          {"code": code, "name": name, "retired": True, "merged_into": merged_into})
        except Exception as exc:
            log.warning("could not announce the retirement of department %s (%s); caches expire by TTL", code, exc)
