-- Full-text search on PostgreSQL: a generated tsvector column under a GIN index.
--
-- The 'simple' configuration lower-cases and keeps every word (no stemming,
-- no stop words, no diacritics folding), the rule of
-- chatservice.store.search_queries that every backend shares. ASCII
-- punctuation becomes a space first: the default parser would otherwise
-- keep 'example.com', 'a@b.org' or '3.14' as one token, where SQLite and
-- the memory store see two words. A stored generated column is computed
-- once per write (an edit or a delete rewrites it with the content), is
-- filled for existing rows by this ALTER TABLE, and gives ANALYZE
-- per-word statistics, which the planner uses to choose between the GIN
-- index (rare words) and walking (room_id, id) backwards (frequent ones).

ALTER TABLE messages ADD COLUMN search_vector tsvector GENERATED ALWAYS AS (
    to_tsvector('simple', regexp_replace(content, '[\x21-\x2f\x3a-\x40\x5b-\x60\x7b-\x7e]+', ' ', 'g'))
) STORED;

CREATE INDEX messages_search_vector ON messages USING GIN (search_vector);
