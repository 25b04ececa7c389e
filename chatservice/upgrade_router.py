"""One port, two doors: a connection that opens with a ``/ws`` upgrade skips twisted.web.

Through twisted.web a handshake is parsed twice (twisted.web's request, then
Autobahn's), routed by Klein and answered through a resource: about 40 % of
a handshake's CPU (``bench/handshake_cpu.py``), and the connect rate of the
shared harness (S3) is bound by that CPU. Autobahn parses a handshake by
itself, so a connection whose first request is ``GET /ws`` with well-formed
upgrade headers goes straight to the chat protocol, which asks the same
``HandshakeGate`` from ``onConnect`` and answers a refusal with the same JSON
error. Everything else goes to the ``Site`` as before: REST, the web page, a
``/ws`` request that is not a proper upgrade (its 401/426 stay the route's),
and a keep-alive connection that asks for ``/ws`` after other requests.

Only the service's own listening ports are routed so; ``ChatService.site()``
and ``resource()`` (for a host's ``Site``) keep the Klein route alone.

What twisted.web bounded, this door bounds too: a first head that has not
arrived within the Site's idle timeout loses its connection, and what a
client sends while the gate decides on its handshake waits, up to
``EARLY_DATA_LIMIT``, for the socket to open.
"""

from __future__ import annotations

import re
from typing import Any, NoReturn
from urllib.parse import parse_qs, urlsplit

from autobahn.websocket.types import ConnectionDeny, ConnectionRequest
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IAddress, IDelayedCall
from twisted.internet.protocol import Protocol, ServerFactory
from twisted.logger import Logger
from twisted.protocols.policies import ProtocolWrapper
from twisted.python.failure import Failure
from twisted.web.http import RESPONSES
from twisted.web.server import Site

from chatservice.errors import ChatError, InternalError
from chatservice.fanout import ChatServerFactory
from chatservice.handshake import HandshakeGate, first_text
from chatservice.http import API_HEADERS, error_headers
from chatservice.metrics import HTTP_REQUEST_SECONDS, TIMER
from chatservice.websocket import MAX_FRAME_BYTES, ChatServerProtocol
from chatservice.wire import error_body

# The route label of ``/ws`` in the HTTP metrics, as Klein's rule names it.
WS_ROUTE = "/ws"
# A handshake's head is a few hundred bytes; one longer than this is left to
# twisted.web, whose own limits answer it.
MAX_HEAD = 16384
_PREFIX = b"GET /ws"
# What a client may send while the gate decides on its handshake (RFC 6455
# has it wait for the answer; one that does not might send a frame or two):
# past it the connection is dropped. twisted.web likewise holds a little of
# what follows a request while its resource answers.
EARLY_DATA_LIMIT = 2 * MAX_FRAME_BYTES
# Only a head that Autobahn's strict parser reads as twisted.web does takes
# the direct door: a target of printable ASCII without a fragment (Autobahn
# splits a request line on any Unicode blank and refuses a fragment, quoting
# them), header names that are tokens, values of printable ASCII (the route
# refuses a Host that is not UTF-8), and no body (the route's 413).
_TARGET = re.compile(rb"/ws(?:\?[\x21-\x22\x24-\x7e]*)?")
_FIELD_NAME = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_FIELD_VALUE_INVALID = re.compile(rb"[^\t\x20-\x7e]")
_BODY_HEADERS = (b"content-length", b"transfer-encoding")


class UpgradeRequest:
    """A ``/ws`` handshake as ``HandshakeGate`` reads it, from what Autobahn parsed."""

    def __init__(self, uri: str, headers: dict[str, str]) -> None:
        # As twisted.web's ``Request.args``: bytes, blank values kept.
        query = urlsplit(uri).query.encode("latin-1")
        self.args: dict[bytes, list[bytes]] = parse_qs(query, keep_blank_values=True)
        self._headers = headers

    def getHeader(self, key: bytes) -> bytes | None:  # noqa: N802 - twisted.web's name
        """A header's value (Autobahn keys them in lower case)."""
        value = self._headers.get(key.decode("latin-1").lower())
        return None if value is None else value.encode("latin-1")


