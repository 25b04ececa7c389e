"""WebSocket test clients: in memory through ``iosim``, or over a real TCP port.

``MemoryChat`` drives the real ``Site`` -> Klein -> ``WebSocketResource`` ->
protocol path of a ``ChatService`` with Autobahn clients or raw HTTP bytes,
all on the service's fake reactor; ``connect_tcp`` opens a real Autobahn
client against a listening port.
"""

from __future__ import annotations

import json
import typing
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from autobahn.twisted.websocket import WebSocketClientFactory, WebSocketClientProtocol
from treq.testing import StubTreq
from twisted.internet.address import IPv4Address
from twisted.internet.defer import Deferred, DeferredQueue
from twisted.internet.endpoints import TCP4ClientEndpoint
from twisted.internet.interfaces import IReactorTime
from twisted.internet.protocol import Protocol
from twisted.python.failure import Failure
from twisted.test.iosim import FakeTransport, IOPump, connectedServerAndClient
from twisted.trial.unittest import TestCase
from twisted.web.resource import IResource
from txaio.testutil import replace_loop

from chatservice.service import ChatService
from chatservice.store import IChatStore
from tests.fakes import FakeReactor, ImmediateThreadPool, config_for_tests, make_service, settle

T = TypeVar("T")

WS_KEY = b"dGhlIHNhbXBsZSBub25jZQ=="


def result_now(d: Deferred[T], clock: Any = None) -> T:
    """Return the result of a Deferred that has fired; fail loudly otherwise.

    With ``clock``, its reactor turn is ended first (``settle``): a post
    commits there.
    """
    if clock is not None:
        settle(clock)
    results: list[Any] = []
    d.addBoth(results.append)
    if not results:
        raise AssertionError(f"{d!r} has not fired")
    if isinstance(results[0], Failure):
        results[0].raiseException()
    value: T = results[0]
    return value


def use_txaio_clock(test: TestCase, clock: IReactorTime) -> None:
    """Run Autobahn's timers on ``clock`` until the test's cleanups have run.

    Autobahn schedules handshake, close and ping timers on txaio's global
    loop, not on the factory's reactor; this points that loop at the test's
    clock. Registered first, it is undone last (cleanups run in reverse).
    """
    manager = replace_loop(clock)
    manager.__enter__()
    test.addCleanup(manager.__exit__, None, None, None)


class RecordingClient(WebSocketClientProtocol):
    """An Autobahn client that records every frame and how the connection closed."""

    def __init__(self) -> None:
        super().__init__()
        self.frames: list[dict[str, Any]] = []
        self.events: list[tuple[str, Any]] = []
        self.inbox: DeferredQueue[dict[str, Any]] = DeferredQueue()
        self.opened: Deferred[RecordingClient] = Deferred()
        self.closed: Deferred[int | None] = Deferred()
        self.ws_open = False
        self.close_code: int | None = None
        self.pump: IOPump | None = None

    def onOpen(self) -> None:
        """Note that the handshake succeeded."""
        self.ws_open = True
        self.opened.callback(self)

    def onMessage(self, payload: bytes, isBinary: bool) -> None:
        """Record one frame, decoded as JSON."""
        frame = json.loads(payload.decode("utf-8"))
        self.frames.append(frame)
        self.events.append(("frame", frame))
        self.inbox.put(frame)

    def onClose(self, wasClean: bool, code: int | None, reason: str | None) -> None:
        """Record the close code the server sent (None if it sent none)."""
        self.ws_open = False
        self.close_code = self.remoteCloseCode
        self.events.append(("close", self.remoteCloseCode))
        if not self.opened.called:
            self.opened.errback(ConnectionError(f"handshake failed: {reason}"))
        self.closed.callback(self.remoteCloseCode)

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        """Return the frames received so far whose ``type`` is ``kind``."""
        return [frame for frame in self.frames if frame.get("type") == kind]

    def send_json(self, value: Any) -> None:
        """Send one JSON text frame."""
        self.sendMessage(json.dumps(value).encode("utf-8"))

    async def next_of(self, kind: str) -> dict[str, Any]:
        """Wait for the next frame of type ``kind``, skipping others (presence)."""
        while True:
            frame = await self.inbox.get()
            if frame["type"] == kind:
                return frame


