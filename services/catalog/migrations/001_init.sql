-- The resource catalog (DOMAIN §2): entries, their versions, their history, and due dates.
-- Enumerations are stored as the numbers of the protobuf contract (govshare.catalog.v1).

-- One row per resource code: who owns it and which of its versions count.
CREATE TABLE entries (
    code                     text PRIMARY KEY,
    -- The provider department of the latest version; it alone (and the authority) sees drafts.
    provider_department_code text NOT NULL,
    latest_version           integer NOT NULL,
    -- The latest PUBLISHED or RETIRED version: what everybody reads. NULL until first published.
    public_version           integer,
    create_time              timestamptz NOT NULL
);

CREATE INDEX entries_provider_idx ON entries (provider_department_code);

-- Every version of every entry; published versions are never overwritten (R-CAT-3).
CREATE TABLE entry_versions (
    code                     text NOT NULL REFERENCES entries (code),
    version                  integer NOT NULL CHECK (version > 0),
    state                    smallint NOT NULL,
    name                     text NOT NULL,
    summary                  text NOT NULL,
    category                 smallint NOT NULL,
    subject                  text NOT NULL,
    provider_department_code text NOT NULL,
    provider_name            text NOT NULL,
    format_class             smallint NOT NULL,
    format_type              text NOT NULL,
    -- [{name, machine_name, data_type, length, sensitive, mask_rule, basic, identifier}, ...]
    items                    jsonb NOT NULL,
    key_item                 text NOT NULL,
    share_type               smallint NOT NULL,
    share_condition          text NOT NULL,
    share_methods            smallint[] NOT NULL,
    legal_basis              text NOT NULL,
    open_to_public           boolean NOT NULL,
    open_condition           text NOT NULL,
    update_cycle             smallint NOT NULL,
    related_codes            text[] NOT NULL,
    zone                     smallint NOT NULL,
    secrecy                  smallint NOT NULL,
    endpoint_target          text NOT NULL,
    endpoint_dataset         text NOT NULL,
    project_code             text NOT NULL,
    return_reason            text NOT NULL,
    publish_time             timestamptz,
    create_time              timestamptz NOT NULL,
    update_time              timestamptz NOT NULL,
    -- Search (services/catalog/search.py): normalised name, normalised "name\nsummary",
    -- and the characters and bigrams of both, GIN-indexed with the built-in array operators.
    search_name              text NOT NULL,
    search_text              text NOT NULL,
    search_grams             text[] NOT NULL,
    PRIMARY KEY (code, version)
);

CREATE INDEX entry_versions_state_idx ON entry_versions (state, code, version);
CREATE INDEX entry_versions_project_idx ON entry_versions (project_code) WHERE project_code <> '';
CREATE INDEX entry_versions_grams_idx ON entry_versions USING gin (search_grams);

-- What happened to which entry, by whom: the audit trail of the catalog, and the evidence
-- that a department updated its catalog after a mandate change.
CREATE TABLE entry_events (
    id                       bigserial PRIMARY KEY,
    code                     text NOT NULL,
    version                  integer NOT NULL,
    action                   text NOT NULL,
    provider_department_code text NOT NULL,
    actor_system_id          text NOT NULL,
    actor_department_code    text NOT NULL,
    reason                   text NOT NULL DEFAULT '',
    time                     timestamptz NOT NULL
);

CREATE INDEX entry_events_code_idx ON entry_events (code, id);
CREATE INDEX entry_events_provider_idx ON entry_events (provider_department_code, time);

-- Legal or mandate changes and the date by which the department's catalog must follow (Art. 8).
CREATE TABLE mandate_changes (
    id                       bigserial PRIMARY KEY,
    department_code          text NOT NULL,
    description              text NOT NULL,
    change_time              timestamptz NOT NULL,
    due_time                 timestamptz NOT NULL,
    reported_by_system_id    text NOT NULL,
    report_time              timestamptz NOT NULL
);

CREATE INDEX mandate_changes_due_idx ON mandate_changes (due_time);
