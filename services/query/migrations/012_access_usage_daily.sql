-- Issue 13: GetUsageSummary reads the days of a partial month (the month to date of a year ending now) from daily
-- sums of its own groups: answered and denied per provider, resource, using department and purpose, one row each
-- per day, as access_usage_monthly holds them per month. access_daily, which it read before, also carries the
-- system, the result and the deny reason (several rows per summary group and day: 73 ms p95 for a year ending now
-- at 10^7 records). Written in the same transaction as the day's access_daily rows (QueryStore.roll_up_days), so
-- a day listed in access_days has both.
CREATE TABLE access_usage_daily (
    day                      date NOT NULL,
    provider_department_code text NOT NULL,
    resource_code            text NOT NULL,
    department_code          text NOT NULL,
    purpose                  text NOT NULL,
    answered                 bigint NOT NULL,
    denied                   bigint NOT NULL,
    PRIMARY KEY (day, provider_department_code, resource_code, department_code, purpose)
);
CREATE INDEX access_usage_daily_resource ON access_usage_daily (resource_code, day);

-- The days counted before this migration.
INSERT INTO access_usage_daily
SELECT day, provider_department_code, resource_code, department_code, purpose,
       coalesce(sum(n) FILTER (WHERE result = 'ANSWERED'), 0), coalesce(sum(n) FILTER (WHERE result = 'DENIED'), 0)
FROM access_daily GROUP BY 1, 2, 3, 4, 5;
