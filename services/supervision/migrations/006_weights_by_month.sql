-- The evaluation's weights by the month they apply from: a month is evaluated under the weights in force in it (for
-- each indicator, its row of the latest month not after it), so a change of the weights applies from the month it
-- is set in and never rewrites the evaluations, rankings and reports of the months before. The whole history is
-- kept (who set each weighting and when). evaluation_weights stays as it was (the weights set last), written as
-- before, for a release still reading it while this one is rolled out.
CREATE TABLE evaluation_weight_months (
    month       date NOT NULL,
    indicator   text NOT NULL,
    weight      double precision NOT NULL CHECK (weight >= 0 AND weight <= 100),
    update_time timestamptz NOT NULL DEFAULT now(),
    -- The system (or person) that set it ('' for the defaults).
    updated_by  text NOT NULL DEFAULT '',
    PRIMARY KEY (month, indicator)
);

-- The weights an installation has now applied to every month until this migration (when they were set before is
-- not known): from the platform's first month (services/supervision/months.py MIN_YEAR) on.
INSERT INTO evaluation_weight_months (month, indicator, weight, update_time, updated_by)
SELECT date '2000-01-01', indicator, weight, update_time, updated_by FROM evaluation_weights;
