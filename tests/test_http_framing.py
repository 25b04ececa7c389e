"""Over a real TCP port: an early 413 that clients can read, and sized, closing answers.

These run the real reactor on ``127.0.0.1:0`` and talk to it with plain
blocking sockets in a thread (``deferToThread``), so the kernel's behaviour
(a reset when a socket closes with unread input) is part of the test.
"""

from __future__ import annotations

import socket
from collections import Counter
from collections.abc import Iterator
from typing import Any

from twisted.internet import reactor
from twisted.internet.defer import Deferred, gatherResults
from twisted.internet.endpoints import TCP4ServerEndpoint
from twisted.internet.threads import deferToThread
from twisted.trial.unittest import TestCase
from twisted.web.server import Site

from chatservice.bodylimit import LimitedRequest
from chatservice.service import ChatService
from chatservice.store.memory import MemoryStore
from chatservice.wire import CredentialsForm
from tests.fakes import ImmediateThreadPool, config_for_tests
from tests.test_http import Echo, chunk, post_head
from tests.wsclient import (
    HttpAnswer,
    handshake_request,
    memory_world,
    parse_http_answer,
    parse_http_head,
    serve_tcp,
)

MIB = 1024 * 1024
RUNS = 50
# (chunked, body size): declared lengths over the limit, and chunked bodies
# that cross it, each as big as a real upload.
UPLOADS = [(False, MIB), (False, 10 * MIB), (True, MIB), (True, 10 * MIB)]
PIECE = b"x" * 65536
# A safety net only: no test waits for it unless the server misbehaves.
SOCKET_TIMEOUT = 10.0


def _read_to_eof(sock: socket.socket) -> bytes:
    received = b""
    while data := sock.recv(65536):
        received += data
    return received


