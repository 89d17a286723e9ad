-- Why an entry was retired (Entry.retire_reason). RetireEntry's reason ("职能划转至市司法局", what the console's
-- 撤销理由 asks for, "记入目录历史") was written to entry_events alone, which no call and no page reads: the officer's
-- reason was kept where nobody could see it, and the departments whose grants stopped (NOT_PUBLISHED) could not
-- learn why. Each version the retirement closed now keeps it; this copies it from the history for the entries
-- retired before (an entry is retired once, its retire event naming the version it closed; the versions in
-- progress it closed with it take the same reason).
ALTER TABLE entry_versions ADD COLUMN retire_reason text NOT NULL DEFAULT '';

UPDATE entry_versions v SET retire_reason = ev.reason
FROM (SELECT DISTINCT ON (code) code, reason FROM entry_events WHERE action = 'retire'
      ORDER BY code, time DESC, id DESC) ev
WHERE v.code = ev.code AND v.state = 5 AND ev.reason <> '';
