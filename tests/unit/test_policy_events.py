"""Grant changes are announced to query at once, and again until Redis takes them (R-APP-4)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json

import redis.exceptions

from services.authorization.grants import Grant
from services.authorization.policy_events import PolicyEvents
from services.runtime.cache import GRANTS_CHANGED


class FlakyRedis:
    """Refuses the first ``failures`` publishes, as a Redis out of reach for a moment does."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.published: list[tuple[str, dict]] = []

    async def publish(self, channel: str, message: str) -> int:
        if self.failures:
            self.failures -= 1
            raise redis.exceptions.ConnectionError("Connection refused")
        self.published.append((channel, json.loads(message)))
        return 1

    async def aclose(self) -> None:
        pass


def grant(version: int) -> Grant:
    return Grant(id="grt-1", application_id="app-1", department_code="D1", provider_department_code="P1",
                 resource_code="101001/000001", system_ids=(), items=("name",), unmasked_items=(), purposes=(1,),
                 methods=(1,), expire_time=dt.datetime(2027, 1, 1, tzinfo=dt.UTC), quota=0, policy_version=version)


async def test_a_revocation_redis_did_not_take_is_announced_again_until_it_does() -> None:
    """A failed publish was logged and dropped: query kept the revoked grant's decisions for their TTL (30 s), and
    its holder's queries went on through, though a revocation takes effect at once."""
    events = PolicyEvents(retry_seconds=0.01)
    client = FlakyRedis(failures=3)
    events._client = client  # type: ignore[assignment]
    await events.grant_changed(grant(7))
    await events.grant_changed(grant(8))  # changed again meanwhile: the newest is what is announced
    assert events.unannounced == 1 and not client.published
    for _ in range(200):
        if not events.unannounced:
            break
        await asyncio.sleep(0.01)
    assert client.published == [(GRANTS_CHANGED, {"department_code": "D1", "resource_code": "101001/000001",
                                                  "policy_version": 8})]
    await events.close()
