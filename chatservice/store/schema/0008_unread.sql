-- Read markers and mentions (chatservice/read_markers.py, chatservice/mentions.py).
--
-- A read marker is the id of the last message a user has read in a room;
-- it only ever grows (an upsert that keeps the larger value). Unread counts
-- are not stored: they are counted from the messages table when asked, by
-- walking the (room_id, id) index from the marker and stopping at a bound
-- (read_queries.COUNT_LIMIT), so they can never drift from the history
-- under concurrent posts, edits and deletes, and a request costs at most
-- that bound per room, whatever the room's length.

CREATE TABLE read_markers (
    user_id BIGINT NOT NULL REFERENCES users (id),
    room_id BIGINT NOT NULL REFERENCES rooms (id),
    last_read_id BIGINT NOT NULL,
    PRIMARY KEY (user_id, room_id)
);

-- The users a message mentions, as the message shows them ("3,17"; NULL
-- for none): a read of history needs no extra query.
ALTER TABLE messages ADD COLUMN mentioned TEXT;

-- The same mentions, one row per user, written with the message, replaced
-- by an edit and removed by a delete, in the same transaction: a mention
-- count is then a walk of the user's own rows of one room past the marker.
CREATE TABLE mentions (
    message_id BIGINT NOT NULL REFERENCES messages (id),
    user_id BIGINT NOT NULL REFERENCES users (id),
    room_id BIGINT NOT NULL REFERENCES rooms (id),
    PRIMARY KEY (message_id, user_id)
);

CREATE INDEX mentions_user_room ON mentions (user_id, room_id, message_id);

-- The default marker of a joined room is the user's latest join event.
CREATE INDEX member_events_user_kind ON member_events (user_id, kind, room_id, id);
