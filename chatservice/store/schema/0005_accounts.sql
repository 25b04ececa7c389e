-- Accounts (issue 11): sessions that can be revoked, disabled and deleted
-- users, server admins. {boolean} and {false} are filled in per database by
-- chatservice.store.dialects.
--
-- token_generation: a token carries the generation it was issued in ("gen");
-- bumping it (logout-all, a password change, a deletion) revokes every older
-- token at once. account_version grows with every change of the columns
-- below and of the user's revoked sessions, so that each process keeps the
-- newer of two copies of an account (a read, a control event).
-- A constant default: PostgreSQL adds these without rewriting the table.
ALTER TABLE users ADD COLUMN token_generation BIGINT NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN account_version BIGINT NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN is_admin {boolean} NOT NULL DEFAULT {false};
-- When a server admin disabled the account (ms), or NULL.
ALTER TABLE users ADD COLUMN disabled_at BIGINT;
-- When the account was deleted (ms), or NULL. The row stays, renamed, so
-- that its messages (tombstones) and events keep their sender.
ALTER TABLE users ADD COLUMN deleted_at BIGINT;

-- Tokens logged out one by one ("sid" claims), kept until the token itself
-- expires (expires_at, its "exp" in seconds): after that it is refused anyway.
CREATE TABLE revoked_sessions (
    session TEXT PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users (id),
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT NOT NULL
);

-- A user's unexpired sessions are read with the account; expired ones are
-- deleted by age.
CREATE INDEX revoked_sessions_user_id_expires_at ON revoked_sessions (user_id, expires_at);
CREATE INDEX revoked_sessions_expires_at ON revoked_sessions (expires_at);
