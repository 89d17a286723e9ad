-- The months whose figures were gathered, and when: a month computed while no department existed has no snapshot,
-- and its (empty) lists are still an answer, where a month never computed is not ("no violations" would mislead).
-- Expand-only: the months an installation already computed are those with snapshots.
CREATE TABLE computed_months (
    month        date PRIMARY KEY,
    compute_time timestamptz NOT NULL
);

INSERT INTO computed_months (month, compute_time)
SELECT month, max(compute_time) FROM snapshots GROUP BY month;
