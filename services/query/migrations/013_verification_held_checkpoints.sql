-- The checkpoints the auditor gave a verification job (StartAuditVerificationRequest.checkpoints), kept with the
-- job so that every page, in whichever process resumes it, checks the chain against them too. Columns as in
-- audit_checkpoints (LIKE copies them, not its key): two the auditor holds for one position are both checked.
ALTER TABLE audit_verifications ADD COLUMN held_checkpoints integer NOT NULL DEFAULT 0;
CREATE TABLE audit_verification_checkpoints (
    verification_id uuid NOT NULL REFERENCES audit_verifications (id) ON DELETE CASCADE,
    LIKE audit_checkpoints
);
CREATE INDEX audit_verification_checkpoints_job ON audit_verification_checkpoints (verification_id);
