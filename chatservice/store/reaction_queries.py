"""The SQL of the ``reactions`` table: who put which emoji on a message.

One row per (message, user, emoji). ``event_id`` is the id of the ``react``
event that added it, so "oldest first" is the order of the one timeline
sequence, not of clocks that may tie. Each function runs in a pool thread
inside one transaction of ``Database``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from chatservice.models import Reaction
from chatservice.store.database import Txn
from chatservice.store.in_lists import chunks, in_list

_OF_MESSAGES = (
    "SELECT message_id, emoji, user_id FROM reactions WHERE message_id IN ({ids})"
    " ORDER BY message_id, event_id"
)


def reactions_of(txn: Txn, message_ids: Sequence[int]) -> dict[int, tuple[Reaction, ...]]:
    """Return the reactions of each message that has any, in one query per 512 messages.

    Each emoji once, its users oldest first; emoji in the order of the
    oldest reaction still there.
    """
    grouped: dict[int, dict[str, list[int]]] = {}
    for chunk in chunks(message_ids):
        placeholders, params = in_list("id", chunk)
        for message_id, emoji, user_id in txn.query(_OF_MESSAGES.format(ids=placeholders), params):
            users = grouped.setdefault(int(message_id), {}).setdefault(emoji, [])
            users.append(int(user_id))
    return {
        message_id: tuple(Reaction(emoji, tuple(users)) for emoji, users in by_emoji.items())
        for message_id, by_emoji in grouped.items()
    }


@dataclass(frozen=True, slots=True)
class ReactionCounts:
    """What the bounds on a new reaction need to know, read in one query."""

    exists: bool
    """This user already has this emoji on the message."""
    emoji_known: bool
    """Someone has this emoji on the message, so it is not a new distinct one."""
    distinct_emoji: int
    """Distinct emoji on the message."""
    by_user: int
    """Reactions of this user on the message."""


# The primary key (message_id, user_id, emoji) serves the lookup; a message
# has at most MAX_REACTIONS_PER_MESSAGE emoji, so the rows counted are few
# groups, however many users reacted.
_COUNTS = (
    "SELECT"
    " COALESCE(SUM(CASE WHEN user_id = :user_id AND emoji = :emoji THEN 1 ELSE 0 END), 0),"
    " COALESCE(SUM(CASE WHEN emoji = :emoji THEN 1 ELSE 0 END), 0),"
    " COUNT(DISTINCT emoji),"
    " COALESCE(SUM(CASE WHEN user_id = :user_id THEN 1 ELSE 0 END), 0)"
    " FROM reactions WHERE message_id = :message_id"
)


def reaction_counts(txn: Txn, message_id: int, user_id: int, emoji: str) -> ReactionCounts:
    """Read whether the reaction is there and how many the message and user have."""
    row = txn.query_one(_COUNTS, {"message_id": message_id, "user_id": user_id, "emoji": emoji})
    assert row is not None
    return ReactionCounts(bool(row[0]), bool(row[1]), int(row[2]), int(row[3]))


def add_reaction(
    txn: Txn, message_id: int, user_id: int, emoji: str, event_id: int, ts: int
) -> None:
    """Store one reaction (``NotFound`` if the user does not exist)."""
    txn.execute(
        "INSERT INTO reactions (message_id, user_id, emoji, event_id, ts)"
        " VALUES (:message_id, :user_id, :emoji, :event_id, :ts)",
        {
            "message_id": message_id,
            "user_id": user_id,
            "emoji": emoji,
            "event_id": event_id,
            "ts": ts,
        },
    )


def remove_reaction(txn: Txn, message_id: int, user_id: int, emoji: str) -> None:
    """Remove one reaction."""
    txn.execute(
        "DELETE FROM reactions WHERE message_id = :message_id AND user_id = :user_id"
        " AND emoji = :emoji",
        {"message_id": message_id, "user_id": user_id, "emoji": emoji},
    )


def remove_all(txn: Txn, message_id: int) -> None:
    """Remove every reaction of a message (it became a tombstone)."""
    txn.execute("DELETE FROM reactions WHERE message_id = :id", {"id": message_id})
