"""WebSocket frames after the handshake, in memory through the real Site and Autobahn."""

from __future__ import annotations

import io
import json
from typing import Any

from autobahn.websocket.protocol import WebSocketProtocol
from twisted.internet.error import ConnectionDone
from twisted.internet.testing import StringTransport
from twisted.logger import globalLogPublisher
from twisted.python.failure import Failure
from twisted.test.iosim import FakeTransport
from twisted.trial.unittest import TestCase

from chatservice.logs import make_observer
from chatservice.websocket import ChatServerProtocol
from tests.rest_support import MESSAGE_KEYS
from tests.wsclient import RecordingClient, memory_world, result_now

CLOSE_UNSUPPORTED_DATA = 1003
CLOSE_MESSAGE_TOO_BIG = 1009
MAX_FRAME = 65536


class RoomTestCase(TestCase):
    """Two users, alice and bob, and helpers to put sockets in rooms."""

    changes: dict[str, Any] = {}

    def setUp(self) -> None:
        self.world = memory_world(self, **self.changes)
        self.alice, self.alice_id = self.world.rest.register("alice")
        self.bob, self.bob_id = self.world.rest.register("bob")

    def join(self, token: str, room_id: int = 1) -> RecordingClient:
        return self.world.chat.open(token, room_id)

    def send(self, client: RecordingClient, value: Any) -> None:
        client.send_json(value)
        self.world.chat.flush()

    def stored(self, room_id: int = 1) -> list[str]:
        messages = result_now(self.world.service.store.get_messages(room_id, 500))
        return [m.content for m in messages]

    def messages(self, client: RecordingClient) -> list[str]:
        return [frame["content"] for frame in client.of_type("message")]

    def errors(self, client: RecordingClient) -> list[str]:
        return [frame["code"] for frame in client.of_type("error")]

    def assert_still_open(self, client: RecordingClient) -> None:
        """The socket is open and a valid message still goes through."""
        before = len(client.of_type("message"))
        self.send(client, {"content": "ok"})
        self.assertTrue(client.ws_open)
        self.assertEqual(self.messages(client)[before:], ["ok"])


class MessageTests(RoomTestCase):
    """A content frame is stored, then sent to every socket of its room."""

    def test_message_is_stored(self) -> None:
        """A {"content"} frame is stored and readable through REST history."""
        alice = self.join(self.alice)
        self.send(alice, {"content": "hello"})
        self.assertEqual(self.stored(), ["hello"])
        (message,) = self.world.rest.history(self.alice, 1)
        self.assertEqual(message["content"], "hello")

    def test_message_goes_to_every_socket_of_the_room_sender_included(self) -> None:
        """Every socket of the room, the sender's own included, gets the Message object."""
        alice = self.join(self.alice)
        alice_again = self.join(self.alice)
        bob = self.join(self.bob)
        self.send(alice, {"content": "hello"})
        (stored,) = self.world.rest.history(self.bob, 1)
        for client in (alice, alice_again, bob):
            self.assertEqual(client.of_type("message"), [stored])
        self.assertEqual(set(stored), MESSAGE_KEYS)
        self.assertEqual(
            (stored["room_id"], stored["sender_id"], stored["username"]),
            (1, self.alice_id, "alice"),
        )

    def test_message_does_not_reach_another_room(self) -> None:
        """A socket in another room does not get the message."""
        other_room = self.world.rest.create_room(self.bob, "Other")
        alice = self.join(self.alice)
        bob = self.join(self.bob, other_room)
        self.send(alice, {"content": "hello"})
        self.assertEqual(self.messages(alice), ["hello"])
        self.assertEqual(bob.of_type("message"), [])
        self.assertEqual(self.stored(other_room), [])

    def test_content_is_trimmed(self) -> None:
        """Surrounding white space is trimmed from content before it is stored."""
        alice = self.join(self.alice)
        self.send(alice, {"content": "  hello \n"})
        self.assertEqual(self.stored(), ["hello"])

    def test_messages_arrive_in_id_order(self) -> None:
        """Live messages of a room arrive in increasing id order."""
        alice = self.join(self.alice)
        bob = self.join(self.bob)
        for n in range(5):
            alice.send_json({"content": f"a{n}"})
            bob.send_json({"content": f"b{n}"})
        self.world.chat.flush()
        ids = [frame["id"] for frame in alice.of_type("message")]
        self.assertEqual(len(ids), 10)
        self.assertEqual(ids, sorted(ids))
        self.assertEqual(bob.of_type("message"), alice.of_type("message"))

    def test_client_msg_id_is_echoed(self) -> None:
        """A message sent with client_msg_id carries it in the broadcast."""
        alice = self.join(self.alice)
        self.send(alice, {"content": "hello", "client_msg_id": "m-1"})
        (message,) = alice.of_type("message")
        self.assertEqual(message["client_msg_id"], "m-1")

    def test_resend_goes_to_the_sender_only_and_stores_nothing(self) -> None:
        """A repeated client_msg_id re-delivers the original to the sender only."""
        alice = self.join(self.alice)
        alice_other_tab = self.join(self.alice)
        bob = self.join(self.bob)
        self.send(alice, {"content": "hello", "client_msg_id": "m-1"})
        (original,) = alice.of_type("message")
        self.send(alice, {"content": "hello again", "client_msg_id": "m-1"})
        self.assertEqual(alice.of_type("message"), [original, original])
        self.assertEqual(alice_other_tab.of_type("message"), [original])
        self.assertEqual(bob.of_type("message"), [original])
        self.assertEqual(self.stored(), ["hello"])

    def test_same_client_msg_id_of_another_user_is_a_new_message(self) -> None:
        """client_msg_id is per user: bob reusing alice's id stores a new message."""
        alice = self.join(self.alice)
        bob = self.join(self.bob)
        self.send(alice, {"content": "from alice", "client_msg_id": "m-1"})
        self.send(bob, {"content": "from bob", "client_msg_id": "m-1"})
        self.assertEqual(self.stored(), ["from alice", "from bob"])
        self.assertEqual(self.messages(alice), ["from alice", "from bob"])


