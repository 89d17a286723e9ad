-- Concurrent calls on one grant count against its quota in one statement (issue 9, speed): the query
-- process collects the calls of a grant that arrive together and sends them here at once, instead of one
-- upsert per call. The calls are taken in the order given, each all or nothing, exactly as that many
-- single upserts in that order would have been: the row lock serialises batches of every replica, so the
-- quota is never passed. Returns, per call, whether it was counted.
CREATE FUNCTION consume_quota(p_grant_id text, p_quotas bigint[], p_calls bigint[]) RETURNS boolean[]
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $$
DECLARE
    total    bigint;
    before   bigint;
    granted  boolean[] := '{}';
BEGIN
    SELECT used INTO total FROM quota_usage WHERE grant_id = p_grant_id FOR UPDATE;
    IF NOT FOUND THEN
        INSERT INTO quota_usage (grant_id, used) VALUES (p_grant_id, 0) ON CONFLICT (grant_id) DO NOTHING;
        SELECT used INTO total FROM quota_usage WHERE grant_id = p_grant_id FOR UPDATE;
    END IF;
    before := total;
    FOR i IN 1 .. coalesce(array_length(p_calls, 1), 0) LOOP
        IF p_calls[i] >= 0 AND total + p_calls[i] <= p_quotas[i] THEN
            total := total + p_calls[i];
            granted := granted || true;
        ELSE
            granted := granted || false;
        END IF;
    END LOOP;
    IF total <> before THEN
        UPDATE quota_usage SET used = total, update_time = now() WHERE grant_id = p_grant_id;
    END IF;
    RETURN granted;
END
$$;
