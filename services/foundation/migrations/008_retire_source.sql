-- A source that stops providing a dataset is retired (RetireSource): its dataset_sources row goes, and the
-- retirement is kept in source_designations as action 4 (govshare.foundation.v1.DesignationAction), beside
-- its registration, so the history of who provided the dataset, and when, stays whole.
ALTER TABLE source_designations DROP CONSTRAINT source_designations_action_check;
ALTER TABLE source_designations ADD CONSTRAINT source_designations_action_check CHECK (action IN (1, 2, 3, 4));
