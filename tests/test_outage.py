"""A PostgreSQL outage: clear 503s and error frames while it lasts, recovery without a restart.

The service reaches PostgreSQL through a small TCP proxy that lives in the
test. ``cut()`` kills every connection through it and refuses new ones, so
the machine's PostgreSQL never notices; ``restore()`` lets connections
through again. Runs only with ``CHAT_TEST_POSTGRES``, in a schema of its own.
"""

from __future__ import annotations

from typing import Any

import treq
from twisted.internet import reactor
from twisted.internet.address import IPv4Address
from twisted.internet.defer import Deferred, DeferredList
from twisted.internet.endpoints import TCP4ClientEndpoint, TCP4ServerEndpoint
from twisted.internet.interfaces import IListeningPort, IPushProducer, ITCPTransport
from twisted.internet.protocol import Factory, Protocol, connectionDone
from twisted.python.failure import Failure
from twisted.trial.unittest import TestCase
from twisted.web.client import HTTPConnectionPool

from chatservice.service import ChatService
from chatservice.store.database import DEFAULT_RETRY_WINDOW
from chatservice.store.sql import SQLStore
from tests.fakes import config_for_tests
from tests.test_store_postgresql import DSN, SKIP, PostgreSQLDatabase
from tests.wsclient import RecordingClient, join_tcp, serve_tcp

try:
    from psycopg.conninfo import conninfo_to_dict, make_conninfo
except ImportError:  # pragma: no cover - SKIP already says so
    pass

# Short, but as many retries as the pool has connections: after an outage
# every pooled connection is dead, and each failed attempt replaces one, so
# the first request after the database returns still gets through.
RETRY_DELAYS = (0.01, 0.02, 0.04, 0.08, 0.16)
POOL_SIZE = 5
# libpq's smallest: a connection attempt to a host that never answers gives up after it.
CONNECT_TIMEOUT = 2


def _tcp(protocol: Protocol | None) -> ITCPTransport | None:
    """The TCP transport of ``protocol``, or None before it connects."""
    if protocol is None or protocol.transport is None:
        return None
    return ITCPTransport(protocol.transport)


def _abort(protocol: Protocol | None) -> None:
    """Reset ``protocol``'s connection (RST, no FIN), if it has one."""
    transport = _tcp(protocol)
    if transport is not None:
        transport.abortConnection()


class _Upstream(Protocol):
    """The proxy's connection to PostgreSQL, paired with one client connection."""

    def __init__(self, downstream: _Downstream) -> None:
        self.downstream = downstream

    def connectionMade(self) -> None:
        self.downstream.upstream_ready(self)

    def dataReceived(self, data: bytes) -> None:
        assert self.downstream.transport is not None
        self.downstream.transport.write(data)

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        assert self.downstream.transport is not None
        self.downstream.transport.loseConnection()
        self.downstream.proxy.forget(self)


class _Downstream(Protocol):
    """A connection the store opened to the proxy."""

    def __init__(self, proxy: CuttableProxy) -> None:
        self.proxy = proxy
        self.upstream: _Upstream | None = None
        self.lost = False

    def connectionMade(self) -> None:
        assert self.transport is not None
        self.proxy.track(self)
        if self.proxy.is_cut:
            if not self.proxy.silent:
                # Accepted, then reset at once: the client fails fast, as it
                # would against a database host that refuses connections.
                _abort(self)
            # Silent: accepted and never answered, like a host that stopped
            # responding; only the client's own timeout ends the wait.
            return
        # Hold the client's bytes until PostgreSQL is connected.
        IPushProducer(self.transport).pauseProducing()
        endpoint = TCP4ClientEndpoint(reactor, self.proxy.upstream_host, self.proxy.upstream_port)
        connecting = endpoint.connect(Factory.forProtocol(lambda: _Upstream(self)))
        self.proxy.track_attempt(connecting)
        connecting.addErrback(lambda _: _abort(self))

    def upstream_ready(self, upstream: _Upstream) -> None:
        self.proxy.track(upstream)
        if self.lost or self.proxy.is_cut:
            _abort(upstream)
            return
        self.upstream = upstream
        assert self.transport is not None
        IPushProducer(self.transport).resumeProducing()

    def dataReceived(self, data: bytes) -> None:
        if self.upstream is None or self.upstream.transport is None:
            return  # a silent cut swallows what the client sends
        self.upstream.transport.write(data)

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self.lost = True
        if self.upstream is not None and self.upstream.transport is not None:
            self.upstream.transport.loseConnection()
        self.proxy.forget(self)

    def abort(self) -> None:
        """Reset both sides, as a dead network or a crashed server would."""
        _abort(self)
        _abort(self.upstream)


