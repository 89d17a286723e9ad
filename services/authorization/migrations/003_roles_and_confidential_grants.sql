-- Roles the authority grants to systems (the persons' view needs SUBJECT_ACCESS_PORTAL), and confidential
-- grants (accesses under them are withheld from the persons' view until the release time).

CREATE TABLE system_roles (
    system_id  text NOT NULL REFERENCES systems (id),
    -- govshare.authorization.v1.SystemRole.
    role       smallint NOT NULL,
    granted_by text NOT NULL,
    grant_time timestamptz NOT NULL,
    PRIMARY KEY (system_id, role)
);

ALTER TABLE grants ADD COLUMN confidential boolean NOT NULL DEFAULT false;
ALTER TABLE grants ADD COLUMN release_time timestamptz;
ALTER TABLE grants ADD CONSTRAINT grants_confidential_release CHECK (NOT confidential OR release_time IS NOT NULL);
CREATE INDEX grants_confidential ON grants (release_time) WHERE confidential;
