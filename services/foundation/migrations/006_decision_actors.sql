-- Issue 12: the person on every decision. Who resolved a conflict: a person's id (psn-...) or a system's id,
-- the person's display name at the time, and the department they acted for (resolved_by keeps what it held).
ALTER TABLE conflicts ADD COLUMN resolved_by_id text NOT NULL DEFAULT '';
ALTER TABLE conflicts ADD COLUMN resolved_by_name text NOT NULL DEFAULT '';
ALTER TABLE conflicts ADD COLUMN resolved_by_department_code text NOT NULL DEFAULT '';
