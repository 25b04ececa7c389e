"""HTTP plumbing shared by every route: body limits, CORS, headers, JSON answers.

``LimitedRequest`` refuses oversized bodies while they arrive (Twisted has no
request-body limit of its own) and then closes the connection the way nginx's
lingering close does, so that a client still sending can read the 413;
``ApiRoot`` wraps the Klein resource to answer CORS preflights, set the
security headers, and check the size again for hosts that mount us in a
``Site`` of their own; it also serves the web client's page and assets
(``chatservice/web/``) at ``/``, which are no API routes. JSON answers are
sized (``Content-Length``) rather than chunked: every body here is produced
whole.
"""

from __future__ import annotations

from collections.abc import Callable
from io import BytesIO
from typing import Any
from urllib.parse import unquote_to_bytes

from twisted.internet.interfaces import IDelayedCall
from twisted.logger import Logger
from twisted.web.iweb import IRequest
from twisted.web.resource import IResource
from twisted.web.server import NOT_DONE_YET, Request
from zope.interface import implementer

from chatservice.errors import (
    ChatError,
    Forbidden,
    InvalidRequest,
    Overloaded,
    PayloadTooLarge,
    RateLimited,
)
from chatservice.web.files import WebClient
from chatservice.wire import error_body

SERVER_HEADER = b"chatservice"
PREFLIGHT_MAX_AGE = b"600"
ALLOWED_METHODS = b"GET, POST, PUT, PATCH, DELETE, OPTIONS"
ALLOWED_HEADERS = b"Authorization, Content-Type"
# After an early 413, how long and how much of the rest of the upload is read
# and dropped before the connection is aborted: long and large enough for an
# ordinary client to finish sending and read the answer, small enough that a
# client cannot hold the connection or make us read without end.
LINGER_SECONDS = 5.0
LINGER_MAX_BYTES = 16 * 1024 * 1024

log = Logger()


def respond_json(request: IRequest, status: int, body: bytes) -> bytes:
    """Set the status, JSON content type and length; return ``body`` for Klein to write.

    Without a ``Content-Length`` Twisted sends the body chunked, which some
    minimal clients (and proxies logging sizes) do not handle; the body is
    whole here, so its length is known.
    """
    request.setResponseCode(status)
    request.setHeader(b"content-type", b"application/json")
    request.setHeader(b"content-length", b"%d" % len(body))
    return body


def close_after_response(request: IRequest) -> None:
    """Answer with ``Connection: close`` and really close once the answer is sent.

    Twisted decides whether to keep a connection from the *request's*
    ``Connection`` header only (``HTTPChannel.checkPersistence``); a
    ``Connection: close`` response header alone would leave it open, so the
    channel is marked non-persistent too and ``requestDone`` closes it.
    """
    request.setHeader(b"connection", b"close")
    channel = getattr(request, "channel", None)
    if channel is not None:
        channel.persistent = False


def respond_error(request: IRequest, error: ChatError) -> bytes:
    """Render a ChatError as its status and ``{"error", "code"}`` body."""
    if isinstance(error, RateLimited):
        request.setHeader(b"retry-after", b"%d" % error.retry_after)
        if error.limit is not None:
            request.setHeader(b"x-ratelimit-limit", b"%d" % error.limit)
            request.setHeader(b"x-ratelimit-remaining", b"0")
        if error.reset_after is not None:
            request.setHeader(b"x-ratelimit-reset", b"%d" % error.reset_after)
    elif isinstance(error, Overloaded):
        request.setHeader(b"retry-after", b"%d" % error.retry_after)
    return respond_json(request, error.status, error_body(error))


def bearer_token(request: IRequest) -> str | None:
    """Return the token of an ``Authorization`` header: ``Bearer <jwt>`` or a bare ``<jwt>``."""
    header = request.getHeader(b"authorization")
    if header is None:
        return None
    value = header.decode("latin-1").strip()
    scheme, _, rest = value.partition(" ")
    if scheme.lower() == "bearer":
        value = rest.strip()
    return value or None


