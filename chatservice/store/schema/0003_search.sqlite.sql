-- Full-text search on SQLite: an FTS5 index over messages.content, and
-- messages.room_id so that a search in a room reads only that room's
-- matches: the room is one more token (the id's digits) of a second column,
-- and FTS5 intersects it with the words (search_queries.fts5_query filters
-- each term to its column, so a number in a text is never a room, nor a
-- room a word). Without it, FTS5 handed out every match in every room and
-- the room was filtered afterwards: 400,000 matches in one room made an
-- empty search of another take 84 ms.
--
-- External content (content='messages'): the index keeps only its inverted
-- lists, the text stays in messages and is not stored twice. Tokens are runs
-- of letters and digits, lower-cased, diacritics kept (remove_diacritics 0),
-- the rule of chatservice.store.search_queries that every backend shares.
--
-- New messages are indexed by add_messages, not by an insert trigger
-- (one per row inside the writers' lock, on the hot path): since 0012 in
-- bulk, through the search backlog (store/search_backlog.py), which also
-- makes the triggers below leave rows not indexed yet alone. Anything else
-- that inserts messages must leave them to the backlog (which skips a row
-- already indexed, by a 'rebuild' for instance, rather than index it
-- twice). A row
-- left out of the index must never reach the 'delete' below, since
-- removing words that were never indexed corrupts an external-content
-- index.
--
-- The triggers keep the index in step with changes, which are rare: an
-- edit updates content in place and a delete sets it to '', so an UPDATE
-- OF content removes the old words and indexes the new ones. An
-- external-content index is told what to remove ('delete' with the old
-- text, and the same room_id: every write names both columns, or the
-- index no longer matches its content table). A message never changes
-- room, but the update trigger watches room_id too, so one that did would
-- be reindexed rather than corrupt the index. The loader splits statements
-- on a semicolon that ends a line, so each semicolon inside a trigger body
-- has more text after it on its line.

CREATE VIRTUAL TABLE messages_fts USING fts5(
    content,
    room_id,
    content = 'messages',
    content_rowid = 'id',
    tokenize = 'unicode61 remove_diacritics 0'
);

CREATE TRIGGER messages_fts_after_delete AFTER DELETE ON messages BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, content, room_id)
        VALUES ('delete', old.id, old.content, old.room_id)
; END;

CREATE TRIGGER messages_fts_after_update AFTER UPDATE OF content, room_id ON messages BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, content, room_id)
        VALUES ('delete', old.id, old.content, old.room_id)
    ; INSERT INTO messages_fts (rowid, content, room_id)
        VALUES (new.id, new.content, new.room_id)
; END;

-- Index the messages already stored.
INSERT INTO messages_fts (messages_fts) VALUES ('rebuild');
