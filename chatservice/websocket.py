"""The WebSocket side: the authenticated handshake, frames <-> use cases, fan-out.

The handshake is checked in the Klein ``/ws`` route, where a refusal can
still be a JSON HTTP error (Autobahn's ``ConnectionDeny`` can only send a
bare status line); the identity then reaches the protocol through a factory
bound to that one request. Each room event is framed once per process and
the same bytes are written to every open socket of the room.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from autobahn.twisted.websocket import WebSocketServerFactory, WebSocketServerProtocol
from autobahn.websocket.protocol import WebSocketProtocol
from twisted.internet.defer import Deferred, DeferredList
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from chatservice.errors import (
    ChatError,
    RateLimited,
    StoreUnavailable,
)
from chatservice.hub import IHub, IRoomListener, RoomEvent
from chatservice.messages import Messages, Replay, message_payload
from chatservice.models import Posted
from chatservice.outbox import DEFAULT_LIMIT, Outbox
from chatservice.ratelimit import Rate, RateLimiter
from chatservice.tokens import Identity
from chatservice.wire import FrameError, dumps, parse_client_frame

MAX_FRAME_BYTES = 65536
OPEN = WebSocketProtocol.STATE_OPEN
CLOSE_GOING_AWAY = 1001
CLOSE_UNSUPPORTED_DATA = 1003
CLOSE_POLICY_VIOLATION = 1008
# Typing notices are advisory: past this rate they are dropped, not refused.
TYPING_RATE = Rate(burst=3, per_second=1.0)


@dataclass(frozen=True, slots=True)
class SocketSession:
    """Who a WebSocket belongs to and where it is, fixed at the handshake."""

    identity: Identity
    room_id: int
    since: int | None
    connection_id: str


class ChatServerProtocol(WebSocketServerProtocol):
    """One client connection: decodes frames, calls the use cases, sends replies."""

    # No ``log = Logger()`` here: it would replace Autobahn's own ``log`` and
    # move its debug events (which quote the handshake's request line, tokens
    # and tickets included) out of the "autobahn" namespace that LOG_LEVEL
    # holds at warn.
    factory: ChatServerFactory
    session: SocketSession
    outbox: Outbox | None = None
    # While a resume replays history, live events wait here (see ``resume``).
    held: list[RoomEvent] | None = None
    _expiry: Any = None
    _counted = False

    def connectionMade(self) -> None:  # noqa: N802 - Twisted hook
        """Set TCP_NODELAY ourselves: Autobahn's adapter tries too early and fails silently."""
        super().connectionMade()
        set_no_delay = getattr(self.transport, "setTcpNoDelay", None)
        if set_no_delay is not None:
            try:
                set_no_delay(True)
            except OSError:
                pass  # not a TCP socket (e.g. a UNIX socket)

    def onConnect(self, request: Any) -> None:  # noqa: N802 - Autobahn hook
        """Accept: the Klein route already authenticated this handshake."""
        return None

    def onOpen(self) -> None:  # noqa: N802 - Autobahn hook
        """Watch the send buffer, arm the token-expiry timer, join the room, resume."""
        transport = self.transport
        assert transport is not None
        # The HTTP channel is still registered as the producer from before the
        # upgrade; a transport takes one producer only.
        transport.unregisterProducer()  # type: ignore[attr-defined]
        self.outbox = Outbox(transport, self._slow_consumer, self.factory.outbox_limit)
        transport.registerProducer(self.outbox, True)  # type: ignore[attr-defined]
        clock = self.factory.clock
        left = self.session.identity.expires_at - clock.seconds()
        self._expiry = clock.callLater(max(0.0, left), self._token_expired)
        if self.session.since is not None:
            # Held from before joining: the socket's own presence is live
            # traffic too, and comes after the replay and its recovery frame.
            self.held = []
        self.factory.join(self)
        if self.session.since is not None:
            self.factory.resume(self, self.session.since)

    def onClose(self, wasClean: bool, code: int | None, reason: str | None) -> None:  # noqa: N802
        """Leave the room's fan-out and stop the expiry timer."""
        if self._expiry is not None and self._expiry.active():
            self._expiry.cancel()
        if getattr(self, "session", None) is not None:
            self.factory.leave(self)

    def _token_expired(self) -> None:
        self.close_with(CLOSE_POLICY_VIOLATION, "token expired")

    def _slow_consumer(self) -> None:
        self.factory.slow_consumer(self)
        self.close_with(CLOSE_POLICY_VIOLATION, "slow consumer")

    def onMessage(self, payload: bytes, isBinary: bool) -> None:  # noqa: N802, N803
        """Handle one client frame; refusals are ``error`` frames, the socket stays open."""
        if isBinary:
            self.close_with(CLOSE_UNSUPPORTED_DATA, "binary frames are not supported")
            return
        try:
            text = payload.decode("utf-8")  # Autobahn validated UTF-8 already
            frame = parse_client_frame(text, self.factory.max_message_length)
        except FrameError as error:
            self.send_json(error.to_json())
            return
        try:
            if frame.kind == "typing":
                self.factory.relay_typing(self)
            else:
                self.factory.post(self, frame.content, frame.client_msg_id)
        except Exception:
            # A bug must cost one refused frame, not the connection: Autobahn
            # drops the socket on any exception that escapes onMessage.
            self.factory.log_failure("handling a frame failed")
            fault = ChatError("The frame could not be handled.", code="internal_error")
            self.send_json(FrameError(fault).to_json())

    def send_json(self, value: Any) -> None:
        """Send one JSON text frame to this connection, if it is open."""
        self.send_payload(dumps(value))

    def send_payload(self, payload: bytes) -> None:
        """Send already-encoded JSON to this connection, if it is open."""
        self.write_frame(self.factory.prepareMessage(payload).payloadHybi)

    def write_frame(self, frame: bytes) -> None:
        """Write a framed message in order with everything else sent, if open.

        Everything goes through the outbox, so a socket's frames keep their
        order and count against its buffer bound.
        """
        if self.state != WebSocketProtocol.STATE_OPEN:
            return
        if self.outbox is not None:
            self.outbox.write(frame)
        elif self.transport is not None:
            self.transport.write(frame)

    def write_frames(self, frames: list[bytes]) -> None:
        """Write a burst of framed messages (a replay) that may pass the buffer bound, if open."""
        if self.state != WebSocketProtocol.STATE_OPEN:
            return
        if self.outbox is not None:
            self.outbox.write_burst(frames)
        elif self.transport is not None:
            for frame in frames:
                self.transport.write(frame)

    def sendData(self, data: bytes, sync: bool = False, chopsize: int | None = None) -> None:
        """Send Autobahn's own frames (close, ping, pong) through the outbox too.

        Written straight to the transport, a close frame would overtake the
        frames waiting in a paused outbox, which would then follow it: data
        after a close frame breaks RFC 6455 and browsers drop it. Once the
        outbox has overflowed (a slow consumer) it takes nothing more, and
        the close frame goes to the transport directly.
        """
        outbox = self.outbox
        if outbox is not None and not outbox.overflowed and not sync and not chopsize:
            outbox.write(data)
        else:
            super().sendData(data, sync, chopsize)

    def dropConnection(self, abort: bool = False) -> None:
        """Before a graceful drop, hand what the outbox holds to the transport.

        Autobahn drops the connection right after replying to a peer's close
        frame; the reply (and the frames before it) may still wait in a
        paused outbox, which stops being a producer here.
        """
        if not abort and self.outbox is not None:
            self.outbox.flush()
        super().dropConnection(abort)

    def close_with(self, code: int, reason: str) -> None:
        """Close with any RFC 6455 code (``sendClose`` only allows 1000 and 3000-4999)."""
        if self.state == WebSocketProtocol.STATE_OPEN:
            self.sendCloseFrame(code=code, reasonUtf8=reason.encode("utf-8"), isReply=False)


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
        hub: IHub,
        clock: IReactorTime,
        max_message_length: int,
        ping_interval: float,
        ping_timeout: float,
        message_rate: Rate | None = None,
        outbox_limit: int = DEFAULT_LIMIT,
    ) -> None:
        # No version in the 101 answer's Server header (Autobahn's default has one).
        super().__init__(server="chatservice")
        self._messages = messages
        self._hub = hub
        self.clock = clock
        self.max_message_length = max_message_length
        self.outbox_limit = outbox_limit
        self._sockets_per_user: dict[int, int] = defaultdict(int)
        self._message_limiter = RateLimiter(
            "messages-per-user", message_rate or Rate(burst=20, per_second=10.0), clock
        )
        self._typing_limiter = RateLimiter("typing-per-user", TYPING_RATE, clock)
        self._subscribed: dict[int, Deferred[None]] = {}
        self._sockets: dict[int, set[ChatServerProtocol]] = defaultdict(set)
        self._presence: dict[tuple[int, int], int] = defaultdict(int)
        self._in_flight: set[Deferred[Any]] = set()
        self._closed: dict[ChatServerProtocol, Deferred[None]] = {}
        self._draining = False
        # Every Autobahn option in one call: each call resets allowNullOrigin.
        # Origins are checked in the handshake route (JSON 403), so Autobahn
        # allows all here.
        self.setProtocolOptions(
            webStatus=False,
            maxFramePayloadSize=MAX_FRAME_BYTES,
            maxMessagePayloadSize=MAX_FRAME_BYTES,
            failByDrop=False,
            openHandshakeTimeout=10,
            closeHandshakeTimeout=2,
            tcpNoDelay=True,
            autoPingInterval=ping_interval,
            autoPingTimeout=ping_timeout,
            autoPingSize=12,
            allowedOrigins=["*"],
            allowNullOrigin=True,
            perMessageCompressionAccept=None,
        )
        hub.set_listener(self)

    # -- membership and fan-out -----------------------------------------------

    @property
    def draining(self) -> bool:
        """True once shutdown began: new sockets are refused."""
        return self._draining

    def sockets_of(self, user_id: int) -> int:
        """How many sockets of this user exist (open or opening) in this process."""
        return self._sockets_per_user.get(user_id, 0)

    def build_for(self, session: SocketSession, addr: Any) -> ChatServerProtocol:
        """Build the protocol of one authenticated handshake, counted against its user."""
        protocol = self.buildProtocol(addr)
        assert isinstance(protocol, ChatServerProtocol)
        protocol.session = session
        protocol._counted = True
        self._sockets_per_user[session.identity.user_id] += 1
        return protocol

    def _uncount_socket(self, protocol: ChatServerProtocol) -> None:
        if not protocol._counted:
            return
        protocol._counted = False
        user_id = protocol.session.identity.user_id
        self._sockets_per_user[user_id] -= 1
        if self._sockets_per_user[user_id] <= 0:
            del self._sockets_per_user[user_id]

    def join(self, protocol: ChatServerProtocol) -> None:
        """Add an open socket to its room; announce the user if it is their first."""
        session = protocol.session
        room = self._sockets[session.room_id]
        if not room:
            subscribing = self._hub.subscribe(session.room_id)
            subscribing.addErrback(self._log_failure)
            self._subscribed[session.room_id] = subscribing
        room.add(protocol)
        self._closed[protocol] = Deferred()
        key = (session.room_id, session.identity.user_id)
        self._presence[key] += 1
        self._log.debug(
            "user {user_id} joined room {room_id}",
            user_id=session.identity.user_id,
            room_id=session.room_id,
        )
        if self._presence[key] == 1:
            self._publish_presence(session, "online")

    def leave(self, protocol: ChatServerProtocol) -> None:
        """Remove a closed socket; announce the user if it was their last."""
        session = protocol.session
        self._uncount_socket(protocol)
        room = self._sockets.get(session.room_id)
        if room is None or protocol not in room:
            return
        room.discard(protocol)
        if not room:
            del self._sockets[session.room_id]
            self._subscribed.pop(session.room_id, None)
            self._hub.unsubscribe(session.room_id)
        key = (session.room_id, session.identity.user_id)
        self._presence[key] -= 1
        if self._presence[key] <= 0:
            del self._presence[key]
            self._publish_presence(session, "offline")
        closed = self._closed.pop(protocol, None)
        if closed is not None:
            closed.callback(None)

    def _publish_presence(self, session: SocketSession, status: str) -> None:
        event = {
            "type": "presence",
            "room_id": session.room_id,
            "user_id": session.identity.user_id,
            "username": session.identity.username,
            "status": status,
        }
        self._hub.publish(RoomEvent(session.room_id, dumps(event))).addErrback(self._log_failure)

    def room_event(self, event: RoomEvent) -> None:
        """Frame the event once and write those bytes to every open socket of the room."""
        sockets = self._sockets.get(event.room_id)
        if not sockets:
            return
        frame = self.prepareMessage(event.payload).payloadHybi
        exclude = event.exclude
        # The loop runs once per delivery: write_frame's checks are inlined.
        # (sendPreparedMessage does no state check and costs ~1 us in
        # bookkeeping per call; writing the frame is ~4x faster.)
        for protocol in sockets:
            if exclude is not None and protocol.session.connection_id == exclude:
                continue
            if protocol.held is not None:
                protocol.held.append(event)
            elif protocol.state == OPEN:
                outbox = protocol.outbox
                if outbox is not None:
                    outbox.write(frame)
                else:
                    protocol.write_frame(frame)

    def resume(self, protocol: ChatServerProtocol, since: int) -> None:
        """Replay what a reconnecting socket missed, then the ``recovery`` frame.

        The socket already receives the room's live events, but holds them;
        only then is the store read, so nothing committed in between is
        missed, and held messages the replay already sent are dropped.
        """
        if protocol.held is None:
            protocol.held = []
        room_id = protocol.session.room_id
        subscribed: Deferred[None] = Deferred()

        def pass_on(result: object) -> object:
            subscribed.callback(None)
            return result

        subscribing = self._subscribed.get(room_id)
        if subscribing is None:
            subscribed.callback(None)
        else:
            subscribing.addBoth(pass_on)

        async def replay() -> Replay:
            await subscribed
            return await self._messages.replay(room_id, since)

        def replayed(result: Replay) -> None:
            last_id = since
            frames = []
            for message in result.messages:
                frames.append(self.prepareMessage(message_payload(message)).payloadHybi)
                last_id = message.id
            recovery = {
                "type": "recovery",
                "room_id": room_id,
                "recovered": result.recovered,
                "last_id": last_id,
            }
            frames.append(self.prepareMessage(dumps(recovery)).payloadHybi)
            # Up to MAX_REPLAY messages at once, faster than any peer reads:
            # not a sign of a slow consumer.
            protocol.write_frames(frames)
            self._release(protocol, last_id if result.recovered else None)

        def failed(failure: Failure) -> None:
            error = failure.value
            if not isinstance(error, ChatError):
                self._log.failure("replaying history failed", failure)
                error = ChatError("The history could not be replayed.", code="internal_error")
            protocol.send_json(FrameError(error).to_json())
            self._release(protocol, None)

        Deferred.fromCoroutine(replay()).addCallbacks(replayed, failed)

    def _release(self, protocol: ChatServerProtocol, replayed_up_to: int | None) -> None:
        """Send the live events held during a replay, minus those it already sent."""
        held, protocol.held = protocol.held or [], None
        for event in held:
            if replayed_up_to is not None:
                message_id = _message_id(event.payload)
                if message_id is not None and message_id <= replayed_up_to:
                    continue
            protocol.write_frame(self.prepareMessage(event.payload).payloadHybi)

    def slow_consumer(self, protocol: ChatServerProtocol) -> None:
        """Log a socket closed for not reading."""
        self._log.warn(
            "closing a slow consumer (user {user_id}, room {room_id})",
            user_id=protocol.session.identity.user_id,
            room_id=protocol.session.room_id,
        )

    def relay_typing(self, protocol: ChatServerProtocol) -> None:
        """Tell the room's other connections that this user is typing (rate-limited)."""
        session = protocol.session
        if not self._typing_limiter.take(str(session.identity.user_id)).allowed:
            return
        event = {
            "type": "typing",
            "room_id": session.room_id,
            "user_id": session.identity.user_id,
            "username": session.identity.username,
        }
        self._hub.publish(
            RoomEvent(session.room_id, dumps(event), exclude=session.connection_id)
        ).addErrback(self._log_failure)

    def post(self, protocol: ChatServerProtocol, content: str, client_msg_id: str | None) -> None:
        """Store and broadcast a message; refusals go back as ``error`` frames."""
        if self._draining:
            protocol.send_json(
                FrameError(
                    StoreUnavailable("The server is shutting down."), client_msg_id
                ).to_json()
            )
            return
        session = protocol.session
        decision = self._message_limiter.take(str(session.identity.user_id))
        if not decision.allowed:
            self._log.info(
                "rate limited by {limiter} (user {user_id})",
                limiter=self._message_limiter.name,
                user_id=session.identity.user_id,
            )
            error = RateLimited(decision.retry_after, "You are sending messages too fast.")
            protocol.send_json(FrameError(error, client_msg_id).to_json())
            return
        posting = self._messages.post(session.identity, session.room_id, content, client_msg_id)
        self._in_flight.add(posting)
        # Bound methods and arguments, not closures: this runs per message.
        posting.addCallbacks(
            self._posted,
            self._refused,
            callbackArgs=(protocol, posting),
            errbackArgs=(protocol, client_msg_id, posting),
        )

    def _posted(
        self, posted: Posted, protocol: ChatServerProtocol, posting: Deferred[Posted]
    ) -> None:
        self._in_flight.discard(posting)
        if not posted.created:
            # A resend: the original goes to this connection only.
            protocol.send_payload(message_payload(posted.message))

    def _refused(
        self,
        failure: Failure,
        protocol: ChatServerProtocol,
        client_msg_id: str | None,
        posting: Deferred[Posted],
    ) -> None:
        self._in_flight.discard(posting)
        error = failure.value
        if not isinstance(error, ChatError):
            self._log.failure("posting a message failed", failure)
            error = ChatError("The message could not be sent.", code="internal_error")
        protocol.send_json(FrameError(error, client_msg_id).to_json())

    def log_failure(self, what: str) -> None:
        """Log the exception being handled, with a traceback, for a protocol."""
        self._log.failure(what)

    def _log_failure(self, failure: Failure) -> None:
        self._log.failure("publishing a room event failed", failure)

    # -- shutdown ---------------------------------------------------------------

    @property
    def open_sockets(self) -> int:
        """How many sockets are joined to a room."""
        return sum(len(s) for s in self._sockets.values())

    async def drain(self, timeout: float) -> None:
        """Deliver what was accepted, then close every socket with 1001.

        Messages already being stored are committed and broadcast first; new
        frames are refused from now on. Sockets that have not finished their
        close handshake within ``timeout`` seconds are dropped.
        """
        self._draining = True
        if self._in_flight:
            await _within(DeferredList(list(self._in_flight)), timeout, self.clock)
        waiting = list(self._closed.values())
        for room in list(self._sockets.values()):
            for protocol in list(room):
                protocol.close_with(CLOSE_GOING_AWAY, "server shutting down")
        if waiting:
            await _within(DeferredList(waiting), timeout, self.clock)
        for room in list(self._sockets.values()):
            for protocol in list(room):
                protocol.dropConnection(abort=True)


def _within(d: Deferred[Any], timeout: float, clock: IReactorTime) -> Deferred[None]:
    """Fire when ``d`` does or after ``timeout`` seconds, whichever is first."""
    done: Deferred[None] = Deferred()

    def expire() -> None:
        if not done.called:
            done.callback(None)

    timer = clock.callLater(timeout, expire)

    def finished(_: Any) -> None:
        if timer.active():
            timer.cancel()
        if not done.called:
            done.callback(None)

    d.addBoth(finished)
    return done


def _message_id(payload: bytes) -> int | None:
    """The id of a message event's payload; None for other events (never dropped)."""
    if not payload.startswith(b'{"type":"message"'):
        return None
    value = json.loads(payload).get("id")
    return value if isinstance(value, int) else None
