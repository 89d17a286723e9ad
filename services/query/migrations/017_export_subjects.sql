-- The persons' view lists an export among the accesses to a person's records when the export sent their record:
-- an export's access row holds no key (it is recorded before any row leaves, and a dataset may hold millions),
-- so each page's keys are kept here, written before the page is sent (QueryStore.record_export_keys). A row is
-- the export's access (its id and time, the access log's partition key) and one key it sent; the keys an
-- archived partition's exports sent go with the partition (QueryStore.drop_archived_partition).
CREATE TABLE access_export_keys (
    access_id text NOT NULL,
    time      timestamptz NOT NULL,
    key       text NOT NULL,
    PRIMARY KEY (access_id, key)
);
CREATE INDEX access_export_keys_by_key ON access_export_keys (key, time DESC, access_id DESC);
