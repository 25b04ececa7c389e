"""Who gets a Web Push, and with what: mentions and direct messages for users who are away.

A push goes to a user who was mentioned (the mentions code calls
``notify``) or received a direct message (``message_posted``, hooked after
every stored post), and only if they hold no socket on any process (the
cluster knows): a user with the chat open sees it there.

Nothing here runs on the hot path of a message. ``message_posted`` costs a
dict lookup for a room already seen (its direct pair, or "not direct": a
room never becomes or stops being direct) and starts a background lookup
for a room not seen yet. Everything after that — the presence question, the
store reads, the encryption and the requests — happens after the post has
been answered, bounded in number (``max_in_flight``): past it, pushes are
dropped with a warning rather than queued without end.

The payload is a small JSON object: the reason, the room (id and name), the
sender and a short excerpt (at most ``EXCERPT_LENGTH`` characters). When
messages are encrypted at rest (``ENCRYPTION_KEY``), the excerpt is left
out: a push service and the browser's notification tray must not hold what
the database does not.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from twisted.internet.defer import Deferred, DeferredList, succeed
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from chatservice.access_models import JOINED
from chatservice.cluster import ICluster
from chatservice.errors import NotFound
from chatservice.models import Message, Room
from chatservice.notify_hooks import INotificationSink
from chatservice.push_models import DIRECT, MENTION, REASONS, PushSubscription
from chatservice.store import IChatStore
from chatservice.webpush import DELIVERED, PushSender
from chatservice.wire import dumps

EXCERPT_LENGTH = 100
DEFAULT_MAX_IN_FLIGHT = 256
# Rooms whose direct pair (or "not direct") is remembered; cleared when full.
MAX_ROOMS_KNOWN = 50_000


def excerpt(content: str, length: int = EXCERPT_LENGTH) -> str:
    """The message's text on one line, cut to ``length`` characters with an ellipsis."""
    flat = " ".join(content.split())
    return flat if len(flat) <= length else flat[: length - 1] + "…"


def push_payload(room: Room, message: Message, reason: str, hide_content: bool) -> bytes:
    """The JSON a service worker receives (``docs/protocol.md``, "Web Push")."""
    return dumps(
        {
            "type": reason,
            "room_id": room.id,
            "room_name": room.name,
            "direct": room.direct,
            "message_id": message.id,
            "sender_id": message.sender_id,
            "sender": message.username,
            "ts": message.ts,
            "excerpt": None if hide_content else excerpt(message.content),
        }
    )


