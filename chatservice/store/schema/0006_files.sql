-- Files (issue 12): uploads, the blobs they are stored as, the attachments
-- of messages, and (when the files live in the database) the blobs' chunks.
-- {autoincrement_pk}, {boolean}, {false} and {blob} are filled in per
-- database by chatservice.store.dialects.

-- One row per distinct content (SHA-256 of the plaintext, hex): uploads of
-- the same bytes share it. A blob with no upload left is garbage; the files
-- command (python -m chatservice.files gc) removes its bytes, then the row.
CREATE TABLE blobs (
    sha256 TEXT PRIMARY KEY,
    size BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);

-- What a user uploaded. name is the client's file name, cleaned, shown
-- only (never a path); content_type is what the bytes were found to be.
-- attached_at: when a message first carried it (NULL: never yet); an upload
-- never attached is collected after a grace period, an attached one once no
-- message carries it any more.
CREATE TABLE uploads (
    id {autoincrement_pk},
    owner_id BIGINT NOT NULL REFERENCES users (id),
    name TEXT NOT NULL,
    size BIGINT NOT NULL,
    sha256 TEXT NOT NULL REFERENCES blobs (sha256),
    content_type TEXT NOT NULL,
    width INTEGER,
    height INTEGER,
    thumb_sha256 TEXT REFERENCES blobs (sha256),
    thumb_size BIGINT,
    created_at BIGINT NOT NULL,
    attached_at BIGINT
);
CREATE INDEX uploads_owner_id ON uploads (owner_id);
CREATE INDEX uploads_sha256 ON uploads (sha256);
CREATE INDEX uploads_thumb_sha256 ON uploads (thumb_sha256);

-- The files of a message, in order. No foreign key to uploads: a message
-- whose upload was collected in between shows the others (reads join).
-- A delete (or an erasure) removes the message's rows with its content.
CREATE TABLE message_attachments (
    message_id BIGINT NOT NULL REFERENCES messages (id),
    position INTEGER NOT NULL,
    upload_id BIGINT NOT NULL,
    PRIMARY KEY (message_id, position)
);
CREATE INDEX message_attachments_upload_id ON message_attachments (upload_id);

-- Blob bytes kept in the database (the files backend of several hosts on
-- PostgreSQL): chunk idx holds plaintext bytes [idx * chunk, (idx + 1) *
-- chunk), sealed with ENCRYPTION_KEY when sealed is true.
CREATE TABLE file_chunks (
    sha256 TEXT NOT NULL,
    idx INTEGER NOT NULL,
    sealed {boolean} NOT NULL DEFAULT {false},
    data {blob} NOT NULL,
    PRIMARY KEY (sha256, idx)
);
