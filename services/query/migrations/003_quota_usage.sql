-- Calls counted against each grant's quota (R-APP-4). PostgreSQL is the only copy: a counter kept in
-- Redis would be reset by a flush or a failover, handing every grant its whole quota again. A call
-- consumes atomically (one upsert that refuses to pass the quota), so concurrent replicas never overshoot.
CREATE TABLE quota_usage (
    grant_id    text PRIMARY KEY,
    used        bigint NOT NULL CHECK (used >= 0),
    update_time timestamptz NOT NULL DEFAULT now()
);
