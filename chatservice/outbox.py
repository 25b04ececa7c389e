"""Outbox: one socket's outbound frames, bounded, driven by Twisted's producer signals.

Twisted buffers whatever is written to a transport without limit. The
outbox registers as the transport's streaming producer: while the transport
says "pause" (its buffer passed 64 KiB because the peer is not reading),
frames wait here instead, counted. While nothing is paused, a frame is
written at once.

A peer that reads, but more slowly than its room talks for a while (a busy
client, a busy server: both are common under load), and a peer that stopped
reading look the same by size alone: both have a long queue. What tells them
apart is progress: the transport drains its buffer into the socket and asks
for more (``resumeProducing``) only while the peer reads. So the rule is:

* past the **soft bound** (``limit``, ``WS_MAX_BUFFER``) a stall timer starts;
  every drain that takes frames from the queue restarts it, and it stops
  when the queue is back under the soft bound. If it runs out (no progress
  for ``stall_seconds``), the socket is a slow consumer;
* past the **hard cap** (``hard_limit``, by default ``HARD_LIMIT_FACTOR``
  times the soft bound) the socket is a slow consumer at once, progress or
  not, so that memory stays bounded whatever the peer does.

A slow consumer's queue is dropped and ``on_overflow`` is told (it closes
the socket with 1008), so one client can neither grow the server's memory
nor slow down the others.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence

from twisted.internet.interfaces import IDelayedCall, IPushProducer, IReactorTime, ITransport
from zope.interface import implementer

from chatservice.eager_send import send_eagerly, turn_for

DEFAULT_LIMIT = 1024 * 1024
# How long a socket over the soft bound may go without draining anything.
# Long enough for a reader that is seconds behind on a loaded machine (the
# transport only asks for more once its 64 KiB are all in the kernel), well
# under the ping timeout, which cannot help here: a ping waits in this queue.
STALL_SECONDS = 5.0
# Hard cap = this many times the soft bound, unless given. Memory per socket
# is bounded by the hard cap; a stopped reader reaches it only if its room
# sends that much within STALL_SECONDS.
HARD_LIMIT_FACTOR = 8


@implementer(IPushProducer)
class Outbox:
    """Writes frames to a transport, queueing (boundedly) while it is paused."""

    def __init__(
        self,
        transport: ITransport,
        on_overflow: Callable[[], None],
        limit: int = DEFAULT_LIMIT,
        *,
        clock: IReactorTime | None = None,
        hard_limit: int | None = None,
        stall_seconds: float = STALL_SECONDS,
        eager_send: bool = False,
    ) -> None:
        """Wrap ``transport``.

        Args:
            transport: where frames go; it should register this outbox as its
                streaming producer.
            on_overflow: called once when the socket is judged a slow consumer.
            limit: the soft bound, in queued bytes.
            clock: times the stall. Without one a stall cannot be timed, so the
                soft bound closes at once (the rule before the stall timer).
            hard_limit: queued bytes that close at once; ``HARD_LIMIT_FACTOR``
                times ``limit`` when omitted. Ignored without a clock.
            stall_seconds: how long the queue may stay over ``limit`` without
                draining anything.
            eager_send: send a socket's first frame of a reactor turn at
                once (``eager_send``); for a caller that writes each socket
                about once a turn (fan-out of group-committed batches).

        Raises:
            ValueError: ``hard_limit`` is below ``limit``, or ``stall_seconds``
                is not positive.
        """
        if hard_limit is None:
            hard_limit = limit * HARD_LIMIT_FACTOR
        if hard_limit < limit:
            raise ValueError(f"hard_limit ({hard_limit}) is below limit ({limit})")
        if stall_seconds <= 0:
            raise ValueError(f"stall_seconds must be positive, got {stall_seconds}")
        self._transport = transport
        # While nothing waits, a frame goes to the kernel in this reactor
        # turn when asked and the transport allows it (``eager_send``).
        self._turn = turn_for(transport, clock) if eager_send else None
        self._on_overflow = on_overflow
        self._limit = limit
        self._clock = clock
        self._hard_limit = hard_limit if clock is not None else limit
        self._stall_seconds = stall_seconds
        self._stall_timer: IDelayedCall | None = None
        # Made on first use: an empty deque is 760 bytes, and most sockets
        # never wait (S3 measures memory per idle socket).
        self._queue: deque[bytes] | None = None
        self.queued_bytes = 0
        self.paused = False
        self.overflowed = False
        # Which rule judged the socket a slow consumer, for the log line.
        self.overflow_reason: str | None = None
        # Extra room for a burst the server sends at once (see write_burst),
        # until the queue is next empty.
        self._allowance = 0

    @property
    def stalling(self) -> bool:
        """True while the queue is over the soft bound and the stall timer runs."""
        return self._stall_timer is not None

    def write(self, frame: bytes) -> None:
        """Write ``frame`` now, or queue it while the transport is paused."""
        if self.overflowed:
            return
        if not self.paused and not self._queue:
            if self._turn is not None:
                send_eagerly(self._transport, self._turn, frame)
            else:
                self._transport.write(frame)
            return
        queue = self._queue
        if queue is None:
            queue = self._queue = deque()
        queue.append(frame)
        self.queued_bytes += len(frame)
        over = self.queued_bytes - self._allowance
        if over > self._hard_limit:
            self._overflow("past the hard cap")
        elif over > self._limit and self._stall_timer is None:
            assert self._clock is not None  # without one, hard limit == limit
            self._stall_timer = self._clock.callLater(self._stall_seconds, self._stalled)

    def write_burst(self, frames: Sequence[bytes]) -> None:
        """Write frames the server sends in one go; they may pass the bounds by their own size.

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
        """The transport drained: write what waited, until it pauses again.

        The peer read everything the transport held, so this is progress:
        the stall timer starts again, or stops if the queue is back under
        the soft bound.
        """
        self.paused = False
        drained = False
        queue = self._queue
        while queue and not self.paused:
            frame = queue.popleft()
            self.queued_bytes -= len(frame)
            drained = True
            self._transport.write(frame)  # may call pauseProducing re-entrantly
        if not self._queue:
            self._allowance = 0
        timer = self._stall_timer
        if timer is None or not drained:
            return
        if self.queued_bytes - self._allowance > self._limit:
            timer.reset(self._stall_seconds)
        else:
            self._cancel_stall_timer()

    def flush(self) -> None:
        """Hand every waiting frame to the transport now, paused or not.

        For a connection about to be closed without abort: the transport
        sends its whole buffer before it closes, and what waits here is
        bounded by the hard cap.
        """
        queue = self._queue
        while queue:
            frame = queue.popleft()
            self.queued_bytes -= len(frame)
            self._transport.write(frame)
        self._allowance = 0
        self._cancel_stall_timer()

    def stopProducing(self) -> None:
        """The connection is gone: drop what waited."""
        self._drop()

    def _stalled(self) -> None:
        """No progress for ``stall_seconds`` while over the soft bound: a slow consumer.

        A connection dropped with abort (a ping timeout) unregisters this
        producer without ``stopProducing``; its timer still fires, and must
        not report a slow consumer that is already gone.
        """
        self._stall_timer = None
        if getattr(self._transport, "producer", self) is not self:
            self._drop()
            return
        if not self.overflowed and self.queued_bytes - self._allowance > self._limit:
            self._overflow(f"no progress for {self._stall_seconds:g} s")

    def _overflow(self, reason: str) -> None:
        self.overflow_reason = reason
        self._drop()
        self._on_overflow()

    def _drop(self) -> None:
        self._queue = None
        self.queued_bytes = 0
        self._allowance = 0
        self.overflowed = True
        self._cancel_stall_timer()

    def _cancel_stall_timer(self) -> None:
        timer, self._stall_timer = self._stall_timer, None
        if timer is not None and timer.active():
            timer.cancel()