class RefusedFrameTests(RoomTestCase):
    """A refused frame gets an error frame; the connection stays open."""

    changes = {"max_message_length": 5}

    def test_invalid_json_is_an_error_frame(self) -> None:
        """A frame that is not JSON gets error invalid_json."""
        alice = self.join(self.alice)
        alice.sendMessage(b"{not json")
        self.world.chat.flush()
        self.assertEqual(self.errors(alice), ["invalid_json"])
        self.assert_still_open(alice)

    def test_non_object_json_is_an_error_frame(self) -> None:
        """A JSON value that is not an object gets error invalid_request."""
        alice = self.join(self.alice)
        self.send(alice, ["content", "hi"])
        self.assertEqual(self.errors(alice), ["invalid_request"])

    def test_empty_content_is_an_error_frame(self) -> None:
        """Empty or blank content gets an error frame and stores nothing."""
        alice = self.join(self.alice)
        for frame in ({"content": ""}, {"content": "   "}, {}, {"content": None}):
            self.send(alice, frame)
        self.assertEqual(self.errors(alice), ["invalid_request"] * 4)
        self.assertEqual(self.stored(), [])

    def test_non_string_content_is_an_error_frame(self) -> None:
        """Content that is not a string gets error invalid_request."""
        alice = self.join(self.alice)
        self.send(alice, {"content": 42})
        self.assertEqual(self.errors(alice), ["invalid_request"])

    def test_content_over_the_limit_is_content_too_long(self) -> None:
        """Content longer than MAX_MESSAGE_LENGTH gets error content_too_long."""
        alice = self.join(self.alice)
        self.send(alice, {"content": "abcdef", "client_msg_id": "m-1"})
        (error,) = alice.of_type("error")
        self.assertEqual((error["code"], error["client_msg_id"]), ("content_too_long", "m-1"))
        self.assertEqual(self.stored(), [])

    def test_length_is_counted_in_code_points(self) -> None:
        """Five emoji are five characters (not 10 UTF-16 units or 20 bytes); six are too many."""
        alice = self.join(self.alice)
        self.send(alice, {"content": "\U0001f600" * 5})
        self.send(alice, {"content": "\U0001f600" * 6})
        self.assertEqual(self.messages(alice), ["\U0001f600" * 5])
        self.assertEqual(self.errors(alice), ["content_too_long"])

    def test_bad_client_msg_id_is_an_error_frame(self) -> None:
        """An empty, too long or non-string client_msg_id is refused; nothing is stored."""
        alice = self.join(self.alice)
        for bad in ("", "x" * 65, 7, ["a"], True):
            self.send(alice, {"content": "hi", "client_msg_id": bad})
        self.assertEqual(self.errors(alice), ["invalid_request"] * 5)
        self.assertEqual(self.stored(), [])
        self.assert_still_open(alice)

    def test_longest_client_msg_id_is_accepted(self) -> None:
        """A client_msg_id of 64 code points is accepted."""
        alice = self.join(self.alice)
        self.send(alice, {"content": "hi", "client_msg_id": "\u00e9" * 64})
        self.assertEqual(self.messages(alice), ["hi"])

    def test_unknown_type_is_an_error_frame(self) -> None:
        """A type other than message or typing is refused."""
        alice = self.join(self.alice)
        self.send(alice, {"type": "shout", "content": "hi"})
        self.assertEqual(self.errors(alice), ["invalid_request"])

    def test_connection_stays_open_after_every_refusal(self) -> None:
        """After invalid JSON, empty and too long content, a valid message still goes through."""
        alice = self.join(self.alice)
        alice.sendMessage(b"nope")
        self.send(alice, {"content": ""})
        self.send(alice, {"content": "abcdef"})
        self.assertEqual(
            self.errors(alice), ["invalid_json", "invalid_request", "content_too_long"]
        )
        self.assert_still_open(alice)


