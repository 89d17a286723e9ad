-- How widely each entry is used: the search ranks widely used entries first among equally relevant ones
-- (services/catalog/index.py). The catalog does not read the query service's tables: services/catalog/usage.py
-- asks query (AuditFiguresService.ListResourceUsage, the last 30 days' answered calls per resource, from its
-- daily counts) every GOVSHARE_CATALOG_USAGE_REFRESH_SECONDS and writes the figures here, so a replica's index
-- rebuild reads them with the entries. `rank` is the order of magnitude the index uses (index.usage_bucket);
-- update_time changes only when it does, and the search index's catch-up (by update_time) re-indexes just
-- those entries, not every entry whose count moved by one.
CREATE TABLE entry_usage (
    code        text PRIMARY KEY REFERENCES entries (code),
    uses        bigint NOT NULL,
    rank        smallint NOT NULL,
    update_time timestamptz NOT NULL
);
CREATE INDEX entry_usage_update_time_idx ON entry_usage (update_time);
