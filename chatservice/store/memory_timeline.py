"""MemoryTimeline: the messages, events and reactions of ``MemoryStore``.

The same rules as the SQL stores (``message_queries``, ``timeline_queries``),
in dicts. Each room's list holds its messages *in their current state*,
reactions and reply previews included, so a page of history is a slice:
a change replaces the ``Message`` objects it affects (the message, and the
previews of the replies to it) instead of each read rebuilding them.
Everything runs in the reactor thread, one call at a time, so changes are
serialised as the SQL stores' writer lock serialises them.
"""

from __future__ import annotations

import bisect
import dataclasses
from array import array
from collections.abc import Sequence

from chatservice.errors import Forbidden, NotFound
from chatservice.models import (
    CREATED,
    DELETED,
    EDITED,
    EVENT_KINDS,
    REACTED,
    REPLY_EXCERPT_LENGTH,
    UNREACTED,
    Change,
    Message,
    NewMessage,
    Posted,
    Reaction,
    ReplyPreview,
    TimelineEvent,
    check_reaction_limits,
)
from chatservice.store.id_table import IdTable
from chatservice.store.memory_rows import MessageRows

_KIND_CODES = {kind: code for code, kind in enumerate(EVENT_KINDS)}


class MemoryTimeline:
    """Messages in their current state, and the one sequence of events that changed them."""

    def __init__(self) -> None:
        self.messages: dict[int, MessageRows] = {}
        """Per room, oldest first, each in its current state (compact: see ``memory_rows``)."""
        # The id columns are arrays, not lists: a full collection visits every
        # element of a list it walks, and these grow with every message
        # (bench/memory_gc.py); an array holds plain numbers it never walks.
        self.message_ids: dict[int, array[int]] = {}  # parallel to messages, for bisect
        # Both by message id, in lists: a big dict's resize stalls (``id_table``).
        self._where: IdTable[tuple[int, int]] = IdTable()  # (room id, index)
        self._by_client_id: dict[tuple[int, int, str], int] = {}
        # Each room's events in three parallel columns: id (for bisect), kind
        # (its index in EVENT_KINDS) and message id.
        self._event_ids: dict[int, array[int]] = {}
        self._event_kinds: dict[int, array[int]] = {}
        self._event_messages: dict[int, array[int]] = {}
        self._latest: IdTable[tuple[int, str]] = IdTable()  # its latest event
        # Per message, emoji in order of first reaction, users oldest first.
        self._reactions: dict[int, dict[str, list[int]]] = {}
        self._replies: dict[int, list[int]] = {}  # original id: ids of its replies
        # (user id, room id): ids of the live messages that mention the user.
        self.mentioned: dict[tuple[int, int], set[int]] = {}
        self._next_id = 1

    def add_room(self, room_id: int) -> None:
        """Make room for a new room's messages and events."""
        self.messages[room_id] = MessageRows()
        self.message_ids[room_id] = array("q")
        self._event_ids[room_id] = array("q")
        self._event_kinds[room_id] = array("b")
        self._event_messages[room_id] = array("q")

    # -- reading -----------------------------------------------------------------

    def get(self, message_id: int) -> Message | None:
        """The message in its current state, or None."""
        where = self._where.get(message_id)
        if where is None:
            return None
        room_id, index = where
        return self.messages[room_id][index]

    def events(self, room_id: int, after: int, limit: int) -> list[TimelineEvent]:
        """The oldest ``limit`` events of the room after ``after``, with current messages."""
        ids = self._event_ids.get(room_id)
        if ids is None:
            return []
        start = bisect.bisect_right(ids, after)
        end = start + limit
        page = zip(
            ids[start:end],
            self._event_kinds[room_id][start:end],
            self._event_messages[room_id][start:end],
            strict=True,
        )
        return [
            self._event(event_id, EVENT_KINDS[kind], message_id)
            for event_id, kind, message_id in page
        ]

    def _event(self, event_id: int, kind: str, message_id: int) -> TimelineEvent:
        message = self.get(message_id)
        assert message is not None
        return TimelineEvent(event_id, kind, message)

    # -- adding ------------------------------------------------------------------

    def add(self, batch: Sequence[NewMessage]) -> list[Posted]:
        """Store a batch: all of it or, on ``NotFound``, nothing."""
        for new in batch:
            if new.room_id not in self.messages:
                raise NotFound("No such room.")
        posted: list[Posted] = []
        added: list[Message] = []
        try:
            for new in batch:
                posted.append(self._add_one(new, added))
        except NotFound:
            for message in reversed(added):
                self._remove_new(message)
            raise
        return posted

    def _add_one(self, new: NewMessage, added: list[Message]) -> Posted:
        key = None
        if new.client_msg_id is not None:
            key = (new.room_id, new.sender_id, new.client_msg_id)
            original = self._by_client_id.get(key)
            if original is not None:
                message = self.get(original)
                assert message is not None
                return Posted(message, created=False)
        preview = None
        if new.reply_to is not None:
            target = self.get(new.reply_to)
            if target is None or target.room_id != new.room_id:
                raise NotFound("No such message.")
            preview = _preview(target)
        message = new.stored(self._take_id(), preview)
        self._where[message.id] = (new.room_id, len(self.messages[new.room_id]))
        self.messages[new.room_id].append(message)
        self.message_ids[new.room_id].append(message.id)
        if key is not None:
            self._by_client_id[key] = message.id
        if new.reply_to is not None:
            self._replies.setdefault(new.reply_to, []).append(message.id)
        self._record(message.id, new.room_id, message.id, CREATED)
        self._index_mentions(message, (), message.mentions)
        added.append(message)
        return Posted(message, created=True)

    def _remove_new(self, message: Message) -> None:
        """Undo ``_add_one`` of the newest message (a later one of its batch failed)."""
        self.messages[message.room_id].pop()
        self.message_ids[message.room_id].pop()
        self._event_ids[message.room_id].pop()
        self._event_kinds[message.room_id].pop()
        self._event_messages[message.room_id].pop()
        del self._where[message.id]
        del self._latest[message.id]
        if message.client_msg_id is not None:
            del self._by_client_id[(message.room_id, message.sender_id, message.client_msg_id)]
        if message.reply_to is not None:
            self._replies[message.reply_to].pop()
        self._index_mentions(message, message.mentions, ())

    def _take_id(self) -> int:
        taken = self._next_id
        self._next_id += 1
        return taken

    def _record(self, event_id: int, room_id: int, message_id: int, kind: str) -> None:
        self._event_ids[room_id].append(event_id)
        self._event_kinds[room_id].append(_KIND_CODES[kind])
        self._event_messages[room_id].append(message_id)
        self._latest[message_id] = (event_id, kind)

    # -- changing ----------------------------------------------------------------

    def edit(
        self,
        message_id: int,
        editor_id: int,
        content: str,
        edited_at: int,
        mentions: Sequence[int] | None = None,
    ) -> Change:
        """Replace the content as an ``edit`` event (see ``IChatStore.edit_message``)."""
        message = self._live(message_id)
        if message.sender_id != editor_id:
            raise Forbidden("Only the author can edit a message.")
        if message.content == content:
            return self._unchanged(message_id)
        named = message.mentions if mentions is None else tuple(sorted(set(mentions)))
        edited = dataclasses.replace(message, content=content, edited_at=edited_at, mentions=named)
        return self._change(message, EDITED, edited)

    def delete(self, message_id: int, deleter_id: int, any_author: bool = False) -> Change:
        """Make a tombstone as a ``delete`` event (see ``IChatStore.delete_message``)."""
        message = self.get(message_id)
        if message is None:
            raise NotFound("No such message.")
        if message.sender_id != deleter_id and not any_author:
            raise Forbidden("Only the author can delete a message.")
        if message.deleted:
            return self._unchanged(message_id)
        self._reactions.pop(message_id, None)
        tomb = dataclasses.replace(
            message, content="", deleted=True, reactions=(), attachments=(), mentions=()
        )
        return self._change(message, DELETED, tomb)

    def erase(self, message_id: int, rename: str | None) -> Change:
        """Make a tombstone whoever the author, renaming its sender (see ``erase_messages``)."""
        message = self.get(message_id)
        assert message is not None
        self._reactions.pop(message_id, None)
        username = message.username if rename is None else rename
        tomb = dataclasses.replace(
            message,
            content="",
            deleted=True,
            reactions=(),
            username=username,
            attachments=(),
            mentions=(),
        )
        return self._change(message, DELETED, tomb)

    def react(self, message_id: int, user_id: int, emoji: str, present: bool) -> Change:
        """Add or remove a reaction (see ``IChatStore.set_reaction``); the user exists."""
        message = self._live(message_id)
        by_emoji = self._reactions.get(message_id, {})
        users = by_emoji.get(emoji, [])
        if (user_id in users) == present:
            return self._unchanged(message_id)
        if present:
            check_reaction_limits(
                emoji not in by_emoji,
                len(by_emoji),
                sum(user_id in who for who in by_emoji.values()),
            )
            self._reactions.setdefault(message_id, {}).setdefault(emoji, []).append(user_id)
        else:
            users.remove(user_id)
            if not users:
                del by_emoji[emoji]
        reactions = tuple(
            Reaction(name, tuple(who)) for name, who in self._reactions.get(message_id, {}).items()
        )
        kind = REACTED if present else UNREACTED
        return self._change(message, kind, dataclasses.replace(message, reactions=reactions))

    def _live(self, message_id: int) -> Message:
        message = self.get(message_id)
        if message is None or message.deleted:
            raise NotFound("No such message.")
        return message

    def _unchanged(self, message_id: int) -> Change:
        event_id, kind = self._latest[message_id]
        return Change(self._event(event_id, kind, message_id), changed=False)

    def _change(self, old: Message, kind: str, new: Message) -> Change:
        """Record the event and put ``new`` in place of ``old``, and in its replies' previews."""
        event_id = self._take_id()
        self._record(event_id, old.room_id, old.id, kind)
        self._replace(new)
        self._index_mentions(new, old.mentions, new.mentions)
        if (new.content, new.deleted, new.username) != (old.content, old.deleted, old.username):
            preview = _preview(new)
            for reply_id in self._replies.get(new.id, ()):
                reply = self.get(reply_id)
                assert reply is not None
                self._replace(dataclasses.replace(reply, reply_preview=preview))
        return Change(TimelineEvent(event_id, kind, new), changed=True)

    def _index_mentions(self, message: Message, old: Sequence[int], new: Sequence[int]) -> None:
        """Keep ``mentioned`` in step with a message's mentions (``memory_read`` counts it)."""
        for user_id in set(old) - set(new):
            self.mentioned[(user_id, message.room_id)].discard(message.id)
        for user_id in set(new) - set(old):
            self.mentioned.setdefault((user_id, message.room_id), set()).add(message.id)

    def _replace(self, message: Message) -> None:
        room_id, index = self._where[message.id]
        self.messages[room_id][index] = message


def _preview(message: Message) -> ReplyPreview:
    excerpt = message.content[:REPLY_EXCERPT_LENGTH]
    return ReplyPreview(message.id, message.sender_id, message.username, excerpt, message.deleted)
