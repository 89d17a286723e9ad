-- A catalog update's due date (R-CAT-3: 15 working days after a mandate change) falling in a year chinese-calendar
-- does not cover is counted Monday to Friday (less the holidays the law dates) and ReportMandateChange says it is
-- provisional; it was stored so and never counted again, so once a release covering that year was installed the
-- change kept a due date that ignores 春节 and 调休, by which ListOverdueUpdates and supervision found the department
-- late. The count of working days and whether the due date was provisional are kept now, and the service counts
-- the provisional ones again at start (CatalogStore.correct_provisional_dues), as authorization 011 and query 016
-- do for reply and dispute deadlines. Rows stored before have neither (NULL): the first start fills them.
ALTER TABLE mandate_changes ADD COLUMN due_working_days smallint;
ALTER TABLE mandate_changes ADD COLUMN due_provisional boolean;
CREATE INDEX mandate_changes_provisional_due ON mandate_changes (id) WHERE due_provisional IS NOT FALSE;
