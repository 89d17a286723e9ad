-- An access record did not say which grant it was answered under: an auditor checking a conditional sharing
-- (有条件共享) could not go from an access to its grant (its application, approver and conditions), nor list the
-- accesses made under one grant before revoking it. Records now carry the grant id of the decision that allowed
-- them, and a format number (the hash-chain format, services.query.audit.RECORD_FORMAT): a record of format 2 is
-- hashed over its format and grant id after the columns a format-1 record's hash covers. Records written before
-- are format 1 with no grant (''), and verify as they were written. Both columns are appended with a constant
-- default: no row is rewritten.
ALTER TABLE access_log ADD COLUMN record_format smallint NOT NULL DEFAULT 1,
    ADD COLUMN grant_id text NOT NULL DEFAULT '';

-- The accesses of one grant (ListAccessesRequest.grant_id), newest first; accesses allowed without a grant
-- (unconditional resources, basic items) and refused ones are left out of it.
CREATE INDEX access_log_grant_time ON access_log (grant_id, time DESC, id DESC) WHERE grant_id <> '';

CREATE OR REPLACE VIEW access_outcomes AS
SELECT a.id, a.chain_id, a.seq, a.time, a.system_id, a.department_code, a.resource_code,
       a.provider_department_code, a.operation, a.items, a.key, a.keys, a.purpose, a.purpose_text,
       coalesce(e.result, a.result) AS result, coalesce(e.deny_reason, a.deny_reason) AS deny_reason, a.trace_id,
       a.prev_hash, a.hash, e.time AS end_time, e.keys AS sent, a.record_format, a.grant_id
FROM access_log a
LEFT JOIN LATERAL (
    SELECT c.time, c.result, c.deny_reason, c.keys FROM access_log c
    WHERE a.operation = 'Export' AND c.key = a.id AND c.operation = 'ExportEnd' AND c.time >= a.time
    ORDER BY c.deny_reason = 'INTERRUPTED', c.time LIMIT 1
) e ON true
WHERE a.operation NOT IN ('ExportEnd', 'AuditProbe');
