-- Tables that were added to migrations 008 and 011 after those had already been applied on some installations
-- (the runner never applies a migration twice): an installation that ran 008 before it gained the archive and
-- monthly-usage tables, or 011 before it gained the hourly-usage tables, gets them here; elsewhere this changes
-- nothing. Each is empty at first and filled on use, as on an installation that had it from the start.
CREATE TABLE IF NOT EXISTS access_archives (
    partition    text PRIMARY KEY,
    file         text NOT NULL,
    rows         bigint NOT NULL,
    sha256       text NOT NULL,
    archive_time timestamptz NOT NULL
);

CREATE TABLE IF NOT EXISTS access_archived_chains (
    chain_id  text PRIMARY KEY,
    last_seq  bigint NOT NULL,
    last_hash text NOT NULL,
    partition text NOT NULL
);

CREATE TABLE IF NOT EXISTS access_usage_monthly (
    month                    date NOT NULL,
    provider_department_code text NOT NULL,
    resource_code            text NOT NULL,
    department_code          text NOT NULL,
    purpose                  text NOT NULL,
    answered                 bigint NOT NULL,
    denied                   bigint NOT NULL,
    PRIMARY KEY (month, provider_department_code, resource_code, department_code, purpose)
);
CREATE INDEX IF NOT EXISTS access_usage_monthly_resource ON access_usage_monthly (resource_code, month);

CREATE TABLE IF NOT EXISTS access_usage_months (
    month     date PRIMARY KEY,
    roll_time timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS access_usage_hourly (
    hour                     timestamptz NOT NULL,
    provider_department_code text NOT NULL,
    resource_code            text NOT NULL,
    department_code          text NOT NULL,
    purpose                  text NOT NULL,
    answered                 bigint NOT NULL,
    denied                   bigint NOT NULL,
    PRIMARY KEY (hour, provider_department_code, resource_code, department_code, purpose)
);

CREATE TABLE IF NOT EXISTS access_usage_hours (
    hour      timestamptz PRIMARY KEY,
    roll_time timestamptz NOT NULL DEFAULT now()
);
