-- Issue 14: ListConfidentialGrants pages the unreleased confidential grants by (release_time, id): the walk
-- starts at the keyset position on an index holding only confidential grants, so a page reads about a page of
-- rows. (ListSystemStates' id order is served by systems_restricted and persons_restricted, 002 and 005.)
CREATE INDEX grants_confidential_release ON grants (release_time, id) WHERE confidential;
DROP INDEX grants_confidential;
