-- The timeline (issue 10): every change of a room is an event with an id
-- from one sequence, and a message's id is the id of its "message" event.
-- Kept in step with 0002_timeline.postgresql.sql: only the types and the
-- way the events sequence is moved on differ.

-- reply_to: the message answered, in the same room. edited_at: the last
-- edit (NULL if never). deleted: a tombstone, whose content is ''.
ALTER TABLE messages ADD COLUMN reply_to BIGINT REFERENCES messages (id);
ALTER TABLE messages ADD COLUMN edited_at BIGINT;
ALTER TABLE messages ADD COLUMN deleted INTEGER NOT NULL DEFAULT 0;

-- One row per change. The message row is inserted with the next events id
-- (dialects.next_id) and its event right after, under the writers' lock.
CREATE TABLE events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    room_id BIGINT NOT NULL REFERENCES rooms (id),
    message_id BIGINT NOT NULL REFERENCES messages (id),
    kind TEXT NOT NULL CHECK (kind IN ('message', 'edit', 'delete', 'react', 'unreact')),
    user_id BIGINT NOT NULL REFERENCES users (id),
    ts BIGINT NOT NULL
);

-- get_events reads "room_id = ? AND id > ? ORDER BY id LIMIT ?"; a repeat
-- looks up a message's latest event by (message_id, id).
CREATE INDEX events_room_id_id ON events (room_id, id);
CREATE INDEX events_message_id_id ON events (message_id, id);

-- Every existing message is its own creation event, with its id.
INSERT INTO events (id, room_id, message_id, kind, user_id, ts)
SELECT id, room_id, id, 'message', sender_id, ts FROM messages ORDER BY id;

-- The events sequence continues after every id messages ever handed out,
-- even one whose row is gone: an id is never used twice.
INSERT INTO sqlite_sequence (name, seq)
SELECT 'events', seq FROM sqlite_sequence
WHERE name = 'messages' AND NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'events');

UPDATE sqlite_sequence
SET seq = (SELECT seq FROM sqlite_sequence WHERE name = 'messages')
WHERE name = 'events' AND seq < (SELECT seq FROM sqlite_sequence WHERE name = 'messages');

-- A user's reactions on a message; event_id (of the "react" event) orders
-- users oldest first and emoji by their first reaction.
CREATE TABLE reactions (
    message_id BIGINT NOT NULL REFERENCES messages (id),
    user_id BIGINT NOT NULL REFERENCES users (id),
    emoji TEXT NOT NULL,
    event_id BIGINT NOT NULL,
    ts BIGINT NOT NULL,
    PRIMARY KEY (message_id, user_id, emoji)
);
