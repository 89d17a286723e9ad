"""Announces grant changes on Redis, so query replicas drop their cached decisions at once (R-APP-4),
and system state changes (disabled, enabled, secret rotated), so every token verifier refuses the
system's older tokens at once.

Events are best-effort (pub/sub): a lost one is bounded by the decisions' short
TTL, so a failed publish is logged rather than failing a change that is already
committed.
"""

from __future__ import annotations

import logging

import redis.asyncio as aioredis

from services.authorization.grants import Grant
from services.runtime.cache import GRANTS_CHANGED, SYSTEMS_CHANGED, create_client, publish
from services.runtime.system_states import SystemState

log = logging.getLogger(__name__)


class PolicyEvents:
    def __init__(self) -> None:
        self._client: aioredis.Redis | None = None

    async def open(self, redis_url: str) -> None:
        self._client = create_client(redis_url)
        await self._client.ping()

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def grant_changed(self, grant: Grant) -> None:
        """Publishes GRANTS_CHANGED for the grant's holder and resource, with the version it now has."""
        payload = {"department_code": grant.department_code, "resource_code": grant.resource_code,
                   "policy_version": grant.policy_version}
        if self._client is None:
            log.warning("grant %s changed before the event bus was open; decisions expire by TTL", grant.id)
            return
        try:
            await publish(self._client, GRANTS_CHANGED, payload)
        except Exception as exc:
            log.warning("could not announce the change of grant %s (%s); decisions expire by TTL", grant.id, exc)

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
