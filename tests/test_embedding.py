"""A host application embeds ChatService: as a child service, and mounted in its own Site."""

from __future__ import annotations

from typing import Any

import treq
from twisted.application.service import MultiService
from twisted.internet import reactor
from twisted.internet.address import IPv4Address
from twisted.internet.defer import Deferred
from twisted.trial.unittest import TestCase
from twisted.web.client import HTTPConnectionPool
from twisted.web.resource import Resource
from twisted.web.server import Request, Site

from chatservice.service import ChatService
from chatservice.store.memory import MemoryStore
from tests.fakes import FakeReactor, ImmediateThreadPool, config_for_tests
from tests.wsclient import MemoryChat, Rest, use_txaio_clock

CLOSE_GOING_AWAY = 1001


class HostPage(Resource):
    """The host application's own page."""

    isLeaf = True

    def render_GET(self, request: Request) -> bytes:
        request.setHeader(b"content-type", b"text/plain")
        return b"hello from the host"


class ChildServiceTests(TestCase):
    """ChatService as a child of the host's MultiService, started and stopped by it."""

    def test_host_starts_and_stops_the_service(self) -> None:
        """Starting the host starts the service; stopping the host drains and stops it."""
        clock = FakeReactor()
        host = MultiService()
        store = MemoryStore(clock)
        chat = ChatService(
            config_for_tests(),
            clock,
            store=store,
            password_pool=ImmediateThreadPool(),  # type: ignore[arg-type]
        )
        chat.setServiceParent(host)
        self.assertFalse(chat.running)
        host.startService()
        self.assertTrue(chat.running)
        self.successResultOf(chat.ready)
        rest = Rest(chat.resource())
        self.assertEqual(rest.call("GET", "/health")[0], 200)
        token, _ = rest.register("alice")
        self.assertEqual(
            [r["name"] for r in rest.call("GET", "/api/rooms", token)[1]], ["General"]
        )
        self.successResultOf(host.stopService())
        self.assertFalse(chat.running)

    async def test_host_service_listens_on_a_real_port(self) -> None:
        """A ChatService(config) child with an endpoint serves real HTTP while the host runs."""
        host = MultiService()
        chat = ChatService(config_for_tests(listen=("tcp:0:interface=127.0.0.1",)))
        chat.setServiceParent(host)
        host.startService()
        self.addCleanup(host.stopService)
        await chat.ready
        (port,) = chat.listening_ports
        address = port.getHost()
        assert isinstance(address, IPv4Address)
        url = f"http://127.0.0.1:{address.port}"
        pool = HTTPConnectionPool(reactor, persistent=False)
        response = await treq.get(f"{url}/health", pool=pool)
        self.assertEqual(response.code, 200)
        self.assertEqual((await response.json())["status"], "ok")
        response = await treq.post(
            f"{url}/api/register",
            json={"username": "alice", "password": "password-1"},
            pool=pool,
        )
        self.assertEqual(response.code, 201)
        await response.json()
        await host.stopService()
        self.assertEqual(chat.listening_ports, [])


class MountedResourceTests(TestCase):
    """service.resource() mounted at /chat in the host's own Site, next to its own /hello."""

    def setUp(self) -> None:
        self.clock = FakeReactor()
        use_txaio_clock(self, self.clock)
        self.chat = ChatService(
            config_for_tests(),
            self.clock,
            store=MemoryStore(self.clock),
            password_pool=ImmediateThreadPool(),  # type: ignore[arg-type]
        )
        self.chat.startService()
        root = Resource()
        root.putChild(b"hello", HostPage())
        root.putChild(b"chat", self.chat.resource())
        self.site = Site(root, reactor=self.clock)
        self.host_rest = Rest(root)
        self.rest = Rest(root, prefix="/chat")
        self.sockets = MemoryChat(self.site, self.clock)

    def tearDown(self) -> Any:
        if not self.chat.running:
            return None
        stopped: Deferred[None] = self.chat.stopService()
        self.sockets.flush()
        self.sockets.advance(self.chat.config.shutdown_timeout)
        return stopped

    def test_host_page_still_served(self) -> None:
        """The host's own /hello page is untouched by the mounted chat."""
        stub: Any = self.host_rest.treq  # StubTreq builds its methods at run time
        response = stub.get("http://chat.test/hello")
        stub.flush()
        body = stub.content(self.successResultOf(response))
        stub.flush()
        self.assertEqual(self.successResultOf(body), b"hello from the host")

    def test_rest_works_under_the_prefix(self) -> None:
        """Register, rooms, history and health answer under /chat."""
        token, _ = self.rest.register("alice")
        status, body = self.rest.call("GET", "/health")
        self.assertEqual((status, body["status"]), (200, "ok"))
        room_id = self.rest.create_room(token, "Lobby")
        self.assertEqual(self.rest.history(token, room_id), [])

    def test_unknown_chat_route_is_a_json_404(self) -> None:
        """An unknown path under /chat is the chat's JSON 404."""
        status, body = self.rest.call("GET", "/api/nope")
        self.assertEqual((status, body["code"]), (404, "not_found"))

    def test_websocket_works_under_the_prefix(self) -> None:
        """A WebSocket at /chat/ws?roomId=1 opens, and its message is stored and delivered."""
        token, _ = self.rest.register("alice")
        client = self.sockets.connect("/chat/ws?roomId=1", {"Authorization": f"Bearer {token}"})
        self.assertTrue(client.ws_open)
        client.send_json({"content": "hello through the host"})
        self.sockets.flush()
        (message,) = client.of_type("message")
        self.assertEqual(message["content"], "hello through the host")
        self.assertEqual(self.rest.history(token, 1), [message])

    def test_stopping_the_service_closes_mounted_sockets(self) -> None:
        """Sockets opened through the host's Site get 1001 when the service stops."""
        token, _ = self.rest.register("alice")
        client = self.sockets.connect("/chat/ws?roomId=1", {"Authorization": f"Bearer {token}"})
        stopped = self.chat.stopService()
        self.sockets.flush()
        self.assertEqual(client.close_code, CLOSE_GOING_AWAY)
        self.successResultOf(stopped)
