-- A dispute's deadline falling in a year chinese-calendar does not cover is counted Monday to Friday (less the
-- holidays the law dates) and says it is provisional; it was stored so and never counted again, so once a release
-- covering that year was installed the dispute kept a deadline that ignores 春节 and 调休, by which it was found
-- overdue and supervision counted the provider's answers. The count of working days and whether the deadline was
-- provisional are kept now, and the service counts the provisional ones again at start
-- (QueryStore.correct_provisional_dues). Rows stored before have neither (NULL): the first start fills them.
ALTER TABLE disputes ADD COLUMN due_working_days smallint;
ALTER TABLE disputes ADD COLUMN due_provisional boolean;
CREATE INDEX disputes_provisional_due ON disputes (id) WHERE due_provisional IS NOT FALSE;
