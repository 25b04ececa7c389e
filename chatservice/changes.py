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

from chatservice.access import RoomAccess, refuse_post
from chatservice.cluster import SharedRate
from chatservice.errors import NotFound
from chatservice.hub import IHub, RoomEvent, publish_quietly
from chatservice.mentions import Mentions
from chatservice.messages import check_rate
from chatservice.models import Change, Message, TimelineEvent
from chatservice.moderation import Moderation
from chatservice.notifications import Notifications
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
        self,
        store: IChatStore,
        hub: IHub,
        clock: IReactorTime,
        limiter: SharedRate,
        *,
        access: RoomAccess | None = None,
        moderation: Moderation | None = None,
        mentions: Mentions | None = None,
        notifications: Notifications | None = None,
    ) -> None:
        self._store = store
        self._hub = hub
        self._clock = clock
        # The message rate: an edit or a reaction is a message's worth of
        # traffic for every reader of the room.
        self._limiter = limiter
        # Who may act on a message found by id alone (REST), and who may
        # delete other members' messages; None: anyone, and nobody.
        self._access = access
        self._moderation = moderation
        # An edit's @names are resolved again; newly mentioned users hear of it.
        self._mentions = mentions
        self._notifications = notifications

    def _now_ms(self) -> int:
        return int(self._clock.seconds() * 1000)

    async def _message(
        self, identity: Identity, message_id: int, room_id: int | None, *, post: bool = True
    ) -> Message:
        """The message acted on, if the user may act in its room.

        A socket acts on its own room's messages (another room's is
        ``NotFound``); its rights were checked at the handshake and are kept
        by ``roompolicy``. A message named by id alone (REST) is checked
        here: a private room's message is ``NotFound`` to a non-member, as
        if it did not exist; an archived room's messages do not change.
        """
        message = await self._store.get_message(message_id)
        if room_id is not None:
            if message.room_id != room_id:
                raise NotFound("No such message in this room.")
            return message
        if self._access is not None:
            try:
                if post:
                    await self._access.postable(identity, message.room_id)
                else:
                    refuse_post(
                        (await self._access.readable(identity, message.room_id)).room, False
                    )
            except NotFound:
                raise NotFound("No such message.") from None
        return message

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
        before = await self._message(editor, message_id, room_id)
        mentions = None
        if self._mentions is not None:
            mentions = await self._mentions.resolve(before.room_id, editor.user_id, content)
        change = await self._store.edit_message(
            message_id, editor.user_id, content, self._now_ms(), mentions
        )
        if change.changed and self._notifications is not None:
            self._notifications.edited(before, change.event.message)
        return self._published(change)

    async def delete(
        self, deleter: Identity, message_id: int, room_id: int | None = None
    ) -> Change:
        """Turn a message into a tombstone (its content is removed from the store).

        One's own, or, for the room's owner and moderators, anyone's (an
        entry of the audit log).

        Raises:
            NotFound: no such message (or not in ``room_id``).
            Forbidden: someone else's message, and not a moderator of its room.
        """
        message = await self._message(deleter, message_id, room_id, post=False)
        now = self._now_ms()
        if message.sender_id == deleter.user_id or self._moderation is None:
            change = await self._store.delete_message(message_id, deleter.user_id, now)
            return self._published(change)
        right = "delete other members' messages"
        await self._moderation.moderator(deleter, message.room_id, right)
        change = await self._store.delete_message(
            message_id, deleter.user_id, now, any_author=True
        )
        if change.changed:
            await self._moderation.record(
                deleter, "message_deleted", message.room_id, message.sender_id, ""
            )
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
        await self._message(user, message_id, room_id)
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
