-- Access control (issue 11): room visibility and state, memberships with
-- roles, membership changes on the timeline, and the audit log.
-- {boolean}, {false}, {given_pk} and {autoincrement_pk} are filled in per
-- database by chatservice.store.dialects.

-- visibility: 'public' (listed, open to all) or 'private' (members only).
-- direct_key: 'a:b' (the two user ids, lower first) for a direct-message
-- room, NULL otherwise; unique, so asking twice gives the same room.
-- A constant default: PostgreSQL adds these without rewriting the table.
ALTER TABLE rooms ADD COLUMN visibility TEXT NOT NULL DEFAULT 'public';
ALTER TABLE rooms ADD COLUMN archived {boolean} NOT NULL DEFAULT {false};
ALTER TABLE rooms ADD COLUMN deleted {boolean} NOT NULL DEFAULT {false};
ALTER TABLE rooms ADD COLUMN direct_key TEXT;
CREATE UNIQUE INDEX rooms_direct_key ON rooms (direct_key);

-- One row per user who ever had a place in a room. A public room's
-- readers need no row; a row records a role, an invitation, a ban, a mute.
CREATE TABLE members (
    room_id BIGINT NOT NULL REFERENCES rooms (id),
    user_id BIGINT NOT NULL REFERENCES users (id),
    state TEXT NOT NULL CHECK (state IN ('joined', 'invited', 'banned', 'left')),
    role TEXT NOT NULL CHECK (role IN ('owner', 'moderator', 'member')),
    muted {boolean} NOT NULL DEFAULT {false},
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (room_id, user_id)
);

-- "Which rooms may this user read": private rooms they joined or were invited to.
CREATE INDEX members_user_id ON members (user_id, state);

-- Membership and settings changes on the room's timeline. No sequence of
-- its own: the id is taken from the messages sequence, like events'.
CREATE TABLE member_events (
    id {given_pk},
    room_id BIGINT NOT NULL REFERENCES rooms (id),
    kind TEXT NOT NULL,
    user_id BIGINT REFERENCES users (id),
    actor_id BIGINT REFERENCES users (id),
    detail TEXT NOT NULL,
    ts BIGINT NOT NULL
);

CREATE INDEX member_events_room_id_id ON member_events (room_id, id);

-- Every moderation and administration action. room_id NULL: a server-wide
-- action (an admin's). No foreign keys: the log outlives what it names.
CREATE TABLE audit_log (
    id {autoincrement_pk},
    at BIGINT NOT NULL,
    actor_id BIGINT,
    action TEXT NOT NULL,
    target_user_id BIGINT,
    room_id BIGINT,
    reason TEXT NOT NULL
);

CREATE INDEX audit_log_room_id_id ON audit_log (room_id, id);