class FrameLimitTests(RoomTestCase):
    """Binary frames and oversized messages close the connection with their codes."""

    def test_binary_frame_closes_with_1003(self) -> None:
        """A binary message closes the connection with 1003."""
        alice = self.join(self.alice)
        alice.sendMessage(b'{"content": "hi"}', isBinary=True)
        self.world.chat.flush()
        self.assertEqual(alice.close_code, CLOSE_UNSUPPORTED_DATA)
        self.assertEqual(self.stored(), [])

    def test_message_over_64_kib_closes_with_1009(self) -> None:
        """A message of 65,537 bytes closes the connection with 1009."""
        alice = self.join(self.alice)
        alice.sendMessage(json_frame_of_size(MAX_FRAME + 1))
        self.world.chat.flush()
        self.assertEqual(alice.close_code, CLOSE_MESSAGE_TOO_BIG)
        self.assertEqual(self.stored(), [])

    def test_fragmented_message_over_64_kib_closes_with_1009(self) -> None:
        """The limit applies to the reassembled message, not to each fragment."""
        alice = self.join(self.alice)
        alice.sendMessage(json_frame_of_size(MAX_FRAME + 1), fragmentSize=16384)
        self.world.chat.flush()
        self.assertEqual(alice.close_code, CLOSE_MESSAGE_TOO_BIG)

    def test_message_of_exactly_64_kib_is_allowed(self) -> None:
        """A 65,536-byte message is read (here refused as too long) and the socket stays open."""
        alice = self.join(self.alice)
        alice.sendMessage(json_frame_of_size(MAX_FRAME))
        self.world.chat.flush()
        self.assertEqual(self.errors(alice), ["content_too_long"])
        self.assert_still_open(alice)

    def test_long_message_within_the_limits_is_delivered(self) -> None:
        """A message of MAX_MESSAGE_LENGTH multi-byte characters is stored whole."""
        alice = self.join(self.alice)
        content = "\u00e9" * self.world.service.config.max_message_length
        self.send(alice, {"content": content})
        self.assertEqual(self.messages(alice), [content])


def json_frame_of_size(size: int) -> bytes:
    """A {"content": "xxx..."} frame of exactly ``size`` bytes."""
    frame = json.dumps({"content": "x" * (size - len('{"content": ""}'))}).encode("utf-8")
    assert len(frame) == size
    return frame


class TypingTests(RoomTestCase):
    """Typing notices go to the room's other sockets and are never stored."""

    def test_typing_is_relayed_to_the_others_only(self) -> None:
        """A typing frame reaches every other socket of the room, not the sender's."""
        alice = self.join(self.alice)
        alice_other_tab = self.join(self.alice)
        bob = self.join(self.bob)
        self.send(alice, {"type": "typing"})
        expected = {"type": "typing", "room_id": 1, "user_id": self.alice_id, "username": "alice"}
        self.assertEqual(bob.of_type("typing"), [expected])
        self.assertEqual(alice_other_tab.of_type("typing"), [expected])
        self.assertEqual(alice.of_type("typing"), [])

    def test_typing_is_not_stored(self) -> None:
        """A typing frame stores nothing and sends no message."""
        alice = self.join(self.alice)
        bob = self.join(self.bob)
        self.send(alice, {"type": "typing"})
        self.assertEqual(self.stored(), [])
        self.assertEqual(bob.of_type("message"), [])

    def test_typing_stays_in_its_room(self) -> None:
        """A typing frame does not reach another room."""
        other_room = self.world.rest.create_room(self.bob, "Other")
        alice = self.join(self.alice)
        bob = self.join(self.bob, other_room)
        self.send(alice, {"type": "typing"})
        self.assertEqual(bob.of_type("typing"), [])


