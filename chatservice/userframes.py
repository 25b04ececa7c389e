"""Frames addressed to a user, not a room: to every socket of theirs, on every process.

A socket is opened for one room, so a frame for the person (a mention in
another room, their read marker moved by another tab) cannot ride a room
event. It rides a control event instead (``control.py``): through the hub,
so every process gets it once, encodes it once and frames it once, then
writes those bytes to its own open sockets of the addressed users.

Like room events, these are hints over pub/sub: one lost in a Redis outage
is not replayed. What they announce is kept in the store (read markers,
mentions in ``GET /api/rooms``), so a client that reconnects catches up
by reading it.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from typing import Any, Protocol

from twisted.logger import Logger

from chatservice.control import Control
from chatservice.websocket import OPEN, SocketSession
from chatservice.wire import dumps

USER_FRAME = "user_frame"


class UserSocket(Protocol):
    """What delivery needs of a socket (``ChatServerProtocol`` is one)."""

    session: SocketSession
    state: int

    def write_frame(self, frame: bytes) -> None:
        """Write a framed message in order with everything else sent, if open."""


class SocketSource(Protocol):
    """Where the sockets are (``ChatServerFactory`` is one)."""

    def open_sockets(self) -> Iterable[Any]:
        """Every socket of this process that joined its room."""

    def prepareMessage(self, payload: bytes) -> Any:  # noqa: N802 - Autobahn's name
        """Frame ``payload`` once for any number of sockets."""


class UserFrames:
    """Publishes user-addressed frames and delivers the ones every process receives."""

    log = Logger()

    def __init__(self, control: Control) -> None:
        self._control = control
        self._source: SocketSource | None = None
        control.on(USER_FRAME, self._deliver)

    def attach(self, source: SocketSource) -> None:
        """Deliver to ``source``'s sockets from now on (the service's WebSocket factory)."""
        self._source = source

    def send(self, user_ids: Collection[int], frame: dict[str, Any]) -> None:
        """Send ``frame`` (a JSON object) to every open socket of ``user_ids``, everywhere."""
        if user_ids:
            self._control.publish(USER_FRAME, user_ids=sorted(set(user_ids)), frame=frame)

    def _deliver(self, event: dict[str, Any]) -> None:
        source = self._source
        if source is None:
            return
        users = event.get("user_ids")
        frame = event.get("frame")
        if not isinstance(users, list) or not isinstance(frame, dict):
            self.log.warn("dropped a malformed user frame")
            return
        wanted = {user for user in users if isinstance(user, int)}
        framed: bytes | None = None
        prepare: Callable[[bytes], Any] = source.prepareMessage
        for socket in source.open_sockets():
            if socket.session.identity.user_id not in wanted or socket.state != OPEN:
                continue
            if framed is None:
                framed = prepare(dumps(frame)).payloadHybi
            socket.write_frame(framed)
