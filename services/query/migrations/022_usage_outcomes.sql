-- GetUsageSummary counted answered and denied accesses only: a miss (NOT_FOUND), an invalid request and a call
-- the platform failed were in ListAccesses and in no summary, so an auditor adding up a summary got less than the
-- listing of the same period. The usage sums now count every outcome (services.query.audit's results), each in a
-- column of its own; a release that writes the sums without them (an older pod during a rolling upgrade) leaves
-- them 0.
ALTER TABLE access_usage_monthly ADD COLUMN not_found bigint NOT NULL DEFAULT 0,
    ADD COLUMN invalid bigint NOT NULL DEFAULT 0, ADD COLUMN failed bigint NOT NULL DEFAULT 0;
ALTER TABLE access_usage_daily ADD COLUMN not_found bigint NOT NULL DEFAULT 0,
    ADD COLUMN invalid bigint NOT NULL DEFAULT 0, ADD COLUMN failed bigint NOT NULL DEFAULT 0;
ALTER TABLE access_usage_hourly ADD COLUMN not_found bigint NOT NULL DEFAULT 0,
    ADD COLUMN invalid bigint NOT NULL DEFAULT 0, ADD COLUMN failed bigint NOT NULL DEFAULT 0;

-- The days and months summed before: their other outcomes from the daily counts, which keep every result (and
-- keep archived months' days). Every group of a day or month has its row already (the sums were grouped over all
-- results), so updating them is enough. One pass over access_daily for each (~10^6 rows a year at 10^7 records).
UPDATE access_usage_daily u SET not_found = d.not_found, invalid = d.invalid, failed = d.failed
FROM (SELECT day, provider_department_code, resource_code, department_code, purpose,
             coalesce(sum(n) FILTER (WHERE result = 'NOT_FOUND'), 0) AS not_found,
             coalesce(sum(n) FILTER (WHERE result = 'INVALID'), 0) AS invalid,
             coalesce(sum(n) FILTER (WHERE result = 'FAILED'), 0) AS failed
      FROM access_daily WHERE result IN ('NOT_FOUND', 'INVALID', 'FAILED') GROUP BY 1, 2, 3, 4, 5) d
WHERE u.day = d.day AND u.provider_department_code = d.provider_department_code
  AND u.resource_code = d.resource_code AND u.department_code = d.department_code AND u.purpose = d.purpose;

UPDATE access_usage_monthly u SET not_found = d.not_found, invalid = d.invalid, failed = d.failed
FROM (SELECT date_trunc('month', day)::date AS month, provider_department_code, resource_code, department_code,
             purpose,
             coalesce(sum(n) FILTER (WHERE result = 'NOT_FOUND'), 0) AS not_found,
             coalesce(sum(n) FILTER (WHERE result = 'INVALID'), 0) AS invalid,
             coalesce(sum(n) FILTER (WHERE result = 'FAILED'), 0) AS failed
      FROM access_daily WHERE result IN ('NOT_FOUND', 'INVALID', 'FAILED') GROUP BY 1, 2, 3, 4, 5) d
WHERE u.month = d.month AND u.provider_department_code = d.provider_department_code
  AND u.resource_code = d.resource_code AND u.department_code = d.department_code AND u.purpose = d.purpose;

-- The hourly sums cover the last few days only, whose records the log still holds: they are dropped and summed
-- again from it, with every outcome, on first use (or by the hourly upkeep).
DELETE FROM access_usage_hourly;
DELETE FROM access_usage_hours;
