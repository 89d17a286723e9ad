"""What a started query process gives its servicers (built by the component in ``start``)."""

from __future__ import annotations

from dataclasses import dataclass

import redis.asyncio as aioredis

from services.query.audit import AuditWriter
from services.query.decisions import DecisionCache, Quotas
from services.query.disputes import OpenDisputes
from services.query.records import ProviderClients, RecordCache
from services.query.resources import Resources
from services.query.store import QueryStore
from services.runtime.masking import Masker
from services.runtime.settings import Settings


@dataclass(frozen=True, slots=True)
class Dependencies:
    settings: Settings
    resources: Resources
    decisions: DecisionCache
    quotas: Quotas
    records: RecordCache
    providers: ProviderClients
    open_disputes: OpenDisputes
    audit: AuditWriter
    store: QueryStore
    masker: Masker
    redis: aioredis.Redis