class PresenceTests(RoomTestCase):
    """Presence: online at a user's first socket in a room, offline after the last."""

    def presence(self, client: RecordingClient) -> list[tuple[str, str]]:
        return [(f["username"], f["status"]) for f in client.of_type("presence")]

    def close(self, client: RecordingClient) -> None:
        client.sendClose()
        self.world.chat.flush()
        self.assertFalse(client.ws_open)

    def test_first_socket_announces_online(self) -> None:
        """Opening a user's first socket tells the room, the user included, they are online."""
        alice = self.join(self.alice)
        bob = self.join(self.bob)
        self.assertEqual(self.presence(alice), [("alice", "online"), ("bob", "online")])
        self.assertEqual(self.presence(bob), [("bob", "online")])
        self.assertEqual(
            bob.of_type("presence")[0],
            {
                "type": "presence",
                "room_id": 1,
                "user_id": self.bob_id,
                "username": "bob",
                "status": "online",
            },
        )

    def test_second_socket_of_a_user_announces_nothing(self) -> None:
        """Two sockets of one user in a room make one online."""
        alice = self.join(self.alice)
        self.join(self.bob)
        self.join(self.bob)
        self.assertEqual(self.presence(alice), [("alice", "online"), ("bob", "online")])

    def test_offline_only_after_the_last_socket_closes(self) -> None:
        """Closing one of two sockets says nothing; closing the last says offline."""
        alice = self.join(self.alice)
        bob_1 = self.join(self.bob)
        bob_2 = self.join(self.bob)
        self.close(bob_1)
        self.assertEqual(self.presence(alice), [("alice", "online"), ("bob", "online")])
        self.close(bob_2)
        self.assertEqual(
            self.presence(alice), [("alice", "online"), ("bob", "online"), ("bob", "offline")]
        )

    def test_dropped_connection_announces_offline(self) -> None:
        """A socket lost without a close handshake still counts as closed."""
        alice = self.join(self.alice)
        bob = self.join(self.bob)
        assert bob.transport is not None
        bob.transport.loseConnection()
        self.world.chat.flush()
        self.assertEqual(self.presence(alice)[-1], ("bob", "offline"))

    def test_presence_is_per_room(self) -> None:
        """Joining another room announces nothing here."""
        other_room = self.world.rest.create_room(self.bob, "Other")
        alice = self.join(self.alice)
        self.join(self.bob, other_room)
        self.assertEqual(self.presence(alice), [("alice", "online")])

    def test_user_can_come_back_online(self) -> None:
        """After going offline, a user's next socket announces online again."""
        alice = self.join(self.alice)
        self.close(self.join(self.bob))
        self.join(self.bob)
        self.assertEqual(
            self.presence(alice),
            [("alice", "online"), ("bob", "online"), ("bob", "offline"), ("bob", "online")],
        )


class RecordingTransport(FakeTransport):
    """An in-memory transport that records ``setTcpNoDelay`` calls."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.no_delay_calls: list[bool] = []

    def setTcpNoDelay(self, enabled: bool) -> None:
        self.no_delay_calls.append(enabled)


class NoDelayTests(RoomTestCase):
    """Nagle's algorithm is switched off on WebSocket connections."""

    def test_protocol_sets_tcp_nodelay(self) -> None:
        """The protocol sets TCP_NODELAY (only ever True) when its connection is made.

        Autobahn's adapter tries before the factory's options reach the
        protocol and swallows the AttributeError, so without our own call a
        bare factory on a TCP port would leave Nagle on. (The service's
        protocol class holds the options, so Autobahn's own call works too.)
        """
        protocol = self.world.service.sockets.buildProtocol(None)
        assert isinstance(protocol, ChatServerProtocol)
        transport = RecordingTransport(protocol, isServer=True)
        protocol.makeConnection(transport)
        self.assertTrue(transport.no_delay_calls)
        self.assertEqual(set(transport.no_delay_calls), {True})
        protocol.connectionLost(Failure(ConnectionDone()))

    def test_upgraded_connection_has_tcp_nodelay(self) -> None:
        """After the upgrade through the Site, the socket's last TCP_NODELAY setting is True."""
        transports: list[RecordingTransport] = []

        def server_transport(protocol: Any) -> RecordingTransport:
            transport = RecordingTransport(protocol, isServer=True)
            transports.append(transport)
            return transport

        client = self.world.chat.connect(
            "/ws?roomId=1",
            {"Authorization": f"Bearer {self.alice}"},
            server_transport=server_transport,
        )
        self.assertTrue(client.ws_open)
        (transport,) = transports
        self.assertIsInstance(transport.protocol, ChatServerProtocol)
        self.assertEqual(transport.no_delay_calls[-1], True)

    def test_transport_without_tcp_options_is_fine(self) -> None:
        """A transport without setTcpNoDelay (e.g. a UNIX socket) still gets a protocol."""
        protocol = self.world.service.sockets.buildProtocol(None)
        assert isinstance(protocol, ChatServerProtocol)
        transport = StringTransport()
        self.assertFalse(hasattr(transport, "setTcpNoDelay"))
        protocol.makeConnection(transport)
        self.assertEqual(protocol.state, WebSocketProtocol.STATE_CONNECTING)
        protocol.connectionLost(Failure(ConnectionDone()))


