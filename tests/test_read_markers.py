"""Read markers, unread counts, mentions and notifications, through REST and the WebSocket."""

from __future__ import annotations

from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

from twisted.logger import LogLevel
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer
from zope.interface.verify import verifyObject

from chatservice.control import CONTROL_ROOM, Control
from chatservice.hub import IRoomListener, LocalHub, RoomEvent
from chatservice.mentions import MAX_MENTIONS, mentioned_names
from chatservice.models import Message, Room
from chatservice.notify_hooks import INotificationSink
from chatservice.tokens import Identity
from chatservice.userframes import UserFrames
from chatservice.websocket import OPEN, SocketSession
from chatservice.wire import dumps
from tests.logcapture import LogCapture
from tests.realtime_support import RealtimeCase


@implementer(INotificationSink)
class RecordingSink:
    """Records every call, as ``(kind, user_id, message_id, room_id)``."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int, int, int]] = []

    def mentioned(self, user_id: int, message: Message, room: Room) -> None:
        self.calls.append(("mentioned", user_id, message.id, room.id))

    def direct_message(self, user_id: int, message: Message, room: Room) -> None:
        self.calls.append(("direct_message", user_id, message.id, room.id))


@implementer(INotificationSink)
class BrokenSink:
    """A sink with a bug."""

    def mentioned(self, user_id: int, message: Message, room: Room) -> None:
        raise RuntimeError("boom")

    def direct_message(self, user_id: int, message: Message, room: Room) -> None:
        raise RuntimeError("boom")


class ReadMarkerTests(RealtimeCase):
    """Alice and bob in General (room 1); bob also has a room of his own (room 2)."""

    changes: dict[str, Any] = {"message_burst": 100_000}

    def setUp(self) -> None:
        super().setUp()
        self.other = self.world.rest.create_room(self.bob, "Bob's")
        self.alice_ws = self.connect(self.alice)
        self.bob_here = self.connect(self.bob)
        self.bob_there = self.connect(self.bob, self.other)

    def call(self, method: str, path: str, token: str, body: Any = None) -> tuple[int, Any]:
        status, answer = self.world.rest.call(method, path, token, body)
        self.world.chat.flush()  # frames the call caused reach the sockets
        return status, answer

    def rooms(self, token: str) -> dict[int, dict[str, Any]]:
        status, body = self.call("GET", "/api/rooms", token)
        self.assertEqual(status, 200, body)
        return {room["id"]: room for room in body}

    def mark(self, token: str, room_id: int, last_read_id: Any) -> tuple[int, Any]:
        return self.call(
            "POST", f"/api/rooms/{room_id}/read", token, {"last_read_id": last_read_id}
        )

    def test_a_mention_is_stored_and_notifies_the_user_in_whatever_room(self) -> None:
        """``@bob`` is resolved when stored; each of bob's sockets gets a ``notification``."""
        self.send(self.alice_ws, {"content": "hey @bob, look"})
        (message,) = self.alice_ws.of_type("message")
        self.assertEqual(message["mentions"], [self.bob_id])
        self.assertEqual(self.world.rest.history(self.bob, 1)[-1]["mentions"], [self.bob_id])
        for socket in (self.bob_here, self.bob_there):
            (note,) = socket.of_type("notification")
            self.assertEqual(
                note,
                {
                    "type": "notification",
                    "reason": "mention",
                    "room_id": 1,
                    "message_id": message["id"],
                    "sender_id": self.alice_id,
                    "username": "alice",
                    "excerpt": "hey @bob, look",
                    "ts": message["ts"],
                },
            )
        self.assertEqual(self.alice_ws.of_type("notification"), [])

    def test_only_existing_readers_other_than_the_sender_are_mentioned(self) -> None:
        """Unknown names, the sender and users who may not read a private room are not."""
        _, carol_id = self.world.rest.register("carol")
        status, secret = self.call(
            "POST", "/api/rooms/create", self.alice, {"name": "Secret", "visibility": "private"}
        )
        self.assertEqual(status, 201, secret)
        status, _ = self.call(
            "POST", f"/api/rooms/{secret['id']}/invites", self.alice, {"user_id": carol_id}
        )
        self.assertEqual(status, 200)
        status, posted = self.call(
            "POST",
            "/api/messages",
            self.alice,
            {"room_id": secret["id"], "content": "@bob @carol @alice @nobody hi"},
        )
        self.assertEqual((status, posted["mentions"]), (201, []))
        status, public = self.call(
            "POST", "/api/messages", self.alice, {"room_id": 1, "content": "@BOB @carol. a@bob"}
        )
        self.assertEqual((status, public["mentions"]), (201, sorted([self.bob_id, carol_id])))

    def test_an_edit_updates_mentions_counts_and_notifies_only_the_newly_mentioned(self) -> None:
        """Adding a mention notifies; removing one lowers the count; the message says so."""
        self.send(self.alice_ws, {"content": "plain"})
        (message,) = self.alice_ws.of_type("message")
        self.assertEqual(self.rooms(self.bob)[1]["mention_count"], 0)
        edit = {"type": "edit", "message_id": message["id"], "content": "now @bob"}
        self.send(self.alice_ws, edit)
        (update,) = self.bob_here.of_type("message_updated")
        self.assertEqual(update["message"]["mentions"], [self.bob_id])
        self.assertEqual(len(self.bob_there.of_type("notification")), 1)
        self.assertEqual(self.rooms(self.bob)[1]["mention_count"], 1)
        self.send(self.alice_ws, {**edit, "content": "now @bob again"})
        self.assertEqual(len(self.bob_there.of_type("notification")), 1)
        self.send(self.alice_ws, {**edit, "content": "never mind"})
        self.assertEqual(self.rooms(self.bob)[1]["mention_count"], 0)
        self.send(self.alice_ws, {**edit, "content": "@bob!"})
        self.send(self.alice_ws, {"type": "delete", "message_id": message["id"]})
        self.assertEqual(self.rooms(self.bob)[1]["mention_count"], 0)

    def test_rooms_list_counts_and_a_marker_moves_them_forward_only(self) -> None:
        """``GET /api/rooms`` counts from the marker; ``read`` never moves it back."""
        for text in ("one", "two @bob", "three"):
            self.send(self.alice_ws, {"content": text})
        self.send(self.bob_here, {"content": "mine"})
        ids = [m["id"] for m in self.alice_ws.of_type("message")]
        general = self.rooms(self.bob)[1]
        self.assertEqual((general["unread"], general["mention_count"]), (3, 1))
        self.assertEqual(self.rooms(self.alice)[1]["unread"], 1)
        self.assertEqual(
            {k: self.rooms(self.bob)[self.other][k] for k in ("unread", "mention_count")},
            {"unread": 0, "mention_count": 0},
        )
        status, counts = self.mark(self.bob, 1, ids[1])
        self.assertEqual(
            (status, counts),
            (200, {"room_id": 1, "last_read_id": ids[1], "unread": 1, "mention_count": 0}),
        )
        for socket in (self.bob_here, self.bob_there):
            self.assertEqual(socket.of_type("read_marker"), [{"type": "read_marker", **counts}])
        self.assertEqual(self.alice_ws.of_type("read_marker"), [])
        status, again = self.mark(self.bob, 1, ids[0])
        self.assertEqual((status, again), (200, counts))
        self.assertEqual(len(self.bob_there.of_type("read_marker")), 1)
        status, past = self.mark(self.bob, 1, 10**15)
        self.assertEqual((status, past["last_read_id"], past["unread"]), (200, ids[-1], 0))
        self.assertEqual(self.rooms(self.bob)[1]["last_read_id"], ids[-1])

    def test_a_read_frame_moves_the_marker_of_the_sockets_room(self) -> None:
        """``{"type": "read", "last_read_id"}``: every socket of the user hears the move."""
        self.send(self.alice_ws, {"content": "hello"})
        (message,) = self.alice_ws.of_type("message")
        self.send(self.bob_here, {"type": "read", "last_read_id": message["id"]})
        (moved,) = self.bob_there.of_type("read_marker")
        self.assertEqual((moved["room_id"], moved["last_read_id"]), (1, message["id"]))
        self.assertEqual(self.bob_here.of_type("read_marker"), [moved])
        self.send(self.bob_here, {"type": "read", "last_read_id": 0, "client_msg_id": "r1"})
        (error,) = self.bob_here.of_type("error")
        self.assertEqual((error["code"], error["client_msg_id"]), ("invalid_request", "r1"))

    def test_read_refusals_are_json_4xx(self) -> None:
        """Bad bodies are 400; unknown rooms and private rooms of others are 404."""
        for body in ({}, {"last_read_id": 0}, {"last_read_id": "5"}, {"last_read_id": True}):
            status, answer = self.call("POST", "/api/rooms/1/read", self.bob, body)
            self.assertEqual((status, answer["code"]), (400, "invalid_request"), body)
        self.assertEqual(self.mark(self.bob, 9_999, 1)[0], 404)
        status, secret = self.call(
            "POST", "/api/rooms/create", self.alice, {"name": "Mine", "visibility": "private"}
        )
        self.assertEqual(self.mark(self.bob, secret["id"], 1)[0], 404)
        self.assertEqual(self.call("POST", "/api/rooms/1/read", "", {"last_read_id": 1})[0], 401)

    def test_hooks_hear_mentions_and_direct_messages(self) -> None:
        """Registered sinks are called once per mention and per direct message recipient."""
        sink = RecordingSink()
        verifyObject(INotificationSink, sink)
        self.world.service.notify_hooks.add(BrokenSink())
        self.world.service.notify_hooks.add(sink)
        self.send(self.alice_ws, {"content": "@bob"})
        (mention,) = self.alice_ws.of_type("message")
        status, dm = self.call("POST", "/api/dms", self.alice, {"user_id": self.bob_id})
        self.assertEqual(status, 200, dm)
        status, direct = self.call(
            "POST", "/api/messages", self.alice, {"room_id": dm["id"], "content": "psst"}
        )
        self.assertEqual(status, 201, direct)
        self.assertEqual(
            sink.calls,
            [
                ("mentioned", self.bob_id, mention["id"], 1),
                ("direct_message", self.bob_id, direct["id"], dm["id"]),
            ],
        )
        notes = self.bob_there.of_type("notification")
        self.assertEqual(
            [(n["reason"], n["room_id"]) for n in notes], [("mention", 1), ("direct", dm["id"])]
        )
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 2)
        self.world.service.notify_hooks.remove(sink)
        self.send(self.alice_ws, {"content": "@bob again"})
        self.assertEqual(len(sink.calls), 2)
        self.flushLoggedErrors(RuntimeError)