def client_address(request: IRequest, trusted_proxies: int = 0) -> str:
    """The client's address: the TCP peer, or with ``trusted_proxies`` set, from X-Forwarded-For.

    With N trusted proxies, the Nth address from the right of
    ``X-Forwarded-For`` is the client (each proxy appends the address it saw);
    anything left of it could be forged. Off (0) by default: a client could
    otherwise pick its own address and dodge every per-address limit. Every
    line of the header counts, in order: a proxy may add a line of its own
    instead of appending to the one it received (HAProxy does).
    """
    if trusted_proxies > 0:
        lines = request.requestHeaders.getRawHeaders(b"x-forwarded-for") or []
        text = ",".join(line.decode("latin-1") for line in lines)
        hops = [h.strip() for h in text.split(",") if h.strip()]
        if len(hops) >= trusted_proxies:
            return hops[-trusted_proxies]
    peer = request.getClientAddress()
    host: str = getattr(peer, "host", "") or str(peer)
    return host


def read_body(request: IRequest, limit: int) -> bytes:
    """Return the request body; ``PayloadTooLarge`` if it exceeds ``limit``."""
    content = request.content
    assert content is not None
    content.seek(0, 2)
    size = content.tell()
    if size > limit:
        raise PayloadTooLarge()
    content.seek(0)
    body: bytes = content.read()
    return body


def _raw_error_response(error: ChatError) -> bytes:
    body = error_body(error)
    # The same safety headers ApiRoot.render sets on every other answer.
    return (
        b"HTTP/1.1 %d %s\r\n"
        b"Server: %s\r\n"
        b"Content-Type: application/json\r\n"
        b"X-Content-Type-Options: nosniff\r\n"
        b"Cache-Control: no-store\r\n"
        b"Content-Length: %d\r\n"
        b"Connection: close\r\n\r\n%s"
    ) % (error.status, b"Payload Too Large", SERVER_HEADER, len(body), body)


class _LingeringClose:
    """Reads and drops what a refused client still sends, then lets the connection end.

    Closing a socket whose input is unread makes the kernel send a reset; a
    client still writing its body then reports "connection reset" (or a
    broken pipe) instead of the 413 already sent to it. So, like nginx's
    lingering close: shut our write side (the client reads the 413 up to
    EOF), keep reading and dropping the input until the client closes, and
    abort once ``LINGER_SECONDS`` or ``LINGER_MAX_BYTES`` is passed.
    """

    def __init__(self, channel: Any, transport: Any) -> None:
        self._transport = transport
        self._discarded = 0
        self._over = False
        # The linger has its own bounds; the channel's idle timeout would
        # otherwise run on, and its loseConnection would stop reading.
        channel.setTimeout(None)
        # Every later byte, and the rest of the read being parsed, comes here
        # instead of to the HTTP parser: nothing is parsed as a new request
        # or buffered (the same takeover Twisted does for WebSockets).
        channel.dataReceived = self.discard
        channel.rawDataReceived = self.discard
        # The channel must not pause our reading, nor stand as a producer that
        # keeps the transport from shutting its write side.
        if getattr(transport, "producer", None) is not None:
            transport.unregisterProducer()
        resume = getattr(transport, "resumeProducing", None)
        if resume is not None:
            resume()
        # TCP transports provide IHalfCloseableDescriptor; others (e.g. TLS)
        # may not, and the client then stops at the answer's Content-Length.
        half_close = getattr(transport, "loseWriteConnection", None)
        if half_close is not None:
            half_close()
        call_later: Callable[..., IDelayedCall] = channel.callLater
        self._timer = call_later(LINGER_SECONDS, self._give_up, "time")

    def discard(self, data: bytes) -> None:
        """Drop ``data``; abort once the input passes ``LINGER_MAX_BYTES``."""
        self._discarded += len(data)
        if self._discarded > LINGER_MAX_BYTES:
            self._give_up("size")

    def stop(self) -> None:
        """The connection is gone: forget the timer."""
        if self._timer.active():
            self._timer.cancel()

    def _give_up(self, bound: str) -> None:
        if self._over:
            return
        self._over = True
        self.stop()
        log.info("lingering close after a 413 passed its {bound} bound; aborting", bound=bound)
        abort = getattr(self._transport, "abortConnection", None)
        if abort is None:
            abort = self._transport.loseConnection
        abort()


