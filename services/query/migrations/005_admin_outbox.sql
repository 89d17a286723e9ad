-- Administrative events of the query service (dispute reports and answers: confirmations and corrections)
-- waiting to reach the administrative log in the authorization service (services.runtime.admin_events):
-- written in the transaction of the action, deleted once authorization has acknowledged them. Same shape as
-- catalog's and foundation's outboxes. (004 is another branch's.)
CREATE TABLE admin_outbox (
    id                    bigserial PRIMARY KEY,
    event_id              text NOT NULL UNIQUE,
    time                  timestamptz NOT NULL,
    actor_system_id       text NOT NULL,
    actor_department_code text NOT NULL,
    action                text NOT NULL,
    target                text NOT NULL,
    details               text NOT NULL,
    result                text NOT NULL
);
