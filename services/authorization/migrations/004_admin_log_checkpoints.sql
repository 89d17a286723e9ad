-- Signed checkpoints of the administrative log's head (issue 8 items 4 and 5), kept apart from the log:
-- whoever deletes the log's last rows, or all of it, or rewrites its tail with recomputed hashes, cannot
-- make a checkpoint agree without the platform's signing key. The log is one chain, so one row per signed
-- head (seq). The signature (Ed25519, the token signing key) covers the canonical encoding
-- ["govshare.admin_log.checkpoint.v1",chain_id,seq,hash,time,false] (services/runtime/checkpoints.py,
-- docs/api.md); chain_id is the log's fixed id (services/authorization/admin_log.py).
CREATE TABLE admin_log_checkpoints (
    seq       bigint PRIMARY KEY,
    hash      text NOT NULL,
    time      timestamptz NOT NULL,
    -- RFC 7638 thumbprint of the public key that verifies the signature.
    key_id    text NOT NULL,
    signature bytea NOT NULL
);
-- ExportAdminLogCheckpoints pages oldest first.
CREATE INDEX admin_log_checkpoints_time ON admin_log_checkpoints (time, seq);
