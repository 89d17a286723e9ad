-- The failures and locks of the usernames no local account signs in with (unknown, or an OIDC-only person's), kept
-- where a real account's are (persons.failed_attempts, lock_until): counted in each authorization replica's memory,
-- failures spread over the replicas locked a real account and never a made-up name, which told the names apart.
-- A row is forgotten at expire_time (a day after its last failure, or its lock's end), pruned as names fail.
CREATE TABLE decoy_signins (
    name            text PRIMARY KEY,
    failed_attempts integer NOT NULL DEFAULT 0,
    lock_until      timestamptz,
    expire_time     timestamptz NOT NULL
);
CREATE INDEX decoy_signins_expiry ON decoy_signins (expire_time);
