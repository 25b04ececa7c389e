"""Outbox: one socket's outbound frames, bounded, driven by Twisted's producer signals.

Twisted buffers whatever is written to a transport without limit. The
outbox registers as the transport's streaming producer: while the transport
says "pause" (its buffer passed 64 KiB because the peer is not reading),
frames wait here instead, counted; when they pass the bound, the socket is
a slow consumer and ``on_overflow`` is told (it closes the socket with 1008)
so one client that stops reading can neither grow the server's memory nor
slow down the others. While nothing is paused, a frame is written at once.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence

from twisted.internet.interfaces import IPushProducer, ITransport
from zope.interface import implementer

DEFAULT_LIMIT = 1024 * 1024


@implementer(IPushProducer)
class Outbox:
    """Writes frames to a transport, queueing (boundedly) while it is paused."""

    def __init__(
        self, transport: ITransport, on_overflow: Callable[[], None], limit: int = DEFAULT_LIMIT
    ) -> None:
        self._transport = transport
        self._on_overflow = on_overflow
        self._limit = limit
        self._queue: deque[bytes] = deque()
        self.queued_bytes = 0
        self.paused = False
        self.overflowed = False
        # Extra room for a burst the server sends at once (see write_burst),
        # until the queue is next empty.
        self._allowance = 0

    def write(self, frame: bytes) -> None:
        """Write ``frame`` now, or queue it while the transport is paused."""
        if self.overflowed:
            return
        if not self.paused and not self._queue:
            self._transport.write(frame)
            return
        self._queue.append(frame)
        self.queued_bytes += len(frame)
        if self.queued_bytes > self._limit + self._allowance:
            self.overflowed = True
            self._queue.clear()
            self.queued_bytes = 0
            self._allowance = 0
            self._on_overflow()

    def write_burst(self, frames: Sequence[bytes]) -> None:
        """Write frames the server sends in one go; they may pass the limit by their own size.

        For a burst whose size is bounded elsewhere (a resume's replay: at
        most ``MAX_REPLAY`` messages), written faster than any peer can
        read: it must not count as the peer failing to read. The extra room
        lasts until the queue is next empty.
        """
        self._allowance += sum(len(frame) for frame in frames)
        for frame in frames:
            self.write(frame)
        if not self._queue:
            self._allowance = 0

    def pauseProducing(self) -> None:
        """The transport's buffer is full: queue from now on."""
        self.paused = True

    def resumeProducing(self) -> None:
        """The transport drained: write what waited, until it pauses again."""
        self.paused = False
        while self._queue and not self.paused:
            frame = self._queue.popleft()
            self.queued_bytes -= len(frame)
            self._transport.write(frame)  # may call pauseProducing re-entrantly
        if not self._queue:
            self._allowance = 0

    def flush(self) -> None:
        """Hand every waiting frame to the transport now, paused or not.

        For a connection about to be closed without abort: the transport
        sends its whole buffer before it closes, and what waits here is
        bounded by ``limit``.
        """
        while self._queue:
            frame = self._queue.popleft()
            self.queued_bytes -= len(frame)
            self._transport.write(frame)
        self._allowance = 0

    def stopProducing(self) -> None:
        """The connection is gone: drop what waited."""
        self._queue.clear()
        self.queued_bytes = 0
        self._allowance = 0
        self.overflowed = True
