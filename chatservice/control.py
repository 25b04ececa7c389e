"""Control events: what every process must do to its sockets, beside delivering room events.

A kick, a ban, a revoked token or a disabled account must close the
affected sockets at once on whichever process holds them. Control events
travel through the hub exactly like room events, on a channel of their own
(the reserved room id ``CONTROL_ROOM``, which no stored room has: ids start
at 1), so whatever carries room events between processes carries them too,
and a single process needs nothing more than its ``LocalHub``.

Each event is a small JSON object with a ``type``; ``Control`` publishes
them and hands each one received to the handler registered for its type.
What an event may be lost to (a Redis outage) is the same as for room
events; a socket that should have closed then lives on until its token
expires or its next check (docs/protocol.md says which).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol

from twisted.logger import Logger

from chatservice.hub import IHub, RoomEvent, publish_quietly
from chatservice.websocket import SocketSession
from chatservice.wire import dumps

CONTROL_ROOM = 0

# Close the sockets matching {"user_id", "room_id", "session"} (None matches
# any) with {"code", "reason"}.
CLOSE_SOCKETS = "close_sockets"

Handler = Callable[[dict[str, Any]], object]


class Control:
    """Publishes control events to every process and dispatches the ones received."""

    log = Logger()

    def __init__(self, hub: IHub) -> None:
        self._hub = hub
        self._handlers: dict[str, Handler] = {}
        self._on_restored: list[Callable[[], object]] = []

    def on(self, kind: str, handler: Handler) -> None:
        """Call ``handler`` with every event of type ``kind`` (one handler per type)."""
        self._handlers[kind] = handler

    def on_restored(self, handler: Callable[[], object]) -> None:
        """Call ``handler`` whenever control events flow again after some may have been lost."""
        self._on_restored.append(handler)

    def restored(self) -> None:
        """The hub receives control events again after an outage: tell whoever asked."""
        for handler in self._on_restored:
            try:
                handler()
            except Exception:
                self.log.failure("handling restored control events failed")

    def publish(self, kind: str, **fields: Any) -> None:
        """Send an event of type ``kind`` to every process, this one included."""
        payload = dumps({"type": kind, **fields})
        publish_quietly(self._hub, RoomEvent(CONTROL_ROOM, payload), self.log)

    def close_sockets(
        self,
        code: int,
        reason: str,
        *,
        user_id: int | None = None,
        room_id: int | None = None,
        session: str | None = None,
    ) -> None:
        """Close, on every process, the sockets of ``user_id`` in ``room_id`` (None: any)."""
        self.publish(
            CLOSE_SOCKETS,
            user_id=user_id,
            room_id=room_id,
            session=session,
            code=code,
            reason=reason,
        )

    def handle(self, payload: bytes) -> None:
        """Dispatch one received event; a malformed or unknown one is logged and dropped."""
        try:
            event = json.loads(payload)
            handler = self._handlers.get(event["type"]) if isinstance(event, dict) else None
        except (ValueError, KeyError, TypeError):
            handler = None
            event = None
        if handler is None or event is None:
            self.log.warn("dropped a control event nobody handles: {payload!r}", payload=payload)
            return
        try:
            handler(event)
        except Exception:
            self.log.failure("handling a control event failed")


class ClosableSocket(Protocol):
    """What ``close_matching`` needs of a socket (``ChatServerProtocol`` is one)."""

    session: SocketSession

    def close_with(self, code: int, reason: str) -> None:
        """Send a close frame with ``code`` and ``reason``."""


def close_matching(rooms: Mapping[int, Iterable[ClosableSocket]], event: dict[str, Any]) -> int:
    """Close the sockets (by room) that a ``close_sockets`` event names; how many."""
    user_id, room_id, session = event.get("user_id"), event.get("room_id"), event.get("session")
    chosen = rooms.values() if room_id is None else [rooms.get(room_id, ())]
    closed = 0
    for room in list(chosen):
        for socket in list(room):
            identity = socket.session.identity
            if (user_id is None or identity.user_id == user_id) and (
                session is None or identity.session == session
            ):
                socket.close_with(int(event["code"]), str(event["reason"]))
                closed += 1
    return closed
