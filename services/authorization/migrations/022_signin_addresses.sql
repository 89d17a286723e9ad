-- The failed sign-ins of each client address, across accounts (Sessions: the address the edge saw, or the browser's
-- the console passed on). An account locks after its own failures only: one client trying one password against many
-- usernames (password spraying) was answered BAD_CREDENTIALS each time, nothing throttling it. Counted per window
-- (window_start, GOVSHARE_SIGNIN_LOCK_SECONDS long), the address locked until lock_until once it holds
-- GOVSHARE_SIGNIN_ADDRESS_MAX_FAILURES; kept here, as decoy_signins, so every replica counts alike. A row is
-- forgotten at expire_time (a day after its window or its lock ends), pruned as addresses fail.
CREATE TABLE signin_addresses (
    address         text PRIMARY KEY,
    failed_attempts integer NOT NULL DEFAULT 0,
    window_start    timestamptz NOT NULL,
    lock_until      timestamptz,
    expire_time     timestamptz NOT NULL
);
CREATE INDEX signin_addresses_expiry ON signin_addresses (expire_time);
