-- An administrator (a person) creating a local account no longer sees its TOTP secret: the person enrols their own
-- at their first sign-in (totp_enrolment_required, migration 018). ChangePassword renewed the secret of every
-- person whose password an administrator set (password_change_required), since that administrator had seen it;
-- now only a secret an administrator did see is renewed: totp_handed_over, set here for the persons stored before
-- that still had to change such a password, and cleared by that change. New code never sets it.
ALTER TABLE persons ADD COLUMN totp_handed_over boolean NOT NULL DEFAULT false;
UPDATE persons SET totp_handed_over = true WHERE password_change_required AND totp_secret <> '';
