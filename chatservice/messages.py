"""Post a message, read history: the message use cases.

Posting stores first and publishes only after the commit ("ack after
commit"): nobody, the sender included, sees a message that could still be
lost.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from twisted.internet.defer import Deferred, fail
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure

from chatservice.hub import IHub, RoomEvent
from chatservice.models import Message, NewMessage, Posted
from chatservice.ratelimit import Rate, RateLimiter
from chatservice.store import IChatStore
from chatservice.store.batching import GroupCommitStore
from chatservice.tokens import Identity
from chatservice.wire import HistoryQuery, dumps

MAX_REPLAY = 500
DEFAULT_MESSAGE_RATE = Rate(burst=20, per_second=10.0)


@dataclass(frozen=True, slots=True)
class Replay:
    """What a resuming socket missed: the messages, or ``recovered=False`` if too many."""

    messages: Sequence[Message]
    recovered: bool


def message_payload(message: Message) -> bytes:
    """Encode a message once for every socket that receives it."""
    return dumps(message.to_json())


class Messages:
    """Message use cases, independent of HTTP and WebSocket."""

    log = Logger()

    def __init__(
        self,
        store: IChatStore,
        hub: IHub,
        clock: IReactorTime,
        *,
        committer: GroupCommitStore | None = None,
        message_rate: Rate = DEFAULT_MESSAGE_RATE,
    ) -> None:
        self._store = store
        # Posts that arrive while a commit is in flight share the next one:
        # durability costs one fsync per batch, not per message. The service
        # builds it (it closes it last); tests may let this build one.
        self._committer = committer if committer is not None else GroupCommitStore(store)
        self._hub = hub
        self._clock = clock
        # Per user, across all their sockets and processes' worth of this one.
        self._limiter = RateLimiter("messages-per-user", message_rate, clock)

    def post(
        self, sender: Identity, room_id: int, content: str, client_msg_id: str | None = None
    ) -> Deferred[Posted]:
        """Store a message, then publish it to the room.

        A repeated ``client_msg_id`` stores and publishes nothing: the
        original comes back with ``created=False`` for the caller to re-send
        to its own connection only. (Plain callbacks, not a coroutine: this
        runs for every message, and the coroutine machinery was a measured
        ~5% of the server's CPU at full load.)

        Fires with the ``Posted``; fails with ``RateLimited`` (the sender
        is over the message rate: nothing is stored), ``NotFound`` (no such
        room) or ``StoreUnavailable`` (the store could not commit).
        """
        decision = self._limiter.take(str(sender.user_id))
        if not decision.allowed:
            self.log.info(
                "rate limited by {limiter} (user {user_id})",
                limiter=self._limiter.name,
                user_id=sender.user_id,
            )
            return fail(self._limiter.refusal(decision, "You are sending messages too fast."))
        new = NewMessage(
            room_id=room_id,
            sender_id=sender.user_id,
            username=sender.username,
            content=content,
            ts=int(self._clock.seconds() * 1000),
            client_msg_id=client_msg_id,
        )
        return self._committer.add_message(new).addCallback(self._publish)

    def _publish(self, posted: Posted) -> Posted:
        """After the commit: tell the room. A delivery fault never unstores a message."""
        if posted.created:
            message = posted.message
            try:
                publishing = self._hub.publish(
                    RoomEvent(message.room_id, message_payload(message))
                )
            except Exception:
                self.log.failure("publishing message {message_id} failed", message_id=message.id)
            else:
                publishing.addErrback(self._publish_failed, message.id)
        return posted

    def _publish_failed(self, failure: Failure, message_id: int) -> None:
        self.log.failure("publishing message {message_id} failed", failure, message_id=message_id)

    def close(self) -> Deferred[None]:
        """Commit the posts already accepted, then close the store."""
        return self._committer.close()

    async def history(self, query: HistoryQuery) -> Sequence[Message]:
        """Return a page of a room's history, oldest first; ``NotFound`` for no room."""
        await self._store.get_room(query.room_id)
        return await self._store.get_messages(
            query.room_id, query.limit, before=query.before, after=query.after
        )

    async def replay(self, room_id: int, since: int) -> Replay:
        """Return the messages after ``since``, oldest first, if there are at most 500.

        With more, nothing is returned and ``recovered`` is False: the client
        pages through history over REST instead of getting a flood.
        """
        page = await self._store.get_messages(room_id, MAX_REPLAY + 1, after=since)
        if len(page) > MAX_REPLAY:
            return Replay((), recovered=False)
        return Replay(page, recovered=True)