class RawClient(Protocol):
    """Sends fixed bytes when connected and keeps whatever comes back; never answers."""

    def __init__(self, request: bytes) -> None:
        self.request = request
        self.received = b""

    def connectionMade(self) -> None:
        """Send the request."""
        assert self.transport is not None
        self.transport.write(self.request)

    def dataReceived(self, data: bytes) -> None:
        """Keep the bytes."""
        self.received += data


@dataclass(frozen=True)
class HttpAnswer:
    """The parsed head (and body, if sized) of an HTTP response."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """Decode the body as JSON."""
        return json.loads(self.body)


def parse_http_head(head: bytes) -> tuple[int, dict[str, str]]:
    """The status and the headers (names lower-cased) of a response head."""
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers: dict[str, str] = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status_line.split(" ", 2)[1]), headers


def parse_http_answer(data: bytes) -> HttpAnswer:
    """Parse a response: head, then a sized or chunked body (a 101 has none)."""
    head, separator, rest = data.partition(b"\r\n\r\n")
    if not separator:
        raise AssertionError(f"incomplete HTTP response: {data!r}")
    status, headers = parse_http_head(head)
    if status == 101:
        return HttpAnswer(status, headers, b"")
    if headers.get("transfer-encoding") == "chunked":
        return HttpAnswer(status, headers, _dechunk(rest))
    return HttpAnswer(status, headers, rest[: int(headers.get("content-length", "0"))])


def _dechunk(data: bytes) -> bytes:
    body = b""
    while True:
        size_line, separator, data = data.partition(b"\r\n")
        if not separator:
            raise AssertionError("truncated chunked body")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            return body
        body += data[:size]
        data = data[size + 2 :]


def handshake_request(
    target: str, headers: dict[str, str] | None = None, *, upgrade: bool = True
) -> bytes:
    """Build the bytes of a WebSocket opening handshake (or a plain GET) for ``target``."""
    lines = [f"GET {target} HTTP/1.1", "Host: chat.test"]
    if upgrade:
        lines += [
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {WS_KEY.decode('ascii')}",
            "Sec-WebSocket-Version: 13",
        ]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


class ProtocolMaker(typing.Protocol):
    """A ``Site``, or the service's ``UpgradeRouter``."""

    def buildProtocol(self, addr: Any) -> Any:  # noqa: N802 - Twisted's name
        """The server side of a new connection."""


class MemoryChat:
    """Connects in-memory clients to a service's ``Site`` and pumps them on its clock."""

    def __init__(self, site: ProtocolMaker, clock: Any, host: str = "chat.test") -> None:
        self.site = site
        self.clock = clock
        self.host = host
        self.pumps: list[IOPump] = []

    def _connect(
        self,
        make_client: Callable[[], Any],
        server_transport: Callable[[Any], FakeTransport] | None = None,
    ) -> tuple[Protocol, IOPump]:
        extra: dict[str, Any] = {}
        if server_transport is not None:
            extra["serverTransportFactory"] = server_transport
        client, _, pump = connectedServerAndClient(
            lambda: self.site.buildProtocol(None),
            make_client,
            greet=False,
            clock=self.clock,
            **extra,
        )
        self.pumps.append(pump)
        self.flush()
        return client, pump

    def connect(
        self,
        target: str,
        headers: dict[str, str] | None = None,
        *,
        origin: str | None = None,
        server_transport: Callable[[Any], FakeTransport] | None = None,
    ) -> RecordingClient:
        """Open an Autobahn client on ``target`` (e.g. ``/ws?roomId=1&token=...``)."""
        factory = WebSocketClientFactory(
            f"ws://{self.host}{target}", headers=headers or {}, origin=origin
        )
        factory.protocol = RecordingClient
        client, pump = self._connect(lambda: factory.buildProtocol(None), server_transport)
        assert isinstance(client, RecordingClient)
        client.pump = pump
        return client

    def open(
        self,
        token: str,
        room_id: int = 1,
        since: int | None = None,
        *,
        server_transport: Callable[[Any], FakeTransport] | None = None,
    ) -> RecordingClient:
        """Open a socket on ``room_id`` (resuming after ``since``) with a bearer header.

        Fails unless the socket opens.
        """
        target = f"/ws?roomId={room_id}" + (f"&since={since}" if since is not None else "")
        client = self.connect(
            target, {"Authorization": f"Bearer {token}"}, server_transport=server_transport
        )
        if not client.ws_open:
            raise AssertionError(f"{target} did not open")
        return client

    def raw(
        self, target: str, headers: dict[str, str] | None = None, *, upgrade: bool = True
    ) -> tuple[HttpAnswer, RawClient, IOPump]:
        """Send a raw handshake (or plain GET) and parse the answer."""
        return self.raw_bytes(handshake_request(target, headers, upgrade=upgrade))

    def raw_bytes(self, request: bytes) -> tuple[HttpAnswer, RawClient, IOPump]:
        """Send ``request`` as it is; parse the first answer."""
        client, pump = self._connect(lambda: RawClient(request))
        assert isinstance(client, RawClient)
        return parse_http_answer(client.received), client, pump

    def refusal(
        self, target: str, headers: dict[str, str] | None = None, *, upgrade: bool = True
    ) -> HttpAnswer:
        """Send a raw handshake that is expected to be refused; close the connection."""
        answer, client, pump = self.raw(target, headers, upgrade=upgrade)
        assert client.transport is not None
        client.transport.loseConnection()
        self.flush()
        return answer

    def flush(self) -> None:
        """Move bytes on every connection, and end the reactor's turn, until nothing moves."""
        for _ in range(1000):
            moved = False
            for pump in self.pumps:
                if pump.flush():
                    moved = True
            if settle(self.clock):
                moved = True
            if not moved:
                return
        raise AssertionError("the connections never went quiet")

    def advance(self, seconds: float) -> None:
        """Move the clock (Autobahn's timers included), then pump."""
        self.clock.advance(seconds)
        self.flush()