class LimitedRequest(Request):
    """A request that refuses bodies over ``max_body`` before reading them.

    A ``Content-Length`` over the limit is answered with 413 at once; a
    chunked body is cut off with 413 as soon as it grows past the limit. In
    both cases the rest of the body is never parsed: the answer says
    ``Connection: close`` and the connection ends with a lingering close
    (``_LingeringClose``), so the client can read the 413.
    """

    max_body: int = 65536
    # The body limit of ``POST .../api/uploads`` (file routes stream to a
    # temporary file, so the JSON routes' limit does not apply to them).
    max_upload: int = 65536
    _refused = False
    _linger: _LingeringClose | None = None

    def __init__(self, channel: Any, *args: Any, **kwargs: Any) -> None:
        # The Content-Type is not checked (docs/protocol.md): a JSON body
        # labelled multipart/form-data must reach the route, not be parsed as
        # a form and refused by Twisted with a bare, body-less 400. (The
        # switch came in Twisted 25.5, our minimum.)
        kwargs.setdefault("parsePOSTFormSubmission", False)
        super().__init__(channel, *args, **kwargs)

    _limit: int | None = None

    @property
    def body_limit(self) -> int:
        """This request's limit: ``max_upload`` for an upload, else ``max_body``.

        Decided from the request line the channel has parsed (the request
        itself learns its path only once the body is in).
        """
        if self._limit is None:
            target: bytes = getattr(self.channel, "_path", b"") or b""
            self._limit = self.max_upload if is_upload_path(target) else self.max_body
        return self._limit

    def gotLength(self, length: int | None) -> None:  # noqa: N802 - Twisted hook
        """Refuse a declared length over the limit before any body byte is read.

        Below the limit Twisted spools a body of 100 kB or more (or of
        unknown length) to a temporary file as it arrives, so an upload
        never sits in memory.
        """
        if length is not None and length > self.body_limit:
            self._refuse()
            return
        super().gotLength(length)

    def handleContentChunk(self, data: bytes) -> None:  # noqa: N802 - Twisted hook
        """Count body bytes as they arrive; refuse once past the limit."""
        if self._refused:
            return
        assert self.content is not None
        if self.content.tell() + len(data) > self.body_limit:
            self._refuse()
            return
        super().handleContentChunk(data)

    def requestReceived(self, command: bytes, path: bytes, version: bytes) -> None:  # noqa: N802
        """Do not process a refused request: its answer was already sent."""
        if self._refused:
            return
        super().requestReceived(command, path, version)

    def connectionLost(self, reason: Any) -> None:  # noqa: N802 - Twisted hook
        """End a lingering close with the connection."""
        if self._linger is not None:
            self._linger.stop()
        super().connectionLost(reason)

    def _refuse(self) -> None:
        self._refused = True
        self.content = BytesIO()  # what Request expects to find; stays empty
        # HTTPChannel answers "Expect: 100-continue" right after gotLength; a
        # "100 Continue" written after our 413 would invite the body we refuse.
        self.requestHeaders.removeHeader(b"expect")
        transport = self.channel.transport if self.channel is not None else None
        if transport is None:
            return
        log.info("request body over {limit} bytes refused", limit=self.body_limit)
        transport.write(_raw_error_response(PayloadTooLarge()))
        self._linger = _LingeringClose(self.channel, transport)


UPLOAD_PATH = b"/api/uploads"


def is_upload_path(target: bytes) -> bool:
    """Whether a request target (path and query) is the upload route, wherever we are mounted."""
    return target.split(b"?", 1)[0].rstrip(b"/").endswith(UPLOAD_PATH)


def limited_request_factory(max_body: int, max_upload: int | None = None) -> type[LimitedRequest]:
    """Return a ``Site.requestFactory`` that refuses bodies over ``max_body`` bytes.

    ``max_upload`` (default ``max_body``) is the limit of the upload route.
    """
    limits = {"max_body": max_body, "max_upload": max_upload if max_upload else max_body}
    return type("LimitedRequest", (LimitedRequest,), limits)


