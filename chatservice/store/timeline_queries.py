"""The SQL of changes to existing messages, and of reading the events of a room.

The timeline's one sequence is the messages table's own: a message row is
its creation event (kind ``message``, the message's id), so posting stays
one insert. An edit, a delete or a reaction is one row of ``events``, with
an id taken from that same sequence (``Dialect.take_id``), plus the change
it describes, in one transaction under the writers' lock: the lock
serialises changes of one message (the later event id is the state that
stays) and makes ids visible in increasing order, as ``add_messages`` does.
A change that changes nothing writes nothing and answers with the message's
latest event. Each function runs in a pool thread inside one ``Database``
transaction; ``SQLStore`` has already refused ids past 64 bits.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Sequence

from chatservice.errors import Forbidden, NotFound
from chatservice.models import (
    CREATED,
    DELETED,
    EDITED,
    REACTED,
    UNREACTED,
    Change,
    Message,
    TimelineEvent,
    check_reaction_limits,
)
from chatservice.store import mention_queries, message_queries, reaction_queries, upload_queries
from chatservice.store.database import Txn
from chatservice.store.in_lists import chunks, in_list

_INSERT_EVENT = (
    "INSERT INTO events (id, room_id, message_id, kind, user_id, ts)"
    " VALUES (:id, :room_id, :message_id, :kind, :user_id, :ts)"
)
_LATEST_CHANGE = (
    "SELECT id, kind FROM events WHERE message_id = :message_id ORDER BY id DESC LIMIT 1"
)
# The two halves of a page of events, each a walk of its (room_id, id) index.
_ROOM_MESSAGES = (
    f"SELECT {message_queries.MESSAGE_COLUMNS} FROM messages"
    " WHERE room_id = :room_id AND id > :after ORDER BY id LIMIT :limit"
)
_ROOM_CHANGES = (
    "SELECT id, kind, message_id FROM events WHERE room_id = :room_id AND id > :after"
    " ORDER BY id LIMIT :limit"
)
_MESSAGE_FOR_UPDATE = f"SELECT {message_queries.MESSAGE_COLUMNS} FROM messages WHERE id = :id"


def get_message(txn: Txn, message_id: int) -> Message:
    """Return one message in its current state, or raise ``NotFound``."""
    found = message_queries.messages_by_ids(txn, [message_id])
    if not found:
        raise NotFound("No such message.")
    return found[0]


def get_events(txn: Txn, room_id: int, after: int, limit: int) -> list[TimelineEvent]:
    """Return a page of a room's events with their messages as they are now.

    The first ``limit`` new messages (their creation events) and the first
    ``limit`` changes after ``after``, each read by walking its table's
    (room_id, id) index as history does, merged by id and cut at ``limit``.
    Then the page's messages in their current state: the rows already read,
    those named only by a change (one more query, when there are any), and
    their reactions and reply previews (two).
    """
    params = {"room_id": room_id, "after": after, "limit": limit}
    rows = {int(row[0]): row for row in txn.query(_ROOM_MESSAGES, params)}
    changes = txn.query(_ROOM_CHANGES, params)
    page = heapq.merge(
        ((message_id, CREATED, message_id) for message_id in rows),
        ((int(row[0]), str(row[1]), int(row[2])) for row in changes),
    )
    events = list(itertools.islice(page, limit))
    # Rows read for messages whose creation fell off the page are still the
    # current state of those messages: keep them, read only what is missing.
    missing = sorted({message_id for _, _, message_id in events if message_id not in rows})
    for chunk in chunks(missing):
        placeholders, chunk_params = in_list("id", chunk)
        for row in txn.query(message_queries.BY_IDS.format(ids=placeholders), chunk_params):
            rows[int(row[0])] = row
    wanted = {message_id for _, _, message_id in events}
    bare = [message_queries.message_row(txn, row) for key, row in rows.items() if key in wanted]
    by_id = {message.id: message for message in message_queries.current_messages(txn, bare)}
    return [
        TimelineEvent(event_id, kind, by_id[message_id]) for event_id, kind, message_id in events
    ]


def edit_message(
    txn: Txn,
    message_id: int,
    editor_id: int | None,
    content: str,
    edited_at: int,
    mentions: Sequence[int] | None = None,
) -> Change:
    """Replace the content in place (a full-text index on it follows) as an ``edit`` event.

    ``editor_id`` None is a user id no row can have (past 64 bits): never the author.
    ``mentions`` replace the message's mention rows (None keeps them).
    """
    message = _live_message(txn, message_id)
    if editor_id is None or message.sender_id != editor_id:
        raise Forbidden("Only the author can edit a message.")
    if message.content == content:
        return _unchanged(txn, message_id)
    event_id = _insert_event(txn, message, EDITED, editor_id, edited_at)
    stored, sealed = txn.sealing.seal_content(message_id, content)
    txn.execute(
        "UPDATE messages SET content = :content, sealed = :sealed, edited_at = :edited_at"
        " WHERE id = :id",
        {"content": stored, "sealed": sealed, "edited_at": edited_at, "id": message_id},
    )
    if mentions is not None:
        mention_queries.replace_mentions(txn, message_id, message.room_id, mentions)
    return _changed(txn, event_id, EDITED, message_id)


def delete_message(
    txn: Txn, message_id: int, deleter_id: int | None, deleted_at: int, any_author: bool = False
) -> Change:
    """Make a tombstone: the content and the reactions leave the store; id and place stay."""
    message = _message(txn, message_id)
    if deleter_id is None or (message.sender_id != deleter_id and not any_author):
        raise Forbidden("Only the author can delete a message.")
    if message.deleted:
        return _unchanged(txn, message_id)
    event_id = _insert_event(txn, message, DELETED, deleter_id, deleted_at)
    txn.execute(
        "UPDATE messages SET content = '', sealed = NULL, deleted = :deleted WHERE id = :id",
        {"deleted": True, "id": message_id},
    )
    reaction_queries.remove_all(txn, message_id)
    mention_queries.remove_mentions(txn, message_id)
    upload_queries.detach(txn, message_id)
    return _changed(txn, event_id, DELETED, message_id)


def set_reaction(
    txn: Txn, message_id: int, user_id: int, emoji: str, present: bool, ts: int
) -> Change:
    """Add or remove one reaction as a ``react``/``unreact`` event, within the bounds."""
    message = _live_message(txn, message_id)
    counts = reaction_queries.reaction_counts(txn, message_id, user_id, emoji)
    if counts.exists == present:
        if txn.query_one("SELECT id FROM users WHERE id = :id", {"id": user_id}) is None:
            raise NotFound("No such user.")
        return _unchanged(txn, message_id)
    if present:
        check_reaction_limits(not counts.emoji_known, counts.distinct_emoji, counts.by_user)
        event_id = _insert_event(txn, message, REACTED, user_id, ts)
        reaction_queries.add_reaction(txn, message_id, user_id, emoji, event_id, ts)
        return _changed(txn, event_id, REACTED, message_id)
    event_id = _insert_event(txn, message, UNREACTED, user_id, ts)
    reaction_queries.remove_reaction(txn, message_id, user_id, emoji)
    return _changed(txn, event_id, UNREACTED, message_id)


def _message(txn: Txn, message_id: int) -> Message:
    """Take the writers' lock, then read the bare row (``NotFound`` if missing).

    The lock comes first so that the row read is the one the change applies
    to: no other change of the message can commit in between.
    """
    txn.lock_writers()
    row = txn.query_one(_MESSAGE_FOR_UPDATE, {"id": message_id})
    if row is None:
        raise NotFound("No such message.")
    return message_queries.message_row(txn, row)


def _live_message(txn: Txn, message_id: int) -> Message:
    """Like ``_message``, and a tombstone is ``NotFound`` too: nothing of it can change."""
    message = _message(txn, message_id)
    if message.deleted:
        raise NotFound("No such message.")
    return message


def take_event_id(txn: Txn) -> int:
    """The next id of the timeline's (the messages') sequence; hold the writers' lock."""
    *bumps, take = txn.dialect.take_id
    for statement in bumps:
        txn.execute(statement)
    row = txn.query_one(take)
    assert row is not None  # migration 0002 makes sure the sequence exists
    return int(row[0])


