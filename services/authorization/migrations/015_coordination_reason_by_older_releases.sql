-- 010 keeps the authority's coordination reason apart from the provider's reply (coordination_reason), but the
-- release before it, still serving while a helm upgrade's pods roll or again after a helm rollback (which
-- docs/deploy.md says is safe), records a coordination as it always did: its reason over reply_reason,
-- coordination_reason left empty. The application then showed the authority's words as the provider's 答复理由
-- and no coordination reason. Such a write is now taken as the older release meant it: when an escalated
-- application is coordinated with reply_reason changed and coordination_reason not, the new reply_reason is the
-- coordination's reason and the provider's stays. This release never changes reply_reason when it coordinates.
CREATE FUNCTION coordination_by_an_older_release() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.coordination_reason := NEW.reply_reason;
    NEW.reply_reason := OLD.reply_reason;
    RETURN NEW;
END $$;

CREATE TRIGGER coordination_by_an_older_release BEFORE UPDATE ON applications FOR EACH ROW
WHEN (OLD.state = 4 AND NEW.state IN (5, 6) AND NEW.reply_reason IS DISTINCT FROM OLD.reply_reason
      AND NEW.coordination_reason IS NOT DISTINCT FROM OLD.coordination_reason)
EXECUTE FUNCTION coordination_by_an_older_release();

-- Coordinations an older release recorded since 010 ran: their reason is in reply_reason, where the provider's
-- refusal (the first, as 010 took it) is not; this release's own keep the refusal there.
UPDATE applications a SET coordination_reason = a.reply_reason, reply_reason = r.note
FROM (SELECT DISTINCT ON (e.application_id) e.application_id, e.note FROM application_events e
      WHERE e.action = 'REFUSED' ORDER BY e.application_id, e.id) r
WHERE a.state IN (5, 6) AND a.coordination_reason = '' AND r.application_id = a.id AND a.reply_reason <> r.note;
UPDATE applications a SET coordination_reason = a.reply_reason, reply_reason = ''
WHERE a.state IN (5, 6) AND a.coordination_reason = '' AND a.reply_reason <> ''
  AND NOT EXISTS (SELECT 1 FROM application_events e WHERE e.application_id = a.id AND e.action = 'REFUSED');
