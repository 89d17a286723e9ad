-- Sources of each dataset, designated by the authority (R-FND-2, 一数一源、多元校核).
--
-- Only a registered source may load a dataset. The authority designates the dataset's authoritative
-- source (datasets.authoritative_department_code, no longer claimed by whoever loads first) and, where the
-- data calls for it, the authoritative source of single items (item_authorities overrides the dataset's
-- for that item). Every registration and designation is kept in source_designations: who made it
-- (system and department), when, and what it replaced.

CREATE TABLE dataset_sources (
    dataset text NOT NULL REFERENCES datasets (name),
    department_code text NOT NULL,
    register_time timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (dataset, department_code)
);

CREATE TABLE item_authorities (
    dataset text NOT NULL REFERENCES datasets (name),
    item text NOT NULL,
    department_code text NOT NULL,
    update_time timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (dataset, item)
);

-- action follows govshare.foundation.v1.DesignationAction (1 source registered, 2 dataset's authoritative
-- source designated, 3 an item's authoritative source designated); item is '' unless action = 3.
CREATE TABLE source_designations (
    id bigserial PRIMARY KEY,
    dataset text NOT NULL REFERENCES datasets (name),
    action smallint NOT NULL CHECK (action IN (1, 2, 3)),
    item text NOT NULL DEFAULT '',
    department_code text NOT NULL,
    previous_department_code text NOT NULL DEFAULT '',
    actor_system_id text NOT NULL,
    actor_department_code text NOT NULL,
    create_time timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX source_designations_by_dataset ON source_designations (dataset, id);

-- Whoever was authoritative before this migration (set by hand or by the old "first loader") stays so,
-- and becomes a registered source; the history says the designation predates it.
INSERT INTO dataset_sources (dataset, department_code)
    SELECT name, authoritative_department_code FROM datasets WHERE authoritative_department_code IS NOT NULL;
INSERT INTO source_designations (dataset, action, department_code, actor_system_id, actor_department_code)
    SELECT name, 2, authoritative_department_code, 'migration:002', '' FROM datasets
    WHERE authoritative_department_code IS NOT NULL;
