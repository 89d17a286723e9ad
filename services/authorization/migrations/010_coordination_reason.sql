-- The authority's coordination decision has its reason apart from the provider's reply: it was written over
-- reply_reason, so an application coordinated after a refusal showed the authority's words as the provider's
-- 答复理由 (beside the provider's 答复人) and the refusal's own reason was left in the history only. A coordinated
-- application's reply can only have been a refusal (or none): its reason comes back from that step.
ALTER TABLE applications ADD COLUMN coordination_reason text NOT NULL DEFAULT '';
UPDATE applications a SET coordination_reason = a.reply_reason,
    reply_reason = COALESCE((SELECT e.note FROM application_events e
                             WHERE e.application_id = a.id AND e.action = 'REFUSED' ORDER BY e.id LIMIT 1), '')
WHERE a.state IN (5, 6);
