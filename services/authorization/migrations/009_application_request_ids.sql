-- SubmitApplication's request_id (AIP-155): a retry after a lost reply, or the console's form posted twice,
-- returns the application the first request made. The key is the applicant department's; the digest of the
-- application as sent tells a repeat from a different application under the same key. Older rows have none.
ALTER TABLE applications ADD COLUMN request_id text, ADD COLUMN request_fingerprint bytea;
CREATE UNIQUE INDEX applications_request ON applications (applicant_department_code, request_id)
    WHERE request_id IS NOT NULL;
