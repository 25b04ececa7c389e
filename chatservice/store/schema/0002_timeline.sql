-- The timeline (issue 10): every change of a room is an event with an id
-- from one sequence, the messages table's own. A new message is its row
-- alone: its creation event is implied, with the message's id. The events
-- table holds only the later changes (edit, delete, react, unreact), each
-- taking the next id of the messages sequence under the writers' lock
-- (dialects.Dialect.take_id), so one message insert stays one statement.
-- {boolean}, {false}, {given_pk} and {prepare_take_id} are filled in per
-- database by chatservice.store.dialects.

-- reply_to: the message answered, in the same room. edited_at: the last
-- edit (NULL if never). deleted: a tombstone, whose content is ''.
-- A constant default: PostgreSQL adds these without rewriting the table.
ALTER TABLE messages ADD COLUMN reply_to BIGINT REFERENCES messages (id);
ALTER TABLE messages ADD COLUMN edited_at BIGINT;
ALTER TABLE messages ADD COLUMN deleted {boolean} NOT NULL DEFAULT {false};

-- One row per change of an existing message. No sequence of its own: the
-- id is always given, taken from the messages sequence.
CREATE TABLE events (
    id {given_pk},
    room_id BIGINT NOT NULL REFERENCES rooms (id),
    message_id BIGINT NOT NULL REFERENCES messages (id),
    kind TEXT NOT NULL CHECK (kind IN ('edit', 'delete', 'react', 'unreact')),
    user_id BIGINT NOT NULL REFERENCES users (id),
    ts BIGINT NOT NULL
);

-- get_events reads "room_id = ? AND id > ? ORDER BY id LIMIT ?" here and in
-- messages; a repeat looks up a message's latest change by (message_id, id).
CREATE INDEX events_room_id_id ON events (room_id, id);
CREATE INDEX events_message_id_id ON events (message_id, id);

-- Whatever take_id needs before the first change (nothing on PostgreSQL,
-- whose statement is then empty and skipped).
{prepare_take_id};

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
