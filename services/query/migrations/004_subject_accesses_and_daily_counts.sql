-- The persons' view (AuditService.ListSubjectAccesses): a subject's accesses, newest first, by the key of a
-- single call or among the keys of a batch. The GIN index covers batch rows only (single calls leave `keys`
-- empty), so the hot path's single queries pay one more B-tree entry, not a GIN update.
CREATE INDEX access_log_key_time ON access_log (key, time DESC, id DESC);
CREATE INDEX access_log_batch_keys ON access_log USING gin (keys) WHERE cardinality(keys) > 0;

-- Supervision's figures (services/query/figures.py) read whole past days from these daily counts instead of
-- scanning the access log again: a month of 10^7 accesses is a full scan once, then a few thousand rows. A day
-- (China Standard Time) is rolled up the first time figures ask for it, once it ended an hour ago, and is
-- listed in access_days so that it is never scanned twice; an empty day is listed too. Lookups of the persons'
-- view are not counted.
CREATE TABLE access_daily (
    day                      date NOT NULL,
    department_code          text NOT NULL,
    system_id                text NOT NULL,
    provider_department_code text NOT NULL,
    resource_code            text NOT NULL,
    purpose                  text NOT NULL,
    result                   text NOT NULL,
    deny_reason              text NOT NULL,
    n                        bigint NOT NULL,
    PRIMARY KEY (day, department_code, system_id, provider_department_code, resource_code, purpose, result,
                 deny_reason)
);

CREATE TABLE access_days (
    day       date PRIMARY KEY,
    roll_time timestamptz NOT NULL DEFAULT now()
);
