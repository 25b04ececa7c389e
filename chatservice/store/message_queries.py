"""The SQL of messages: storing a batch, and reading messages in their current state.

Kept apart from ``sql.py``'s users and rooms because these are the hot
paths, with their own index and locking rules. Each function runs in a pool
thread inside one transaction of ``Database``.

Reading a message in its current state takes three queries for any number
of messages (``current_messages``): the rows (mentions included, in their
``mentioned`` column), the reactions of all of them, and the messages they
reply to, never one query per message.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from chatservice.errors import NotFound
from chatservice.file_models import Attachment
from chatservice.models import (
    REPLY_EXCERPT_LENGTH,
    Message,
    NewMessage,
    Posted,
    Reaction,
    ReplyPreview,
)
from chatservice.store import mention_queries, reaction_queries, search_backlog, upload_queries
from chatservice.store.database import Txn
from chatservice.store.in_lists import chunks, in_list
from chatservice.store.ranges import fits

MESSAGE_COLUMNS = (
    "id, room_id, sender_id, username, content, ts, client_msg_id, reply_to, edited_at, deleted,"
    " mentioned, sealed"
)


def message_row(txn: Txn, row: tuple[Any, ...]) -> Message:
    """A ``MESSAGE_COLUMNS`` row as a ``Message`` without reactions or preview.

    The text is opened with ``txn.sealing`` when the row is sealed.
    """
    message_id = int(row[0])
    sealed = row[11]
    return Message(
        id=message_id,
        room_id=int(row[1]),
        sender_id=int(row[2]),
        username=row[3],
        content=row[4] if sealed is None else txn.sealing.open_content(message_id, row[4], sealed),
        ts=int(row[5]),
        client_msg_id=row[6],
        reply_to=None if row[7] is None else int(row[7]),
        edited_at=None if row[8] is None else int(row[8]),
        deleted=bool(row[9]),
        mentions=mention_queries.parse_mentioned(row[10]),
    )


# -- reading the current state ---------------------------------------------------

BY_IDS = f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE id IN ({{ids}})"
# SUBSTR counts characters (code points) on both databases, so the excerpt
# is cut in the database and a long original never crosses the wire whole.
# A sealed original is opened whole and cut here: ``content`` then holds tokens.
_PREVIEWS = (
    "SELECT id, room_id, sender_id, username, SUBSTR(content, 1, :length), deleted, sealed"
    " FROM messages WHERE id IN ({ids})"
)


def messages_by_ids(txn: Txn, ids: Sequence[int]) -> list[Message]:
    """Return the messages of ``ids`` in their current state, in the order of ``ids``.

    Unknown ids (and ids past 64 bits) are skipped. Three queries per 512
    distinct ids at most, whatever their number.
    """
    wanted = [message_id for message_id in ids if fits(message_id)]
    rows: dict[int, Message] = {}
    for chunk in chunks(wanted):
        placeholders, params = in_list("id", chunk)
        for row in txn.query(BY_IDS.format(ids=placeholders), params):
            rows[int(row[0])] = message_row(txn, row)
    found = current_messages(txn, rows.values())
    by_id = {message.id: message for message in found}
    return [by_id[message_id] for message_id in wanted if message_id in by_id]


def current_messages(txn: Txn, messages: Iterable[Message]) -> list[Message]:
    """Complete bare rows (``message_row``) with reactions, reply previews and attachments."""
    bare = list(messages)
    live = [m.id for m in bare if not m.deleted]
    reactions = reaction_queries.reactions_of(txn, live)
    attachments = upload_queries.attachments_of(txn, live)
    replied = [m.reply_to for m in bare if m.reply_to is not None]
    previews = {key: preview for key, (_, preview) in reply_targets(txn, replied).items()}
    return [
        _with(
            message,
            reactions.get(message.id, ()),
            None if message.reply_to is None else previews.get(message.reply_to),
            attachments.get(message.id, ()),
        )
        for message in bare
    ]


def _with(
    message: Message,
    reactions: tuple[Reaction, ...],
    preview: ReplyPreview | None,
    attachments: tuple[Attachment, ...] = (),
) -> Message:
    if not reactions and preview is None and not attachments:
        return message
    return Message(*message.fields_with(preview, reactions, attachments))


def reply_targets(txn: Txn, ids: Sequence[int]) -> dict[int, tuple[int, ReplyPreview]]:
    """Return ``{id: (room_id, preview)}`` for the messages of ``ids`` that exist."""
    found: dict[int, tuple[int, ReplyPreview]] = {}
    for chunk in chunks([i for i in ids if fits(i)]):
        placeholders, params = in_list("id", chunk)
        params["length"] = REPLY_EXCERPT_LENGTH
        for row in txn.query(_PREVIEWS.format(ids=placeholders), params):
            deleted = bool(row[5])
            excerpt = row[4] or ""
            if row[6] is not None:
                text = txn.sealing.open_content(int(row[0]), "", row[6])
                excerpt = text[:REPLY_EXCERPT_LENGTH]
            preview = ReplyPreview(int(row[0]), int(row[2]), row[3], excerpt, deleted)
            found[preview.id] = (int(row[1]), preview)
    return found


def preview_of(message: Message) -> ReplyPreview:
    """What a reply shows of ``message``, taken from the object itself."""
    excerpt = message.content[:REPLY_EXCERPT_LENGTH]
    return ReplyPreview(message.id, message.sender_id, message.username, excerpt, message.deleted)


# -- storing a batch --------------------------------------------------------------

_FIND_BY_CLIENT_ID = (
    f"SELECT {MESSAGE_COLUMNS} FROM messages"
    " WHERE room_id = :room_id AND sender_id = :sender_id AND client_msg_id = :client_msg_id"
)
# The message takes the next id of its own sequence, which every timeline
# event shares: a new message is this one statement and its row is its
# creation event (changes take their ids from the same sequence).
_INSERT_MESSAGE = (
    "INSERT INTO messages"
    " (room_id, sender_id, username, content, ts, client_msg_id, reply_to, mentioned)"
    " VALUES (:room_id, :sender_id, :username, :content, :ts, :client_msg_id, :reply_to,"
    " :mentioned)"
)
# Both SQLite (3.35+) and PostgreSQL: no row comes back when the unique
# (room_id, sender_id, client_msg_id) key was already used, and then no id
# is taken.
_INSERT_MESSAGE_ONCE = (
    _INSERT_MESSAGE + " ON CONFLICT (room_id, sender_id, client_msg_id) DO NOTHING RETURNING id"
)


def add_messages(txn: Txn, batch: list[NewMessage]) -> list[Posted]:
    """Store ``batch`` in order; a repeated ``client_msg_id`` gives back the original.

    Each new message costs one statement (a resend one or two), as before
    the timeline: its creation event is its row. Where the dialect keeps
    a search backlog (SQLite), the batch that takes it past its bound
    indexes all of it (``search_backlog``); with ``ENCRYPTION_KEY``
    one more statement for the batch stores the sealed texts (``_seal``).
    Fails with ``NotFound``
    (rolling back the whole batch) when a room or a sender does not exist,
    or a reply names a message that is not in its room.
    """
    sealing = txn.sealing
    # With ENCRYPTION_KEY the row holds the words' tokens, not the text; made
    # before the lock, which only the seal itself (it needs the id) waits for.
    stored = [sealing.index_text(new.content) if sealing.enabled else new.content for new in batch]
    # Taken first, so that ids become visible in the order they were assigned
    # and a client_msg_id lookup cannot race another writer's insert.
    txn.lock_writers()
    for room_id in sorted({new.room_id for new in batch}):
        if txn.query_one("SELECT id FROM rooms WHERE id = :id", {"id": room_id}) is None:
            raise NotFound("No such room.")
    replied = {new.reply_to for new in batch if new.reply_to is not None}
    targets = reply_targets(txn, list(replied)) if replied else {}
    look_up_first = not txn.dialect.supports_returning
    posted: list[Posted] = []
    created: list[int] = []
    sealed: list[dict[str, object]] = []
    for new, content in zip(batch, stored, strict=True):
        preview = None
        if new.reply_to is not None:
            target = targets.get(new.reply_to)
            if target is None or target[0] != new.room_id:
                raise NotFound("No such message.")
            preview = target[1]
        params = {
            "room_id": new.room_id,
            "sender_id": new.sender_id,
            "username": new.username,
            "content": content,
            "ts": new.ts,
            "client_msg_id": new.client_msg_id,
            "reply_to": new.reply_to,
            "mentioned": mention_queries.format_mentioned(new.mentions),
        }
        try:
            if new.client_msg_id is None:
                message_id = txn.insert(_INSERT_MESSAGE, params)
            elif look_up_first:
                # Old SQLite (< 3.35): look up first, then insert.
                row = txn.query_one(_FIND_BY_CLIENT_ID, params)
                if row is not None:
                    posted.append(Posted(_resent(txn, row, sealed), False))
                    continue
                message_id = txn.insert(_INSERT_MESSAGE, params)
            else:
                # One statement in the common case: the insert itself finds
                # out whether (room, sender, client_msg_id) was used before.
                inserted = txn.query_one(_INSERT_MESSAGE_ONCE, params)
                if inserted is None:
                    # A resend; sees rows inserted earlier in this batch, too.
                    row = txn.query_one(_FIND_BY_CLIENT_ID, params)
                    assert row is not None
                    posted.append(Posted(_resent(txn, row, sealed), False))
                    continue
                message_id = int(inserted[0])
        except NotFound:
            raise NotFound("No such user.") from None
        upload_queries.attach(txn, message_id, new.attachments, new.ts)
        message = new.stored(message_id, preview)
        posted.append(Posted(message, created=True))
        created.append(message_id)
        if new.mentions:
            mention_queries.add_mentions(txn, message_id, new.room_id, new.mentions)
        if sealing.enabled and new.content:
            sealed.append({"id": message_id, "sealed": sealing.seal_text(message_id, new.content)})
        if message_id in replied:
            # A later message of this batch answers this one (its id guessed).
            targets[message_id] = (new.room_id, preview_of(message))
    _seal(txn, sealed)
    if created:
        search_backlog.index_if_due(txn, created[-1])
    return posted


_SEAL = "UPDATE messages SET sealed = :sealed WHERE id = :id"


def _seal(txn: Txn, pending: list[dict[str, object]]) -> None:
    """Store the sealed texts of the batch's new rows, in one statement.

    Sealed after the insert because the associated data binds each value to
    its id, which the insert has only just given; until then the row holds
    its tokens only, never the text.
    """
    if pending:
        txn.execute_many(_SEAL, pending)
        pending.clear()


def _resent(txn: Txn, row: tuple[Any, ...], pending: list[dict[str, object]]) -> Message:
    """The original of a resend, which may be a row of this very batch not yet sealed."""
    if pending:
        _seal(txn, pending)
        return messages_by_ids(txn, [int(row[0])])[0]
    return current_messages(txn, [message_row(txn, row)])[0]


# -- history pages ----------------------------------------------------------------

_PAGE_AFTER = (
    f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE room_id = :room_id AND id > :after"
    " ORDER BY id LIMIT :limit"
)
_PAGE_BEFORE = (
    f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE room_id = :room_id AND id < :before"
    " ORDER BY id DESC LIMIT :limit"
)
_PAGE_NEWEST = (
    f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE room_id = :room_id"
    " ORDER BY id DESC LIMIT :limit"
)


def get_messages(
    txn: Txn, room_id: int, limit: int, before: int | None, after: int | None
) -> list[Message]:
    """Return a page of a room's history, oldest first (see ``IChatStore.get_messages``)."""
    # Each query walks the (room_id, id) index from one end and stops after
    # ``limit`` rows, so a page costs the same in a room of a million messages.
    if after is not None:
        rows = txn.query(_PAGE_AFTER, {"room_id": room_id, "after": after, "limit": limit})
    else:
        if before is not None:
            params = {"room_id": room_id, "before": before, "limit": limit}
            rows = txn.query(_PAGE_BEFORE, params)
        else:
            rows = txn.query(_PAGE_NEWEST, {"room_id": room_id, "limit": limit})
        rows.reverse()
    return current_messages(txn, [message_row(txn, row) for row in rows])
