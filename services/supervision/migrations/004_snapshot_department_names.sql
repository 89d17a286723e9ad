-- The department's name as it was in the month (a department renamed, or merged into another, later keeps its
-- former name in the reports of the months before): read from the directory when the month is computed, and kept
-- when the month is recomputed after its end, so a rename after the month does not reach back into it.
-- name_time is when the name was read. NULL on months computed before this migration: the reports use today's.
ALTER TABLE snapshots ADD COLUMN department_name text;
ALTER TABLE snapshots ADD COLUMN name_time timestamptz;
