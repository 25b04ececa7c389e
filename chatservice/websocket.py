"""One WebSocket connection: frames in, use cases called, frames out, in order.

The handshake was already checked (``handshake.py``); the protocol gets its
``SocketSession`` from the factory bound to that request. Everything it sends
goes through its ``Outbox``, so a socket's frames keep their order and count
against its buffer bound. Room membership and fan-out are ``fanout.py``'s.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Protocol

from autobahn.twisted.websocket import WebSocketServerProtocol
from autobahn.websocket.protocol import WebSocketProtocol
from twisted.internet.interfaces import IReactorTime

from chatservice import autobahn_debug
from chatservice.errors import InternalError
from chatservice.frames import MESSAGE, READ, TYPING, ClientFrame, parse_client_frame
from chatservice.outbox import Outbox
from chatservice.ratelimit import Rate
from chatservice.resume import ResumeState
from chatservice.tokens import Identity
from chatservice.wire import FrameError, dumps

MAX_FRAME_BYTES = 65536
OPEN = WebSocketProtocol.STATE_OPEN
CLOSE_GOING_AWAY = 1001
CLOSE_UNSUPPORTED_DATA = 1003
CLOSE_POLICY_VIOLATION = 1008
# Typing notices are advisory: past this rate they are dropped, not refused.
TYPING_RATE = Rate(burst=3, per_second=1.0)
# A handshake refusal's reason from where it quotes a query string or fragment on.
_QUOTED_QUERY = re.compile(r"[?#].*", re.DOTALL)


# Autobahn formats its debug lines' arguments whether they are logged or not.
autobahn_debug.install()


def protocol_options(ping_interval: float, ping_timeout: float) -> dict[str, Any]:
    """Autobahn's options for every connection of the service (``setProtocolOptions``).

    Origins are checked in the handshake route (a JSON 403), so Autobahn
    allows all; frames and messages are bounded at ``MAX_FRAME_BYTES``
    (close 1009); no compression is negotiated; the server pings.
    """
    return {
        "webStatus": False,
        "maxFramePayloadSize": MAX_FRAME_BYTES,
        "maxMessagePayloadSize": MAX_FRAME_BYTES,
        "failByDrop": False,
        "openHandshakeTimeout": 10,
        "closeHandshakeTimeout": 2,
        "tcpNoDelay": True,
        "autoPingInterval": ping_interval,
        "autoPingTimeout": ping_timeout,
        "autoPingSize": 12,
        "allowedOrigins": ["*"],
        "allowNullOrigin": True,
        "perMessageCompressionAccept": None,
    }


def protocol_class(options: object) -> type[ChatServerProtocol]:
    """A ``ChatServerProtocol`` subclass that holds a factory's Autobahn options itself.

    Autobahn copies every option its protocol class does not define onto
    each new connection's own ``__dict__`` (``_connectionMade``): 29 of a
    socket's 90 attributes, which pushed the dict past a resize (3.3 KB).
    Read from the class instead, they cost nothing per socket. The values
    are the factory's, as Autobahn would have copied them; a function (the
    compression offer's ``perMessageCompressionAccept``) is a
    ``staticmethod``, or the class would bind it to each socket.
    """
    attrs: dict[str, object] = {}
    for name in ChatServerProtocol.CONFIG_ATTRS:
        if hasattr(options, name) and not hasattr(ChatServerProtocol, name):
            value = getattr(options, name)
            attrs[name] = staticmethod(value) if callable(value) else value
    return type("ChatServerProtocol", (ChatServerProtocol,), attrs)


# What Autobahn keeps of the opening handshake for the socket's whole life
# (the request's bytes, the token among them): nothing reads it once open.
_HANDSHAKE_ATTRS = (
    "http_request_data",
    "http_response_data",
    "http_status_line",
    "http_headers",
    "http_request_uri",
    "http_request_path",
    "http_request_params",
    "http_request_host",
)


@dataclass(frozen=True, slots=True)
class SocketSession:
    """Who a WebSocket belongs to and where it is, fixed at the handshake."""

    identity: Identity
    room_id: int
    since: int | None
    connection_id: str


class SocketHost(Protocol):
    """What a connection needs from the factory that built it (``fanout.ChatServerFactory``).

    Named here so this module depends on the shape, not on the factory's
    module (which imports this one): tests can host a protocol in a stub.
    """

    clock: IReactorTime
    max_message_length: int
    outbox_limit: int
    eager_send: bool

    @property
    def draining(self) -> bool:
        """True once shutdown began."""

    def join(self, protocol: ChatServerProtocol) -> None:
        """Add an open socket to its room's fan-out."""

    def leave(self, protocol: ChatServerProtocol) -> None:
        """Remove a closed socket from its room's fan-out."""

    def resume(self, protocol: ChatServerProtocol) -> None:
        """Replay what the socket missed since ``session.since``."""

    def slow_consumer(self, protocol: ChatServerProtocol) -> None:
        """Note a socket closed for not reading."""

    def relay_typing(self, protocol: ChatServerProtocol) -> None:
        """Tell the room this user is typing."""

    def post(self, protocol: ChatServerProtocol, frame: ClientFrame) -> None:
        """Store and broadcast a message."""

    def change(self, protocol: ChatServerProtocol, frame: ClientFrame) -> None:
        """Edit, delete or react to a message of the room."""

    def mark_read(self, protocol: ChatServerProtocol, frame: ClientFrame) -> None:
        """Move the user's read marker in the room."""

    def log_failure(self, what: str) -> None:
        """Log the exception being handled."""

    def prepareMessage(self, payload: bytes) -> Any:  # noqa: N802 - Autobahn's name
        """Frame a payload once (Autobahn's ``PreparedMessage``)."""


