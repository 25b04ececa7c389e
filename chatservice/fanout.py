"""ChatServerFactory: every live socket of this process, by room, and the hub's listener.

It keeps room membership and presence, writes each room event to every open
socket of the room (framed once per process, ``broadcast.py``), runs the I/O
of a resuming socket's catch-up (``resume.py`` decides what to send), hands
lost-connection notices to ``catchup.py``, drains. What a socket's own frames
ask for (post, change, read, typing) is its mixin ``frame_actions.py``'s.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from autobahn.twisted.websocket import WebSocketServerFactory
from twisted.internet.defer import Deferred, DeferredList
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from chatservice import metrics
from chatservice.broadcast import by_room, write_batch, write_event
from chatservice.catchup import RoomCatchUp
from chatservice.changes import MessageChanges
from chatservice.cluster import ICluster, LocalCluster
from chatservice.control import CLOSE_SOCKETS, CONTROL_ROOM, Control, close_matching
from chatservice.errors import ChatError, InternalError
from chatservice.frame_actions import FrameActions
from chatservice.hub import IBatchListener, IHub, RoomEvent
from chatservice.messages import Messages
from chatservice.outbox import DEFAULT_LIMIT
from chatservice.presence import Presence
from chatservice.read_markers import ReadMarkers
from chatservice.roompolicy import PostingPolicy
from chatservice.timeline import Replay, Timeline
from chatservice.waiting import within
from chatservice.websocket import (
    CLOSE_GOING_AWAY,
    ChatServerProtocol,
    SocketSession,
    protocol_class,
    protocol_options,
)

# Seconds a resume waits for the hub to subscribe to the room before it
# reads the store anyway.
SUBSCRIBE_WAIT = 2.0


@implementer(IBatchListener)
class ChatServerFactory(FrameActions, WebSocketServerFactory):
    """Every live socket of this process, by room; the hub's listener."""

    protocol = ChatServerProtocol  # type: ignore[assignment]  # Factory types it loosely
    # Not ``log``: that is Autobahn's logger, kept in the "autobahn" namespace.
    _log = Logger()

    def __init__(
        self,
        *,
        messages: Messages,
        timeline: Timeline,
        changes: MessageChanges,
        hub: IHub,
        clock: IReactorTime,
        max_message_length: int,
        ping_interval: float,
        ping_timeout: float,
        outbox_limit: int = DEFAULT_LIMIT,
        eager_send: bool = False,
        cluster: ICluster | None = None,
        control: Control | None = None,
    ) -> None:
        # No version in the 101 answer's Server header (Autobahn's default has one).
        super().__init__(server="chatservice")
        self._messages = messages
        self._timeline = timeline
        self._changes = changes
        self._hub = hub
        self.clock = clock
        self.max_message_length = max_message_length
        self.outbox_limit = outbox_limit
        self.eager_send = eager_send
        # Socket counts and presence are the service's (``cluster.py``); control
        # events close and restrict sockets on every process (kicks, mutes).
        self._cluster = cluster if cluster is not None else LocalCluster(clock)
        self._presence = Presence(self._cluster, hub, clock)
        self.control = control if control is not None else Control(hub)
        self.control.on(CLOSE_SOCKETS, lambda event: close_matching(self._sockets, event))
        self.policy = PostingPolicy(self.control)
        self.read_markers: ReadMarkers | None = None  # set by the service
        self._subscribed: dict[int, Deferred[bool]] = {}
        self._sockets: dict[int, set[ChatServerProtocol]] = defaultdict(set)
        self._in_flight: set[Deferred[Any]] = set()
        self._closed: dict[ChatServerProtocol, Deferred[None]] = {}
        self._draining = False
        frame = lambda payload: self.prepareMessage(payload).payloadHybi  # noqa: E731
        self._catchup = RoomCatchUp(timeline, self._sockets, frame, outbox_limit)
        # Every Autobahn option in one call (each resets allowNullOrigin), held by the class.
        self.setProtocolOptions(**protocol_options(ping_interval, ping_timeout))
        self.protocol = protocol_class(self)
        hub.set_listener(self)
        hub.subscribe(CONTROL_ROOM).addErrback(self._subscribe_failed)

    # -- membership and fan-out -----------------------------------------------

    @property
    def draining(self) -> bool:
        """True once shutdown began: new sockets are refused."""
        return self._draining

    def sockets_of(self, user_id: int) -> int:
        """How many sockets of this user exist (open or opening) in this process."""
        return self._cluster.sockets_of(user_id)

    def reserve(self, user_id: int, limit: int) -> Deferred[bool]:
        """Count a socket about to open if the user has fewer than ``limit`` anywhere."""
        return self._cluster.reserve_socket(user_id, limit)

    def release(self, user_id: int) -> None:
        """Uncount a reserved socket that was never built."""
        self._cluster.release_socket(user_id)

    def build_for(self, session: SocketSession, addr: Any) -> ChatServerProtocol:
        """Build the protocol of one handshake whose socket ``reserve`` counted."""
        protocol = self.buildProtocol(addr)
        assert isinstance(protocol, ChatServerProtocol)
        protocol.session = session
        protocol._counted = True
        return protocol

    def _uncount_socket(self, protocol: ChatServerProtocol) -> None:
        if not protocol._counted:
            return
        protocol._counted = False
        self._cluster.release_socket(protocol.session.identity.user_id)

    def join(self, protocol: ChatServerProtocol) -> None:
        """Add an open socket to its room; announce the user if it is their first."""
        session = protocol.session
        room = self._sockets[session.room_id]
        if not room:
            # Fires True once the hub confirms it delivers the room's events,
            # False if it failed (logged); a resume waits for it.
            subscribing: Deferred[bool] = self._hub.subscribe(session.room_id).addCallbacks(
                lambda _: True, self._subscribe_failed
            )
            self._subscribed[session.room_id] = subscribing
            metrics.OPEN_ROOMS.inc()
        room.add(protocol)
        metrics.OPEN_SOCKETS.inc()
        self._closed[protocol] = Deferred()
        self._log.debug(
            "user {user_id} joined room {room_id}",
            user_id=session.identity.user_id,
            room_id=session.room_id,
        )
        self._presence.joined(session)

    def leave(self, protocol: ChatServerProtocol) -> None:
        """Remove a closed socket; announce the user if it was their last."""
        session = protocol.session
        self._uncount_socket(protocol)
        room = self._sockets.get(session.room_id)
        if room is None or protocol not in room:
            return
        room.discard(protocol)
        metrics.OPEN_SOCKETS.dec()
        if not room:
            metrics.OPEN_ROOMS.dec()
            del self._sockets[session.room_id]
            self._subscribed.pop(session.room_id, None)
            self._catchup.forget(session.room_id)
            self._hub.unsubscribe(session.room_id)
        self._presence.left(session)
        closed = self._closed.pop(protocol, None)
        if closed is not None:
            closed.callback(None)

    def room_event(self, event: RoomEvent) -> None:
        """Frame the event once and write those bytes to every open socket of the room."""
        if event.room_id == CONTROL_ROOM:
            self.control.handle(event.payload)
            return
        sockets = self._sockets.get(event.room_id)
        if not sockets or not self._catchup.passes(event):
            return  # no socket here, or held until the room's catch-up read is sent
        if event.event_id is not None:
            metrics.DELIVERIES.add(len(sockets))  # once per fan-out, never per recipient
        write_event(sockets, event, self.prepareMessage(event.payload).payloadHybi)

    def room_events(self, events: Sequence[RoomEvent]) -> None:
        """``room_event`` for each event; a room's frames are written in one piece (broadcast)."""
        rooms = by_room(events, CONTROL_ROOM)
        if rooms is None:  # not what a batch of new messages holds: one by one
            for event in events:
                self.room_event(event)
            return
        catchup = self._catchup
        for room_id, room_events in rooms.items():
            sockets = self._sockets.get(room_id)
            if not sockets:
                continue
            passed = [event for event in room_events if catchup.passes(event)]
            frames = [self.prepareMessage(event.payload).payloadHybi for event in passed]
            if frames:
                stored = sum(1 for event in passed if event.event_id is not None)
                metrics.DELIVERIES.add(len(sockets) * stored)  # once per room and batch
                write_batch(sockets, passed, frames)

    def rooms_interrupted(self, room_ids: Sequence[int]) -> None:
        """The hub lost other processes' events: remember each room's cursor (``catchup.py``)."""
        self._catchup.interrupted(room_ids)

    def rooms_restored(self, room_ids: Sequence[int]) -> None:
        """Events flow again: catch every socket of these rooms up from the store."""
        if CONTROL_ROOM in room_ids:
            self.control.restored()  # control events may have been lost meanwhile
        self._catchup.restored(room_ids)

    def open_sockets(self) -> list[ChatServerProtocol]:
        """Every socket of this process that joined its room (revocation sweeps them)."""
        return [protocol for room in self._sockets.values() for protocol in room]

    def resume(self, protocol: ChatServerProtocol) -> None:
        """Read what a reconnecting socket missed and send it, then what it held.

        The socket already receives the room's live events, but holds them
        (``protocol.resuming``); only then is the store read, so nothing
        committed in between is missed.
        """
        state = protocol.resuming
        assert state is not None
        subscribed: Deferred[None] = Deferred()
        confirmed: list[bool] = []  # set once the hub answered

        def pass_on(result: bool) -> bool:
            confirmed.append(result)
            subscribed.callback(None)
            return result

        subscribing = self._subscribed.get(state.room_id)
        if subscribing is None:
            confirmed.append(True)
            subscribed.callback(None)
        else:
            subscribing.addBoth(pass_on)
        # A hub that cannot subscribe (Redis down) must not stall the resume:
        # after a bound, read anyway.
        waited = within(subscribed, SUBSCRIBE_WAIT, self.clock)

        async def replay() -> Replay:
            await waited
            if confirmed != [True]:
                # Events other processes published before the subscription
                # took effect may never reach this socket: the replay must
                # not claim a full recovery (the client pages on instead).
                state.unconfirmed()
            return await self._timeline.replay(state.room_id, state.since)

        def replayed(result: Replay) -> None:
            if result.events:
                self._catchup.delivered(state.room_id, result.events[-1].id)
            self._finish_resume(protocol, state.replayed(result))

        def failed(failure: Failure) -> None:
            error = failure.value
            if not isinstance(error, ChatError):
                self._log.failure("replaying history failed", failure)
                error = InternalError("The history could not be replayed.")
            self._finish_resume(protocol, state.failed(error))

        Deferred.fromCoroutine(replay()).addCallbacks(replayed, failed)

    def _finish_resume(self, protocol: ChatServerProtocol, payloads: list[bytes]) -> None:
        """Send a resume's payloads in one burst and go live."""
        protocol.resuming = None
        # Up to MAX_REPLAY events and the held ones at once, faster than
        # any peer reads: not a sign of a slow consumer.
        protocol.write_frames([self.prepareMessage(p).payloadHybi for p in payloads])

    def slow_consumer(self, protocol: ChatServerProtocol) -> None:
        """Log a socket closed for not reading."""
        outbox = protocol.outbox
        metrics.SLOW_CONSUMER_CLOSES.inc()
        self._log.warn(
            "closing a slow consumer (user {user_id}, room {room_id}): {reason}",
            user_id=protocol.session.identity.user_id,
            room_id=protocol.session.room_id,
            reason=outbox.overflow_reason if outbox is not None else "unknown",
        )

    def log_failure(self, what: str) -> None:
        """Log the exception being handled, with a traceback, for a protocol."""
        self._log.failure(what)

    def _subscribe_failed(self, failure: Failure) -> bool:
        self._log.failure("subscribing to a room failed", failure)
        return False

    # -- shutdown ---------------------------------------------------------------

    async def drain(self, timeout: float) -> None:
        """Deliver what was accepted, then close every socket with 1001.

        Messages already being stored are committed and broadcast first; new
        frames are refused from now on. Both waits share one deadline:
        ``timeout`` seconds after the call, sockets that have not finished
        their close handshake are dropped.
        """
        self._draining = True
        deadline = self.clock.seconds() + timeout
        if self._in_flight:
            await within(DeferredList(list(self._in_flight)), timeout, self.clock)
        waiting = list(self._closed.values())
        for room in list(self._sockets.values()):
            for protocol in list(room):
                protocol.close_with(CLOSE_GOING_AWAY, "server shutting down")
        left = deadline - self.clock.seconds()
        if waiting and left > 0:
            await within(DeferredList(waiting), left, self.clock)
        for room in list(self._sockets.values()):
            for protocol in list(room):
                protocol.dropConnection(abort=True)
