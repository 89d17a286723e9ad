-- The signed heads an archive left in place of the records it dropped (services/query/archive.py): a chain whose
-- first records are gone verifies from such a head only. Any signed head used to do: deleting a chain's first
-- records up to any periodic checkpoint, with no archive ever made, verified INTACT.
CREATE TABLE access_archive_anchors (
    chain_id  text NOT NULL,
    seq       bigint NOT NULL,
    partition text NOT NULL,
    PRIMARY KEY (chain_id, seq)
);

-- Chains of months archived before this table existed resume where they resumed then: after the signed head just
-- before their first record kept online (the rule verification applied until now, for installations that
-- archived at all). Only an installation that archives holds a log large enough to need it, so the chains are
-- walked by the (chain_id, seq) index, each chain's first record found by a probe of each partition: a GROUP BY
-- over the whole log read every record kept (years of them), for longer than an upgrade's migration Job waits.
INSERT INTO access_archive_anchors (chain_id, seq, partition)
WITH RECURSIVE chains AS (
    SELECT (SELECT min(chain_id) FROM access_log) AS chain_id
    WHERE EXISTS (SELECT 1 FROM access_archives)
    UNION ALL
    SELECT (SELECT min(a.chain_id) FROM access_log a WHERE a.chain_id > c.chain_id)
    FROM chains c WHERE c.chain_id IS NOT NULL
)
SELECT c.chain_id, f.first - 1, 'before 015'
FROM chains c CROSS JOIN LATERAL (SELECT min(a.seq) AS first FROM access_log a WHERE a.chain_id = c.chain_id) f
WHERE c.chain_id IS NOT NULL AND f.first > 1;
