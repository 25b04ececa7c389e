"""What ``copystore`` copies: every table of the schema, or the reason it is left out.

The copier is driven by these specs, so adding a table to the copy is one
entry here. ``tests/test_copytables.py`` compares them with a freshly
migrated SQLite database: a migration that adds a table (or a column) that
is neither copied nor listed here as not copied, with its reason, fails the
suite instead of being silently lost by the next move to PostgreSQL.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Table:
    """One table to copy: its columns, the order to read them in, and columns left out.

    ``not_copied`` maps a column to why the target keeps its own default
    (e.g. a lease held by a process of the old deployment).
    """

    name: str
    columns: tuple[str, ...]
    order_by: str = "id"
    not_copied: dict[str, str] = field(default_factory=dict)


# The tables in foreign-key order, each with every column of the newest
# schema. Naming the columns (rather than SELECT *) makes a schema change
# that this command does not know about fail loudly instead of half-copying.
# Messages come in id order, so a reply follows the message it answers.
TABLES: tuple[Table, ...] = (
    Table(
        "users",
        (
            "id",
            "username",
            "username_key",
            "password_hash",
            "created_at",
            "token_generation",
            "account_version",
            "is_admin",
            "disabled_at",
            "deleted_at",
        ),
    ),
    # Rooms with their access (issue 11): a private room must stay private.
    Table(
        "rooms",
        (
            "id",
            "name",
            "name_key",
            "description",
            "created_by",
            "created_at",
            "visibility",
            "archived",
            "deleted",
            "direct_key",
        ),
    ),
    Table(
        "messages",
        (
            "id",
            "room_id",
            "sender_id",
            "username",
            "content",
            "ts",
            "client_msg_id",
            "reply_to",
            "edited_at",
            "deleted",
            "mentioned",
            # Sealed text is copied as it is: it is bound to its message id,
            # which the copy keeps, so the same ENCRYPTION_KEY opens it there
            # and the command needs no key (content holds its tokens).
            "sealed",
        ),
    ),
    Table("events", ("id", "room_id", "message_id", "kind", "user_id", "ts")),
    Table(
        "reactions", ("message_id", "user_id", "emoji", "event_id", "ts"), "message_id, event_id"
    ),
    Table(
        "members",
        ("room_id", "user_id", "state", "role", "muted", "updated_at"),
        "room_id, user_id",
    ),
    Table("member_events", ("id", "room_id", "kind", "user_id", "actor_id", "detail", "ts")),
    Table("audit_log", ("id", "at", "actor_id", "action", "target_user_id", "room_id", "reason")),
    Table("revoked_sessions", ("session", "user_id", "expires_at", "revoked_at"), "session"),
    # Files (issue 12): their rows; their bytes follow (``copyfiles``).
    Table("blobs", ("sha256", "size", "created_at"), "sha256"),
    Table(
        "uploads",
        (
            "id",
            "owner_id",
            "name",
            "size",
            "sha256",
            "content_type",
            "width",
            "height",
            "thumb_sha256",
            "thumb_size",
            "created_at",
            "attached_at",
        ),
    ),
    Table("message_attachments", ("message_id", "position", "upload_id"), "message_id, position"),
    Table("mentions", ("message_id", "user_id", "room_id"), "message_id, user_id"),
    Table("read_markers", ("user_id", "room_id", "last_read_id"), "user_id, room_id"),
    # Webhooks (issue 13) with their secrets and cursors, so deliveries
    # resume at the event they had reached, failing head and all.
    Table(
        "webhooks",
        (
            "id",
            "room_id",
            "url",
            "secret",
            "sealed_secret",
            "created_by",
            "created_at",
            "delivered_through",
            "attempts",
            "first_failed_at",
            "next_attempt_at",
            "last_error",
        ),
        not_copied={
            "lease_owner": "names a process of the old deployment; the new one must "
            "not wait for its lease to run out",
            "lease_until": "ditto (the default 0: free to take at once)",
        },
    ),
    Table(
        "webhook_dead_letters",
        ("id", "webhook_id", "event_id", "attempts", "last_error", "failed_at", "retry"),
    ),
    # Bots keep their API keys: only the keys' SHA-256 is stored.
    Table(
        "bots",
        ("user_id", "created_by", "room_id", "created_at", "key_hash", "key_created_at"),
        "user_id",
    ),
    Table("push_subscriptions", ("id", "user_id", "endpoint", "p256dh", "auth", "created_at")),
    # Encryption at rest (0007): the keys the sealed rows need, with their
    # sentinels (start-up checks them), and how far an unfinished rotation
    # got (message ids are kept, so it resumes there on the target).
    Table("sealing_keys", ("key_id", "sentinel", "added_at"), "key_id"),
    Table("sealing_progress", ("key_id", "after_id"), "key_id"),
)

# Tables of a migrated database that are deliberately not copied as rows.
NOT_COPIED: dict[str, str] = {
    "schema_version": "the target is migrated by its own migrations",
    "sqlite_sequence": "read for the id sequences, which the target's setval continues",
    "file_chunks": "SQLite keeps file bytes in its files directory; copyfiles writes the chunks",
    "messages_fts": "SQLite's search index; PostgreSQL computes its search vector per row",
    "messages_fts_data": "a shadow table of messages_fts",
    "messages_fts_idx": "a shadow table of messages_fts",
    "messages_fts_docsize": "a shadow table of messages_fts",
    "messages_fts_config": "a shadow table of messages_fts",
    "search_backlog": "how far SQLite's search index got; PostgreSQL has no backlog",
}

# Each id sequence of the target and the tables whose ids it handed out:
# events and member_events have none of their own, the messages sequence
# numbers every change on the timeline.
SEQUENCES: dict[str, tuple[str, ...]] = {
    "users": ("users",),
    "rooms": ("rooms",),
    "messages": ("messages", "events", "member_events"),
    "audit_log": ("audit_log",),
    "uploads": ("uploads",),
    "webhooks": ("webhooks",),
    "webhook_dead_letters": ("webhook_dead_letters",),
    "push_subscriptions": ("push_subscriptions",),
}
