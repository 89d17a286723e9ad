-- A query service whose audit writes fail (PostgreSQL answering, its disk full) says NOT_SERVING, and learns that
-- the trail takes records again by writing one of its own: operation AuditProbe (services.query.audit.AUDIT_PROBE),
-- chained as every record is, no access. access_outcomes, the access log as its readers show and count it, leaves
-- it out as it leaves out an export's closing record (018).
CREATE OR REPLACE VIEW access_outcomes AS
SELECT a.id, a.chain_id, a.seq, a.time, a.system_id, a.department_code, a.resource_code,
       a.provider_department_code, a.operation, a.items, a.key, a.keys, a.purpose, a.purpose_text,
       coalesce(e.result, a.result) AS result, coalesce(e.deny_reason, a.deny_reason) AS deny_reason, a.trace_id,
       a.prev_hash, a.hash, e.time AS end_time, e.keys AS sent
FROM access_log a
LEFT JOIN LATERAL (
    SELECT c.time, c.result, c.deny_reason, c.keys FROM access_log c
    WHERE a.operation = 'Export' AND c.key = a.id AND c.operation = 'ExportEnd' AND c.time >= a.time
    ORDER BY c.time LIMIT 1
) e ON true
WHERE a.operation NOT IN ('ExportEnd', 'AuditProbe');
