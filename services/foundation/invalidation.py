"""Telling the query path that records changed: delete their cache entries, then announce it.

Query caches provider records in Redis under ``rec2:{endpoint}:{dataset}:{key}``
(services.runtime.cache.record_cache_key); the foundation service's records are those of
FOUNDATION_ENDPOINT. The foundation service deletes the entries of records it changed
(after the change is committed, so a concurrent reader cannot re-cache the old version for
long) and publishes RECORDS_CHANGED so every query replica can also drop what it holds in
process. Redis is only a cache: if it is unreachable the load still stands, and the
invalidation is retried until Redis answers (services.runtime.cache.RecordInvalidator,
which query uses too when a dispute is answered with a correction).
"""

from __future__ import annotations

from services.runtime.cache import DELETE_CHUNK, FOUNDATION_ENDPOINT, RecordInvalidator, record_cache_key

__all__ = ["DELETE_CHUNK", "FOUNDATION_ENDPOINT", "RecordInvalidator", "record_cache_key"]
