"""A socket whose peer stops reading: bounded memory, close 1008, nobody else slowed.

The server side of each watched socket is a ``FlowControlledTransport``: it
pauses the socket's outbox past 64 KiB not yet taken by the peer and resumes
it when the peer takes everything, as a TCP transport does (iosim's own
``FakeTransport`` never pauses a producer). A peer "stops reading" when its
connection is left out of the pump (``no_pumping``); it "reads slowly" when
that connection is pumped one step (``pump.pump()``: one buffer's worth) now
and then while the clock moves.

The rule (``chatservice/outbox.py``): past ``WS_MAX_BUFFER`` queued, a socket
is closed after ``STALL_SECONDS`` without draining anything, and at once past
``HARD_LIMIT_FACTOR`` times ``WS_MAX_BUFFER``.
"""

from __future__ import annotations

from typing import Any

from autobahn.websocket.protocol import WebSocketProtocol

from chatservice.outbox import HARD_LIMIT_FACTOR, STALL_SECONDS
from chatservice.websocket import CLOSE_GOING_AWAY, CLOSE_POLICY_VIOLATION
from tests.metrics_support import current
from tests.realtime_support import (
    TRANSPORT_BUFFER,
    FlowControlledTransport,
    RealtimeCase,
    TransportRecorder,
    ids,
)
from tests.wsclient import no_pumping, server_frames

WS_MAX_BUFFER = 65536
HARD_CAP = HARD_LIMIT_FACTOR * WS_MAX_BUFFER
CONTENT = "x" * 1000
OPCODE_TEXT = 0x1
OPCODE_CLOSE = 0x8


def after_handshake(transport: FlowControlledTransport) -> list[tuple[int, bytes]]:
    """The WebSocket frames the server wrote to ``transport``, in order."""
    data = b"".join(transport.written)
    return server_frames(data.partition(b"\r\n\r\n")[2])


