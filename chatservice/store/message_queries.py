"""The SQL of messages: storing a batch and reading a page of history.

Kept apart from ``sql.py``'s users and rooms because these are the hot
paths, with their own index and locking rules. Each function runs in a pool
thread inside one transaction of ``Database``.
"""

from __future__ import annotations

from typing import Any

from chatservice.errors import NotFound
from chatservice.models import Message, NewMessage, Posted
from chatservice.store.database import Txn

_MESSAGE = "id, room_id, sender_id, username, content, ts, client_msg_id"


def _message(row: tuple[Any, ...]) -> Message:
    return Message(int(row[0]), int(row[1]), int(row[2]), row[3], row[4], int(row[5]), row[6])


_FIND_BY_CLIENT_ID = (
    f"SELECT {_MESSAGE} FROM messages"
    " WHERE room_id = :room_id AND sender_id = :sender_id AND client_msg_id = :client_msg_id"
)
_INSERT_MESSAGE = (
    "INSERT INTO messages (room_id, sender_id, username, content, ts, client_msg_id)"
    " VALUES (:room_id, :sender_id, :username, :content, :ts, :client_msg_id)"
)

# Both SQLite (3.35+) and PostgreSQL: no row comes back when the unique
# (room_id, sender_id, client_msg_id) key was already used.
_INSERT_MESSAGE_ONCE = (
    _INSERT_MESSAGE + " ON CONFLICT (room_id, sender_id, client_msg_id) DO NOTHING RETURNING id"
)


def add_messages(txn: Txn, batch: list[NewMessage]) -> list[Posted]:
    """Store ``batch`` in order; a repeated ``client_msg_id`` gives back the original.

    Fails with ``NotFound`` (rolling back the whole batch) when a room or a
    sender does not exist.
    """
    # Taken first, so that ids become visible in the order they were assigned
    # and a client_msg_id lookup cannot race another writer's insert.
    txn.lock_writers()
    for room_id in sorted({new.room_id for new in batch}):
        if txn.query_one("SELECT id FROM rooms WHERE id = :id", {"id": room_id}) is None:
            raise NotFound("No such room.")
    posted: list[Posted] = []
    for new in batch:
        params = {
            "room_id": new.room_id,
            "sender_id": new.sender_id,
            "username": new.username,
            "content": new.content,
            "ts": new.ts,
            "client_msg_id": new.client_msg_id,
        }
        try:
            if new.client_msg_id is not None and not txn.dialect.supports_returning:
                # Old SQLite (< 3.35): look up first, then insert.
                row = txn.query_one(_FIND_BY_CLIENT_ID, params)
                if row is not None:
                    posted.append(Posted(_message(row), created=False))
                    continue
                message_id = txn.insert(_INSERT_MESSAGE, params)
            elif new.client_msg_id is None:
                message_id = txn.insert(_INSERT_MESSAGE, params)
            else:
                # One statement in the common case: the insert itself finds
                # out whether (room, sender, client_msg_id) was used before.
                inserted = txn.query_one(_INSERT_MESSAGE_ONCE, params)
                if inserted is None:
                    # A resend; sees rows inserted earlier in this batch, too.
                    row = txn.query_one(_FIND_BY_CLIENT_ID, params)
                    assert row is not None
                    posted.append(Posted(_message(row), created=False))
                    continue
                message_id = int(inserted[0])
        except NotFound:
            raise NotFound("No such user.") from None
        message = Message(
            message_id,
            new.room_id,
            new.sender_id,
            new.username,
            new.content,
            new.ts,
            new.client_msg_id,
        )
        posted.append(Posted(message, created=True))
    return posted


_PAGE_AFTER = (
    f"SELECT {_MESSAGE} FROM messages WHERE room_id = :room_id AND id > :after"
    " ORDER BY id LIMIT :limit"
)
_PAGE_BEFORE = (
    f"SELECT {_MESSAGE} FROM messages WHERE room_id = :room_id AND id < :before"
    " ORDER BY id DESC LIMIT :limit"
)
_PAGE_NEWEST = (
    f"SELECT {_MESSAGE} FROM messages WHERE room_id = :room_id ORDER BY id DESC LIMIT :limit"
)


def get_messages(
    txn: Txn, room_id: int, limit: int, before: int | None, after: int | None
) -> list[Message]:
    """Return a page of a room's history, oldest first (see ``IChatStore.get_messages``)."""
    # Each query walks the (room_id, id) index from one end and stops after
    # ``limit`` rows, so a page costs the same in a room of a million messages.
    if after is not None:
        rows = txn.query(_PAGE_AFTER, {"room_id": room_id, "after": after, "limit": limit})
        return [_message(row) for row in rows]
    if before is not None:
        rows = txn.query(_PAGE_BEFORE, {"room_id": room_id, "before": before, "limit": limit})
    else:
        rows = txn.query(_PAGE_NEWEST, {"room_id": room_id, "limit": limit})
    return [_message(row) for row in reversed(rows)]
