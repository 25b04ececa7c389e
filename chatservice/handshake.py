"""The ``/ws`` handshake: authenticate before upgrading, refuse with JSON errors.

Autobahn's ``ConnectionDeny`` can only send a bare status line, so every
check happens here, in the Klein route, where a refusal is still a JSON HTTP
error. The identity then reaches the protocol through a factory bound to
that one request.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from autobahn.twisted.resource import WebSocketResource
from twisted.logger import Logger
from twisted.web.iweb import IRequest
from twisted.web.resource import IResource

from chatservice.access import RoomAccess
from chatservice.accounts import Accounts
from chatservice.cluster import ICluster
from chatservice.errors import (
    Forbidden,
    InvalidRequest,
    RateLimited,
    StoreUnavailable,
    Unauthorized,
    UpgradeRequired,
)
from chatservice.fanout import ChatServerFactory
from chatservice.http import CorsPolicy, HeaderSource, bearer_token
from chatservice.hub import instance_id
from chatservice.metrics import RATE_LIMITED
from chatservice.tokens import Identity
from chatservice.websocket import ChatServerProtocol, SocketSession
from chatservice.wire import query_int

CONNECTION_LIMIT_RETRY_AFTER = 5


class HandshakeRequest(HeaderSource, Protocol):
    """What the gate reads of a ``/ws`` request: twisted.web's, or ``upgrade_router``'s."""

    @property
    def args(self) -> dict[bytes, list[bytes]]:
        """The query string's values by name, as twisted.web parses them."""


class _BoundFactory:
    """Builds the protocol for one authenticated request, with its session attached.

    The socket was counted against its user before the upgrade; if the
    request ends without a protocol (the client went away first), the
    count is given back.
    """

    def __init__(self, factory: ChatServerFactory, session: SocketSession) -> None:
        self._factory = factory
        self._session = session
        self._built = False

    def buildProtocol(self, addr: Any) -> ChatServerProtocol:
        self._built = True
        return self._factory.build_for(self._session, addr)

    def unused(self, _: object) -> None:
        """The request is over: uncount the socket if it never became one."""
        if not self._built:
            self._built = True
            self._factory.release(self._session.identity.user_id)


@dataclass(kw_only=True)
class HandshakeGate:
    """Decides whether a ``/ws`` request may become a WebSocket, and as whom."""

    log: ClassVar[Logger] = Logger()

    accounts: Accounts
    access: RoomAccess
    # Tickets are redeemed once across every process.
    cluster: ICluster
    cors: CorsPolicy
    sockets: ChatServerFactory
    max_sockets_per_user: int
    # Connection ids are unique across processes (typing notices name the
    # connection that must not get them back, through Redis too).
    instance: str = field(default_factory=instance_id)
    _connection_ids: Iterator[int] = field(default_factory=lambda: itertools.count(1), init=False)

    async def accept(self, request: IRequest) -> IResource:
        """Authenticate a ``/ws`` request routed by Klein; return the resource that upgrades it.

        Raises:
            ChatError: as ``admit``, rendered as JSON by the route.
        """
        session = await self.admit(request)
        bound = _BoundFactory(self.sockets, session)
        # Fires if the request ends before the upgrade built the protocol.
        notify_finish = getattr(request, "notifyFinish", None)  # not in IRequest
        if notify_finish is not None:
            notify_finish().addBoth(bound.unused)
        return WebSocketResource(bound)

    async def admit(self, request: HandshakeRequest) -> SocketSession:
        """Decide whether a ``/ws`` request may become a WebSocket: its session if so.

        The socket is counted against its user from here on: the caller
        gives the count back (``ChatServerFactory.release``) if no socket
        is built after all.

        Raises:
            ChatError: 400, 401, 403, 404, 426, 429, or 503 while shutting
                down.
        """
        args = request.args
        # A ticket is used up by the first handshake that presents it,
        # whatever the outcome.
        ticket = first_text(args, b"ticket")
        ticket_identity = await self.cluster.redeem_ticket(ticket) if ticket is not None else None
        if self.sockets.draining:
            # A socket opened now would never get its 1001 (keep-alive HTTP
            # connections and host Sites still reach this route).
            raise StoreUnavailable("The server is shutting down.")
        origin = request.getHeader(b"origin")
        if origin is not None and not self.cors.allows(origin.decode("latin-1")):
            raise Forbidden()
        identity = await self._identity(request, ticket, ticket_identity)
        room_id = query_int(args, "roomId", "room_id")
        if room_id is None:
            raise InvalidRequest("'roomId' is required.")
        since = query_int(args, "since", low=0)
        # A public room is joined by opening its socket; a private one must
        # have been joined; a banned user is refused (``access.py``).
        admission = await self.access.enter(identity, room_id)
        upgrade = (request.getHeader(b"upgrade") or b"").lower()
        if upgrade != b"websocket":
            raise UpgradeRequired()
        # Counted on every process at once (``cluster.py``): a refusal here
        # holds whichever process the user's other sockets are on.
        if not await self.sockets.reserve(identity.user_id, self.max_sockets_per_user):
            self.log.info(
                "rate limited by sockets-per-user (user {user_id})", user_id=identity.user_id
            )
            RATE_LIMITED.labels("sockets-per-user").inc()
            raise RateLimited(
                CONNECTION_LIMIT_RETRY_AFTER,
                "Too many connections for this user.",
                limiter="sockets-per-user",
                limit=self.max_sockets_per_user,
            )
        refusal = self.accounts.revocation.refused(identity)
        if refusal is not None:
            # Revoked while this handshake awaited the store or Redis: the
            # event that would close the socket came before it was open.
            self.sockets.release(identity.user_id)
            raise refusal.error
        connection_id = f"{self.instance}-{next(self._connection_ids)}"
        self.sockets.policy.admit(identity.user_id, admission)
        if self.sockets.draining:
            # Shutdown began while this handshake awaited the store.
            self.sockets.release(identity.user_id)
            raise StoreUnavailable("The server is shutting down.")
        return SocketSession(identity, room_id, since, connection_id)

    async def _identity(
        self, request: HandshakeRequest, ticket: str | None, ticket_identity: Identity | None
    ) -> Identity:
        """The header wins; then a ticket; then a ``token=`` query parameter."""
        header_token = bearer_token(request)
        if header_token is not None:
            return await self.accounts.authenticate(header_token)
        if ticket is not None:
            if ticket_identity is None:
                raise Unauthorized("The ticket is invalid, used or expired.")
            await self.accounts.check_identity(ticket_identity)
            return ticket_identity
        query_token = first_text(request.args, b"token")
        if query_token is not None:
            return await self.accounts.authenticate(query_token)
        raise Unauthorized("A token or ticket is required.")


def first_text(args: dict[bytes, list[bytes]], name: bytes) -> str | None:
    """A query parameter's first value as text (the gate's reading of tickets and tokens)."""
    values = args.get(name)
    if not values:
        return None
    return values[0].decode("utf-8", "replace")
