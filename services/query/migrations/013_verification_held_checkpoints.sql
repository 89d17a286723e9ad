-- The checkpoints the auditor gave a verification job (StartAuditVerificationRequest.checkpoints), kept with the
-- job so that every page, in whichever process resumes it, checks the chain against them too. Rows as in
-- audit_checkpoints; no key on (chain, sequence): two the auditor holds for one position are both checked.
ALTER TABLE audit_verifications ADD COLUMN held_checkpoints integer NOT NULL DEFAULT 0;
CREATE TABLE audit_verification_checkpoints (
    verification_id uuid NOT NULL REFERENCES audit_verifications (id) ON DELETE CASCADE,
    chain_id        text NOT NULL,
    seq             bigint NOT NULL,
    hash            text NOT NULL,
    time            timestamptz NOT NULL,
    final           boolean NOT NULL,
    key_id          text NOT NULL,
    signature       bytea NOT NULL
);
CREATE INDEX audit_verification_checkpoints_job ON audit_verification_checkpoints (verification_id);
