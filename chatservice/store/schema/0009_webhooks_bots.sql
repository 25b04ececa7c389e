-- Outgoing webhooks and bots (issue 13). {autoincrement_pk}, {boolean} and
-- {false} are filled in per database by chatservice.store.dialects.
--
-- The outbox of a webhook is its room's timeline read from a cursor:
-- delivered_through is the id of the last event delivered or dead-lettered.
-- attempts, first_failed_at, next_attempt_at and last_error describe the
-- failing head delivery (cleared by a success). lease_owner/lease_until say
-- which process delivers the webhook now, so that one does at a time.
CREATE TABLE webhooks (
    id {autoincrement_pk},
    room_id BIGINT NOT NULL REFERENCES rooms (id),
    url TEXT NOT NULL,
    secret TEXT NOT NULL,
    created_by BIGINT NOT NULL REFERENCES users (id),
    created_at BIGINT NOT NULL,
    delivered_through BIGINT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    first_failed_at BIGINT,
    next_attempt_at BIGINT NOT NULL DEFAULT 0,
    last_error TEXT,
    lease_owner TEXT,
    lease_until BIGINT NOT NULL DEFAULT 0
);

CREATE INDEX webhooks_room_id ON webhooks (room_id);
CREATE INDEX webhooks_next_attempt_at ON webhooks (next_attempt_at);

-- Events a webhook gave up on after its retry period; retry marks one for
-- another round of attempts (delivered before the cursor's next event).
CREATE TABLE webhook_dead_letters (
    id {autoincrement_pk},
    webhook_id BIGINT NOT NULL REFERENCES webhooks (id),
    event_id BIGINT NOT NULL,
    attempts INTEGER NOT NULL,
    last_error TEXT NOT NULL,
    failed_at BIGINT NOT NULL,
    retry {boolean} NOT NULL DEFAULT {false}
);

CREATE UNIQUE INDEX webhook_dead_letters_webhook_id_event_id
    ON webhook_dead_letters (webhook_id, event_id);

-- A bot is a user (its messages have a sender like anyone's) whose password
-- never matches; it authenticates with an API key, of which only the SHA-256
-- (hex) is kept. key_hash NULL: revoked.
CREATE TABLE bots (
    user_id BIGINT PRIMARY KEY REFERENCES users (id),
    created_by BIGINT NOT NULL REFERENCES users (id),
    room_id BIGINT REFERENCES rooms (id),
    created_at BIGINT NOT NULL,
    key_hash TEXT,
    key_created_at BIGINT
);

CREATE UNIQUE INDEX bots_key_hash ON bots (key_hash);
CREATE INDEX bots_created_by ON bots (created_by);
