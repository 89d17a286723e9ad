-- Administrative events of the supervision service (changes of the evaluation's weights) waiting to reach the
-- administrative log in the authorization service (services.runtime.admin_events): written in the transaction
-- of the change, deleted once authorization has acknowledged them. Same shape as the other services' outboxes.
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