@contextmanager
def no_pumping(chat: MemoryChat, pump: IOPump) -> Iterator[None]:
    """Leave one connection out of ``chat.flush`` (a peer that never reads)."""
    chat.pumps.remove(pump)
    try:
        yield
    finally:
        chat.pumps.append(pump)


def connect_tcp(
    reactor: Any, port: int, target: str, headers: dict[str, str] | None = None
) -> Deferred[RecordingClient]:
    """Open a real Autobahn client on 127.0.0.1:``port``; fires once the socket is open."""
    factory = WebSocketClientFactory(f"ws://127.0.0.1:{port}{target}", headers=headers or {})
    factory.protocol = RecordingClient
    endpoint = TCP4ClientEndpoint(reactor, "127.0.0.1", port)

    async def connect() -> RecordingClient:
        client = await endpoint.connect(factory)
        assert isinstance(client, RecordingClient)
        return await client.opened

    return Deferred.fromCoroutine(connect())


async def close_tcp(client: RecordingClient) -> None:
    """Close a real client and wait until its TCP connection is gone."""
    if client.ws_open:
        client.sendClose()
    if not client.closed.called:
        await client.closed


async def serve_tcp(test: TestCase, service: ChatService) -> int:
    """Start ``service`` (stopped when the test ends), wait until it is ready; return its port.

    The service's config must listen on exactly one TCP endpoint.
    """
    service.startService()
    test.addCleanup(stop_service, service)
    await service.ready
    (port,) = service.listening_ports
    address = port.getHost()
    assert isinstance(address, IPv4Address)
    return address.port


async def stop_service(service: ChatService) -> None:
    """Stop ``service`` unless it is already stopped."""
    if service.running:
        await service.stopService()


async def join_tcp(test: TestCase, reactor: Any, port: int, token: str) -> RecordingClient:
    """Join room 1 as ``token``'s user over a real socket, closed when the test ends."""
    client = await connect_tcp(reactor, port, "/ws?roomId=1", {"Authorization": f"Bearer {token}"})
    test.addCleanup(close_tcp, client)
    return client


