-- Issue 12: persons (the officials who sign in to the console) with their roles, and the person on every
-- decision.
CREATE TABLE persons (
    seq               bigserial UNIQUE,               -- keyset pagination order
    id                text PRIMARY KEY,               -- psn-<16 hex>
    username          text NOT NULL UNIQUE,           -- lower case
    display_name      text NOT NULL,
    department_code   text NOT NULL REFERENCES departments (code),
    roles             smallint[] NOT NULL,            -- govshare.authorization.v1.PersonRole
    disabled          boolean NOT NULL DEFAULT false,
    -- argon2id PHC string; '' for a person who signs in through OpenID Connect only.
    password_hash     text NOT NULL DEFAULT '',
    -- base32 TOTP secret (RFC 6238); '' without a local account.
    totp_secret       text NOT NULL DEFAULT '',
    -- The last TOTP time step accepted: a code is never accepted twice.
    totp_last_step    bigint NOT NULL DEFAULT 0,
    failed_attempts   integer NOT NULL DEFAULT 0,
    lock_until        timestamptz,
    -- Like systems (002): tokens issued (iat) before not_before are refused everywhere; state_version orders
    -- the changes (the same sequence as the systems', so one SystemStates holds both).
    not_before        bigint NOT NULL DEFAULT 0,
    not_before_reason text NOT NULL DEFAULT '',
    state_version     bigint NOT NULL DEFAULT 0,
    create_time       timestamptz NOT NULL DEFAULT now(),
    update_time       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX persons_department ON persons (department_code, seq);
CREATE INDEX persons_restricted ON persons (id) WHERE disabled OR not_before > 0;

-- The person (or system) who made each step of an application and of its grant: actor_system_id holds the
-- person's id (psn-...) for a person, and this their display name at the time.
ALTER TABLE application_events ADD COLUMN actor_display_name text NOT NULL DEFAULT '';

-- The last change of a grant (adjusted or revoked) and who made it.
ALTER TABLE grants ADD COLUMN changed_by_id text NOT NULL DEFAULT '';
ALTER TABLE grants ADD COLUMN changed_by_name text NOT NULL DEFAULT '';
ALTER TABLE grants ADD COLUMN changed_by_department_code text NOT NULL DEFAULT '';