@implementer(INotificationSink)
class PushNotifier:
    """Sends the pushes of mentions and direct messages to users with no open socket."""

    log = Logger()

    def __init__(
        self,
        store: IChatStore,
        cluster: ICluster,
        sender: PushSender,
        clock: IReactorTime,
        *,
        hide_content: bool,
        max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
    ) -> None:
        self._store = store
        self._cluster = cluster
        self._sender = sender
        self._clock = clock
        self._hide_content = hide_content
        self._max_in_flight = max_in_flight
        # room id -> the user ids of a direct room, or None for any other room.
        self._direct: dict[int, tuple[int, ...] | None] = {}
        self._pending: set[Deferred[Any]] = set()
        self._asking: set[Deferred[Any]] = set()
        self._in_flight = 0
        self._overloaded = False
        self._stopped = False

    # -- triggers -----------------------------------------------------------------

    def message_posted(self, message: Message) -> None:
        """A new message was stored and published: push it if it is a direct message.

        Called on the hot path (``Messages``' after-post hook): it never
        waits and never raises.
        """
        if self._stopped:
            return
        room_id = message.room_id
        if room_id in self._direct:
            members = self._direct[room_id]
            if members is not None:
                self._direct_message(members, message)
            return
        self._track(Deferred.fromCoroutine(self._first_sight(message)))

    async def _first_sight(self, message: Message) -> None:
        room = await self._store.get_room(message.room_id)
        members: tuple[int, ...] | None = None
        if room.direct:
            rows = await self._store.list_members(room.id)
            members = tuple(sorted(row.user_id for row in rows))
        if len(self._direct) >= MAX_ROOMS_KNOWN:
            self._direct.clear()
        self._direct[room.id] = members
        if members is not None:
            self._direct_message(members, message, room)

    def _direct_message(
        self, members: tuple[int, ...], message: Message, room: Room | None = None
    ) -> None:
        others = [m for m in members if m != message.sender_id]
        self._push_unless_online(others, room, message, DIRECT)

    def _push_unless_online(
        self, user_ids: Sequence[int], room: Room | None, message: Message, reason: str
    ) -> None:
        """Push to those of ``user_ids`` with no socket open, in the background.

        Plain callbacks up to the presence answer: a recipient with the chat
        open (the usual case) costs no coroutine and no store read.
        """
        online = self._cluster.online(user_ids)
        if not isinstance(online, Deferred):
            self._unless_online(online, user_ids, room, message, reason)
            return
        # A shared cluster answers later (bounded by its own timeout); it is
        # waited for, but never cancelled (that would read as an outage).
        asking = online.addCallback(self._unless_online, user_ids, room, message, reason)
        self._asking.add(asking)
        asking.addBoth(self._answered, asking)
        self._track(asking)

    def _answered(self, result: object, asking: Deferred[Any]) -> object:
        self._asking.discard(asking)
        return result

    def _unless_online(
        self,
        online: frozenset[int],
        user_ids: Sequence[int],
        room: Room | None,
        message: Message,
        reason: str,
    ) -> Deferred[int] | None:
        offline = [user_id for user_id in user_ids if user_id not in online]
        if not offline:
            return None
        return self._track(Deferred.fromCoroutine(self._deliver(offline, room, message, reason)))

    # The notification sink of the mentions code (``INotificationSink`` of
    # ``notify_hooks``): the service registers this notifier with
    # ``notify_hooks.add(push)``, so ``Messages`` needs no ``on_posted``.

    def mentioned(self, user_id: int, message: Message, room: Room) -> None:
        """``message`` in ``room`` mentions ``user_id``: push it if they are away."""
        if not self._stopped and user_id != message.sender_id:
            self._push_unless_online([user_id], room, message, MENTION)

    def direct_message(self, user_id: int, message: Message, room: Room) -> None:
        """``message`` was posted in the direct room ``room`` of ``user_id``: push it if away."""
        if not self._stopped and user_id != message.sender_id:
            self._push_unless_online([user_id], room, message, DIRECT)

    def notify(
        self, user_ids: Sequence[int], room: Room, message: Message, reason: str
    ) -> Deferred[int]:
        """Push ``message`` to those of ``user_ids`` with no socket open; fire with the count.

        For the mentions code: ``reason`` is ``"mention"`` (or ``"direct"``).
        The users must be allowed to read the room (the caller decided);
        the sender is never pushed to. Never fails (failures are logged).
        """
        if reason not in REASONS:
            raise ValueError(f"unknown push reason {reason!r}")
        if self._stopped:
            return succeed(0)
        return self._track(Deferred.fromCoroutine(self._notify(user_ids, room, message, reason)))

    # -- delivery -----------------------------------------------------------------

    async def _offline(self, user_ids: Sequence[int]) -> list[int]:
        if not user_ids:
            return []
        online = self._cluster.online(user_ids)
        if isinstance(online, Deferred):
            online = await online
        return [user_id for user_id in user_ids if user_id not in online]

    async def _notify(
        self, user_ids: Sequence[int], room: Room | None, message: Message, reason: str
    ) -> int:
        """Push to the offline ones of ``user_ids`` (the room is read if None, when needed)."""
        targets = await self._offline(sorted({u for u in user_ids if u != message.sender_id}))
        return await self._deliver(targets, room, message, reason)

    async def _deliver(
        self, targets: Sequence[int], room: Room | None, message: Message, reason: str
    ) -> int:
        """Push to ``targets``, known to be offline."""
        if not targets:
            return 0
        subscriptions = await self._store.push_subscriptions(targets)
        if not subscriptions:
            return 0
        if room is None:
            room = await self._store.get_room(message.room_id)
        allowed = await self._allowed({s.user_id for s in subscriptions}, room, reason)
        payload = push_payload(room, message, reason, self._hide_content)
        sends = [
            self._send(subscription, payload, f"room{room.id}")
            for subscription in subscriptions
            if subscription.user_id in allowed
        ]
        results = await DeferredList(sends, consumeErrors=True)
        return sum(1 for ok, outcome in results if ok and outcome == DELIVERED)

    async def _allowed(self, user_ids: set[int], room: Room, reason: str) -> set[int]:
        """The users whose account works and who (for a direct message) are still in the room."""
        now = int(self._clock.seconds() * 1000)
        accounts = await self._store.get_accounts(sorted(user_ids), now)
        allowed = {
            user_id
            for user_id, account in accounts.items()
            if not account.disabled and not account.deleted
        }
        if reason == DIRECT:
            for user_id in sorted(allowed):
                member = await self._store.get_member(room.id, user_id)
                if member is None or member.state != JOINED:
                    allowed.discard(user_id)
        return allowed

    def _send(self, subscription: PushSubscription, payload: bytes, topic: str) -> Deferred[str]:
        if self._in_flight >= self._max_in_flight:
            if not self._overloaded:
                self._overloaded = True
                self.log.warn(
                    "{count} pushes in flight: further pushes are dropped until they drain",
                    count=self._in_flight,
                )
            return succeed("dropped")
        self._in_flight += 1
        sending = Deferred.fromCoroutine(self._sender.send(subscription, payload, topic))

        def done(result: object) -> object:
            self._in_flight -= 1
            if self._in_flight <= self._max_in_flight // 2:
                self._overloaded = False
            return result

        return sending.addBoth(done)

    # -- lifecycle ----------------------------------------------------------------

    def _track(self, work: Deferred[Any]) -> Deferred[Any]:
        """Keep background work to wait for (tests) or cancel (shutdown); log its failures."""
        self._pending.add(work)

        def finished(result: object) -> object:
            self._pending.discard(work)
            return result

        return work.addBoth(finished).addErrback(self._failed)

    def _failed(self, failure: Failure) -> int:
        if failure.check(NotFound):
            return 0  # the room was deleted meanwhile: nothing to tell
        if not self._stopped:
            self.log.failure("sending a push failed", failure)
        return 0

    def settled(self) -> Deferred[None]:
        """Fire once every push started so far has been delivered or given up."""
        pending = list(self._pending)
        if not pending:
            return succeed(None)
        return DeferredList(pending, consumeErrors=True).addCallback(lambda _: self.settled())

    def stop(self) -> None:
        """Start nothing new and cancel what is waiting (a retry's backoff, a request)."""
        self._stopped = True
        for work in list(self._pending):
            if work not in self._asking:
                work.cancel()
