"""The SQL of mentions: which users a message names, kept in two places in one transaction.

The message row's ``mentioned`` column ("3,17", NULL for none) is what a
read shows, so a page of history costs no extra query; the ``mentions``
table (one row per message and user) is what a mention count walks by
(user, room, message id). Both are written in the transaction that stores,
edits or deletes the message, so a count never sees a message without its
mentions or a deleted message's. Each function runs in a pool thread
inside one ``Database`` transaction.
"""

from __future__ import annotations

from collections.abc import Iterable

from chatservice.store.database import Txn

_INSERT = (
    "INSERT INTO mentions (message_id, user_id, room_id) VALUES (:message_id, :user_id, :room_id)"
)
_DELETE = "DELETE FROM mentions WHERE message_id = :message_id"
_SET_COLUMN = "UPDATE messages SET mentioned = :mentioned WHERE id = :id"


def format_mentioned(user_ids: Iterable[int]) -> str | None:
    """The ``mentioned`` column's text for these users (None for nobody)."""
    ids = sorted(set(user_ids))
    return ",".join(str(user_id) for user_id in ids) if ids else None


def parse_mentioned(value: str | None) -> tuple[int, ...]:
    """The user ids a ``mentioned`` column holds, ascending."""
    if not value:
        return ()
    return tuple(int(part) for part in value.split(","))


def add_mentions(txn: Txn, message_id: int, room_id: int, user_ids: Iterable[int]) -> None:
    """Index the mentions of a new message (its row already has its ``mentioned`` column)."""
    rows = [
        {"message_id": message_id, "user_id": user_id, "room_id": room_id}
        for user_id in sorted(set(user_ids))
    ]
    if rows:
        txn.execute_many(_INSERT, rows)


def replace_mentions(txn: Txn, message_id: int, room_id: int, user_ids: Iterable[int]) -> None:
    """Make the message's mentions exactly ``user_ids`` (an edit), in both places."""
    wanted = sorted(set(user_ids))
    txn.execute(_DELETE, {"message_id": message_id})
    add_mentions(txn, message_id, room_id, wanted)
    txn.execute(_SET_COLUMN, {"mentioned": format_mentioned(wanted), "id": message_id})


def remove_mentions(txn: Txn, message_id: int) -> None:
    """Forget the message's mentions (a delete: a tombstone names no one)."""
    txn.execute(_DELETE, {"message_id": message_id})
    txn.execute(_SET_COLUMN, {"mentioned": None, "id": message_id})
