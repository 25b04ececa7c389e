"""Edit, delete and react: the use cases that change a message after it was sent.

Each change is stored first, as a new event of the message's room, and
published only after the commit, as one ``message_updated`` frame (the whole
message in its new state) for every socket of the room. A repeat (the same
edit, a reaction already there, a message already deleted) stores and
publishes nothing and answers as the first time did, so a client may retry
any of them safely.
"""

from __future__ import annotations

from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from chatservice.cluster import SharedRate
from chatservice.errors import NotFound
from chatservice.hub import IHub, RoomEvent, publish_quietly
from chatservice.messages import check_rate
from chatservice.models import Change, TimelineEvent
from chatservice.store import IChatStore
from chatservice.timeline import event_payload
from chatservice.tokens import Identity
from chatservice.wire import dumps


def repeat_payload(event: TimelineEvent) -> bytes:
    """The answer to a change that changed nothing: always a ``message_updated`` frame.

    Even when the message was never changed (its latest event is its
    creation), so a client that appends ``message`` frames shows no
    duplicate; ``event_id`` is then the message's own id.
    """
    return dumps(event.update_json())


class MessageChanges:
    """Changes to sent messages, independent of HTTP and WebSocket."""

    log = Logger()

    def __init__(
        self, store: IChatStore, hub: IHub, clock: IReactorTime, limiter: SharedRate
    ) -> None:
        self._store = store
        self._hub = hub
        self._clock = clock
        # The message rate: an edit or a reaction is a message's worth of
        # traffic for every reader of the room.
        self._limiter = limiter

    def _now_ms(self) -> int:
        return int(self._clock.seconds() * 1000)

    async def _check_room(self, message_id: int, room_id: int | None) -> None:
        """A socket acts on its own room's messages: another room's is ``NotFound``."""
        if room_id is not None and (await self._store.get_message(message_id)).room_id != room_id:
            raise NotFound("No such message in this room.")

    async def edit(
        self, editor: Identity, message_id: int, content: str, room_id: int | None = None
    ) -> Change:
        """Replace the content of one's own message.

        Raises:
            RateLimited: over the message rate (nothing changed).
            NotFound: no such message (or deleted, or not in ``room_id``).
            Forbidden: someone else's message.
        """
        await check_rate(self._limiter, editor.user_id, self.log)
        await self._check_room(message_id, room_id)
        change = await self._store.edit_message(
            message_id, editor.user_id, content, self._now_ms()
        )
        return self._published(change)

    async def delete(
        self, deleter: Identity, message_id: int, room_id: int | None = None
    ) -> Change:
        """Turn one's own message into a tombstone (its content is removed from the store).

        Raises:
            NotFound: no such message (or not in ``room_id``).
            Forbidden: someone else's message.
        """
        await self._check_room(message_id, room_id)
        change = await self._store.delete_message(message_id, deleter.user_id, self._now_ms())
        return self._published(change)

    async def react(
        self,
        user: Identity,
        message_id: int,
        emoji: str,
        present: bool = True,
        room_id: int | None = None,
    ) -> Change:
        """Add (or, with ``present=False``, remove) the user's ``emoji`` on a message.

        Raises:
            RateLimited: over the message rate (nothing changed).
            NotFound: no such message (or deleted, or not in ``room_id``).
            TooManyReactions: the message or the user is at the reaction bound.
        """
        await check_rate(self._limiter, user.user_id, self.log)
        await self._check_room(message_id, room_id)
        change = await self._store.set_reaction(
            message_id, user.user_id, emoji, present, self._now_ms()
        )
        return self._published(change)

    def _published(self, change: Change) -> Change:
        """After the commit: tell the room, once, if something changed."""
        if change.changed:
            event = change.event
            room_event = RoomEvent(event.room_id, event_payload(event), event_id=event.id)
            publish_quietly(self._hub, room_event, self.log)
        return change
