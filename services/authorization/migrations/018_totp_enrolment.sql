-- A TOTP secret an administrator (a person) reset was shown to them to hand over, and the person could not re-key
-- it: the administrator could produce the person's codes for good. Such a reset now leaves the person to enrol a
-- secret of their own at their next sign-in (SessionService.EnrolTotp, with their password; the secret counts once
-- a code of it signs in): totp_enrolment_required is set by the reset, with totp_secret emptied, and cleared by
-- that sign-in. Persons stored before keep their secret and are not asked; an older release's SignIn refuses a
-- person in the middle of enrolling (no secret opens their codes) until they finish.
ALTER TABLE persons ADD COLUMN totp_enrolment_required boolean NOT NULL DEFAULT false;
