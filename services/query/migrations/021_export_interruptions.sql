-- An export whose replica crashed (killed, its node lost) mid-stream has no closing record (018): it read
-- 已准许，未记录结束 for ever, in ListAccesses, the persons' view and the figures. Each query process now holds a
-- lease here under its writer's name (the prefix of every access id it gives, services.query.audit.AuditWriter),
-- renewed while it runs and dropped when it stops cleanly. Another process (or the same one started again) that
-- finds a lease expired closes each export of that writer still without a closing record as FAILED INTERRUPTED
-- (services/query/interruptions.py), then drops the lease: the row lock it holds meanwhile makes it one closing
-- record each, whichever replica finds it first.
CREATE TABLE audit_writers (
    writer text PRIMARY KEY,
    -- When the process started: its records are no older (the search for its open exports starts here).
    started timestamptz NOT NULL DEFAULT now(),
    alive_until timestamptz NOT NULL
);

-- A presumed end (INTERRUPTED, written for a replica whose lease ran out) gives way to the export's own closing
-- record, should the replica only have stalled past its lease and the export ended after all.
CREATE OR REPLACE VIEW access_outcomes AS
SELECT a.id, a.chain_id, a.seq, a.time, a.system_id, a.department_code, a.resource_code,
       a.provider_department_code, a.operation, a.items, a.key, a.keys, a.purpose, a.purpose_text,
       coalesce(e.result, a.result) AS result, coalesce(e.deny_reason, a.deny_reason) AS deny_reason, a.trace_id,
       a.prev_hash, a.hash, e.time AS end_time, e.keys AS sent
FROM access_log a
LEFT JOIN LATERAL (
    SELECT c.time, c.result, c.deny_reason, c.keys FROM access_log c
    WHERE a.operation = 'Export' AND c.key = a.id AND c.operation = 'ExportEnd' AND c.time >= a.time
    ORDER BY c.deny_reason = 'INTERRUPTED', c.time LIMIT 1
) e ON true
WHERE a.operation NOT IN ('ExportEnd', 'AuditProbe');
