"""Request-body limits enforced while the body arrives, and the early refusal's lingering close.

Twisted has no request-body limit of its own: it spools whatever body a
client declares (to a temporary file from 100 kB on). ``LimitedRequest``
refuses a body over the limit as soon as its length is known, or a chunked
one as soon as it grows past it, and an upload whose headers already
decide its refusal (no valid token: ``upload_gate.UploadGate``) before any
body byte is read; it answers at once, and then closes the connection the
way nginx's lingering close does (``_LingeringClose``), so that a client
still sending can read the answer. Apart from the HTTP
plumbing of ``http.py`` because it works below the resource tree, on the
channel and its transport, before any route (or ``ApiRoot``) sees the request.
"""

from __future__ import annotations

from collections.abc import Callable
from io import BytesIO
from typing import Any, Protocol

from twisted.internet.interfaces import IDelayedCall
from twisted.logger import Logger
from twisted.web.http import RESPONSES
from twisted.web.iweb import IRequest
from twisted.web.server import Request

from chatservice.errors import ChatError, PayloadTooLarge
from chatservice.wire import error_body

SERVER_HEADER = b"chatservice"
# After an early 413, how long and how much of the rest of the upload is read
# and dropped before the connection is aborted: long and large enough for an
# ordinary client to finish sending and read the answer, small enough that a
# client cannot hold the connection or make us read without end.
LINGER_SECONDS = 5.0
LINGER_MAX_BYTES = 16 * 1024 * 1024

log = Logger()


class UploadCheck(Protocol):
    """What decides, from an upload's headers alone, to refuse it before its body."""

    def refusal(self, request: IRequest) -> ChatError | None:
        """The error to answer at once, or None to read the body."""


def _raw_error_response(error: ChatError) -> bytes:
    body = error_body(error)
    reason = RESPONSES.get(error.status, b"Error")
    # The same safety headers ApiRoot.render sets on every other answer.
    return (
        b"HTTP/1.1 %d %s\r\n"
        b"Server: %s\r\n"
        b"Content-Type: application/json\r\n"
        b"X-Content-Type-Options: nosniff\r\n"
        b"Cache-Control: no-store\r\n"
        b"Content-Length: %d\r\n"
        b"Connection: close\r\n\r\n%s"
    ) % (error.status, reason, SERVER_HEADER, len(body), body)


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
        log.info("lingering close after a refusal passed its {bound} bound; aborting", bound=bound)
        abort = getattr(self._transport, "abortConnection", None)
        if abort is None:
            abort = self._transport.loseConnection
        abort()


class LimitedRequest(Request):
    """A request that refuses bodies over ``max_body`` before reading them.

    A ``Content-Length`` over the limit is answered with 413 at once; a
    chunked body is cut off with 413 as soon as it grows past the limit; an
    upload that ``upload_check`` refuses from its headers (a missing, forged
    or expired token: 401) is answered before any body byte is read. In
    each case the rest of the body is never parsed: the answer says
    ``Connection: close`` and the connection ends with a lingering close
    (``_LingeringClose``), so the client can read the answer.
    """

    max_body: int = 65536
    # The body limit of ``POST .../api/uploads`` (file routes stream to a
    # temporary file, so the JSON routes' limit does not apply to them).
    max_upload: int = 65536
    # Asked, for ``POST .../api/uploads``, once its headers are in (None: the
    # route decides everything after the body, as for a host's own Site).
    upload_check: UploadCheck | None = None
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
            self._refuse(PayloadTooLarge())
            return
        if self.upload_check is not None and self._is_upload_post():
            error = self.upload_check.refusal(self)
            if error is not None:
                self._refuse(error)
                return
        super().gotLength(length)

    def _is_upload_post(self) -> bool:
        """Whether the request line the channel parsed is ``POST`` of the upload route."""
        channel = self.channel
        command: bytes = getattr(channel, "_command", b"") or b""
        target: bytes = getattr(channel, "_path", b"") or b""
        return command == b"POST" and is_upload_path(target)

    def handleContentChunk(self, data: bytes) -> None:  # noqa: N802 - Twisted hook
        """Count body bytes as they arrive; refuse once past the limit."""
        if self._refused:
            return
        assert self.content is not None
        if self.content.tell() + len(data) > self.body_limit:
            self._refuse(PayloadTooLarge())
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

    def _refuse(self, error: ChatError) -> None:
        self._refused = True
        self.content = BytesIO()  # what Request expects to find; stays empty
        # HTTPChannel answers "Expect: 100-continue" right after gotLength; a
        # "100 Continue" written after our refusal would invite the body we refuse.
        self.requestHeaders.removeHeader(b"expect")
        transport = self.channel.transport if self.channel is not None else None
        if transport is None:
            return
        if isinstance(error, PayloadTooLarge):
            log.info("request body over {limit} bytes refused", limit=self.body_limit)
        else:
            log.info("upload refused before its body: {code}", code=error.code)
        transport.write(_raw_error_response(error))
        self._linger = _LingeringClose(self.channel, transport)


UPLOAD_PATH = b"/api/uploads"


def is_upload_path(target: bytes) -> bool:
    """Whether a request target (path and query) is the upload route, wherever we are mounted."""
    return target.split(b"?", 1)[0].rstrip(b"/").endswith(UPLOAD_PATH)


def limited_request_factory(
    max_body: int, max_upload: int | None = None, upload_check: UploadCheck | None = None
) -> type[LimitedRequest]:
    """Return a ``Site.requestFactory`` that refuses bodies over ``max_body`` bytes.

    ``max_upload`` (default ``max_body``) is the limit of the upload route;
    ``upload_check`` (default none) refuses uploads from their headers.
    """
    limits: dict[str, Any] = {
        "max_body": max_body,
        "max_upload": max_upload if max_upload else max_body,
        "upload_check": upload_check,
    }
    return type("LimitedRequest", (LimitedRequest,), limits)
