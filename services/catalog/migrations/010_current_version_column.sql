-- The generated column current_version was added to migration 007 after 007 had already been applied on some
-- installations (the runner never applies a migration twice): those get it here; elsewhere this changes nothing.
ALTER TABLE entries ADD COLUMN IF NOT EXISTS current_version integer
    GENERATED ALWAYS AS (coalesce(public_version, latest_version)) STORED;
