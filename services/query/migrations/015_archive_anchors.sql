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
-- archived at all).
INSERT INTO access_archive_anchors (chain_id, seq, partition)
SELECT chain_id, min(seq) - 1, 'before 015' FROM access_log
WHERE EXISTS (SELECT 1 FROM access_archives)
GROUP BY chain_id HAVING min(seq) > 1;
