-- Issue 14: ListOverdueUpdates pages by (due_time, id); this index yields that order from the position on,
-- so a deep page reads from its token rather than from the oldest change (it replaces the index on due_time).
CREATE INDEX mandate_changes_due_id_idx ON mandate_changes (due_time, id);
DROP INDEX mandate_changes_due_idx;