class Rest:
    """A REST client over ``StubTreq`` whose answers are ready within a turn (memory store)."""

    def __init__(self, resource: IResource, prefix: str = "", clock: Any = None) -> None:
        self.treq = StubTreq(resource)
        self.prefix = prefix
        # The service's fake clock, whose turn ends (``settle``) before an
        # answer is read: a post commits at the end of the turn.
        self.clock = clock

    def call(
        self, method: str, path: str, token: str | None = None, body: Any = None
    ) -> tuple[int, Any]:
        """Make one request; return the status and the decoded JSON body."""
        status, data = self.call_raw(method, path, token, body)
        return status, json.loads(data) if data else None

    def call_raw(
        self, method: str, path: str, token: str | None = None, body: Any = None
    ) -> tuple[int, bytes]:
        """Make one request; return the status and the body's bytes."""
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        kwargs: dict[str, Any] = {"headers": headers}
        if body is not None:
            kwargs["json"] = body
        url = f"http://chat.test{self.prefix}{path}"
        treq: Any = self.treq  # StubTreq builds its methods at run time
        answer = treq.request(method, url, **kwargs)
        if self.clock is not None:
            settle(self.clock)
        self.treq.flush()
        response = result_now(answer)
        content = response.content()
        self.treq.flush()
        data: bytes = result_now(content)
        return response.code, data

    def register(self, username: str, password: str = "password-1") -> tuple[str, int]:
        """Create an account; return its token and user id."""
        status, body = self.call(
            "POST", "/api/register", body={"username": username, "password": password}
        )
        assert status == 201, (status, body)
        return body["token"], body["user"]["id"]

    def ticket(self, token: str) -> str:
        """Ask for a WebSocket ticket."""
        status, body = self.call("POST", "/api/ws-ticket", token)
        assert status == 201, (status, body)
        ticket: str = body["ticket"]
        return ticket

    def create_room(self, token: str, name: str) -> int:
        """Create a room; return its id."""
        status, body = self.call("POST", "/api/rooms/create", token, {"name": name})
        assert status == 201, (status, body)
        room_id: int = body["id"]
        return room_id

    def history(self, token: str, room_id: int) -> list[dict[str, Any]]:
        """Return a room's history, oldest first."""
        status, body = self.call("GET", f"/api/messages?roomId={room_id}", token)
        assert status == 200, (status, body)
        messages: list[dict[str, Any]] = body
        return messages


@dataclass
class MemoryWorld:
    """A started in-memory service with REST and WebSocket clients on its fake reactor."""

    service: ChatService
    reactor: FakeReactor
    chat: MemoryChat
    rest: Rest

    def stop(self) -> None:
        """Stop the service (if still running), letting every socket finish closing."""
        if not self.service.running:
            return
        stopped = self.service.stopService()
        self.chat.flush()
        self.chat.advance(self.service.config.shutdown_timeout)
        result_now(stopped)


def memory_world(
    test: TestCase, store: IChatStore | None = None, *, direct: bool = False, **changes: Any
) -> MemoryWorld:
    """Start an in-memory service for ``test`` (on ``store`` if given); stopped in cleanup.

    With ``direct``, clients connect as to the service's own ports
    (``upgrade_router``: a ``/ws`` upgrade skips twisted.web); else to its ``Site``.
    """
    if store is None:
        service, reactor = make_service(**changes)
    else:
        reactor = store_clock(store)
        service = ChatService(
            config_for_tests(**changes),
            reactor,
            store=store,
            password_pool=ImmediateThreadPool(),  # type: ignore[arg-type]
            file_pool=ImmediateThreadPool(),  # type: ignore[arg-type]
        )
        service.startService()
    use_txaio_clock(test, reactor)
    chat = MemoryChat(service.server_factory() if direct else service.site(), reactor)
    world = MemoryWorld(service, reactor, chat, Rest(service.resource(), clock=reactor))
    test.addCleanup(world.stop)
    return world


def store_clock(store: IChatStore) -> FakeReactor:
    """The fake reactor a test store was built with (its ``clock`` attribute)."""
    clock = getattr(store, "clock", None)
    assert isinstance(clock, FakeReactor), "give the store a FakeReactor as .clock"
    return clock


def server_frames(data: bytes) -> list[tuple[int, bytes]]:
    """Split unmasked server-to-client WebSocket bytes into (opcode, payload) pairs."""
    frames = []
    while data:
        opcode = data[0] & 0x0F
        length = data[1] & 0x7F
        offset = 2
        if length == 126:
            length = int.from_bytes(data[2:4], "big")
            offset = 4
        elif length == 127:
            length = int.from_bytes(data[2:10], "big")
            offset = 10
        frames.append((opcode, data[offset : offset + length]))
        data = data[offset + length :]
    return frames
