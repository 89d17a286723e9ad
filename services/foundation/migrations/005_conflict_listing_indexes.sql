-- Issue 14: ListConflicts' dataset filter and a department's own conflicts have indexes in the listing's
-- order (id), so a deep page starts at its keyset position and a filter matching nothing is one probe.
CREATE INDEX conflicts_by_dataset ON conflicts (dataset, id);
CREATE INDEX conflicts_by_other_source ON conflicts (other_source_department_code, id);
