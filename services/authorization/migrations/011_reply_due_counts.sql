-- A reply deadline falling in a year chinese-calendar does not cover is counted Monday to Friday (less the holidays
-- the law dates) and says it is provisional; it was stored so and never counted again, so once a release covering
-- that year was installed the application kept a deadline that ignores 春节 and 调休 (late or early by days), and
-- supervision counted replies as on time or late against it. The count of working days and whether the deadline
-- was provisional are kept now, and the service counts the provisional ones again at start
-- (Sharing.correct_provisional_dues). Rows stored before have neither (NULL): the first start fills them.
ALTER TABLE applications ADD COLUMN reply_working_days smallint;
ALTER TABLE applications ADD COLUMN reply_due_provisional boolean;
CREATE INDEX applications_provisional_due ON applications (id) WHERE reply_due_provisional IS NOT FALSE;