def is_plain_upgrade(head: bytes) -> bool:
    """Whether a request head is ``GET /ws`` over HTTP/1.1 with every upgrade header.

    Anything less goes to twisted.web, so that every refusal of a malformed
    handshake stays the one the Klein route gives; so does a repeated header
    (twisted.web reads its last value, Autobahn its values joined) and a
    request with a body.
    """
    request_line, _, rest = head.partition(b"\r\n")
    parts = request_line.split(b" ")
    if len(parts) != 3 or parts[0] != b"GET" or parts[2] != b"HTTP/1.1":
        return False
    if not _TARGET.fullmatch(parts[1]):
        return False
    headers: dict[bytes, bytes] = {}
    for line in rest.split(b"\r\n"):
        name, colon, value = line.partition(b":")
        if not colon or not _FIELD_NAME.fullmatch(name) or _FIELD_VALUE_INVALID.search(value):
            return False
        key = name.lower()
        if key in headers or key in _BODY_HEADERS:
            return False
        headers[key] = value.strip(b" \t").lower()
    return (
        headers.get(b"upgrade") == b"websocket"
        and b"upgrade" in (token.strip() for token in headers.get(b"connection", b"").split(b","))
        and headers.get(b"sec-websocket-version") == b"13"
        and bool(headers.get(b"sec-websocket-key"))
        and bool(headers.get(b"host"))
    )


class DirectHandshake:
    """Admits a ``/ws`` handshake that reached the chat protocol without twisted.web."""

    log = Logger()

    def __init__(self, gate: HandshakeGate, sockets: ChatServerFactory) -> None:
        self._gate = gate
        self._sockets = sockets

    def on_connect(
        self, protocol: ChatServerProtocol, request: ConnectionRequest
    ) -> Deferred[None]:
        """Autobahn's ``onConnect``: fires once the socket may open, fails with a refusal."""
        protocol.admitting = True
        return Deferred.fromCoroutine(self._admit(protocol))

    def failed_before_gate(self, protocol: ChatServerProtocol) -> None:
        """Autobahn refused the upgrade itself (a bad key, say): spend its ticket anyway.

        On the route the gate spends a ticket before Autobahn reads the
        upgrade; here Autobahn reads it first. A ticket is used up by the
        first handshake that presents it, whatever the outcome (docs/protocol.md).
        """
        uri = getattr(protocol, "http_request_uri", None)
        if not isinstance(uri, str):
            return
        ticket = first_text(UpgradeRequest(uri, {}).args, b"ticket")
        if ticket is not None:
            spending = self._gate.cluster.redeem_ticket(ticket)
            spending.addErrback(lambda failure: self.log.failure("spending a ticket", failure))

    def hold(self, protocol: ChatServerProtocol, data: bytes) -> None:
        """Keep bytes that arrive while the gate decides, for Autobahn to read once it has.

        Autobahn, still "connecting", would take them for another handshake
        (a frame holding a blank line fails the connection) and keep them
        without bound. Once open, it reads what waits in ``data`` first.
        """
        if protocol.state != ChatServerProtocol.STATE_CONNECTING:
            return  # dropped already
        protocol.data += data
        if len(protocol.data) > EARLY_DATA_LIMIT:
            protocol.wasNotCleanReason = "too much sent before the handshake was answered"
            protocol.dropConnection(abort=True)

    async def _admit(self, protocol: ChatServerProtocol) -> None:
        try:
            await self._decide(protocol)
        finally:
            protocol.admitting = False

    async def _decide(self, protocol: ChatServerProtocol) -> None:
        started = TIMER()
        view = UpgradeRequest(protocol.http_request_uri, protocol.http_headers)
        try:
            session = await self._gate.admit(view)
        except ChatError as error:
            self._refuse(protocol, error, started)
        except Exception:
            self.log.failure("unhandled error on GET /ws")
            self._refuse(protocol, InternalError(), started)
        if protocol.state != ChatServerProtocol.STATE_CONNECTING:
            # The client went away while the gate awaited the store.
            self._sockets.release(session.identity.user_id)
            raise ConnectionDeny(ConnectionDeny.BAD_REQUEST, "gone")
        protocol.session = session
        protocol._counted = True
        # An upgrade is not counted as an HTTP request, as on the route (see
        # ``chat_http_request_duration_seconds``); a refusal is, below.

    def _refuse(self, protocol: ChatServerProtocol, error: ChatError, started: float) -> NoReturn:
        """Have Autobahn send ``error`` as the route would, then close."""
        protocol.refusal = refusal_response(error)
        HTTP_REQUEST_SECONDS.labels(WS_ROUTE, "GET", str(error.status)).observe(TIMER() - started)
        raise ConnectionDeny(error.status, error.code)


