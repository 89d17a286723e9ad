-- Two query replicas starting at once (a helm install, a rollout, a restart after a restore) both create the access
-- log's coming months (services/query/partitions.py): each found the month's partition missing, both ran CREATE
-- TABLE, and the second failed with 'relation "access_log_YYYYMM" already exists', which stops a replica's start
-- (it could not record its calls): the pod restarted, in a crash loop while others kept racing it. The check and
-- the creation now run under a transaction-level advisory lock, so the second waits for the first and then finds
-- the partition there (read from pg_class: to_regclass keeps answering from the cache it filled before the wait).
CREATE OR REPLACE FUNCTION access_log_partition(month date) RETURNS text
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
    first date := date_trunc('month', month)::date;
    name text := 'access_log_' || to_char(first, 'YYYYMM');
BEGIN
    IF to_regclass(name) IS NULL THEN
        PERFORM pg_advisory_xact_lock(hashtext('govshare-access-log-partition'));
        -- Read afresh (a statement's snapshot, not to_regclass's cache, which still misses what the other made).
        IF NOT EXISTS (SELECT 1 FROM pg_class WHERE relname = name AND relnamespace = current_schema()::regnamespace)
        THEN
            EXECUTE format('CREATE TABLE %I PARTITION OF access_log FOR VALUES FROM (%L) TO (%L)', name,
                           first::timestamp AT TIME ZONE 'Asia/Shanghai',
                           (first + interval '1 month')::timestamp AT TIME ZONE 'Asia/Shanghai');
        END IF;
    END IF;
    RETURN name;
END $$;
