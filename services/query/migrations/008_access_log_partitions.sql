-- The access log partitioned by month (issue 13): at 10^9 rows a year one table cannot be archived, dropped or
-- scanned by period. Months are those of China Standard Time, as the figures' days are. The existing table is
-- converted in place: its rows move, unchanged (ids, chains and hashes), into the monthly partitions.
--
-- A partitioned table's unique keys must hold the partition key: the primary key becomes (id, time), and
-- (chain_id, seq) is an ordinary index (the writer never repeats a sequence, and the chain verification reports
-- a repeated or missing one).
ALTER TABLE access_log RENAME TO access_log_unpartitioned;

CREATE TABLE access_log (
    id                       text NOT NULL,
    chain_id                 text NOT NULL,
    seq                      bigint NOT NULL,
    time                     timestamptz NOT NULL,
    system_id                text NOT NULL,
    department_code          text NOT NULL,
    resource_code            text NOT NULL,
    provider_department_code text NOT NULL,
    operation                text NOT NULL,
    items                    text[] NOT NULL,
    key                      text NOT NULL,
    keys                     text[] NOT NULL,
    purpose                  text NOT NULL,
    purpose_text             text NOT NULL,
    result                   text NOT NULL,
    deny_reason              text NOT NULL,
    trace_id                 text NOT NULL,
    prev_hash                text NOT NULL,
    hash                     text NOT NULL
) PARTITION BY RANGE (time);

-- The partition of the month (CST) that begins on ``month``, created if missing; returns its name
-- (access_log_YYYYMM). The service calls it ahead of time (services/query/partitions.py), so that a write never
-- finds no partition for its time.
CREATE FUNCTION access_log_partition(month date) RETURNS text
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
    first date := date_trunc('month', month)::date;
    name text := 'access_log_' || to_char(first, 'YYYYMM');
BEGIN
    IF to_regclass(name) IS NULL THEN
        EXECUTE format('CREATE TABLE %I PARTITION OF access_log FOR VALUES FROM (%L) TO (%L)', name,
                       first::timestamp AT TIME ZONE 'Asia/Shanghai',
                       (first + interval '1 month')::timestamp AT TIME ZONE 'Asia/Shanghai');
    END IF;
    RETURN name;
END $$;

DO $$
DECLARE
    month date;
BEGIN
    FOR month IN SELECT DISTINCT date_trunc('month', time AT TIME ZONE 'Asia/Shanghai')::date
                 FROM access_log_unpartitioned LOOP
        PERFORM access_log_partition(month);
    END LOOP;
    PERFORM access_log_partition((now() AT TIME ZONE 'Asia/Shanghai')::date);
    PERFORM access_log_partition(((now() AT TIME ZONE 'Asia/Shanghai') + interval '1 month')::date);
END $$;

INSERT INTO access_log SELECT * FROM access_log_unpartitioned;
DROP TABLE access_log_unpartitioned;

-- Indexes are built after the copy (faster), under their former names, on every partition.
ALTER TABLE access_log ADD CONSTRAINT access_log_pkey PRIMARY KEY (id, time);
CREATE INDEX access_log_chain_seq ON access_log (chain_id, seq);
CREATE INDEX access_log_provider_time ON access_log (provider_department_code, time DESC, id DESC);
CREATE INDEX access_log_resource_time ON access_log (resource_code, time DESC, id DESC);
CREATE INDEX access_log_time ON access_log (time DESC, id DESC);
CREATE INDEX access_log_key_time ON access_log (key, time DESC, id DESC);
CREATE INDEX access_log_batch_keys ON access_log USING gin (keys) WHERE cardinality(keys) > 0;
-- Every filter of ListAccesses has an index that yields its rows newest first, so a filter that matches nothing
-- finds so at once instead of walking a whole index (3.7 s at 10^7 rows): the using department (the
-- authority's filter), and a provider's own filters by using department and by resource (a resource of another
-- provider matches nothing).
CREATE INDEX access_log_department_time ON access_log (department_code, time DESC, id DESC);
CREATE INDEX access_log_provider_department_time ON access_log
    (provider_department_code, department_code, time DESC, id DESC);
CREATE INDEX access_log_provider_resource_time ON access_log
    (provider_department_code, resource_code, time DESC, id DESC);
CREATE INDEX access_log_resource_department_time ON access_log (resource_code, department_code, time DESC, id DESC);

-- GetUsageSummary reads whole past days from the daily counts (services/query/figures.py): a provider's or a
-- resource's days are found by index, not by reading every group of every day.
CREATE INDEX access_daily_provider_day ON access_daily (provider_department_code, day);
CREATE INDEX access_daily_resource_day ON access_daily (resource_code, day);

-- Months archived and dropped (services/query/archive.py): the signed file each went to, and the chains that
-- ended in an archived month (their records are in the files; verification does not report them vanished,
-- provided no checkpoint of theirs goes beyond the archived end).
CREATE TABLE access_archives (
    partition    text PRIMARY KEY,
    file         text NOT NULL,
    rows         bigint NOT NULL,
    sha256       text NOT NULL,
    archive_time timestamptz NOT NULL
);

CREATE TABLE access_archived_chains (
    chain_id  text PRIMARY KEY,
    last_seq  bigint NOT NULL,
    last_hash text NOT NULL,
    partition text NOT NULL
);

-- GetUsageSummary over months reads whole months from here (a year of access_daily is ~10^6 rows at 10^7
-- records a year: 331 ms p95 for the authority's year): answered and denied counts per provider, resource,
-- using department and purpose, one row each per month, rolled up from access_daily once the month is settled.
CREATE TABLE access_usage_monthly (
    month                    date NOT NULL,
    provider_department_code text NOT NULL,
    resource_code            text NOT NULL,
    department_code          text NOT NULL,
    purpose                  text NOT NULL,
    answered                 bigint NOT NULL,
    denied                   bigint NOT NULL,
    PRIMARY KEY (month, provider_department_code, resource_code, department_code, purpose)
);
CREATE INDEX access_usage_monthly_resource ON access_usage_monthly (resource_code, month);

CREATE TABLE access_usage_months (
    month     date PRIMARY KEY,
    roll_time timestamptz NOT NULL DEFAULT now()
);