class CorsPolicy:
    """Which origins may call the API from a browser (``CORS_ORIGINS``)."""

    def __init__(self, origins: tuple[str, ...]) -> None:
        self._any = "*" in origins
        self._origins = frozenset(o.lower() for o in origins)

    def allows(self, origin: str) -> bool:
        """Return True if a browser page from ``origin`` may use the API."""
        return self._any or origin.rstrip("/").lower() in self._origins

    def allow_origin_value(self, origin: str) -> bytes:
        """The ``Access-Control-Allow-Origin`` value for an allowed origin.

        With ``*`` the answer is the literal ``*``: no credentials (cookies)
        are ever allowed, and the Origin is never reflected with them.
        """
        return b"*" if self._any else origin.encode("utf-8")


@implementer(IResource)
class ApiRoot:
    """The service's root resource: CORS and security headers around the Klein app.

    The web client's paths (``/`` and ``/static/...``, below wherever the
    resource is mounted) go to ``web`` instead: they are files, not routes
    of the API or of its OpenAPI document.
    """

    isLeaf = True

    def __init__(
        self,
        app: IResource,
        cors: CorsPolicy,
        max_body: int,
        web: WebClient | None = None,
        max_upload: int | None = None,
    ) -> None:
        self._app = app
        self._cors = cors
        self._max_body = max_body
        self._max_upload = max_upload if max_upload else max_body
        self._web = web if web is not None else WebClient.from_package()

    def getChildWithDefault(self, name: bytes, request: IRequest) -> IResource:  # noqa: N802
        """Never called: this resource is a leaf."""
        return self

    def putChild(self, path: bytes, child: IResource) -> None:  # noqa: N802
        """Children are Klein routes, not resources."""
        raise NotImplementedError("add routes to the Klein app instead")

    def render(self, request: IRequest) -> Any:
        """Answer preflights, set headers, enforce the body limit, then route."""
        request.setHeader(b"server", SERVER_HEADER)
        request.setHeader(b"x-content-type-options", b"nosniff")
        request.setHeader(b"cache-control", b"no-store")
        origin_header = request.getHeader(b"origin")
        origin = origin_header.decode("latin-1") if origin_header is not None else None
        if origin is not None:
            request.setHeader(b"vary", b"Origin")
            if self._cors.allows(origin):
                request.setHeader(
                    b"access-control-allow-origin", self._cors.allow_origin_value(origin)
                )
        if request.method == b"OPTIONS":
            return self._preflight(request, origin)
        try:
            # Klein routes on the percent-decoded path and the Host name, and
            # answers either when not UTF-8 with an HTML 400 and a logged error.
            unquote_to_bytes(request.path).decode("utf-8")
            request.getRequestHostname().decode("utf-8")
        except UnicodeDecodeError:
            return respond_error(request, InvalidRequest("The URL is not valid UTF-8."))
        length = request.getHeader(b"content-length")
        limit = self._max_upload if is_upload_path(request.path) else self._max_body
        if length is not None and length.isdigit() and int(length) > limit:
            return respond_error(request, PayloadTooLarge())
        postpath: list[bytes] = getattr(request, "postpath", None) or []
        if self._web.serves(postpath):
            return self._web.render(request)
        return self._app.render(request)

    def _preflight(self, request: IRequest, origin: str | None) -> Any:
        if origin is not None and not self._cors.allows(origin):
            return respond_error(request, Forbidden())
        request.setHeader(b"access-control-allow-methods", ALLOWED_METHODS)
        request.setHeader(b"access-control-allow-headers", ALLOWED_HEADERS)
        request.setHeader(b"access-control-max-age", PREFLIGHT_MAX_AGE)
        request.setResponseCode(204)
        # Finished here: for returned bytes Site.render adds "Content-Length:
        # 0", which a 204 must not carry (RFC 9110, 8.6). A 204 has no body,
        # so Twisted does not chunk it either.
        request.finish()
        return NOT_DONE_YET