def refusal_response(error: ChatError) -> bytes:
    """The whole HTTP answer of a refused handshake: the route's status, headers and body."""
    body = error_body(error)
    phrase = RESPONSES.get(error.status, b"Unknown Status")  # as twisted.web's Request
    headers = [
        *API_HEADERS,
        (b"content-type", b"application/json"),
        (b"content-length", b"%d" % len(body)),
        (b"connection", b"close"),
        *error_headers(error),
    ]
    lines = [b"HTTP/1.1 %d %s" % (error.status, phrase)]
    # Spelled as twisted.web writes names (``Retry-After``, ``X-Ratelimit-Limit``).
    lines += [name.title() + b": " + value for name, value in headers]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


class _FirstRequest(Protocol):
    """Reads a new connection's first request head, then hands the connection on.

    A head that has not arrived within the Site's idle timeout (``timeOut``)
    loses its connection, as twisted.web's channel would have dropped it.
    """

    def __init__(self, router: UpgradeRouter, addr: IAddress | None) -> None:
        self._router = router
        self._addr = addr
        self._head = b""
        self._timeout: IDelayedCall | None = None

    def connectionMade(self) -> None:  # noqa: N802 - Twisted hook
        site = self._router.site
        if site.timeOut:
            self._timeout = site.reactor.callLater(site.timeOut, self._timed_out)

    def dataReceived(self, data: bytes) -> None:  # noqa: N802 - Twisted hook
        head = self._head + data
        self._head = head
        if not head.startswith(_PREFIX[: len(head)]):
            self._hand_over(self._router.site.buildProtocol(self._addr))
            return
        end = head.find(b"\r\n\r\n")
        if end < 0:
            if len(head) > MAX_HEAD:
                self._hand_over(self._router.site.buildProtocol(self._addr))
            return
        if is_plain_upgrade(head[:end]):
            self._hand_over(self._router.socket_protocol(self._addr))
        else:
            self._hand_over(self._router.site.buildProtocol(self._addr))

    def connectionLost(self, reason: Failure | None = None) -> None:  # noqa: N802 - Twisted hook
        self._stop_timeout()

    def _timed_out(self) -> None:
        self._timeout = None
        transport: Any = self.transport
        transport.abortConnection()

    def _stop_timeout(self) -> None:
        if self._timeout is not None:
            self._timeout.cancel()
            self._timeout = None

    def _hand_over(self, protocol: Any) -> None:
        """Make ``protocol`` the connection's, and give it what was read (as Autobahn does)."""
        self._stop_timeout()
        transport: Any = self.transport
        if isinstance(transport, ProtocolWrapper):  # TLS
            transport.wrappedProtocol = protocol
        else:
            transport.protocol = protocol
        protocol.makeConnection(transport)
        protocol.dataReceived(self._head)
        self._head = b""


class UpgradeRouter(ServerFactory):
    """The ports' factory: ``/ws`` upgrades to the chat protocol, the rest to ``site``."""

    # One "starting on" line per port is Twisted's; "Starting factory" is the Site's.
    noisy = False

    def __init__(self, site: Site, sockets: ChatServerFactory, gate: HandshakeGate) -> None:
        self.site = site
        self._sockets = sockets
        self._direct = DirectHandshake(gate, sockets)

    def buildProtocol(self, addr: IAddress | None) -> Protocol:  # noqa: N802 - Twisted hook
        """A connection starts by showing its first request."""
        return _FirstRequest(self, addr)

    def socket_protocol(self, addr: IAddress | None) -> ChatServerProtocol:
        """A chat protocol that admits its own handshake."""
        protocol = self._sockets.buildProtocol(addr)
        assert isinstance(protocol, ChatServerProtocol)
        protocol.direct = self._direct
        return protocol

    def doStart(self) -> None:  # noqa: N802 - Twisted hook
        """The site starts and stops with the ports, as if it listened itself."""
        super().doStart()
        self.site.doStart()

    def doStop(self) -> None:  # noqa: N802 - Twisted hook
        """See ``doStart``."""
        self.site.doStop()
        super().doStop()
