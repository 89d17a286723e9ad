-- A password an administrator (a person) set, creating the account or resetting it, is known to them: until the
-- person sets their own (SessionService.ChangePassword), their sessions carry the "pcr" claim and every call but
-- ChangePassword, GetCurrentPerson, RefreshSession and SignOut is refused PASSWORD_CHANGE_REQUIRED. Persons stored
-- before, and those provisioned by the authority's system, are not asked.
ALTER TABLE persons ADD COLUMN password_change_required boolean NOT NULL DEFAULT false;
