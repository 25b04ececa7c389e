"""Post a message, read history: the message use cases.

Posting stores first and publishes only after the commit ("ack after
commit"): nobody, the sender included, sees a message that could still be
lost.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Sequence

from twisted.internet.defer import Deferred, fail
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure

from chatservice.cluster import SharedRate
from chatservice.errors import InvalidRequest, NotFound, RateLimited
from chatservice.file_models import Attachment
from chatservice.hub import IHub, RoomEvent, publish_quietly
from chatservice.mentions import Mentions
from chatservice.models import Message, NewMessage, Posted
from chatservice.notifications import Notifications
from chatservice.ratelimit import Decision, Rate, RateLimiter
from chatservice.store import IChatStore
from chatservice.store.batching import GroupCommitStore
from chatservice.tokens import Identity
from chatservice.wire import HistoryQuery, dumps

DEFAULT_MESSAGE_RATE = Rate(burst=20, per_second=10.0)
# Checks a post's upload ids as the sender's own (``Files.attachments``).
AttachmentResolver = Callable[[Identity, Sequence[int]], Awaitable[tuple[Attachment, ...]]]


class ReplyNotInRoom(InvalidRequest):
    """Not an error code of its own: ``invalid_request`` with this message."""

    message = "'reply_to' must name a message of this room."


def message_payload(message: Message) -> bytes:
    """Encode a message once for every socket that receives it."""
    return dumps(message.to_json())


# The one per-user limit that posts, edits and reactions all spend from.
MESSAGE_LIMITER = "messages-per-user"


def message_limiter(rate: Rate, clock: IReactorTime) -> RateLimiter:
    """The in-process form of that limit (a service takes it from its cluster)."""
    return RateLimiter(MESSAGE_LIMITER, rate, clock)


def spend(
    limiter: SharedRate, user_id: int, log: Logger
) -> RateLimited | None | Deferred[RateLimited | None]:
    """Take one of the user's message tokens; the ``RateLimited`` to answer if there was none.

    A shared rate answers later (a Deferred); the local one at once, which
    keeps the Deferred machinery off the hot path of a single process.
    """
    decision = limiter.take(str(user_id))
    if isinstance(decision, Deferred):
        return decision.addCallback(_refusal, limiter, user_id, log)
    return _refusal(decision, limiter, user_id, log)


def _refusal(
    decision: Decision, limiter: SharedRate, user_id: int, log: Logger
) -> RateLimited | None:
    if decision.allowed:
        return None
    log.info("rate limited by {limiter} (user {user_id})", limiter=limiter.name, user_id=user_id)
    return limiter.refusal(decision, "You are sending messages too fast.")


async def check_rate(limiter: SharedRate, user_id: int, log: Logger) -> None:
    """``spend`` for coroutines: raise the ``RateLimited`` instead of returning it."""
    refused = spend(limiter, user_id, log)
    if isinstance(refused, Deferred):
        refused = await refused
    if refused is not None:
        raise refused


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
        limiter: SharedRate | None = None,
        attachments: AttachmentResolver | None = None,
        mentions: Mentions | None = None,
        notifications: Notifications | None = None,
        on_posted: Callable[[Message], None] | None = None,
    ) -> None:
        self._store = store
        self._resolve = attachments
        # Who a message's @names mention, resolved before it is stored, and
        # who hears of it once stored; None: no mentions, no notifications.
        self._mentions = mentions
        self._notifications = notifications
        # Told of every new message after its publication; it must return at
        # once and never raise. (The service hears of direct messages through
        # ``notifications`` instead, whose hooks Web Push is registered with.)
        self._on_posted = on_posted
        # Posts that arrive while a commit is in flight share the next one:
        # durability costs one fsync per batch, not per message. The service
        # builds it (it closes it last); tests may let this build one.
        self._committer = committer if committer is not None else GroupCommitStore(store)
        self._hub = hub
        self._clock = clock
        # Per user, across all their sockets; shared with edits and reactions.
        self._limiter: SharedRate = (
            limiter if limiter is not None else message_limiter(DEFAULT_MESSAGE_RATE, clock)
        )
        # Bound once: each read of the class's Logger descriptor builds a new
        # Logger, and post and _publish hand one on for every message.
        self._log = self.log

    def post(
        self,
        sender: Identity,
        room_id: int,
        content: str,
        client_msg_id: str | None = None,
        reply_to: int | None = None,
        attachments: Sequence[int] = (),
    ) -> Deferred[Posted]:
        """Store a message, then publish it to the room.

        A repeated ``client_msg_id`` stores and publishes nothing: the
        original comes back with ``created=False`` for the caller to re-send
        to its own connection only. (Plain callbacks, not a coroutine: this
        runs for every message, and the coroutine machinery was a measured
        ~5% of the server's CPU at full load.)

        Fires with the ``Posted``; fails with ``RateLimited`` (the sender
        is over the message rate: nothing is stored), ``NotFound`` (no such
        room), ``InvalidRequest`` (``reply_to`` is not a message of the room)
        or ``StoreUnavailable`` (the store could not commit). With
        ``attachments`` (upload ids), ``InvalidRequest`` unless they are the
        sender's own uploads.
        """
        if attachments:
            posting = self._post_with_files(
                sender, room_id, content, client_msg_id, reply_to, attachments
            )
            return Deferred.fromCoroutine(posting)
        refused = spend(self._limiter, sender.user_id, self._log)
        if isinstance(refused, Deferred):
            return refused.addCallback(
                self._store_post, sender, room_id, content, client_msg_id, reply_to
            )
        return self._store_post(refused, sender, room_id, content, client_msg_id, reply_to)

    async def _post_with_files(
        self,
        sender: Identity,
        room_id: int,
        content: str,
        client_msg_id: str | None,
        reply_to: int | None,
        upload_ids: Sequence[int],
    ) -> Posted:
        """``post`` for a message with files: check them first, off the plain hot path."""
        if self._resolve is None:
            raise InvalidRequest("This server does not take attachments.")
        await check_rate(self._limiter, sender.user_id, self._log)
        files = await self._resolve(sender, upload_ids)
        return await self._store_post(
            None, sender, room_id, content, client_msg_id, reply_to, files
        )

    def _store_post(
        self,
        refused: RateLimited | None,
        sender: Identity,
        room_id: int,
        content: str,
        client_msg_id: str | None,
        reply_to: int | None,
        files: tuple[Attachment, ...] = (),
    ) -> Deferred[Posted]:
        """The rest of ``post``, once the rate has answered."""
        if refused is not None:
            return fail(refused)
        new = NewMessage(
            room_id=room_id,
            sender_id=sender.user_id,
            username=sender.username,
            content=content,
            ts=int(self._clock.seconds() * 1000),
            client_msg_id=client_msg_id,
            reply_to=reply_to,
            attachments=files,
        )
        if self._mentions is not None and "@" in content:
            resolving = self._mentions.resolve(room_id, sender.user_id, content)
            return resolving.addCallback(self._store_new, new)
        return self._store_new((), new)

    def _store_new(self, mentions: tuple[int, ...], new: NewMessage) -> Deferred[Posted]:
        """Store ``new`` with its resolved mentions (checking its reply first)."""
        if mentions:
            new = dataclasses.replace(new, mentions=mentions)
        room_id, reply_to = new.room_id, new.reply_to
        if reply_to is None:
            return self._committer.add_message(new).addCallback(self._publish)
        # The room first: an unknown room is a 404 whatever the reply names.
        checking = self._store.get_room(room_id).addCallback(
            lambda _: self._store.get_message(reply_to).addCallbacks(
                self._reply_target, self._no_reply_target, callbackArgs=(room_id,)
            )
        )
        return checking.addCallback(lambda _: self._committer.add_message(new)).addCallback(
            self._publish
        )

    @staticmethod
    def _reply_target(original: Message, room_id: int) -> None:
        # Messages are never removed (a delete leaves a tombstone), so the
        # original cannot vanish between this check and the commit.
        if original.room_id != room_id:
            raise ReplyNotInRoom()

    @staticmethod
    def _no_reply_target(failure: Failure) -> None:
        failure.trap(NotFound)
        raise ReplyNotInRoom()

    def _publish(self, posted: Posted) -> Posted:
        """After the commit: tell the room. A delivery fault never unstores a message."""
        if posted.created:
            message = posted.message
            publish_quietly(
                self._hub,
                RoomEvent(message.room_id, message_payload(message), event_id=message.id),
                self._log,
            )
            if self._notifications is not None:
                self._notifications.posted(message)
            if self._on_posted is not None:
                self._on_posted(message)
        return posted

    def close(self) -> Deferred[None]:
        """Commit the posts already accepted, then close the store."""
        return self._committer.close()

    async def history(self, query: HistoryQuery) -> Sequence[Message]:
        """Return a page of a room's history, oldest first; ``NotFound`` for no room."""
        await self._store.get_room(query.room_id)
        return await self._store.get_messages(
            query.room_id, query.limit, before=query.before, after=query.after
        )