class CuttableProxy:
    """A TCP forwarder on 127.0.0.1 that a test can cut and restore."""

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream_host = upstream_host
        self.upstream_port = upstream_port
        self.is_cut = False
        self.silent = False
        self._port: IListeningPort | None = None
        self._open: dict[Protocol, Deferred[None]] = {}
        self._attempts: set[Deferred[Any]] = set()

    async def start(self) -> int:
        """Listen on a free port; return it."""
        endpoint = TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1")
        self._port = await endpoint.listen(Factory.forProtocol(lambda: _Downstream(self)))
        address = self._port.getHost()
        assert isinstance(address, IPv4Address)
        return address.port

    def cut(self, *, silent: bool = False) -> None:
        """Reset every connection through the proxy; refuse new ones until ``restore``.

        Args:
            silent: accept new connections and never answer them, instead of
                resetting them at once.
        """
        self.is_cut = True
        self.silent = silent
        self._abort_all()

    def restore(self) -> None:
        """Forward new connections again (connections held by a silent cut are reset)."""
        self._abort_all()
        self.is_cut = False
        self.silent = False

    def _abort_all(self) -> None:
        for protocol in list(self._open):
            if isinstance(protocol, _Downstream):
                protocol.abort()

    @property
    def connections(self) -> int:
        """Client connections currently open through the proxy."""
        return sum(isinstance(p, _Downstream) for p in self._open)

    def track(self, protocol: Protocol) -> None:
        """Note an open connection, so ``close`` can wait for it to end."""
        self._open.setdefault(protocol, Deferred())

    def forget(self, protocol: Protocol) -> None:
        """Note that a connection ended."""
        closed = self._open.pop(protocol, None)
        if closed is not None:
            closed.callback(None)

    def track_attempt(self, connecting: Deferred[Any]) -> None:
        """Note a connection attempt to PostgreSQL, so ``close`` can wait for it."""
        self._attempts.add(connecting)

        def done(result: object) -> object:
            self._attempts.discard(connecting)
            return result

        connecting.addBoth(done)

    async def close(self) -> None:
        """Stop listening and wait until every connection through the proxy is gone."""
        if self._port is not None:
            stopping = self._port.stopListening()
            if stopping is not None:
                await stopping
        if self._attempts:
            await DeferredList(list(self._attempts), consumeErrors=True)
        self.is_cut, self.silent = True, False
        self._abort_all()
        if self._open:
            await DeferredList(list(self._open.values()))


