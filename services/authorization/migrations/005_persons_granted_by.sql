-- Issue 12 (after 005_persons.sql, which may already be applied): who approved each grant (the provider's
-- approver, or the authority's reviewer for a coordination decision).
ALTER TABLE grants ADD COLUMN granted_by_id text NOT NULL DEFAULT '';
ALTER TABLE grants ADD COLUMN granted_by_name text NOT NULL DEFAULT '';
ALTER TABLE grants ADD COLUMN granted_by_department_code text NOT NULL DEFAULT '';
