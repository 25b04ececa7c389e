"""``upgrade_router``: a connection opening with a ``/ws`` upgrade skips twisted.web.

The answers themselves are checked on both doors by
``tests/test_websocket_handshake.py``; here, that the door is the right one,
that what is not a plain upgrade still reaches the ``Site``, and that the
direct door keeps the route's bookkeeping (socket counts, metrics).
"""

from __future__ import annotations

import functools
import os
import shutil
import tempfile
from typing import Any

from autobahn.twisted.websocket import WebSocketClientFactory
from twisted.internet import reactor
from twisted.internet.address import IPv4Address
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import SSL4ClientEndpoint, UNIXClientEndpoint
from twisted.internet.protocol import Factory
from twisted.internet.ssl import Certificate as TLSCertificate
from twisted.internet.ssl import optionsForClientTLS
from twisted.test.iosim import IOPump
from twisted.trial.unittest import SynchronousTestCase, TestCase

from chatservice.metrics import REGISTRY
from chatservice.service import ChatService
from chatservice.store.memory import MemoryStore
from chatservice.upgrade_router import (
    EARLY_DATA_LIMIT,
    WS_ROUTE,
    UpgradeRouter,
    is_plain_upgrade,
)
from chatservice.websocket import ChatServerProtocol
from chatservice.wire import CredentialsForm
from tests.fakes import ImmediateThreadPool, config_for_tests
from tests.tls_support import self_signed
from tests.wsclient import (
    WS_KEY,
    RawClient,
    RecordingClient,
    close_tcp,
    handshake_request,
    memory_world,
    stop_service,
)

UPGRADE = (
    b"GET /ws?roomId=1 HTTP/1.1\r\nHost: chat.test\r\nUpgrade: websocket\r\n"
    b"Connection: keep-alive, Upgrade\r\nSec-WebSocket-Key: " + WS_KEY + b"\r\n"
    b"Sec-WebSocket-Version: 13"
)


class PlainUpgradeTests(SynchronousTestCase):
    """Which request heads take the direct door."""

    def test_a_browsers_upgrade_does(self) -> None:
        self.assertTrue(is_plain_upgrade(UPGRADE))
        self.assertTrue(is_plain_upgrade(UPGRADE.replace(b"/ws?roomId=1", b"/ws")))
        self.assertTrue(is_plain_upgrade(UPGRADE.replace(b"websocket", b"WebSocket")))

    def test_anything_less_goes_to_the_site(self) -> None:
        for old, new in (
            (b"GET /ws?", b"POST /ws?"),
            (b"/ws?roomId=1", b"/wsx?roomId=1"),
            (b"/ws?roomId=1", b"/ws/?roomId=1"),
            (b"HTTP/1.1", b"HTTP/1.0"),
            (b"Upgrade: websocket", b"Upgrade: h2c"),
            (b"keep-alive, Upgrade", b"keep-alive"),
            (b"Version: 13", b"Version: 8"),
            (b"Sec-WebSocket-Key: ", b"Sec-WebSocket-Nonce: "),
            (b"Host: chat.test", b"Host:"),
            (b"\r\nHost", b"\r\nno colon here\r\nHost"),
            # What Autobahn's stricter parser would refuse with a bare status
            # line, quoting the request line (the query string) in its log.
            (b"/ws?roomId=1", b"/ws?roomId=1#x"),
            (b"/ws?roomId=1", b"/ws?roomId=1\xa0x"),
            (b"/ws?roomId=1", b"/ws?roomId=1\tx"),
            (b"Upgrade: websocket", b"Upgrade : websocket"),
            (b"Host: chat.test", b"Host: chat.test\nX-Smuggled: 1"),
            (b"\r\nHost", b"\r\n Folded: 1\r\nHost"),
            # A repeated header reads differently: twisted.web's last value,
            # Autobahn's values joined.
            (b"\r\nHost", b"\r\nUpgrade: websocket\r\nHost"),
            (b"\r\nHost", b"\r\nAuthorization: Bearer a\r\nAuthorization: Bearer b\r\nHost"),
            # The route refuses a Host that is not UTF-8, and a body too long.
            (b"Host: chat.test", b"Host: ch\xe9.test"),
            (b"\r\nHost", b"\r\nContent-Length: 1000000000\r\nHost"),
            (b"\r\nHost", b"\r\nTransfer-Encoding: chunked\r\nHost"),
        ):
            with self.subTest(new=new):
                self.assertFalse(is_plain_upgrade(UPGRADE.replace(old, new)))


def _observed(status: str) -> float:
    value = REGISTRY.get_sample_value(
        "chat_http_request_duration_seconds_count",
        {"route": WS_ROUTE, "method": "GET", "status": status},
    )
    return value or 0.0


