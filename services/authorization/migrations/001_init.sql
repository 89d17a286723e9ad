-- Departments, business systems, applications, grants (DOMAIN §1, §4).
-- Enum columns hold the protobuf enum numbers of govshare.*.v1.

CREATE TABLE departments (
    code        text PRIMARY KEY,            -- 统一社会信用代码
    name        text NOT NULL,
    level       smallint NOT NULL,           -- AdministrativeLevel
    region_code text NOT NULL,               -- 行政区划代码
    authority   boolean NOT NULL DEFAULT false,
    create_time timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE systems (
    seq             bigserial UNIQUE,        -- keyset pagination order
    id              text PRIMARY KEY,
    department_code text NOT NULL REFERENCES departments (code),
    name            text NOT NULL,
    -- scrypt$N$r$p$salt$hash: the secret itself is never stored.
    secret_hash     text NOT NULL,
    disabled        boolean NOT NULL DEFAULT false,
    create_time     timestamptz NOT NULL DEFAULT now(),
    update_time     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX systems_department ON systems (department_code, seq);

CREATE TABLE applications (
    seq                       bigserial UNIQUE,
    id                        text PRIMARY KEY,
    applicant_department_code text NOT NULL,
    provider_department_code  text NOT NULL,
    system_ids                text[] NOT NULL,
    resource_code             text NOT NULL,
    items                     text[] NOT NULL,
    purposes                  integer[] NOT NULL,
    purpose_text              text NOT NULL,
    basis                     text NOT NULL,
    requested_expire_time     timestamptz NOT NULL,
    methods                   integer[] NOT NULL,
    quota                     bigint NOT NULL CHECK (quota >= 0),
    state                     smallint NOT NULL,      -- ApplicationState
    reply_due_time            timestamptz NOT NULL,
    reply_reason              text NOT NULL DEFAULT '',
    grant_id                  text NOT NULL DEFAULT '',
    create_time               timestamptz NOT NULL,
    update_time               timestamptz NOT NULL
);
CREATE INDEX applications_applicant ON applications (applicant_department_code, seq);
CREATE INDEX applications_provider ON applications (provider_department_code, seq);
-- Overdue replies are looked up by the authority (R-APP-2).
CREATE INDEX applications_pending ON applications (reply_due_time) WHERE state = 1;

-- Every step of an application and of its grant, kept for audit (R-APP-5).
CREATE TABLE application_events (
    id                    bigserial PRIMARY KEY,
    application_id        text NOT NULL REFERENCES applications (id),
    action                text NOT NULL,
    actor_department_code text NOT NULL,
    actor_system_id       text NOT NULL,
    note                  text NOT NULL,
    time                  timestamptz NOT NULL
);
CREATE INDEX application_events_application ON application_events (application_id, id);

CREATE TABLE grants (
    seq                      bigserial UNIQUE,
    id                       text PRIMARY KEY,
    application_id           text NOT NULL REFERENCES applications (id),
    department_code          text NOT NULL,
    provider_department_code text NOT NULL,
    system_ids               text[] NOT NULL,
    resource_code            text NOT NULL,
    items                    text[] NOT NULL,
    unmasked_items           text[] NOT NULL,
    purposes                 integer[] NOT NULL,
    methods                  integer[] NOT NULL,
    expire_time              timestamptz NOT NULL,
    quota                    bigint NOT NULL CHECK (quota >= 0),
    state                    smallint NOT NULL,       -- GrantState
    revoke_reason            text NOT NULL DEFAULT '',
    -- Granted by the authority's coordination decision (Art. 12): the only way into a not-shared resource.
    coordinated              boolean NOT NULL DEFAULT false,
    policy_version           bigint NOT NULL,
    create_time              timestamptz NOT NULL,
    update_time              timestamptz NOT NULL
);
-- The Check path: a department's grants on one resource.
CREATE INDEX grants_holder ON grants (department_code, resource_code);
CREATE INDEX grants_provider ON grants (provider_department_code, seq);

-- Bumped on every grant create, update and revoke; decisions carry the value they were made on.
CREATE SEQUENCE policy_version;
