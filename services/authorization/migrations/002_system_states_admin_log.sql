-- Item 3: a disabled system or a rotated secret refuses the system's existing tokens, not only new ones.
-- Tokens carry ``iat`` (whole seconds); a token issued before ``not_before`` is refused everywhere tokens
-- are accepted. ``state_version`` orders the state changes, so a verifier that gets an event and a
-- snapshot in either order keeps the newer one.
ALTER TABLE systems ADD COLUMN not_before bigint NOT NULL DEFAULT 0;      -- epoch seconds; 0: never reset
ALTER TABLE systems ADD COLUMN not_before_reason text NOT NULL DEFAULT '';  -- DISABLED or ROTATED
ALTER TABLE systems ADD COLUMN state_version bigint NOT NULL DEFAULT 0;
CREATE SEQUENCE system_state_version;
-- What verifiers load (at start, on event-stream reconnect, and periodically).
CREATE INDEX systems_restricted ON systems (id) WHERE disabled OR not_before > 0;

-- Item 5: the administrative log (DESIGN: authorization owns it). One hash chain over every row:
-- hash = sha256(prev_hash || canonical content), so an edited, removed or inserted row is found by
-- VerifyAdminLog. Rows are appended under an advisory lock (one chain, no forks). Other services'
-- events arrive through their outboxes and are idempotent by event_id.
CREATE TABLE admin_log (
    seq                   bigint PRIMARY KEY,        -- 1, 2, ... without gaps
    event_id              text NOT NULL UNIQUE,
    time                  timestamptz NOT NULL,      -- when the action happened (in its own service)
    service               text NOT NULL,             -- authorization, catalog, foundation
    actor_system_id       text NOT NULL,
    actor_department_code text NOT NULL,
    action                text NOT NULL,             -- e.g. directory.disable_system
    target                text NOT NULL,             -- e.g. the system id, the resource code
    details               text NOT NULL,             -- canonical JSON; no personal data, no secrets
    result                text NOT NULL,             -- OK, or what refused it
    append_time           timestamptz NOT NULL DEFAULT now(),
    prev_hash             text NOT NULL,
    hash                  text NOT NULL
);
CREATE INDEX admin_log_time ON admin_log (time, seq);
CREATE INDEX admin_log_actor ON admin_log (actor_department_code, time, seq);