class DirectDoorTests(TestCase):
    """The service's ports' door, in memory."""

    def setUp(self) -> None:
        self.world = memory_world(self, direct=True, max_sockets_per_user=1)
        self.token, self.user_id = self.world.rest.register("alice")
        router = self.world.chat.site
        assert isinstance(router, UpgradeRouter)
        self.channels = 0
        build = router.site.buildProtocol

        def counting(addr: Any) -> Any:
            self.channels += 1
            return build(addr)

        router.site.buildProtocol = counting  # type: ignore[method-assign]

    def bearer(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def test_an_upgrade_builds_no_http_channel(self) -> None:
        client = self.world.chat.connect("/ws?roomId=1", self.bearer())
        self.assertTrue(client.ws_open)
        self.assertEqual(self.channels, 0)
        server = self.world.chat.pumps[-1].serverIO.protocol
        self.assertIsInstance(server, ChatServerProtocol)
        self.assertIsNotNone(server.direct)

    def test_rest_and_plain_gets_go_to_the_site(self) -> None:
        answer, _, _ = self.world.chat.raw("/ws?roomId=1", self.bearer(), upgrade=False)
        self.assertEqual(answer.status, 426)
        self.assertEqual(self.channels, 1)

    def test_an_upgrade_after_another_request_goes_through_klein(self) -> None:
        """A keep-alive connection that asks for ``/ws`` second is the Site's throughout."""
        first = b"GET /health HTTP/1.1\r\nHost: chat.test\r\n\r\n"
        second = handshake_request("/ws?roomId=1", self.bearer())
        answer, client, _ = self.world.chat.raw_bytes(first + second)
        self.assertEqual(answer.status, 200)
        self.assertIn(b"HTTP/1.1 101 Switching Protocols", client.received)
        self.assertEqual(self.channels, 1)

    def test_a_refusal_keeps_the_routes_headers(self) -> None:
        self.assertTrue(self.world.chat.connect("/ws?roomId=1", self.bearer()).ws_open)
        answer = self.world.chat.refusal("/ws?roomId=1", self.bearer())
        self.assertEqual(answer.status, 429)
        self.assertEqual(answer.json()["code"], "rate_limited")
        self.assertEqual(answer.headers.get("retry-after"), "5")
        self.assertEqual(answer.headers.get("x-ratelimit-limit"), "1")
        self.assertEqual(answer.headers.get("connection"), "close")
        self.assertEqual(self.channels, 0)
        # The status line as twisted.web writes a code it has no phrase for.
        request = handshake_request("/ws?roomId=1", self.bearer())
        _, client, _ = self.world.chat.raw_bytes(request)
        self.assertTrue(client.received.startswith(b"HTTP/1.1 429 Unknown Status\r\n"))

    def test_handshakes_are_measured_as_the_route_is(self) -> None:
        """A refusal is an HTTP request of ``/ws``; an upgrade is not (``chat_open_sockets``)."""
        opened, refused = _observed("101"), _observed("401")
        self.world.chat.connect("/ws?roomId=1", self.bearer())
        self.world.chat.refusal("/ws?roomId=1", {"Authorization": "Bearer forged"})
        self.assertEqual((_observed("101"), _observed("401")), (opened, refused + 1))

    def paused_admission(self) -> Deferred[None]:
        """Hold every handshake in the gate (reading the room) until the result fires."""
        access = self.world.service.handshakes.access
        waiting: Deferred[None] = Deferred()
        enter = access.enter

        async def paused(identity: Any, room_id: int) -> Any:
            await waiting
            return await enter(identity, room_id)

        access.enter = paused  # type: ignore[method-assign]
        self.addCleanup(setattr, access, "enter", enter)
        return waiting

    def admitting(self) -> tuple[RawClient, IOPump, Deferred[None]]:
        """A raw client whose handshake waits in the gate until the Deferred fires."""
        waiting = self.paused_admission()
        request = handshake_request("/ws?roomId=1", self.bearer())
        client, pump = self.world.chat._connect(lambda: RawClient(request))
        assert isinstance(client, RawClient)
        self.assertEqual(client.received, b"")
        return client, pump, waiting

    def test_a_client_gone_during_admission_gives_its_socket_back(self) -> None:
        """The count taken for a socket that never opened is released."""
        client, _, waiting = self.admitting()
        assert client.transport is not None
        client.transport.loseConnection()
        self.world.chat.flush()
        waiting.callback(None)
        self.world.chat.flush()
        self.assertEqual(self.world.service.sockets.sockets_of(self.user_id), 0)
        # The one socket alice may have is hers to open again (the gate no longer waits).
        self.assertTrue(self.world.chat.connect("/ws?roomId=1", self.bearer()).ws_open)

    def test_a_frame_sent_during_admission_is_read_after_it(self) -> None:
        """Bytes that arrive while the gate decides wait for the socket to open.

        Autobahn, still "connecting", would read them as another handshake:
        this frame holds a blank line (JSON white space), which it took for
        the end of a request head and failed the connection with a 400.
        """
        client, _, waiting = self.admitting()
        assert client.transport is not None
        client.transport.write(text_frame(b'{"content":\r\n\r\n"early"}'))
        self.world.chat.flush()
        waiting.callback(None)
        self.world.chat.flush()
        self.assertTrue(client.received.startswith(b"HTTP/1.1 101 "))
        history = self.world.rest.history(self.token, 1)
        self.assertEqual([message["content"] for message in history], ["early"])

    def test_too_much_sent_during_admission_drops_the_connection(self) -> None:
        """What waits for the gate is bounded, and the socket's count is given back."""
        client, pump, waiting = self.admitting()
        assert client.transport is not None
        client.transport.write(b"x" * EARLY_DATA_LIMIT)
        self.world.chat.flush()
        self.assertFalse(pump.serverIO.disconnecting)
        client.transport.write(b"x")
        self.world.chat.flush()
        self.assertTrue(pump.serverIO.disconnecting)
        waiting.callback(None)
        self.world.chat.flush()
        self.assertNotIn(b" 101 ", client.received)
        self.assertEqual(self.world.service.sockets.sockets_of(self.user_id), 0)

    def test_a_connection_that_never_finishes_its_first_head_is_dropped(self) -> None:
        """As twisted.web's channel would have, after the Site's idle timeout."""
        router = self.world.chat.site
        assert isinstance(router, UpgradeRouter)
        timeout = router.site.timeOut
        assert timeout is not None
        for sent in (b"", b"GET /ws?roomId=1 HTTP/1.1\r\nHost: chat.test\r\n"):
            with self.subTest(sent=sent):
                _, pump = self.world.chat._connect(functools.partial(RawClient, sent))
                self.world.chat.advance(timeout - 1)
                self.assertFalse(pump.serverIO.disconnecting)
                self.world.chat.advance(1)
                self.assertTrue(pump.serverIO.disconnecting)
        self.assertEqual(self.channels, 0)


def text_frame(payload: bytes) -> bytes:
    """A client's text frame, masked with a zero key: its payload goes as it is."""
    assert len(payload) < 126
    return bytes([0x81, 0x80 | len(payload)]) + b"\x00" * 4 + payload


class _Answer(RawClient):
    """A raw request whose whole answer is kept until the server closes."""

    def __init__(self, request: bytes) -> None:
        super().__init__(request)
        self.done: Deferred[bytes] = Deferred()

    def connectionLost(self, reason: Any = None) -> None:  # noqa: N802 - Twisted hook
        self.done.callback(self.received)


class WrappedTransportTests(TestCase):
    """Both doors on real ``ssl:`` and ``unix:`` ports: the swap of a TLS-wrapped protocol."""

    timeout = 20

    async def test_sockets_and_rest_over_tls_and_a_unix_socket(self) -> None:
        certificate = self_signed("chat.test")
        directory = tempfile.mkdtemp(prefix="chat-", dir="/tmp")  # a short UNIX socket path
        self.addCleanup(shutil.rmtree, directory)
        key, cert, path = (os.path.join(directory, n) for n in ("key.pem", "cert.pem", "sock"))
        for name, content in ((key, certificate.key_pem), (cert, certificate.cert_pem)):
            with open(name, "wb") as file:
                file.write(content)
        tls = f"ssl:0:interface=127.0.0.1:privateKey={key}:certKey={cert}"
        service = ChatService(
            config_for_tests(listen=(tls, f"unix:{path}")),
            reactor,
            store=MemoryStore(),
            password_pool=ImmediateThreadPool(),  # type: ignore[arg-type]
        )
        service.startService()
        self.addCleanup(stop_service, service)
        await service.ready
        address = service.listening_ports[0].getHost()
        assert isinstance(address, IPv4Address)
        session = await service.accounts.register(CredentialsForm("alice", "password-1"))
        root = TLSCertificate.loadPEM(certificate.cert_pem)
        trusted = optionsForClientTLS("chat.test", trustRoot=root)
        health = b"GET /health HTTP/1.1\r\nHost: chat.test\r\nConnection: close\r\n\r\n"
        endpoints = {
            "tls": SSL4ClientEndpoint(reactor, "127.0.0.1", address.port, trusted),
            "unix": UNIXClientEndpoint(reactor, path),
        }
        for name, endpoint in endpoints.items():
            factory = WebSocketClientFactory(
                "ws://chat.test/ws?roomId=1", headers={"Authorization": f"Bearer {session.token}"}
            )
            factory.protocol = RecordingClient
            client = await endpoint.connect(factory)
            assert isinstance(client, RecordingClient)
            await client.opened
            client.send_json({"content": f"over {name}"})
            self.assertEqual((await client.next_of("message"))["content"], f"over {name}")
            await close_tcp(client)
            raw = await endpoint.connect(Factory.forProtocol(lambda: _Answer(health)))
            assert isinstance(raw, _Answer)
            self.assertTrue((await raw.done).startswith(b"HTTP/1.1 200 "))