class SelfAdmission(Protocol):
    """Admits a handshake from ``onConnect`` (``upgrade_router.DirectHandshake``)."""

    def on_connect(self, protocol: ChatServerProtocol, request: Any) -> Any:
        """A Deferred that fires once the socket may open, or fails with its refusal."""

    def hold(self, protocol: ChatServerProtocol, data: bytes) -> None:
        """Keep bytes that arrived while ``on_connect`` decides."""

    def failed_before_gate(self, protocol: ChatServerProtocol) -> None:
        """Autobahn refused the upgrade before ``on_connect`` was asked."""


class ChatServerProtocol(WebSocketServerProtocol):
    """One client connection: decodes frames, calls the use cases, sends replies."""

    # No ``log = Logger()`` here: it would replace Autobahn's own ``log`` and
    # move its debug events (which quote the handshake's request line, tokens
    # and tickets included) out of the "autobahn" namespace that LOG_LEVEL
    # holds at warn.
    factory: SocketHost
    session: SocketSession
    outbox: Outbox | None = None
    # While a resume reads the store, live events wait here (see resume.py).
    resuming: ResumeState | None = None
    _expiry: Any = None
    _counted = False
    # Set on a socket that reached us without twisted.web: it admits its own
    # handshake, and a refusal's whole HTTP answer waits in ``refusal``.
    direct: SelfAdmission | None = None
    refusal: bytes | None = None
    # While ``direct`` decides, what arrives is held for after the handshake.
    admitting = False

    def connectionMade(self) -> None:  # noqa: N802 - Twisted hook
        """Set TCP_NODELAY ourselves: Autobahn's adapter tries too early and fails silently."""
        super().connectionMade()
        set_no_delay = getattr(self.transport, "setTcpNoDelay", None)
        if set_no_delay is not None:
            try:
                set_no_delay(True)
            except OSError:
                pass  # not a TCP socket (e.g. a UNIX socket)

    def dataReceived(self, data: bytes) -> None:  # noqa: N802 - Twisted hook
        """Hand the bytes to Autobahn's parser.

        Autobahn's own ``dataReceived`` only adds a debug line, whose
        arguments it formats on every read whether debug is logged or not
        (~5 % of the server's CPU in S2's profile).
        """
        if self.admitting:
            assert self.direct is not None
            self.direct.hold(self, data)
            return
        self._dataReceived(data)

    def onConnect(self, request: Any) -> Any:  # noqa: N802 - Autobahn hook
        """Accept what the Klein route authenticated, or admit it here (``upgrade_router``)."""
        if self.direct is not None:
            return self.direct.on_connect(self, request)
        return None

    def failHandshake(  # noqa: N802 - Autobahn hook
        self,
        reason: str,
        code: int = 400,
        responseHeaders: Any = None,  # noqa: N803
    ) -> None:
        """Refuse without the query string: Autobahn's reason goes to the answer and the log.

        Autobahn quotes a request line it cannot split (on a raw no-break
        space, which twisted.web passes) in its status line and in a warning.
        """
        if self.direct is not None and self.refusal is None and not self.admitting:
            self.direct.failed_before_gate(self)
        super().failHandshake(_QUOTED_QUERY.sub("...", reason), code, responseHeaders)

    def sendHttpErrorResponse(  # noqa: N802 - Autobahn hook
        self,
        code: int,
        reason: str,
        responseHeaders: Any = None,  # noqa: N803
    ) -> None:
        """A refusal of ``direct`` is its JSON answer; Autobahn's own stay status lines."""
        if self.refusal is not None:
            self.sendData(self.refusal)
            self.refusal = None
            # A deliberate refusal: not worth Autobahn's warning as it drops the connection.
            self.wasClean = True
            return
        super().sendHttpErrorResponse(code, reason, responseHeaders)

    def onOpen(self) -> None:  # noqa: N802 - Autobahn hook
        """Watch the send buffer, arm the token-expiry timer, join the room, resume."""
        for name in _HANDSHAKE_ATTRS:
            setattr(self, name, None)
        transport = self.transport
        assert transport is not None
        # The HTTP channel is still registered as the producer from before the
        # upgrade; a transport takes one producer only.
        transport.unregisterProducer()  # type: ignore[attr-defined]
        self.outbox = Outbox(
            transport,
            self._slow_consumer,
            self.factory.outbox_limit,
            clock=self.factory.clock,
            eager_send=self.factory.eager_send,
        )
        transport.registerProducer(self.outbox, True)  # type: ignore[attr-defined]
        if self.factory.draining:
            # Upgraded just as shutdown began: it would miss the drain's 1001.
            self.close_with(CLOSE_GOING_AWAY, "server shutting down")
            return
        clock = self.factory.clock
        left = self.session.identity.expires_at - clock.seconds()
        self._expiry = clock.callLater(max(0.0, left), self._token_expired)
        since = self.session.since
        if since is not None:
            # Held from before joining: the socket's own presence is live
            # traffic too, and comes after the replay and its recovery frame.
            self.resuming = ResumeState(self.session.room_id, since, self.factory.outbox_limit)
        self.factory.join(self)
        if since is not None:
            self.factory.resume(self)

    def onClose(self, wasClean: bool, code: int | None, reason: str | None) -> None:  # noqa: N802
        """Leave the room's fan-out, stop the expiry timer, free what still waits to be sent."""
        if self._expiry is not None and self._expiry.active():
            self._expiry.cancel()
        if self.outbox is not None:
            # An abort unregisters the outbox without telling it; nothing
            # more can be sent, so its queue (up to the hard cap) goes now.
            self.outbox.stopProducing()
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
            if frame.kind == TYPING:
                self.factory.relay_typing(self)
            elif frame.kind == MESSAGE:
                self.factory.post(self, frame)
            elif frame.kind == READ:
                self.factory.mark_read(self, frame)
            else:
                self.factory.change(self, frame)
        except Exception:
            # A bug must cost one refused frame, not the connection: Autobahn
            # drops the socket on any exception that escapes onMessage.
            self.factory.log_failure("handling a frame failed")
            fault = InternalError("The frame could not be handled.")
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
