-- Issue 13: a full verification of the access audit trail is a long-running job (AIP-151), not one RPC. Each row
-- is one job: where it has got to (the signed checkpoint its next page resumes from), what it found, and which
-- query process runs it until when (a lease: a process that dies stops renewing it, and any replica takes the
-- job over from its saved position once it has expired). services/query/verifications.py runs them.
CREATE TABLE audit_verifications (
    id                      uuid PRIMARY KEY,
    state                   text NOT NULL,            -- RUNNING, DONE, CANCELLED
    result                  text NOT NULL DEFAULT '', -- when DONE: INTACT or BROKEN
    create_time             timestamptz NOT NULL,
    update_time             timestamptz NOT NULL,
    end_time                timestamptz,
    creator_system_id       text NOT NULL,
    creator_department_code text NOT NULL,
    cancel_system_id        text NOT NULL DEFAULT '',
    -- The signed checkpoint (chain id, sequence) the next page resumes from; NULL: from the start.
    position_chain_id       text,
    position_seq            bigint,
    records_verified        bigint NOT NULL DEFAULT 0,
    records_estimate        bigint NOT NULL DEFAULT 0,
    chains_checked          bigint NOT NULL DEFAULT 0,
    pages                   bigint NOT NULL DEFAULT 0,
    problems                bigint NOT NULL DEFAULT 0,
    forged_checkpoints      bigint NOT NULL DEFAULT 0,
    first_bad_id            text NOT NULL DEFAULT '',
    first_bad_chain_id      text NOT NULL DEFAULT '',
    first_bad_seq           bigint NOT NULL DEFAULT 0,
    detail                  text NOT NULL DEFAULT '',
    records_per_page        integer NOT NULL,
    lease_owner             text NOT NULL DEFAULT '',
    lease_expire_time       timestamptz
);
-- The runners look for running jobs whose lease has expired; the auditor lists the newest first.
CREATE INDEX audit_verifications_running ON audit_verifications (lease_expire_time) WHERE state = 'RUNNING';
CREATE INDEX audit_verifications_created ON audit_verifications (create_time DESC, id DESC);

-- Issue 13: GetUsageSummary reads a summary's partial days by the hour: whole settled hours from here (rolled up
-- from the log on first use and by the hourly upkeep, services/query/partitions.py), so at most the hours not
-- settled yet are read from the log itself (a day is 2.7 x 10^6 records at 10^9 a year, an hour 1/24 of it).
-- Kept a few days: whole days are read from access_daily.
CREATE TABLE access_usage_hourly (
    hour                     timestamptz NOT NULL,
    provider_department_code text NOT NULL,
    resource_code            text NOT NULL,
    department_code          text NOT NULL,
    purpose                  text NOT NULL,
    answered                 bigint NOT NULL,
    denied                   bigint NOT NULL,
    PRIMARY KEY (hour, provider_department_code, resource_code, department_code, purpose)
);

CREATE TABLE access_usage_hours (
    hour      timestamptz PRIMARY KEY,
    roll_time timestamptz NOT NULL DEFAULT now()
);
