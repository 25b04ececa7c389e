-- Users, rooms and messages.
--
-- {autoincrement_pk} and {blob} are filled in per database by
-- chatservice.store.dialects. Statements end with a semicolon at the end of a
-- line and never contain one in a literal: the loader splits on those.
-- The *_key columns hold str.casefold() of the name, computed in Python so
-- SQLite and PostgreSQL agree on what "the same name" means.

CREATE TABLE users (
    id {autoincrement_pk},
    username TEXT NOT NULL,
    username_key TEXT NOT NULL UNIQUE,
    password_hash {blob} NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE rooms (
    id {autoincrement_pk},
    name TEXT NOT NULL,
    name_key TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL,
    created_by BIGINT REFERENCES users (id),
    created_at BIGINT NOT NULL
);

CREATE TABLE messages (
    id {autoincrement_pk},
    room_id BIGINT NOT NULL REFERENCES rooms (id),
    sender_id BIGINT NOT NULL REFERENCES users (id),
    username TEXT NOT NULL,
    content TEXT NOT NULL,
    ts BIGINT NOT NULL,
    client_msg_id TEXT,
    UNIQUE (room_id, sender_id, client_msg_id)
);

-- History pages read "room_id = ? AND id < ? ORDER BY id DESC LIMIT ?".
CREATE INDEX messages_room_id_id ON messages (room_id, id);
