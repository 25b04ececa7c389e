-- Encryption at rest (issue 12): see chatservice/store/sealing.py.
-- {blob} is filled in per database by chatservice.store.dialects.

-- A message's text sealed with AES-256-GCM (the value names its key id),
-- or NULL when content holds the text itself (no ENCRYPTION_KEY, a row
-- from before encryption, a tombstone). When it is set, content holds the
-- text's blind-index tokens, which the full-text indexes of 0003 index.
ALTER TABLE messages ADD COLUMN sealed {blob};

-- One row per key id whose data may be in the database, each with a
-- constant sealed under that key: start-up opens each sentinel, so a
-- missing or wrong key stops the service instead of serving garbage.
-- Rotation deletes the rows of the keys it retired.
CREATE TABLE sealing_keys (
    key_id TEXT PRIMARY KEY,
    sentinel {blob} NOT NULL,
    added_at BIGINT NOT NULL
);

-- How far the rotation to key_id got: the last message id it looked at.
-- Deleted when a rotation completes.
CREATE TABLE sealing_progress (
    key_id TEXT PRIMARY KEY,
    after_id BIGINT NOT NULL
);