def _insert_event(txn: Txn, message: Message, kind: str, user_id: int, ts: int) -> int:
    """Store a change with the next id of the messages sequence, and return the id.

    The caller holds the writers' lock (``_message``), so no message or
    other change takes an id between this one and its commit.
    """
    event_id = take_event_id(txn)
    try:
        txn.execute(
            _INSERT_EVENT,
            {
                "id": event_id,
                "room_id": message.room_id,
                "message_id": message.id,
                "kind": kind,
                "user_id": user_id,
                "ts": ts,
            },
        )
    except NotFound:
        raise NotFound("No such user.") from None
    return event_id


def _changed(txn: Txn, event_id: int, kind: str, message_id: int) -> Change:
    """The new event, with the message read back as it is after the change."""
    return Change(TimelineEvent(event_id, kind, get_message(txn, message_id)), changed=True)


def _unchanged(txn: Txn, message_id: int) -> Change:
    """The message's latest event with its current state: the answer to a repeat.

    That is its latest change, or else its creation, whose id is its own.
    """
    row = txn.query_one(_LATEST_CHANGE, {"message_id": message_id})
    event_id, kind = (message_id, CREATED) if row is None else (int(row[0]), str(row[1]))
    event = TimelineEvent(event_id, kind, get_message(txn, message_id))
    return Change(event, changed=False)