class LoggingTests(RoomTestCase):
    """The /ws query string (token, ticket) never reaches the log, even at debug."""

    def test_debug_log_has_no_ws_query_string(self) -> None:
        """With LOG_LEVEL=debug, handshakes by token and ticket log neither."""
        out = io.StringIO()
        observer = make_observer("debug", "text", out)
        globalLogPublisher.addObserver(observer)
        self.addCleanup(globalLogPublisher.removeObserver, observer)
        ticket = self.world.rest.ticket(self.alice)
        by_token = self.world.chat.connect(f"/ws?roomId=1&token={self.alice}")
        by_ticket = self.world.chat.connect(f"/ws?roomId=1&ticket={ticket}")
        self.world.chat.refusal(f"/ws?roomId=999&token={self.alice}")
        self.send(by_token, {"content": "hello"})
        by_ticket.sendClose()
        self.world.chat.flush()
        log = out.getvalue()
        self.assertIn("joined room", log)  # debug events do reach this observer
        for secret in (self.alice, ticket, "roomId=", "token=", "ticket="):
            self.assertNotIn(secret, log)


class PingTests(RoomTestCase):
    """Idle sockets are pinged; a peer that does not answer is dropped."""

    changes = {"ws_ping_interval": 20.0, "ws_ping_timeout": 10.0}

    def test_peer_answering_pings_stays_connected(self) -> None:
        """An Autobahn client (which answers pings) is still open after many intervals."""
        alice = self.join(self.alice)
        for _ in range(10):
            self.world.chat.advance(10)
        self.assertTrue(alice.ws_open)
        self.assert_still_open(alice)

    def test_silent_peer_is_dropped_and_announced_offline(self) -> None:
        """A peer that never answers a ping is dropped after interval + timeout."""
        watcher = self.join(self.alice)
        answer, _, pump = self.world.chat.raw(
            "/ws?roomId=1", {"Authorization": f"Bearer {self.bob}"}
        )
        self.assertEqual(answer.status, 101)
        self.world.chat.advance(20)  # the ping goes out
        self.world.chat.advance(9)
        self.assertFalse(pump.serverIO.disconnecting)
        self.world.chat.advance(1.5)  # timers run in 0.2 s buckets
        self.assertTrue(pump.serverIO.disconnecting)
        self.assertEqual(watcher.of_type("presence")[-1]["status"], "offline")
        self.assertTrue(watcher.ws_open)


class FrameHandlerFaultTests(TestCase):
    """A bug while handling one frame costs that frame, not the connection."""

    def test_unexpected_error_is_an_error_frame_and_the_socket_stays_open(self) -> None:
        """An exception in the handler becomes an ``internal_error`` frame; the socket lives."""
        world = memory_world(self)
        token, _ = world.rest.register("alice")
        client = world.chat.connect("/ws?roomId=1", {"Authorization": f"Bearer {token}"})
        calls = []

        def broken(*args: Any) -> None:
            calls.append(args)
            raise RuntimeError("a bug")

        original = world.service.sockets.post
        world.service.sockets.post = broken  # type: ignore[method-assign,assignment]
        client.send_json({"content": "boom"})
        world.chat.flush()
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
        self.assertEqual(client.of_type("error")[-1]["code"], "internal_error")
        world.service.sockets.post = original  # type: ignore[method-assign]
        client.send_json({"content": "still here"})
        world.chat.flush()
        self.assertEqual(client.of_type("message")[-1]["content"], "still here")
        self.assertEqual(len(calls), 1)
