-- Web Push (issue 13): the push subscriptions of users' browsers.
-- {autoincrement_pk} is filled in per database by chatservice.store.dialects.
--
-- endpoint: the push service's URL for one browser; unique, because a
-- browser has one per application server key: registered again (by the
-- same user or by whoever logs in there next), the row is replaced.
-- p256dh, auth: the browser's public key and auth secret (URL-safe base64).
CREATE TABLE push_subscriptions (
    id {autoincrement_pk},
    user_id BIGINT NOT NULL REFERENCES users (id),
    endpoint TEXT NOT NULL,
    p256dh TEXT NOT NULL,
    auth TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE UNIQUE INDEX push_subscriptions_endpoint ON push_subscriptions (endpoint);
-- A user's subscriptions, oldest first (the per-user bound drops the oldest).
CREATE INDEX push_subscriptions_user_id ON push_subscriptions (user_id, created_at, id);
