-- The supervision service's own data (DOMAIN §11): per-department, per-month snapshots of the figures the
-- owning services computed, the violations detected from them, and the evaluation's weights.

-- One row per department and month (month = its first day, China Standard Time). Recomputing a month
-- replaces its rows in one transaction.
CREATE TABLE snapshots (
    month           date NOT NULL,
    department_code text NOT NULL,
    -- [[name, dimension, value], ...] sorted, as gathered (services/runtime/figures.py).
    figures         jsonb NOT NULL,
    compute_time    timestamptz NOT NULL,
    PRIMARY KEY (month, department_code)
);

-- Violations of Art. 24 detected in a month, with the figures that show them.
CREATE TABLE violations (
    -- Deterministic (month, department, rule, subject): recomputing a month keeps the ids.
    id              text PRIMARY KEY,
    month           date NOT NULL,
    department_code text NOT NULL,
    -- govshare.supervision.v1.ViolationRule.
    rule            smallint NOT NULL,
    article         text NOT NULL,
    subject         text NOT NULL,
    evidence        jsonb NOT NULL
);
CREATE INDEX violations_month ON violations (month, department_code, id);

-- The weights of the evaluation's indicators; the authority changes them (UpdateEvaluationWeights).
CREATE TABLE evaluation_weights (
    indicator   text PRIMARY KEY,
    weight      double precision NOT NULL CHECK (weight >= 0 AND weight <= 100),
    update_time timestamptz NOT NULL DEFAULT now(),
    -- The system that set it ('' for the defaults below).
    updated_by  text NOT NULL DEFAULT ''
);
INSERT INTO evaluation_weights (indicator, weight) VALUES
    ('catalog_on_time', 20),
    ('reply_on_time', 20),
    ('dispute_on_time', 15),
    ('availability', 15),
    ('freshness', 15),
    ('purpose_compliance', 15);
