-- The persons' view (AuditService.ListSubjectAccesses): a subject's accesses, newest first, by the key of a
-- single call or among the keys of a batch. The GIN index covers batch rows only (single calls leave `keys`
-- empty), so the hot path's single queries pay one more B-tree entry, not a GIN update.
CREATE INDEX access_log_key_time ON access_log (key, time DESC, id DESC);
CREATE INDEX access_log_batch_keys ON access_log USING gin (keys) WHERE cardinality(keys) > 0;
