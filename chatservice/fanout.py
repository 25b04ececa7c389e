"""ChatServerFactory: every live socket of this process, by room, and the hub's listener.

It keeps room membership and presence, posts messages through the use case,
writes each room event to every open socket of the room (framed once per
process), runs the I/O of a resuming socket's catch-up (``resume.py`` decides
what to send), hands the hub's lost-connection notices to ``catchup.py``,
and drains on shutdown.
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
from chatservice.catchup import RoomCatchUp
from chatservice.changes import MessageChanges, repeat_payload
from chatservice.cluster import ICluster, LocalCluster
from chatservice.control import CLOSE_SOCKETS, CONTROL_ROOM, Control, close_matching
from chatservice.errors import ChatError, InternalError, StoreUnavailable
from chatservice.frames import DELETE, EDIT, ClientFrame
from chatservice.hub import IHub, IRoomListener, RoomEvent
from chatservice.messages import Messages, message_payload
from chatservice.models import Change, Posted
from chatservice.outbox import DEFAULT_LIMIT
from chatservice.presence import Presence
from chatservice.read_markers import ReadMarkers, socket_read
from chatservice.roompolicy import PostingPolicy
from chatservice.timeline import Replay, Timeline
from chatservice.waiting import within
from chatservice.websocket import (
    CLOSE_GOING_AWAY,
    OPEN,
    ChatServerProtocol,
    SocketSession,
    protocol_options,
)
from chatservice.wire import FrameError

# Seconds a resume waits for the hub to subscribe to the room before it
# reads the store anyway.
SUBSCRIBE_WAIT = 2.0


@implementer(IRoomListener)
class ChatServerFactory(WebSocketServerFactory):
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
        # Every Autobahn option in one call: each call resets allowNullOrigin.
        self.setProtocolOptions(**protocol_options(ping_interval, ping_timeout))
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
        frame = self.prepareMessage(event.payload).payloadHybi
        exclude = event.exclude
        # The loop runs once per delivery: write_frame's checks are inlined.
        # (sendPreparedMessage does no state check and costs ~1 us in
        # bookkeeping per call; writing the frame is ~4x faster.)
        for protocol in sockets:
            if exclude is not None and protocol.session.connection_id == exclude:
                continue
            if protocol.resuming is not None:
                protocol.resuming.hold(event)
            elif protocol.state == OPEN:
                outbox = protocol.outbox
                if outbox is not None:
                    outbox.write(frame)
                else:
                    protocol.write_frame(frame)

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

    def relay_typing(self, protocol: ChatServerProtocol) -> None:
        """Tell the room's other connections that this user is typing (rate-limited)."""
        self._presence.typing(protocol.session)

    def _refuse(self, protocol: ChatServerProtocol, frame: ClientFrame) -> bool:
        """Answer a frame the socket may not send now (shutdown, archive, mute) with an error."""
        session = protocol.session
        error: ChatError | None = self.policy.refusal(session.room_id, session.identity.user_id)
        if self._draining:
            error = StoreUnavailable("The server is shutting down.")
        if error is not None:
            protocol.send_json(FrameError(error, frame.client_msg_id).to_json())
        return error is not None

    def post(self, protocol: ChatServerProtocol, frame: ClientFrame) -> None:
        """Store and broadcast a message; refusals go back as ``error`` frames."""
        if self._refuse(protocol, frame):
            return
        session = protocol.session
        received = metrics.TIMER()  # for chat_post_to_delivery_seconds
        posting = self._messages.post(
            session.identity,
            session.room_id,
            frame.content,
            frame.client_msg_id,
            frame.reply_to,
            frame.attachments,
        )
        self._in_flight.add(posting)
        # Bound methods and arguments, not closures: this runs per message.
        posting.addCallbacks(
            self._answered,
            self._refused,
            callbackArgs=(protocol, posting, received),
            errbackArgs=(protocol, frame.client_msg_id, posting),
        )

    def change(self, protocol: ChatServerProtocol, frame: ClientFrame) -> None:
        """Edit, delete or react to a message of the socket's room, as ``frame`` says.

        The change reaches every socket of the room as ``message_updated``
        once it is stored; a repeat that changed nothing is answered to this
        socket alone with the message's current state.
        """
        if self._refuse(protocol, frame):
            return
        session = protocol.session
        message_id = frame.message_id
        assert message_id is not None
        if frame.kind == EDIT:
            work = self._changes.edit(session.identity, message_id, frame.content, session.room_id)
        elif frame.kind == DELETE:
            work = self._changes.delete(session.identity, message_id, session.room_id)
        else:
            work = self._changes.react(
                session.identity, message_id, frame.emoji, not frame.remove, session.room_id
            )
        changing: Deferred[Change] = Deferred.fromCoroutine(work)
        self._in_flight.add(changing)
        changing.addCallbacks(
            self._answered,
            self._refused,
            callbackArgs=(protocol, changing),
            errbackArgs=(protocol, frame.client_msg_id, changing),
        )

    def mark_read(self, protocol: ChatServerProtocol, frame: ClientFrame) -> None:
        """Move the user's read marker in the socket's room (``read_markers.socket_read``)."""
        socket_read(self.read_markers, protocol, frame, self._log)

    def _answered(
        self,
        result: Posted | Change,
        protocol: ChatServerProtocol,
        work: Deferred[Any],
        received: float | None = None,
    ) -> None:
        """Stored: the room heard of it through the hub. A repeat goes to this socket only.

        The hub wrote a new message's local fan-out just before: its latency
        since ``post`` (``received``) is observed here.
        """
        self._in_flight.discard(work)
        if isinstance(result, Posted):
            if not result.created:
                protocol.send_payload(message_payload(result.message))
            elif received is not None:
                metrics.POST_TO_DELIVERY_SECONDS.observe(metrics.TIMER() - received)
        elif not result.changed:
            protocol.send_payload(repeat_payload(result.event))

    def _refused(
        self,
        failure: Failure,
        protocol: ChatServerProtocol,
        client_msg_id: str | None,
        work: Deferred[Any],
    ) -> None:
        self._in_flight.discard(work)
        error = failure.value
        if not isinstance(error, ChatError):
            self._log.failure("handling a message frame failed", failure)
            error = InternalError("The message could not be sent or changed.")
        protocol.send_json(FrameError(error, client_msg_id).to_json())

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
