-- Issue 14: ListSources pages a dataset's registered sources in (register_time, department_code) order; this
-- index yields that order from the page's position on (the primary key is by department only).
CREATE INDEX dataset_sources_by_registration ON dataset_sources (dataset, register_time, department_code);
