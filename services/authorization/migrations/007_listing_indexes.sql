-- Issue 14: each filter ListApplications, ListGrants and ListAdminEvents offer is served by an index that
-- also yields the listing's order (seq, or time then seq), so a deep page starts at its keyset position and a
-- filter that matches nothing is one index probe. (A holder's grants: grants_holder is by resource, not seq.)
CREATE INDEX applications_state ON applications (state, seq);
CREATE INDEX grants_holder_seq ON grants (department_code, seq);
CREATE INDEX grants_resource ON grants (resource_code, seq);
CREATE INDEX grants_state ON grants (state, seq);
CREATE INDEX admin_log_action ON admin_log (action, time, seq);
