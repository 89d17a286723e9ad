-- Signed checkpoints of the audit chains' heads (R-SEC-3), kept apart from the access log: whoever deletes
-- a chain's last rows, or a whole chain, or rewrites its tail, cannot make a checkpoint agree without the
-- audit signing key. One row per signed head; the signature (Ed25519) covers the canonical encoding
-- ["govshare.audit.checkpoint.v1",chain_id,seq,hash,time,final] described in services/query/checkpoints.py
-- and docs/api.md. `final`: the process closed the chain at a graceful stop (no record may follow).
CREATE TABLE audit_checkpoints (
    chain_id  text NOT NULL,
    seq       bigint NOT NULL,
    hash      text NOT NULL,
    time      timestamptz NOT NULL,
    final     boolean NOT NULL,
    -- RFC 7638 thumbprint of the public key that verifies the signature.
    key_id    text NOT NULL,
    signature bytea NOT NULL,
    PRIMARY KEY (chain_id, seq)
);

-- ExportAuditCheckpoints pages oldest first.
CREATE INDEX audit_checkpoints_time ON audit_checkpoints (time, chain_id, seq);
