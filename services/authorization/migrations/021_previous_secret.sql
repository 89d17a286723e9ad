-- A system's own RotateSystemSecret keeps the secret it replaced accepted by IssueToken until the new one gets its
-- first token, or a day at most (previous_secret_until): a rotation whose answer was lost on the way back (a
-- timeout, a restart before the new secret was written down) otherwise left the system with a dead secret and its
-- tokens ended, locked out until the authority's 管理员 rotated it. secret_used says whether the current secret has
-- had a token: a rotation of an unused secret (its answer lost too) keeps the previous one, the secret the system
-- holds. An administrator's rotation (a leak) and a bootstrap's keep nothing.
ALTER TABLE systems ADD COLUMN previous_secret_hash text;
ALTER TABLE systems ADD COLUMN previous_secret_until timestamptz;
ALTER TABLE systems ADD COLUMN secret_used boolean NOT NULL DEFAULT true;
