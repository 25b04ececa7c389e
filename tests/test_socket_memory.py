"""What an idle socket keeps: Autobahn's options on the class, no handshake data, no queue."""

from __future__ import annotations

from twisted.trial.unittest import TestCase

from chatservice.websocket import MAX_FRAME_BYTES, ChatServerProtocol
from tests.wsclient import memory_world


class IdleSocketTests(TestCase):
    """Per-socket state that S3 (memory per idle socket) counts stays small."""

    def test_an_open_socket_keeps_no_options_or_handshake_of_its_own(self) -> None:
        """Options come from the protocol class; the handshake's request is dropped once open."""
        world = memory_world(self)
        token, _ = world.rest.register("alice")
        client = world.chat.open(token)
        world.chat.flush()
        (protocol,) = world.service.sockets.open_sockets()
        assert isinstance(protocol, ChatServerProtocol)
        own = vars(protocol)
        for option in ChatServerProtocol.CONFIG_ATTRS:
            self.assertNotIn(option, own)
        options: dict[str, object] = {
            n: getattr(protocol, n) for n in ("maxFramePayloadSize", "autoPingInterval")
        }
        self.assertEqual(
            options,
            {
                "maxFramePayloadSize": MAX_FRAME_BYTES,
                "autoPingInterval": world.service.config.ws_ping_interval,
            },
        )
        self.assertIsNone(protocol.http_request_data)
        self.assertIsNone(protocol.http_headers)
        # The socket still works.
        client.send_json({"content": "hello"})
        world.chat.flush()
        self.assertEqual([f["content"] for f in client.of_type("message")], ["hello"])

    def test_a_compression_offer_is_declined_and_the_socket_opens(self) -> None:
        """The options' accept function, on the class, is called as a function (no compression)."""
        world = memory_world(self)
        token, _ = world.rest.register("alice")
        client = world.chat.connect(
            "/ws?roomId=1",
            {
                "Authorization": f"Bearer {token}",
                "Sec-WebSocket-Extensions": "permessage-deflate; client_max_window_bits",
            },
        )
        world.chat.flush()
        self.assertTrue(client.ws_open)
        client.send_json({"content": "plain"})
        world.chat.flush()
        self.assertEqual([f["content"] for f in client.of_type("message")], ["plain"])
