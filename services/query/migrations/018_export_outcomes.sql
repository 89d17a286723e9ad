-- An export is recorded before its first row leaves, ANSWERED, and that record cannot say how the export ended:
-- one its caller cancelled, or its provider cut, after ten rows looked whole in ListAccesses, the persons' view
-- and supervision's figures. When the stream ends the query service now writes a closing record (operation
-- ExportEnd), chained like every other (an update of the opening one would break its hash): its key is the
-- opening record's id, its result and deny_reason the export's outcome, its keys the rows and pages that left
-- ([rows, pages], as text; services.query.audit.EXPORT_END).
--
-- access_outcomes is the access log as its readers show it: each access once, an export with the outcome of its
-- closing record (end_time and sent from it; NULL while it has none), no closing record on its own. The lookup
-- is one probe of access_log_key_time per export; other operations skip it.
CREATE VIEW access_outcomes AS
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
WHERE a.operation <> 'ExportEnd';
