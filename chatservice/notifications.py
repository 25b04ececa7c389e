"""After a message is stored: tell the users it is for, wherever their sockets are.

A mention sends a ``notification`` frame to every socket of each mentioned
user (``userframes.py``: on every process, whatever room a socket is in),
and so does a message in a direct room, to the other member. Both also go
to the registered ``INotificationSink``s (``notify_hooks.py``: Web Push),
once, from the process that stored the message. An edit notifies only the
users it newly mentions.

Everything here runs after the commit and off the sender's answer: a
failure is logged and never unstores or delays a message.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from twisted.internet.defer import Deferred, succeed
from twisted.logger import Logger
from twisted.python.failure import Failure

from chatservice.access_models import JOINED, Member
from chatservice.errors import NotFound
from chatservice.models import Message, Room
from chatservice.notify_hooks import NotificationHooks
from chatservice.store import IChatStore
from chatservice.userframes import UserFrames

MENTION = "mention"
DIRECT = "direct"
# A notification's excerpt of the message, in code points.
EXCERPT_LENGTH = 100
# Rooms whose "is it direct?" answer is kept (it never changes); past it
# the cache starts over.
_ROOM_CACHE = 10_000


def notification_frame(reason: str, message: Message) -> dict[str, object]:
    """The ``notification`` frame: the same for every user it goes to."""
    return {
        "type": "notification",
        "reason": reason,
        "room_id": message.room_id,
        "message_id": message.id,
        "sender_id": message.sender_id,
        "username": message.username,
        "excerpt": message.content[:EXCERPT_LENGTH],
        "ts": message.ts,
    }


class Notifications:
    """Sends notification frames and calls the hooks for stored messages."""

    log = Logger()

    def __init__(self, store: IChatStore, frames: UserFrames, hooks: NotificationHooks) -> None:
        self._store = store
        self._frames = frames
        self.hooks = hooks
        self._rooms: dict[int, Room] = {}

    def posted(self, message: Message) -> None:
        """A message was stored: notify its mentions and, in a direct room, the other member."""
        self._notify(message, message.mentions, direct=True)

    def edited(self, before: Message, after: Message) -> None:
        """A message was edited: notify the users it mentions now and did not before."""
        newly = set(after.mentions) - set(before.mentions)
        if newly:
            self._notify(after, newly, direct=False)

    def _notify(self, message: Message, mentioned: Collection[int], *, direct: bool) -> None:
        if mentioned:
            self._frames.send(mentioned, notification_frame(MENTION, message))
        if not mentioned:
            if not direct:
                return
            known = self._rooms.get(message.room_id)
            if known is not None and not known.direct:
                # The common case, a plain message in a room that is not
                # direct: nobody to tell, and no Deferred chain to build
                # (~4 % of the CPU of S4, 10 rooms x 100 sockets).
                return
        working = self._room(message.room_id).addCallback(
            self._with_room, message, mentioned, direct
        )
        working.addErrback(self._failed)

    def _room(self, room_id: int) -> Deferred[Room]:
        room = self._rooms.get(room_id)
        if room is not None:
            return succeed(room)

        def keep(found: Room) -> Room:
            if len(self._rooms) >= _ROOM_CACHE:
                self._rooms.clear()
            self._rooms[room_id] = found
            return found

        return self._store.get_room(room_id).addCallback(keep)

    def _with_room(
        self, room: Room, message: Message, mentioned: Collection[int], direct: bool
    ) -> Deferred[None] | None:
        for user_id in sorted(mentioned):
            self.hooks.mentioned(user_id, message, room)
        if not (direct and room.direct):
            return None
        return self._store.list_members(room.id).addCallback(
            self._direct, message, room, set(mentioned)
        )

    def _direct(
        self, members: Sequence[Member], message: Message, room: Room, mentioned: set[int]
    ) -> None:
        others = [
            member.user_id
            for member in members
            if member.state == JOINED and member.user_id != message.sender_id
        ]
        # A mention already sent its frame; the hooks hear both.
        unmentioned = [user_id for user_id in others if user_id not in mentioned]
        self._frames.send(unmentioned, notification_frame(DIRECT, message))
        for user_id in others:
            self.hooks.direct_message(user_id, message, room)

    def _failed(self, failure: Failure) -> None:
        if failure.check(NotFound):
            return  # the room was deleted meanwhile: no one to tell
        self.log.failure("notifying a message's users failed", failure)
