"""eager_send: bytes go to the kernel in the same reactor turn, in order, over real sockets."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import TCP4ClientEndpoint, TCP4ServerEndpoint
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.task import Clock, deferLater
from twisted.internet.testing import StringTransport
from twisted.trial.unittest import TestCase

from chatservice.config import Config
from chatservice.eager_send import send_eagerly, turn_for
from chatservice.outbox import Outbox
from chatservice.service import ChatService


class _Server(Protocol):
    def __init__(self, connected: Deferred[_Server]) -> None:
        self._connected = connected

    def connectionMade(self) -> None:  # noqa: N802 - Twisted hook
        self._connected.callback(self)


class _Reader(Protocol):
    """Collects what arrives; ``until(n)`` fires once ``n`` bytes have."""

    def __init__(self) -> None:
        self.received = bytearray()
        self._waiting: tuple[int, Deferred[bytes]] | None = None

    def until(self, size: int) -> Deferred[bytes]:
        waiter: Deferred[bytes] = Deferred()
        self._waiting = (size, waiter)
        self._check()
        return waiter

    def dataReceived(self, data: bytes) -> None:  # noqa: N802 - Twisted hook
        self.received += data
        self._check()

    def _check(self) -> None:
        if self._waiting is not None and len(self.received) >= self._waiting[0]:
            waiter = self._waiting[1]
            self._waiting = None
            waiter.callback(bytes(self.received))


async def connect(case: TestCase) -> tuple[Any, _Reader]:
    """A real TCP connection on 127.0.0.1: the server side's transport, and the client's reader."""
    accepted: Deferred[_Server] = Deferred()
    port = await TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1").listen(
        Factory.forProtocol(lambda: _Server(accepted))
    )
    case.addCleanup(port.stopListening)
    reader = _Reader()
    await TCP4ClientEndpoint(reactor, "127.0.0.1", port.getHost().port).connect(
        Factory.forProtocol(lambda: reader)
    )
    server = await accepted
    client_transport: Any = reader.transport
    transport: Any = server.transport
    case.addCleanup(client_transport.loseConnection)
    case.addCleanup(transport.loseConnection)
    return transport, reader


def eager_writer(transport: Any) -> Callable[[bytes], None]:
    """Writes to a real TCP ``transport`` as an eager ``Outbox`` does, in the reactor's turns."""
    turn = turn_for(transport, reactor)
    assert turn is not None
    return lambda data: send_eagerly(transport, turn, data)


class EagerWriterTests(TestCase):
    """Over a real TCP connection on 127.0.0.1."""

    async def test_a_write_reaches_the_kernel_at_once(self) -> None:
        """Nothing is buffered and the socket is not registered for writing."""
        transport, reader = await connect(self)
        write = eager_writer(transport)
        write(b"hello")
        self.assertEqual(transport.dataBuffer, b"")
        self.assertEqual(transport._tempDataBuffer, [])
        self.assertNotIn(transport, reactor.getWriters())
        self.assertEqual(await reader.until(5), b"hello")

    async def test_what_the_kernel_does_not_take_follows_in_order(self) -> None:
        """A write larger than the socket buffers is sent in part; later writes queue behind it."""
        transport, reader = await connect(self)
        write = eager_writer(transport)
        big = bytes(range(256)) * (32 * 1024)  # 8 MiB
        write(big)
        self.assertIn(transport, reactor.getWriters())
        write(b"tail")
        self.assertEqual(await reader.until(len(big) + 4), big + b"tail")

    async def test_a_closing_connection_gets_the_transport_write(self) -> None:
        """After loseConnection the bytes take Twisted's own path (its buffer), as before."""
        transport, reader = await connect(self)
        write = eager_writer(transport)
        transport.loseConnection()
        write(b"late")
        self.assertEqual(transport._tempDataBuffer, [b"late"])

    async def test_an_aborted_connection_gets_the_transport_write(self) -> None:
        """After abortConnection (closed on the next turn) nothing more reaches the kernel."""
        transport, reader = await connect(self)
        write = eager_writer(transport)
        transport.abortConnection()
        write(b"late")
        self.assertEqual(transport._tempDataBuffer, [b"late"])

    async def test_later_writes_of_the_same_turn_leave_together(self) -> None:
        """The second write of a turn takes Twisted's buffer; the next turn sends at once again."""
        transport, reader = await connect(self)
        write = eager_writer(transport)
        write(b"first")
        write(b"second")
        write(b"third")
        self.assertEqual(transport._tempDataBuffer, [b"second", b"third"])
        self.assertIn(transport, reactor.getWriters())
        self.assertEqual(await reader.until(16), b"firstsecondthird")
        await deferLater(reactor, 0, lambda: None)
        write(b"fourth")
        self.assertEqual(transport._tempDataBuffer, [])
        self.assertNotIn(transport, reactor.getWriters())
        self.assertEqual(await reader.until(22), b"firstsecondthirdfourth")

    async def test_without_a_clock_every_write_is_twisteds(self) -> None:
        """No clock, no turns to tell apart: the transport's own write."""
        transport, _ = await connect(self)
        self.assertIsNone(turn_for(transport, None))

    def test_other_transports_keep_their_write(self) -> None:
        """TLS, wrappers and test transports are written to as before."""
        transport = StringTransport()
        self.assertIsNone(turn_for(transport, Clock()))


class OutboxSendsEagerlyTests(TestCase):
    """A socket's ``Outbox`` (every frame the service sends) takes the eager path."""

    async def test_an_outbox_frame_reaches_the_kernel_at_once(self) -> None:
        """Written through the outbox of an idle connection, a frame is not buffered."""
        transport, reader = await connect(self)
        outbox = Outbox(transport, lambda: None, clock=reactor, eager_send=True)
        transport.registerProducer(outbox, True)
        self.addCleanup(transport.unregisterProducer)
        outbox.write(b"frame")
        self.assertNotIn(transport, reactor.getWriters())
        self.assertEqual(await reader.until(5), b"frame")

    async def test_unasked_an_outbox_leaves_writes_to_twisted(self) -> None:
        """Without ``eager_send`` (an embedder's own outbox) a frame is buffered as before."""
        transport, reader = await connect(self)
        outbox = Outbox(transport, lambda: None, clock=reactor)
        transport.registerProducer(outbox, True)
        self.addCleanup(transport.unregisterProducer)
        outbox.write(b"frame")
        self.assertEqual(transport._tempDataBuffer, [b"frame"])
        self.assertEqual(await reader.until(5), b"frame")


class ServiceChoosesTests(TestCase):
    """Sockets send eagerly on every store: group commit gathers a turn's posts on each."""

    def _sockets_eager(self, database_url: str) -> bool:
        config = Config.from_sources({"database-url": database_url}, listen=())
        return ChatService(config).sockets.eager_send

    def test_sqlite_sends_eagerly(self) -> None:
        """One write per socket and commit: the first of a turn goes at once."""
        path = os.path.join(self.mktemp(), "chat.sqlite3")
        os.makedirs(os.path.dirname(path))
        self.assertTrue(self._sockets_eager(f"sqlite:///{path}"))

    def test_memory_sends_eagerly_too(self) -> None:
        """The memory store's commits gather a turn's posts as well (``gather_turn``)."""
        self.assertTrue(self._sockets_eager("memory:"))
