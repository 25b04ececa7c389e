"""Control events: closing chosen sockets on every process, through the hub."""

from __future__ import annotations

from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from chatservice.control import CONTROL_ROOM, Control, close_matching
from chatservice.hub import IHub, LocalHub, RoomEvent
from chatservice.tokens import Identity
from chatservice.websocket import SocketSession
from tests.logcapture import LogCapture
from tests.realtime_support import RealtimeCase


class _Socket:
    def __init__(self, user_id: int, room_id: int, session: str | None = None) -> None:
        identity = Identity(user_id, f"u{user_id}", 4e9, session)
        self.session = SocketSession(identity, room_id, None, f"c-{user_id}-{room_id}")
        self.closed: list[tuple[int, str]] = []

    def close_with(self, code: int, reason: str) -> None:
        self.closed.append((code, reason))


class CloseMatchingTests(SynchronousTestCase):
    """Which sockets a ``close_sockets`` event names."""

    def setUp(self) -> None:
        self.a1, self.a2 = _Socket(1, 1, "s-1"), _Socket(1, 2, "s-2")
        self.b1 = _Socket(2, 1)
        self.rooms: dict[int, list[_Socket]] = {1: [self.a1, self.b1], 2: [self.a2]}

    def close(self, **event: Any) -> int:
        return close_matching(self.rooms, {"code": 4003, "reason": "r", **event})

    def test_a_user_in_one_room(self) -> None:
        """User and room given: that user's sockets in that room only."""
        self.assertEqual(self.close(user_id=1, room_id=1), 1)
        self.assertEqual((self.a1.closed, self.a2.closed, self.b1.closed), ([(4003, "r")], [], []))

    def test_a_user_everywhere_and_one_session(self) -> None:
        """No room: every room; a session: only the sockets opened with that token."""
        self.assertEqual(self.close(user_id=1, session="s-2"), 1)
        self.assertEqual((self.a1.closed, self.a2.closed), ([], [(4003, "r")]))
        self.assertEqual(self.close(user_id=1), 2)
        self.assertEqual(self.close(room_id=9), 0)


class _Recorder(LocalHub):
    def __init__(self) -> None:
        super().__init__()
        self.published: list[RoomEvent] = []

    def publish(self, event: RoomEvent) -> Any:
        self.published.append(event)
        return super().publish(event)


class ControlTests(SynchronousTestCase):
    """Publishing and dispatching."""

    def test_events_go_through_the_hub_on_the_control_room(self) -> None:
        """Published on room 0; what arrives is dispatched by type; junk is logged."""
        hub = _Recorder()
        control = Control(hub)
        seen: list[dict[str, Any]] = []
        control.on("ping", seen.append)
        control.publish("ping", n=1)
        (event,) = hub.published
        self.assertEqual(event.room_id, CONTROL_ROOM)
        control.handle(event.payload)
        self.assertEqual(seen, [{"type": "ping", "n": 1}])
        logs = LogCapture(self)
        control.handle(b"not json")
        control.handle(b'{"type": "unknown"}')
        self.assertEqual(len([t for t in logs.texts() if "dropped" in t]), 2)


class ClosingLiveSocketsTests(RealtimeCase):
    """The service's factory closes what a control event names, on its own hub."""

    def make_hub(self) -> IHub | None:
        return None

    def test_a_user_removed_from_a_room_loses_that_room_only(self) -> None:
        """Alice's socket in room 1 closes with the code given; her other room and bob stay."""
        other = self.world.rest.create_room(self.alice, "Other")
        alice_here, alice_there = self.connect(self.alice), self.connect(self.alice, other)
        bob = self.connect(self.bob)
        self.world.service.sockets.control.close_sockets(
            4003, "removed from the room", user_id=self.alice_id, room_id=1
        )
        self.world.chat.flush()
        self.assertEqual(alice_here.close_code, 4003)
        self.assertEqual(alice_here.remoteCloseReason, "removed from the room")
        self.assertTrue(alice_there.ws_open)
        self.assertTrue(bob.ws_open)
        self.assertEqual(bob.of_type("presence")[-1]["status"], "offline")
