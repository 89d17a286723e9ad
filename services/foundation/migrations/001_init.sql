-- The four foundation databases (DOMAIN §7): one typed table per dataset, so that bulk loads
-- go through COPY and a lookup is one primary-key probe. Every record carries its source
-- department and the time that source asserted its values (R-USE-3). Earlier versions go to
-- record_history, other sources' values to source_values and their disagreements with the
-- authoritative values to conflicts (R-FND-2, 一数一源、多元校核).

CREATE TABLE datasets (
    name text PRIMARY KEY,
    key_item text NOT NULL,
    -- The one department whose values are authoritative; NULL until set or until the first load.
    authoritative_department_code text,
    update_time timestamptz NOT NULL DEFAULT now()
);

INSERT INTO datasets (name, key_item) VALUES
    ('population', 'citizen_id'),
    ('legal_entity', 'credit_code'),
    ('region', 'region_code'),
    ('place', 'place_code'),
    ('licence', 'licence_number');

CREATE TABLE population (
    citizen_id text PRIMARY KEY,
    name text NOT NULL,
    sex text NOT NULL,
    ethnicity text NOT NULL,
    birth_date date NOT NULL,
    address text,
    address_region_code text,
    status text NOT NULL,
    source_department_code text NOT NULL,
    as_of_time timestamptz NOT NULL,
    recorded_time timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE legal_entity (
    credit_code text PRIMARY KEY,
    name text NOT NULL,
    entity_type text NOT NULL,
    legal_representative text NOT NULL,
    registered_capital numeric,
    established_date date NOT NULL,
    address text,
    registration_authority text NOT NULL,
    status text NOT NULL,
    source_department_code text NOT NULL,
    as_of_time timestamptz NOT NULL,
    recorded_time timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE region (
    region_code text PRIMARY KEY,
    name text NOT NULL,
    level text NOT NULL,
    parent_code text,
    source_department_code text NOT NULL,
    as_of_time timestamptz NOT NULL,
    recorded_time timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE place (
    place_code text PRIMARY KEY,
    kind text NOT NULL,
    address text NOT NULL,
    region_code text NOT NULL,
    longitude numeric NOT NULL,
    latitude numeric NOT NULL,
    source_department_code text NOT NULL,
    as_of_time timestamptz NOT NULL,
    recorded_time timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE licence (
    licence_number text PRIMARY KEY,
    licence_type text NOT NULL,
    holder_id text NOT NULL,
    holder_name text NOT NULL,
    issuing_authority text NOT NULL,
    issue_date date NOT NULL,
    valid_until date,
    status text NOT NULL,
    source_department_code text NOT NULL,
    as_of_time timestamptz NOT NULL,
    recorded_time timestamptz NOT NULL DEFAULT now()
);

-- A department's licences are found by holder (e.g. every licence of one person).
CREATE INDEX licence_holder ON licence (holder_id);

-- Superseded versions: written when a record's values change (canonical strings per item).
CREATE TABLE record_history (
    id bigserial PRIMARY KEY,
    dataset text NOT NULL REFERENCES datasets (name),
    key text NOT NULL,
    item_values jsonb NOT NULL,
    source_department_code text NOT NULL,
    as_of_time timestamptz NOT NULL,
    recorded_time timestamptz NOT NULL,
    superseded_time timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX record_history_by_key ON record_history (dataset, key, id);

-- The latest values each non-authoritative source asserted, kept for cross-checking.
CREATE TABLE source_values (
    dataset text NOT NULL REFERENCES datasets (name),
    key text NOT NULL,
    source_department_code text NOT NULL,
    item_values jsonb NOT NULL,
    as_of_time timestamptz NOT NULL,
    recorded_time timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (dataset, key, source_department_code)
);

-- One row per disagreeing item; state follows govshare.foundation.v1.ConflictState (1 open, 2 resolved).
CREATE TABLE conflicts (
    id bigserial PRIMARY KEY,
    dataset text NOT NULL REFERENCES datasets (name),
    key text NOT NULL,
    item text NOT NULL,
    authoritative_value text NOT NULL,
    other_value text NOT NULL,
    other_source_department_code text NOT NULL,
    state smallint NOT NULL DEFAULT 1 CHECK (state IN (1, 2)),
    resolution text NOT NULL DEFAULT '',
    resolved_by text NOT NULL DEFAULT '',
    create_time timestamptz NOT NULL DEFAULT now(),
    resolve_time timestamptz
);

-- At most one open conflict per item and other source: a repeated disagreement updates it.
CREATE UNIQUE INDEX conflicts_open_item ON conflicts (dataset, key, item, other_source_department_code)
    WHERE state = 1;
CREATE INDEX conflicts_by_key ON conflicts (dataset, key);
CREATE INDEX conflicts_by_state ON conflicts (state, id);
