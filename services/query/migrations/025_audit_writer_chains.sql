-- ListAccesses lists newest first by a call's start time, while its record is written when the call ends: a record
-- whose call was still running when a page was read landed above that page's last row, in the part of the log the
-- listing had passed, and no later page showed it (an auditor paging through a day missed the slow calls). A
-- listing's next page now also shows the records that landed since the previous page in the part already listed
-- (services/query/store.py, QueryStore.access_page). A chain's records become visible in the order of their
-- sequence (its writer writes one batch at a time), so what a page saw of a chain is its head; the chains that can
-- still grow are the live writers' current ones, kept here with each writer's lease (NULL: a writer of an earlier
-- release, whose chain a listing does not follow).
ALTER TABLE audit_writers ADD COLUMN chain_id text;