class OutageTests(PostgreSQLDatabase, TestCase):
    """While PostgreSQL is unreachable the service says so; when it is back, it serves again."""

    skip = SKIP
    timeout = 30

    async def start_world(self) -> tuple[CuttableProxy, ChatService, str]:
        """Start the proxy and a ChatService on a real port whose store goes through it."""
        params = conninfo_to_dict(DSN)
        host = str(params.get("host") or "127.0.0.1")
        if host.startswith("/") or "," in host:
            self.skipTest("CHAT_TEST_POSTGRES must name one TCP host for the proxy to reach")
        proxy = CuttableProxy(host, int(params.get("port") or 5432))
        proxy_port = await proxy.start()
        self.addCleanup(proxy.close)
        store = SQLStore.postgresql(
            make_conninfo(DSN, host="127.0.0.1", port=str(proxy_port)),
            reactor,
            reactor=reactor,
            pool_size=POOL_SIZE,
            retry_delays=RETRY_DELAYS,
            options=self.search_path,
            connect_timeout=CONNECT_TIMEOUT,
        )
        service = ChatService(
            config_for_tests(listen=("tcp:0:interface=127.0.0.1",)), reactor, store=store
        )
        port = await serve_tcp(self, service)
        self.http = HTTPConnectionPool(reactor, persistent=False)
        return proxy, service, f"http://127.0.0.1:{port}"

    async def call(
        self, method: str, url: str, token: str | None = None, body: Any = None
    ) -> tuple[int, Any]:
        """One real HTTP request; return the status and the decoded JSON body."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        kwargs: dict[str, Any] = {"headers": headers, "pool": self.http}
        if body is not None:
            kwargs["json"] = body
        response = await treq.request(method, url, **kwargs)
        return response.code, await response.json()

    async def join(self, base: str, token: str) -> RecordingClient:
        return await join_tcp(self, reactor, int(base.rsplit(":", 1)[1]), token)

    async def test_outage_answers_503_and_recovers_without_restart(self) -> None:
        """Cut: /health and REST 503, a post gets an error frame; restored: all works again."""
        proxy, service, base = await self.start_world()
        credentials = {"username": "alice", "password": "password-1"}
        status, body = await self.call("POST", f"{base}/api/register", body=credentials)
        self.assertEqual(status, 201, body)
        alice_token = body["token"]
        status, body = await self.call(
            "POST", f"{base}/api/register", body={"username": "bob", "password": "password-1"}
        )
        self.assertEqual(status, 201, body)
        alice = await self.join(base, alice_token)
        bob = await self.join(base, body["token"])
        self.assertGreater(proxy.connections, 0)

        proxy.cut()
        status, body = await self.call("GET", f"{base}/health")
        self.assertEqual((status, body["status"]), (503, "unavailable"))
        status, body = await self.call("GET", f"{base}/api/rooms", alice_token)
        self.assertEqual((status, body["code"]), (503, "store_unavailable"))
        status, body = await self.call("POST", f"{base}/api/login", body=credentials)
        self.assertEqual((status, body["code"]), (503, "store_unavailable"))
        status, body = await self.call("GET", f"{base}/api/messages?roomId=1", alice_token)
        self.assertEqual((status, body["code"]), (503, "store_unavailable"))
        alice.send_json({"content": "lost in the outage", "client_msg_id": "m-1"})
        error = await alice.next_of("error")
        self.assertEqual((error["code"], error["client_msg_id"]), ("store_unavailable", "m-1"))

        proxy.restore()
        status, body = await self.call("GET", f"{base}/health")
        self.assertEqual((status, body["status"]), (200, "ok"))
        status, body = await self.call("POST", f"{base}/api/login", body=credentials)
        self.assertEqual(status, 200, body)
        status, rooms = await self.call("GET", f"{base}/api/rooms", alice_token)
        self.assertEqual((status, [room["name"] for room in rooms]), (200, ["General"]))
        # The refused message was never stored, so sending it again stores and
        # broadcasts it; bob's first message frame shows nothing leaked before.
        alice.send_json({"content": "after the outage", "client_msg_id": "m-1"})
        for client in (alice, bob):
            message = await client.next_of("message")
            self.assertEqual(message["content"], "after the outage")
        status, history = await self.call("GET", f"{base}/api/messages?roomId=1", alice_token)
        self.assertEqual(status, 200)
        self.assertEqual([m["content"] for m in history], ["after the outage"])
        self.assertTrue(service.running)

    async def test_websocket_handshake_during_outage_is_json_503(self) -> None:
        """A /ws handshake while the store is unreachable is refused with 503 store_unavailable."""
        proxy, _, base = await self.start_world()
        status, body = await self.call(
            "POST", f"{base}/api/register", body={"username": "carol", "password": "password-1"}
        )
        self.assertEqual(status, 201, body)
        token = body["token"]
        proxy.cut()
        status, body = await self.call("GET", f"{base}/ws?roomId=1", token)
        self.assertEqual((status, body["code"]), (503, "store_unavailable"))
        proxy.restore()
        client = await self.join(base, token)
        client.send_json({"content": "hello again"})
        self.assertEqual((await client.next_of("message"))["content"], "hello again")

    async def test_silent_database_is_503_within_the_connect_timeout(self) -> None:
        """A database that accepts but never answers gives /health a 503 after connect_timeout."""
        proxy, _, base = await self.start_world()
        proxy.cut(silent=True)
        started = reactor.seconds()
        status, body = await self.call("GET", f"{base}/health")
        self.assertEqual((status, body["status"]), (503, "unavailable"))
        # Attempts stop after the retry window; the last one waits connect_timeout at most.
        self.assertLess(reactor.seconds() - started, DEFAULT_RETRY_WINDOW + CONNECT_TIMEOUT + 1)
        proxy.restore()
        status, body = await self.call("GET", f"{base}/health")
        self.assertEqual((status, body["status"]), (200, "ok"))
