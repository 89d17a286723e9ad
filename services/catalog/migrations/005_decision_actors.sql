-- Issue 12: the person on every decision. Who submitted each version for review and who reviewed it
-- (published or returned): a person's id (psn-...) and display name at the time, or a system's id.
ALTER TABLE entry_versions ADD COLUMN submitted_by_id text NOT NULL DEFAULT '';
ALTER TABLE entry_versions ADD COLUMN submitted_by_name text NOT NULL DEFAULT '';
ALTER TABLE entry_versions ADD COLUMN submitted_by_department_code text NOT NULL DEFAULT '';
ALTER TABLE entry_versions ADD COLUMN reviewed_by_id text NOT NULL DEFAULT '';
ALTER TABLE entry_versions ADD COLUMN reviewed_by_name text NOT NULL DEFAULT '';
ALTER TABLE entry_versions ADD COLUMN reviewed_by_department_code text NOT NULL DEFAULT '';
-- Every step of an entry's history names its person too (actor_system_id holds their id).
ALTER TABLE entry_events ADD COLUMN actor_display_name text NOT NULL DEFAULT '';