class MentionedNamesTests(SynchronousTestCase):
    """Which words of a message are ``@`` names."""

    def test_names_are_whole_words_case_folded_and_bounded(self) -> None:
        """E-mail addresses are not mentions; trailing dots are tried both ways; 20 at most."""
        self.assertEqual(mentioned_names("hi @Bob, mail a@bob.org"), ["bob"])
        self.assertEqual(mentioned_names("thanks @bob."), ["bob.", "bob"])
        self.assertEqual(mentioned_names("@ab @@bob @x_y-z.w"), ["x_y-z.w"])
        many = " ".join(f"@user{n:02d}" for n in range(30))
        self.assertEqual(len(mentioned_names(many)), MAX_MENTIONS)
        self.assertEqual(mentioned_names("no names here"), [])


class FakeSocket:
    """A socket of one user that records what it is written."""

    def __init__(self, user_id: int, state: int = OPEN) -> None:
        self.session = SocketSession(Identity(user_id, f"u{user_id}", 0.0), 1, None, "c")
        self.state = state
        self.written: list[bytes] = []

    def write_frame(self, frame: bytes) -> None:
        self.written.append(frame)


class FakeSource:
    """Sockets, and a framing that counts its calls."""

    def __init__(self, sockets: list[FakeSocket]) -> None:
        self.sockets = sockets
        self.prepared = 0

    def open_sockets(self) -> list[FakeSocket]:
        return self.sockets

    def prepareMessage(self, payload: bytes) -> Any:  # noqa: N802 - Autobahn's name
        self.prepared += 1
        return SimpleNamespace(payloadHybi=b"framed:" + payload)


