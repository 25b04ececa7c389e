"""HTTP plumbing shared by every route: CORS, headers, JSON answers, the body limit again.

``ApiRoot`` wraps the Klein resource to answer CORS preflights, set the
security headers, and check the size again for hosts that mount us in a
``Site`` of their own (the limit enforced while a body arrives, before any
route sees it, is ``bodylimit.LimitedRequest``'s); it also serves the web
client's page and assets (``chatservice/web/``) at ``/``, which are no API
routes. JSON answers are sized (``Content-Length``) rather than chunked:
every body here is produced whole.
"""

from __future__ import annotations

from typing import Any, Protocol
from urllib.parse import unquote_to_bytes

from twisted.web.iweb import IRequest
from twisted.web.resource import IResource
from twisted.web.server import NOT_DONE_YET
from zope.interface import implementer

from chatservice.bodylimit import SERVER_HEADER, is_upload_path
from chatservice.bodylimit import LimitedRequest as LimitedRequest  # moved; old name kept
from chatservice.bodylimit import limited_request_factory as limited_request_factory
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

PREFLIGHT_MAX_AGE = b"600"
ALLOWED_METHODS = b"GET, POST, PUT, PATCH, DELETE, OPTIONS"
ALLOWED_HEADERS = b"Authorization, Content-Type"
# On every answer of the API, the ports' /ws door's refusals included (``upgrade_router``).
API_HEADERS = (
    (b"server", SERVER_HEADER),
    (b"x-content-type-options", b"nosniff"),
    (b"cache-control", b"no-store"),
)


class HeaderSource(Protocol):
    """What reads a request's headers only needs (a twisted.web request, or an upgrade's)."""

    def getHeader(self, key: bytes) -> bytes | None:  # noqa: N802 - twisted.web's name
        """The last value of a header, or None."""


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
    for name, value in error_headers(error):
        request.setHeader(name, value)
    return respond_json(request, error.status, error_body(error))


def error_headers(error: ChatError) -> list[tuple[bytes, bytes]]:
    """The headers an error's answer carries besides the JSON ones (when to retry)."""
    headers: list[tuple[bytes, bytes]] = []
    if isinstance(error, RateLimited):
        headers.append((b"retry-after", b"%d" % error.retry_after))
        if error.limit is not None:
            headers.append((b"x-ratelimit-limit", b"%d" % error.limit))
            headers.append((b"x-ratelimit-remaining", b"0"))
        if error.reset_after is not None:
            headers.append((b"x-ratelimit-reset", b"%d" % error.reset_after))
    elif isinstance(error, Overloaded):
        headers.append((b"retry-after", b"%d" % error.retry_after))
    return headers


def bearer_token(request: HeaderSource) -> str | None:
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
        for name, value in API_HEADERS:
            request.setHeader(name, value)
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
