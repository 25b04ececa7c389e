"""The REST API and the /ws handshake route, as Klein routes on one object.

Routes translate between HTTP and the use cases, nothing more: parsing and
validation live in ``wire``, rules in the use cases, and every error is
rendered in one place as ``{"error", "code"}`` JSON.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import CancelledError
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.iweb import IRequest
from twisted.web.resource import IResource
from werkzeug.exceptions import HTTPException
from werkzeug.exceptions import MethodNotAllowed as WerkzeugMethodNotAllowed

from chatservice import __version__
from chatservice.access import RoomAccess
from chatservice.accounts import Accounts, Session
from chatservice.admin_rooms import RoomAdmin
from chatservice.admin_users import UserAdmin
from chatservice.changes import MessageChanges
from chatservice.cluster import ICluster, take
from chatservice.errors import (
    ChatError,
    InternalError,
    MethodNotAllowed,
    NotFound,
    Unauthorized,
)
from chatservice.files import Files
from chatservice.handshake import HandshakeGate
from chatservice.health import Health
from chatservice.http import (
    bearer_token,
    client_address,
    close_after_response,
    read_body,
    respond_error,
    respond_json,
)
from chatservice.klein_app import app
from chatservice.membership import Membership
from chatservice.messages import Messages
from chatservice.moderation import Moderation
from chatservice.openapi import DOCUMENT
from chatservice.push import PushSubscriptions
from chatservice.ratelimit import Rate
from chatservice.read_markers import ReadMarkers
from chatservice.rest_accounts import AccountRoutes
from chatservice.rest_admin import AdminRoutes
from chatservice.rest_files import FileRoutes
from chatservice.rest_messages import MessageRoutes
from chatservice.rest_push import PushRoutes
from chatservice.rest_read import ReadRoutes
from chatservice.rest_rooms import RoomRoutes
from chatservice.search import Search
from chatservice.sessions import Sessions
from chatservice.timeline import Timeline
from chatservice.tokens import Identity
from chatservice.wire import (
    dumps,
    parse_history_query,
    parse_login,
    parse_registration,
)

OPENAPI_JSON = dumps(DOCUMENT)
# A browser needs a ticket per (re)connection: generous, but bounded.
TICKET_RATE = Rate(burst=30, per_second=1.0)


class ChatAPI(
    MessageRoutes, RoomRoutes, AccountRoutes, AdminRoutes, FileRoutes, PushRoutes, ReadRoutes
):
    """Every HTTP route of the service; holds the use cases it calls."""

    app = app
    log = Logger()

    def __init__(
        self,
        *,
        accounts: Accounts,
        sessions: Sessions,
        admin: UserAdmin,
        room_admin: RoomAdmin,
        access: RoomAccess,
        membership: Membership,
        moderation: Moderation,
        messages: Messages,
        changes: MessageChanges,
        timeline: Timeline,
        search: Search,
        max_message_length: int,
        cluster: ICluster,
        health: Health,
        handshakes: HandshakeGate,
        max_body: int,
        read_markers: ReadMarkers,
        files: Files,
        trusted_proxies: int = 0,
        push: PushSubscriptions,
    ) -> None:
        self._files = files
        self._accounts = accounts
        self._sessions = sessions
        self._admin = admin
        self._room_admin = room_admin
        self._access = access
        self._membership = membership
        self._moderation = moderation
        self._messages = messages
        self._changes = changes
        self._timeline = timeline
        self._search = search
        self._max_message_length = max_message_length
        self._cluster = cluster
        self._health = health
        self._handshakes = handshakes
        self._max_body = max_body
        self._trusted_proxies = trusted_proxies
        self._read_markers = read_markers
        self._push = push
        # Counted across processes, like the tickets themselves.
        self._ticket_limiter = cluster.rate("tickets-per-user", TICKET_RATE)

    def resource(self) -> IResource:
        """Return the Klein resource serving these routes."""
        resource: IResource = self.app.resource()
        return resource

    async def _identity(self, request: IRequest) -> Identity:
        token = bearer_token(request)
        if token is None:
            raise Unauthorized("An Authorization header with a token is required.")
        return await self._accounts.authenticate(token)

    @staticmethod
    def _session(request: IRequest, status: int, session: Session) -> bytes:
        body = {"token": session.token, "user": session.user.to_json()}
        return respond_json(request, status, dumps(body))

    @app.route("/api/register", methods=["POST"])
    async def register(self, request: IRequest) -> bytes:
        """Create an account: 201 with a token, 409 if the name is taken."""
        form = parse_registration(read_body(request, self._max_body))
        address = client_address(request, self._trusted_proxies)
        return self._session(request, 201, await self._accounts.register(form, address))

    @app.route("/api/login", methods=["POST"])
    async def login(self, request: IRequest) -> bytes:
        """Check credentials: 200 with a token, or 401 ``invalid_credentials``."""
        form = parse_login(read_body(request, self._max_body))
        address = client_address(request, self._trusted_proxies)
        return self._session(request, 200, await self._accounts.login(form, address))

    @app.route("/api/messages", methods=["GET"])
    async def history(self, request: IRequest) -> bytes:
        """Return a page of a room's history, oldest first."""
        identity = await self._identity(request)
        query = parse_history_query(request.args)
        await self._access.readable(identity, query.room_id)
        messages = await self._messages.history(query)
        return respond_json(request, 200, dumps([m.to_json() for m in messages]))

    @app.route("/api/ws-ticket", methods=["POST"])
    async def ws_ticket(self, request: IRequest) -> bytes:
        """Issue a single-use, 30-second WebSocket ticket (any body is ignored)."""
        identity = await self._identity(request)
        decision = await take(self._ticket_limiter, str(identity.user_id))
        if not decision.allowed:
            # The ticket book is bounded; one user must not evict everyone's.
            self.log.info("rate limited by {limiter}", limiter=self._ticket_limiter.name)
            raise self._ticket_limiter.refusal(decision)
        ticket = await self._cluster.issue_ticket(identity)
        body = {"ticket": ticket, "expires_in": self._cluster.ticket_lifetime}
        return respond_json(request, 201, dumps(body))

    @app.route("/api/openapi.json", methods=["GET"])
    def openapi(self, request: IRequest) -> bytes:
        """The OpenAPI 3.1 description of these routes (no authentication)."""
        return respond_json(request, 200, OPENAPI_JSON)

    @app.route("/health", methods=["GET"])
    async def health(self, request: IRequest) -> bytes:
        """200 while the store answers and writes, 503 while it cannot. No authentication."""
        report = await self._health.check()
        body = {**report.to_json(), "version": __version__}
        return respond_json(request, report.http_status, dumps(body))

    @app.route("/ws", methods=["GET"])
    async def websocket(self, request: IRequest) -> IResource:
        """Authenticate a WebSocket handshake, then hand the connection to Autobahn."""
        try:
            return await self._handshakes.accept(request)
        except Exception:
            # A refused handshake ends the connection after its JSON answer:
            # the client asked for an upgrade, not a keep-alive exchange.
            close_after_response(request)
            raise

    @app.handle_errors(ChatError)
    def chat_error(self, request: IRequest, failure: Failure) -> bytes:
        """Render our own errors as their status and JSON body."""
        error = failure.value
        assert isinstance(error, ChatError)
        return respond_error(request, error)

    @app.handle_errors(HTTPException)
    def routing_error(self, request: IRequest, failure: Failure) -> bytes:
        """Turn werkzeug's 404 and 405 pages into our JSON errors."""
        if isinstance(failure.value, WerkzeugMethodNotAllowed):
            allowed = failure.value.valid_methods or []
            request.setHeader(b"allow", ", ".join(sorted(allowed)).encode("ascii"))
            return respond_error(request, MethodNotAllowed())
        return respond_error(request, NotFound("No such route."))

    @app.handle_errors(Exception)
    def server_fault(self, request: IRequest, failure: Failure) -> Any:
        """Log anything unexpected; the client sees a generic 500 without detail."""
        if failure.check(CancelledError):
            return None  # the client went away; nothing to answer
        self.log.failure(
            "unhandled error on {method} {path}",
            failure,
            method=request.method.decode("latin-1"),
            path=request.path.decode("latin-1", "replace"),
        )
        return respond_error(request, InternalError())
