"""The hub's subscriber parses a burst of published messages in one reactor turn."""

from __future__ import annotations

from twisted.internet.testing import StringTransport
from twisted.trial.unittest import SynchronousTestCase

from chatservice.redissubscriber import HubSubscriber, HubSubscriberFactory
from chatservice.redisurl import RedisAddress


def published(channel: bytes, payload: bytes) -> bytes:
    """A pub/sub ``message`` push as Redis sends it (RESP2)."""
    parts = [b"message", channel, payload]
    return b"*3\r\n" + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in parts)


class HubSubscriberParsingTests(SynchronousTestCase):
    """What arrives in one read reaches the hub before ``dataReceived`` returns."""

    def setUp(self) -> None:
        self.messages: list[tuple[bytes, bytes]] = []
        factory = HubSubscriberFactory(
            RedisAddress(),
            on_ready=lambda subscriber: None,
            on_lost=lambda subscriber, reason: None,
            on_message=lambda channel, message: self.messages.append((channel, message)),
        )
        # As the factory builds it (bytes payloads), without connecting.
        self.subscriber = HubSubscriber(
            factory.charset, convertNumbers=factory.convertNumbers, password=None
        )
        self.subscriber.factory = factory
        self.transport = StringTransport()
        self.subscriber.transport = self.transport

    def test_every_message_of_one_read_is_delivered_at_once(self) -> None:
        """Three messages in one chunk: all three handed over, nothing left for later."""
        burst = [(b"chat:0:room:%d" % n, b'{"n": %d}' % n) for n in range(3)]
        self.subscriber.dataReceived(b"".join(published(c, m) for c, m in burst))
        self.assertEqual(self.messages, burst)
        self.assertFalse(self.subscriber.paused, "nothing was put off to a later turn")
        self.assertEqual(self.transport.producerState, "producing")

    def test_a_message_split_across_reads_is_delivered_once_whole(self) -> None:
        """A push cut anywhere (inside a bulk string too) is delivered when complete."""
        data = published(b"chat:0:room:1", b"x" * 100) + published(b"chat:0:room:2", b"y")
        for cut in range(1, len(data)):
            self.messages.clear()
            self.subscriber.dataReceived(data[:cut])
            self.subscriber.dataReceived(data[cut:])
            self.assertEqual(
                self.messages,
                [(b"chat:0:room:1", b"x" * 100), (b"chat:0:room:2", b"y")],
                f"cut at {cut}",
            )
