-- Issue 14: every ListEntries filter is served by an index that also yields the listing's order
-- (code, version), so a filtered page reads its rows from the keyset position on, and a filter that
-- matches nothing is one index probe instead of a scan of every version.
CREATE INDEX entry_versions_provider_idx ON entry_versions (provider_department_code, code, version);
CREATE INDEX entry_versions_category_idx ON entry_versions (category, code, version);
CREATE INDEX entry_versions_share_type_idx ON entry_versions (share_type, code, version);
CREATE INDEX entry_versions_zone_idx ON entry_versions (zone, code, version);
CREATE INDEX entry_versions_update_cycle_idx ON entry_versions (update_cycle, code, version);
CREATE INDEX entry_versions_subject_idx ON entry_versions (subject, code, version);
CREATE INDEX entry_versions_project_code_idx ON entry_versions (project_code, code, version);
-- A department's own entries (its drafts included) for the provider view of ListEntries.
CREATE INDEX entries_provider_code_idx ON entries (provider_department_code, code);
DROP INDEX entries_provider_idx;
-- The version ListEntries shows (without a state filter) as a column rather than an expression, so that the
-- planner estimates the join of entries to their current version (and walks the provider index in order
-- instead of hashing every entry): coalesce(public_version, latest_version), kept by PostgreSQL.
ALTER TABLE entries ADD COLUMN current_version integer
    GENERATED ALWAYS AS (coalesce(public_version, latest_version)) STORED;
