-- ListApplications order_by "reply_due_time" (the provider's 答复 and everyone's home page list the applications
-- waiting longest first): the provider's and the applicant's applications by state in that order, so a page starts
-- at its keyset position (the authority's overdue list has applications_pending).
CREATE INDEX applications_provider_due ON applications (provider_department_code, state, reply_due_time, seq);
CREATE INDEX applications_applicant_due ON applications (applicant_department_code, state, reply_due_time, seq);
