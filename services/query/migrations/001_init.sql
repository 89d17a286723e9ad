-- The query service's own data: the access audit trail (R-SEC-3) and disputes (R-SEC-3, DOMAIN §8).

-- One row per audited call. Rows are appended by a group-commit writer and never updated.
-- Each query process writes its own hash chain (chain_id, seq 1, 2, ...): hash = sha256(prev_hash ||
-- canonical serialization of the row), so editing or deleting a row breaks the chain at that row.
CREATE TABLE access_log (
    id                       text PRIMARY KEY,
    chain_id                 text NOT NULL,
    seq                      bigint NOT NULL,
    time                     timestamptz NOT NULL,
    system_id                text NOT NULL,
    department_code          text NOT NULL,
    resource_code            text NOT NULL,
    provider_department_code text NOT NULL,
    -- Query, BatchQuery, Verify, Export.
    operation                text NOT NULL,
    items                    text[] NOT NULL,
    -- The key; for batches the number of keys (the keys themselves are in `keys`).
    key                      text NOT NULL,
    keys                     text[] NOT NULL,
    -- PurposeType name without its prefix, e.g. ADMINISTRATIVE_BASIS.
    purpose                  text NOT NULL,
    purpose_text             text NOT NULL,
    -- ANSWERED, NOT_FOUND, DENIED, INVALID, or FAILED (the platform could not answer).
    result                   text NOT NULL,
    -- DenyReason name without its prefix when denied, else ''.
    deny_reason              text NOT NULL,
    trace_id                 text NOT NULL,
    prev_hash                text NOT NULL,
    hash                     text NOT NULL,
    UNIQUE (chain_id, seq)
);

-- Providers list accesses to their resources (R-USE-4), newest first.
CREATE INDEX access_log_provider_time ON access_log (provider_department_code, time DESC, id DESC);
CREATE INDEX access_log_resource_time ON access_log (resource_code, time DESC, id DESC);
CREATE INDEX access_log_time ON access_log (time DESC, id DESC);

-- 疑义数据: a user department doubts a record; the provider answers (corrected or confirmed).
CREATE TABLE disputes (
    id                       uuid PRIMARY KEY,
    resource_code            text NOT NULL,
    key                      text NOT NULL,
    item                     text NOT NULL,
    claimed_value            text NOT NULL,
    evidence                 text NOT NULL,
    reporter_department_code text NOT NULL,
    reporter_system_id       text NOT NULL,
    provider_department_code text NOT NULL,
    -- OPEN, CORRECTED, CONFIRMED.
    state                    text NOT NULL,
    answer                   text NOT NULL DEFAULT '',
    answer_system_id         text NOT NULL DEFAULT '',
    create_time              timestamptz NOT NULL,
    due_time                 timestamptz NOT NULL,
    answer_time              timestamptz
);

-- Query replicas load the open ones at start to flag disputed records (R-DSP-2).
CREATE INDEX disputes_open ON disputes (resource_code, key) WHERE state = 'OPEN';
CREATE INDEX disputes_reporter ON disputes (reporter_department_code, create_time DESC, id DESC);
CREATE INDEX disputes_provider ON disputes (provider_department_code, create_time DESC, id DESC);
CREATE INDEX disputes_time ON disputes (create_time DESC, id DESC);