@implementer(IRoomListener)
class ControlOnly:
    """A hub listener that hands control events to ``Control``, as the factory does."""

    def __init__(self, control: Control) -> None:
        self.control = control

    def room_event(self, event: RoomEvent) -> None:
        if event.room_id == CONTROL_ROOM:
            self.control.handle(event.payload)

    def rooms_interrupted(self, room_ids: Sequence[int]) -> None:
        """Nothing is lost in one process."""

    def rooms_restored(self, room_ids: Sequence[int]) -> None:
        """Nothing is lost in one process."""


class UserFramesTests(SynchronousTestCase):
    """User-addressed frames are framed once per process and go to open sockets of the users."""

    def setUp(self) -> None:
        hub = LocalHub()
        self.control = Control(hub)
        hub.set_listener(ControlOnly(self.control))
        self.frames = UserFrames(self.control)
        self.sockets = [FakeSocket(1), FakeSocket(1), FakeSocket(2), FakeSocket(1, state=0)]
        self.source = FakeSource(self.sockets)
        self.frames.attach(self.source)

    def test_one_framing_for_every_open_socket_of_the_users(self) -> None:
        """Both open sockets of user 1 get the same bytes; user 2 and a closed socket do not."""
        self.frames.send([1], {"type": "read_marker", "room_id": 1})
        self.assertEqual(self.source.prepared, 1)
        self.assertEqual(self.sockets[0].written, self.sockets[1].written)
        self.assertEqual(len(self.sockets[0].written), 1)
        self.assertEqual((self.sockets[2].written, self.sockets[3].written), ([], []))
        self.frames.send([], {"type": "read_marker"})
        self.assertEqual(self.source.prepared, 1)

    def test_a_malformed_event_is_dropped(self) -> None:
        """A user frame event without a list of users or a frame object delivers nothing."""
        logs = LogCapture(self, "chatservice.userframes")
        self.control.handle(dumps({"type": "user_frame", "user_ids": 1, "frame": {}}))
        self.control.handle(dumps({"type": "user_frame", "user_ids": [1], "frame": "x"}))
        self.assertEqual(self.source.prepared, 0)
        self.assertEqual(logs.texts(LogLevel.warn), ["dropped a malformed user frame"] * 2)
