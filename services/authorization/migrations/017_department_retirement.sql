-- A department merged into another or abolished in a 机构改革 is retired (RetireDepartment), never deleted: its
-- grants, applications, log entries and supervision months keep naming it. retire_time is set once, when it is
-- retired (NULL while in service); merged_into names the department that took over its duties, if any.
ALTER TABLE departments ADD COLUMN retire_time timestamptz;
ALTER TABLE departments ADD COLUMN merged_into text REFERENCES departments (code);
