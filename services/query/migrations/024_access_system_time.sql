-- The calls of one system (ListAccessesRequest.system_id), newest first: what an auditor lists after a system's
-- secret leaked. Without it the listing read the department's (or, for the authority, the whole log's) accesses
-- newest first and kept the system's: one system among a department's many, or the authority's listing across
-- every department, read far more rows than it returned, within the listing's statement budget. A system's
-- accesses are few beside the log's, so the filter is selective and worth an index; the refusal-reason filter is
-- not given one (refusals are read with a time range, as the result filter's rare outcomes are).
-- Built concurrently, a partition at a time (services/runtime/concurrent_index.py): a plain CREATE INDEX held the
-- access log's SHARE lock for the whole build, and every audit insert, so every query call, waited for it during
-- the upgrade.
CREATE INDEX CONCURRENTLY access_log_system_time ON access_log (system_id, time DESC, id DESC);