class SlowConsumerTests(RealtimeCase):
    """One reader stops reading while the room is flooded."""

    changes: dict[str, Any] = {"message_burst": 100_000, "ws_max_buffer": WS_MAX_BUFFER}

    def setUp(self) -> None:
        super().setUp()
        self.transports = TransportRecorder()
        self.slow = self.connect(self.alice, server_transport=self.transports)
        self.slow_transport = self.transports.last
        assert self.slow.pump is not None
        self.slow_pump = self.slow.pump
        self.bob_socket = self.connect(self.bob)
        carol, _ = self.world.rest.register("carol")
        self.carol_socket = self.connect(carol)

    def flood(self, count: int, on_each: Any = None) -> None:
        """Bob sends ``count`` messages of 1000 characters, one at a time."""
        for n in range(count):
            self.bob_socket.send_json({"content": f"{n:05d}{CONTENT[5:]}"})
            self.world.chat.flush()
            if on_each is not None:
                on_each()

    def assert_closed_as_slow_consumer(self, received_fewer_than: int) -> None:
        """The slow socket got a prefix, then 1008; the others got everything and its presence."""
        self.world.chat.flush()
        self.assertEqual(self.slow.close_code, CLOSE_POLICY_VIOLATION)
        self.assertEqual(self.slow.remoteCloseReason, "slow consumer")
        stored = self.stored_ids()
        received = ids(self.slow)
        self.assertEqual(received, stored[: len(received)])  # a prefix: no gap before the cut
        self.assertLess(len(received), received_fewer_than)
        for reader in (self.bob_socket, self.carol_socket):
            self.assertEqual(ids(reader), stored)
            self.assertTrue(reader.ws_open)
            self.assertEqual(reader.of_type("presence")[-1]["username"], "alice")
            self.assertEqual(reader.of_type("presence")[-1]["status"], "offline")
        self.assertEqual(self.world.service.sockets.sockets_of(self.alice_id), 0)

    def test_reader_that_stops_reading_is_closed_1008_after_the_stall_time(self) -> None:
        """Past WS_MAX_BUFFER with no progress, a non-reader is closed STALL_SECONDS later."""
        protocol = self.slow_transport.chat_protocol
        outbox = protocol.outbox
        assert outbox is not None
        peak_queued = 0

        def sample() -> None:
            # One frame is added per message, so this sees every state.
            nonlocal peak_queued
            peak_queued = max(peak_queued, outbox.queued_bytes)

        with no_pumping(self.world.chat, self.slow_pump):
            self.flood(300, sample)  # ~330 KB: past the soft bound, under the hard cap
            self.assertGreater(peak_queued, WS_MAX_BUFFER)
            self.assertTrue(outbox.stalling)
            self.world.chat.advance(STALL_SECONDS - 0.1)
            self.assertFalse(outbox.overflowed)
            self.assertEqual(protocol.state, WebSocketProtocol.STATE_OPEN)
            self.world.chat.advance(0.1)
            self.assertTrue(outbox.overflowed)
            self.assertEqual(outbox.queued_bytes, 0)
            self.assertEqual(protocol.state, WebSocketProtocol.STATE_CLOSING)
            self.assertFalse(self.slow_transport.disconnecting)
            self.world.chat.advance(2.5)  # closeHandshakeTimeout: the peer never answers
            self.assertTrue(self.slow_transport.disconnecting)
        self.assertLessEqual(peak_queued, HARD_CAP)
        frame_size = 4 + max(
            len(payload)
            for opcode, payload in after_handshake(self.slow_transport)
            if opcode == OPCODE_TEXT
        )
        # The transport pauses the outbox once past 64 KiB: one frame over it, plus the
        # close frame (written straight to the transport once the outbox overflowed).
        self.assertLessEqual(self.slow_transport.peak_buffered, TRANSPORT_BUFFER + frame_size + 32)
        self.assertEqual(len(self.stored_ids()), 300)
        self.assert_closed_as_slow_consumer(received_fewer_than=300)

    def test_reader_that_stops_reading_is_closed_at_once_past_the_hard_cap(self) -> None:
        """However recent its last progress, a socket is cut when its queue passes the hard cap."""
        outbox = self.slow_transport.chat_protocol.outbox
        assert outbox is not None
        peak_queued = 0
        sent = 0

        def sample() -> None:
            nonlocal peak_queued, sent
            peak_queued = max(peak_queued, outbox.queued_bytes)
            sent += 1

        started = self.world.reactor.seconds()
        closes = current("chat_slow_consumer_closes_total")
        with no_pumping(self.world.chat, self.slow_pump):
            while not outbox.overflowed and sent < 1000:  # ~1.1 MB, over twice the hard cap
                self.flood(1, sample)
            self.assertTrue(outbox.overflowed)
            self.assertEqual(self.world.reactor.seconds(), started)  # no stall time went by
            self.world.chat.advance(2.5)  # closeHandshakeTimeout
        self.assertLessEqual(peak_queued, HARD_CAP)
        self.assertGreater(peak_queued, HARD_CAP - 2000)  # it did fill up
        self.assert_closed_as_slow_consumer(received_fewer_than=sent)
        self.assertEqual(current("chat_slow_consumer_closes_total") - closes, 1)

    def test_reader_that_lags_but_keeps_reading_is_not_closed(self) -> None:
        """Far behind for many stall times but draining all along: open, and nothing missed."""
        outbox = self.slow_transport.chat_protocol.outbox
        assert outbox is not None
        with no_pumping(self.world.chat, self.slow_pump):
            self.flood(200)  # ~220 KB: past the soft bound
            seconds = 0
            while seconds < 6 * STALL_SECONDS:
                # The peer reads one transport buffer (~64 KB) every 2 s while
                # the room sends ~66 KB: it never catches up.
                self.flood(60)
                self.slow_pump.pump()
                self.world.chat.advance(2)
                seconds += 2
                self.assertGreater(outbox.queued_bytes, WS_MAX_BUFFER)
                self.assertFalse(outbox.overflowed)
        self.assertTrue(self.slow.ws_open)
        self.world.chat.flush()
        self.assertEqual(ids(self.slow), self.stored_ids())
        self.assertEqual(len(ids(self.slow)), 200 + 60 * int(seconds / 2))
        self.assertTrue(self.slow.ws_open)
        self.assertFalse(outbox.stalling)
        self.assertEqual(self.world.service.sockets.sockets_of(self.alice_id), 1)

    def test_reader_that_falls_behind_and_catches_up_gets_everything_in_order(self) -> None:
        """A reader paused for less than the bound is not closed and misses nothing."""
        with no_pumping(self.world.chat, self.slow_pump):
            self.flood(80)  # ~88 KB: past the transport's 64 KiB, within the outbox
            outbox = self.slow_transport.chat_protocol.outbox
            assert outbox is not None
            self.assertGreater(outbox.queued_bytes, 0)
            self.assertFalse(outbox.overflowed)
        self.world.chat.flush()
        self.assertEqual(ids(self.slow), self.stored_ids())
        self.assertEqual(len(ids(self.slow)), 80)
        self.assertTrue(self.slow.ws_open)
        self.assertGreaterEqual(self.slow_transport.pauses, 1)
        self.send(self.bob_socket, {"content": "after"})
        self.assertEqual(self.slow.of_type("message")[-1]["content"], "after")

    def assert_messages_then_close(self, transport: FlowControlledTransport, code: int) -> None:
        """Every message frame the server wrote comes before its one close frame."""
        opcodes = [opcode for opcode, _ in after_handshake(transport)]
        self.assertEqual(opcodes[-1], OPCODE_CLOSE)
        self.assertEqual(opcodes.count(OPCODE_CLOSE), 1)
        _, payload = after_handshake(transport)[-1]
        self.assertEqual(int.from_bytes(payload[:2], "big"), code)

    def test_frames_waiting_in_the_outbox_precede_the_token_expiry_close(self) -> None:
        """A close frame never overtakes frames queued for a paused socket (RFC 6455 5.5.1)."""
        expiry = self.world.service.config.jwt_expiry_seconds
        with no_pumping(self.world.chat, self.slow_pump):
            self.flood(80)
            self.world.reactor.advance(expiry)
            self.world.chat.flush()
        self.world.chat.flush()
        self.assert_messages_then_close(self.slow_transport, CLOSE_POLICY_VIOLATION)
        self.assertEqual(self.slow.close_code, CLOSE_POLICY_VIOLATION)
        self.assertEqual(ids(self.slow), self.stored_ids())

    def test_peer_closing_while_paused_gets_its_close_reply(self) -> None:
        """A lagging peer that closes still gets the queued frames and then the close reply."""
        pump = self.slow_pump
        with no_pumping(self.world.chat, pump):
            self.flood(80)
            self.slow.sendClose()
            # Only the client's bytes move: the server reads the close frame,
            # while the peer still reads nothing.
            pump.serverIO.bufferReceived(pump.clientIO.getOutBuffer())
            self.assertTrue(self.slow_transport.disconnecting)
        self.world.chat.flush()
        self.assert_messages_then_close(self.slow_transport, 1000)
        self.assertEqual(ids(self.slow), self.stored_ids())
        self.assertTrue(self.slow.wasClean)

    def test_frames_waiting_in_the_outbox_precede_the_shutdown_close(self) -> None:
        """On shutdown a lagging socket gets what was accepted, then 1001."""
        with no_pumping(self.world.chat, self.slow_pump):
            self.flood(80)
            stopped = self.world.service.stopService()
            self.world.chat.flush()
        self.world.chat.flush()
        self.successResultOf(stopped)
        self.assert_messages_then_close(self.slow_transport, CLOSE_GOING_AWAY)
        self.assertEqual(self.slow.close_code, CLOSE_GOING_AWAY)
        self.assertEqual(ids(self.slow), self.stored_ids())

    def test_a_dropped_socket_frees_its_queue_at_once(self) -> None:
        """A socket dropped while frames wait (e.g. the drain's abort) holds nothing after it.

        Autobahn's abort unregisters the outbox without ``stopProducing``;
        without the close freeing it, the queue (up to the hard cap) would
        stay until the stall timer fired.
        """
        protocol = self.slow_transport.chat_protocol
        outbox = protocol.outbox
        assert outbox is not None
        with no_pumping(self.world.chat, self.slow_pump):
            self.flood(300)
            self.assertGreater(outbox.queued_bytes, WS_MAX_BUFFER)
            protocol.dropConnection(abort=True)
        self.world.chat.flush()  # the connection is lost
        self.assertEqual(outbox.queued_bytes, 0)
        self.assertFalse(outbox.stalling)
