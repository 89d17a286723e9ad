-- Issue 12: the person on every decision. Who reported a dispute and who answered it for the provider:
-- a person's id (psn-..., in reporter_system_id / answer_system_id) and display name at the time.
ALTER TABLE disputes ADD COLUMN reporter_display_name text NOT NULL DEFAULT '';
ALTER TABLE disputes ADD COLUMN answer_display_name text NOT NULL DEFAULT '';
ALTER TABLE disputes ADD COLUMN answer_department_code text NOT NULL DEFAULT '';
