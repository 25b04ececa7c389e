-- SQLite's search index trails the newest messages by a few ids and
-- catches up in bulk (chatservice.store.search_backlog): FTS5 writes a new
-- segment, about six pages of the write-ahead log, in every transaction
-- that adds to it, which at one commit every 2 ms cost more than the
-- messages' own rows. Every message with an id up to indexed_upto is in
-- the index; every later one is not, yet.
--
-- An edit or a delete of a row not indexed yet must not tell the index to
-- remove words it never held (that corrupts an external-content index), so
-- the triggers of 0003 are replaced by the same ones guarded by the mark:
-- a row past it is indexed with whatever text it has when the backlog is
-- indexed. Every row stored before this version was indexed as it was
-- inserted, so the mark starts at the newest message.

CREATE TABLE search_backlog (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    indexed_upto BIGINT NOT NULL
);

INSERT INTO search_backlog (id, indexed_upto) SELECT 1, COALESCE(MAX(id), 0) FROM messages;

DROP TRIGGER messages_fts_after_delete;

DROP TRIGGER messages_fts_after_update;

CREATE TRIGGER messages_fts_after_delete AFTER DELETE ON messages
WHEN old.id <= (SELECT indexed_upto FROM search_backlog) BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, content, room_id)
        VALUES ('delete', old.id, old.content, old.room_id)
; END;

CREATE TRIGGER messages_fts_after_update AFTER UPDATE OF content, room_id ON messages
WHEN old.id <= (SELECT indexed_upto FROM search_backlog) BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, content, room_id)
        VALUES ('delete', old.id, old.content, old.room_id)
    ; INSERT INTO messages_fts (rowid, content, room_id)
        VALUES (new.id, new.content, new.room_id)
; END;