def upload(port: int, chunked: bool, size: int) -> str:
    """POST ``size`` bytes the way requests/urllib3 do: the whole body, then read.

    Returns ``"413 payload_too_large"`` (status and error code) when the
    answer was read, else the name of the socket error (e.g.
    ``ConnectionResetError``).
    """
    with socket.create_connection(("127.0.0.1", port), timeout=SOCKET_TIMEOUT) as sock:
        try:
            sock.sendall(post_head(None if chunked else size))
            for _ in range(size // len(PIECE)):
                sock.sendall(chunk(PIECE) if chunked else PIECE)
            if chunked:
                sock.sendall(b"0\r\n\r\n")
            answer = parse_http_answer(_read_to_eof(sock))
        except OSError as error:
            return type(error).__name__
    return f"{answer.status} {answer.json()['code']}"


def tracked_request_factory(gone: list[Deferred[None]]) -> type[LimitedRequest]:
    """A LimitedRequest class that records, for each request, when its connection is gone."""

    class TrackedRequest(LimitedRequest):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            lost = self.notifyFinish()
            lost.addErrback(lambda _: None)  # a refused request never finishes
            gone.append(lost)

    return TrackedRequest


class EarlyRefusalOverTCPTests(TestCase):
    """A client that keeps sending its body still reads the early 413."""

    timeout = 60

    async def listen(self) -> tuple[int, list[Deferred[None]]]:
        gone: list[Deferred[None]] = []
        site = Site(Echo(), reactor=reactor)
        site.requestFactory = tracked_request_factory(gone)
        port = await TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1").listen(site)
        self.addCleanup(port.stopListening)
        return port.getHost().port, gone

    async def test_413_is_read_while_the_client_still_sends(self) -> None:
        """50 uploads of 1 and 10 MiB (sized and chunked) all read the 413, none is reset."""
        port, gone = await self.listen()
        outcomes: Counter[str] = Counter()
        for run in range(RUNS):
            chunked, size = UPLOADS[run % len(UPLOADS)]
            outcome = await deferToThread(upload, port, chunked, size)
            outcomes[f"{'chunked' if chunked else 'sized'} {size // MIB} MiB: {outcome}"] += 1
            # The server side is gone too before the next run (no linger left over).
            await gatherResults(gone)
        expected = Counter(
            {
                "sized 1 MiB: 413 payload_too_large": 13,
                "sized 10 MiB: 413 payload_too_large": 13,
                "chunked 1 MiB: 413 payload_too_large": 12,
                "chunked 10 MiB: 413 payload_too_large": 12,
            }
        )
        self.assertEqual(outcomes, expected, f"outcomes of {RUNS} runs: {dict(outcomes)}")


class ContentLengthReader:
    """A minimal HTTP/1.1 client: no chunked decoding, answers framed by Content-Length only."""

    def __init__(self, port: int) -> None:
        self._sock = socket.create_connection(("127.0.0.1", port), timeout=SOCKET_TIMEOUT)
        self._buffer = b""

    def close(self) -> None:
        """Close the socket."""
        self._sock.close()

    def send(self, data: bytes) -> None:
        """Send raw request bytes."""
        self._sock.sendall(data)

    def _fill(self) -> bool:
        data = self._sock.recv(65536)
        self._buffer += data
        return bool(data)

    def answer(self) -> HttpAnswer:
        """Read one answer; fail if it is not framed by a Content-Length."""
        while b"\r\n\r\n" not in self._buffer:
            if not self._fill():
                raise AssertionError(f"connection closed inside a head: {self._buffer!r}")
        head, _, self._buffer = self._buffer.partition(b"\r\n\r\n")
        status, headers = parse_http_head(head)
        if "content-length" not in headers:
            raise AssertionError(f"no Content-Length: {head!r}")
        length = int(headers["content-length"])
        while len(self._buffer) < length:
            if not self._fill():
                raise AssertionError("connection closed inside a body")
        body, self._buffer = self._buffer[:length], self._buffer[length:]
        return HttpAnswer(status, headers, body)

    def rest(self) -> bytes:
        """Everything after the answers read so far, up to the server's close."""
        while self._fill():
            pass
        return self._buffer


def exchange(port: int, request: bytes, answers: int) -> tuple[list[HttpAnswer], bytes]:
    """Send ``request``, read ``answers`` answers, then read until the server closes."""
    reader = ContentLengthReader(port)
    try:
        reader.send(request)
        read = [reader.answer() for _ in range(answers)]
        return read, reader.rest()
    finally:
        reader.close()


def get(target: str, *headers: str) -> bytes:
    """A GET request's bytes."""
    lines = [f"GET {target} HTTP/1.1", "Host: chat.test", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def refusals(token: str) -> Iterator[tuple[bytes, int]]:
    """Handshakes the ``/ws`` route refuses, with their status."""
    yield handshake_request("/ws?roomId=1"), 401
    yield handshake_request("/ws?roomId=1", {"Origin": "https://evil.example"}), 403
    yield handshake_request("/ws?roomId=999", {"Authorization": f"Bearer {token}"}), 404
    yield (
        handshake_request("/ws?roomId=1", {"Authorization": f"Bearer {token}"}, upgrade=False),
        426,
    )


class FramingOverTCPTests(TestCase):
    """JSON answers carry a Content-Length; refused handshakes also close the connection."""

    timeout = 30

    async def start(self) -> tuple[ChatService, int]:
        service = ChatService(
            config_for_tests(
                listen=("tcp:0:interface=127.0.0.1",), cors_origins=("https://app.example",)
            ),
            reactor,
            store=MemoryStore(),
            password_pool=ImmediateThreadPool(),  # type: ignore[arg-type]
        )
        return service, await serve_tcp(self, service)

    async def test_rest_answers_are_sized_on_a_kept_alive_connection(self) -> None:
        """Two answers on one connection, each read by its Content-Length alone."""
        _, port = await self.start()
        request = get("/health") + get("/api/rooms", "Connection: close")
        answers, rest = await deferToThread(exchange, port, request, 2)
        self.assertEqual([a.status for a in answers], [200, 401])
        for answer in answers:
            self.assertNotIn("transfer-encoding", answer.headers)
            self.assertEqual(answer.headers["content-type"], "application/json")
        self.assertEqual(answers[0].json()["status"], "ok")
        self.assertEqual(answers[1].json()["code"], "unauthorized")
        self.assertEqual(rest, b"")

    async def test_refused_handshakes_are_sized_and_close(self) -> None:
        """401/403/404/426 refusals of /ws: Content-Length, Connection: close, then EOF."""
        service, port = await self.start()
        session = await service.accounts.register(CredentialsForm("alice", "password-1"))
        for request, status in refusals(session.token):
            (answer,), rest = await deferToThread(exchange, port, request, 1)
            self.assertEqual(answer.status, status, answer.body)
            self.assertNotIn("transfer-encoding", answer.headers)
            self.assertEqual(answer.headers.get("connection"), "close")
            self.assertIn("code", answer.json())
            self.assertEqual(rest, b"", status)


class RefusedHandshakeInMemoryTests(TestCase):
    """The same close, on the service's fake reactor."""

    def test_refused_handshake_closes_the_connection(self) -> None:
        """After a refusal's body the server closes its side."""
        world = memory_world(self)
        answer, _, pump = world.chat.raw("/ws?roomId=1")
        self.assertEqual(answer.status, 401)
        self.assertEqual(answer.headers.get("connection"), "close")
        self.assertTrue(pump.serverIO.disconnecting)

    def test_refused_plain_get_on_ws_closes_the_connection(self) -> None:
        """A GET /ws without Upgrade (426) also closes after its body."""
        world = memory_world(self)
        token, _ = world.rest.register("alice")
        answer, _, pump = world.chat.raw(
            "/ws?roomId=1", {"Authorization": f"Bearer {token}"}, upgrade=False
        )
        self.assertEqual(answer.status, 426)
        self.assertTrue(pump.serverIO.disconnecting)
