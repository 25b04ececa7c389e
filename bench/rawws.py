"""A bare RFC 6455 client for the load generators, cheap per frame.

The benchmarks speak WebSocket themselves on plain Twisted sockets so that the
load generator needs little CPU per frame and never competes with the server
for a core: a general-purpose client library parses and masks every frame in
Python, as the server does. Client frames are masked with an all-zero key,
which the RFC allows and which leaves the payload bytes as they are; the
server's (unmasked) frames are split in place and a text frame is handed to
``on_text`` as offsets into the received bytes, without a copy.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Sequence
from typing import Any

from twisted.internet.defer import Deferred, DeferredList
from twisted.internet.protocol import Protocol
from twisted.python.failure import Failure

OP_TEXT = 0x1
OP_CLOSE = 0x8
OP_PING = 0x9
OP_PONG = 0xA
ZERO_MASK = b"\x00\x00\x00\x00"


def client_frame(opcode: int, payload: bytes) -> bytes:
    """A final, masked client frame (all-zero mask key: the payload is sent as is)."""
    length = len(payload)
    if length < 126:
        head = bytes((0x80 | opcode, 0x80 | length))
    elif length < 65536:
        head = bytes((0x80 | opcode, 0x80 | 126)) + length.to_bytes(2, "big")
    else:
        head = bytes((0x80 | opcode, 0x80 | 127)) + length.to_bytes(8, "big")
    return head + ZERO_MASK + payload


class RawWebSocket(Protocol):
    """A WebSocket client to ``/ws?roomId=…``: handshake, then the server's frames.

    Answers a ping with a pong, and a close frame by noting its code in
    ``close_code`` and dropping the connection; a subclass handles text frames
    in ``on_text``. ``opened`` fires once the handshake is done (it fails if the
    connection ends before), ``closed`` when the connection is lost, which also
    sets ``lost``.
    """

    def __init__(self, token: str, host: str, room_id: int) -> None:
        self.token = token
        self.host = host
        self.room_id = room_id
        self.opened: Deferred[RawWebSocket] = Deferred()
        self.closed: Deferred[None] = Deferred()
        self.close_code: int | None = None
        self.lost = False
        self._open = False
        self._buffer = b""

    def on_text(self, buf: bytes, start: int, end: int) -> None:
        """Handle a text frame whose payload is ``buf[start:end]``."""

    def connectionMade(self) -> None:
        """Send the opening handshake."""
        assert self.transport is not None
        self.transport.setTcpNoDelay(True)  # type: ignore[attr-defined]
        key = base64.b64encode(os.urandom(16)).decode("ascii")
        self.transport.write(
            (
                f"GET /ws?roomId={self.room_id} HTTP/1.1\r\n"
                f"Host: {self.host}\r\n"
                "Upgrade: websocket\r\n"
                "Connection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\n"
                "Sec-WebSocket-Version: 13\r\n"
                f"Authorization: Bearer {self.token}\r\n\r\n"
            ).encode("ascii")
        )

    def connectionLost(self, reason: Failure = Failure(ConnectionError())) -> None:  # noqa: B008
        """Note the end; a socket that never opened fails ``opened``."""
        self.lost = True
        if not self.opened.called:
            self.opened.errback(ConnectionError(f"handshake failed: {self._buffer[:200]!r}"))
        if not self.closed.called:
            self.closed.callback(None)

    def dataReceived(self, data: bytes) -> None:
        """Finish the handshake, then handle each complete frame."""
        buf = self._buffer + data if self._buffer else data
        pos = 0
        if not self._open:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                self._buffer = buf
                return
            if not buf.startswith(b"HTTP/1.1 101"):
                self._buffer = buf
                assert self.transport is not None
                self.transport.loseConnection()
                return
            self._open = True
            pos = end + 4
            self.opened.callback(self)
        size = len(buf)
        while size - pos >= 2:
            opcode = buf[pos] & 0x0F
            length = buf[pos + 1] & 0x7F
            head = 2
            if length == 126:
                if size - pos < 4:
                    break
                length = int.from_bytes(buf[pos + 2 : pos + 4], "big")
                head = 4
            elif length == 127:
                if size - pos < 10:
                    break
                length = int.from_bytes(buf[pos + 2 : pos + 10], "big")
                head = 10
            end = pos + head + length
            if end > size:
                break
            if opcode == OP_TEXT:
                self.on_text(buf, pos + head, end)
            elif opcode == OP_PING:
                assert self.transport is not None
                self.transport.write(client_frame(OP_PONG, buf[pos + head : end]))
            elif opcode == OP_CLOSE:
                self.close_code = int.from_bytes(buf[pos + head : pos + head + 2], "big")
                assert self.transport is not None
                self.transport.loseConnection()
            pos = end
        self._buffer = buf[pos:]


async def close_all(reactor: Any, sockets: Sequence[RawWebSocket], timeout: float = 10.0) -> None:
    """Send every open socket a close frame (1000); abort those not closed within ``timeout``."""
    for sock in sockets:
        if not sock.lost and sock.transport is not None:
            sock.transport.write(client_frame(OP_CLOSE, b"\x03\xe8"))
    closing = DeferredList([s.closed for s in sockets]).addTimeout(timeout, reactor)
    try:
        await closing
    except Exception:
        for sock in sockets:
            if not sock.lost and sock.transport is not None:
                sock.transport.abortConnection()  # type: ignore[attr-defined]
