"""Outbox alone: a socket's outbound frames, bounded, driven by producer signals.

``OutboxTests`` cover the outbox without a clock (the soft bound closes at
once, as before the stall rule); ``StallRuleTests`` the rule with a clock: a
consumer over the soft bound is closed only after ``stall_seconds`` without
progress, and at once past the hard cap.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.interfaces import IPushProducer
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from chatservice.outbox import HARD_LIMIT_FACTOR, STALL_SECONDS, Outbox


class RecordingTransport:
    """Keeps what is written; can pause the outbox after some writes, as a full buffer would."""

    def __init__(self) -> None:
        self.written: list[bytes] = []
        self.outbox: Outbox | None = None
        self.pause_after: int | None = None

    def write(self, data: bytes) -> None:
        self.written.append(data)
        if self.pause_after is not None and len(self.written) >= self.pause_after:
            self.pause_after = None
            assert self.outbox is not None
            self.outbox.pauseProducing()


class OutboxTests(SynchronousTestCase):
    """Writes pass through, queue while paused, flush in order, and overflow once."""

    def setUp(self) -> None:
        self.transport = RecordingTransport()
        self.overflows = 0
        self.outbox = self.make(limit=100)

    def make(self, limit: int) -> Outbox:
        outbox = Outbox(self.transport, self.overflowed, limit)  # type: ignore[arg-type]
        self.transport.outbox = outbox
        return outbox

    def overflowed(self) -> None:
        self.overflows += 1

    def test_outbox_is_a_push_producer(self) -> None:
        """An Outbox provides IPushProducer, so a transport can register it as streaming."""
        self.assertTrue(verifyObject(IPushProducer, self.outbox))

    def test_writes_pass_through_while_not_paused(self) -> None:
        """While the transport has not paused it, each frame is written at once."""
        self.outbox.write(b"one")
        self.outbox.write(b"two")
        self.assertEqual(self.transport.written, [b"one", b"two"])
        self.assertEqual(self.outbox.queued_bytes, 0)

    def test_writes_queue_while_paused(self) -> None:
        """While paused, frames wait in the outbox and are counted, not written."""
        self.outbox.pauseProducing()
        self.outbox.write(b"one")
        self.outbox.write(b"three")
        self.assertEqual(self.transport.written, [])
        self.assertEqual(self.outbox.queued_bytes, 8)

    def test_resume_flushes_in_order(self) -> None:
        """On resume the queued frames are written oldest first, and later ones after them."""
        self.outbox.write(b"a")
        self.outbox.pauseProducing()
        for frame in (b"b", b"c", b"d"):
            self.outbox.write(frame)
        self.outbox.resumeProducing()
        self.outbox.write(b"e")
        self.assertEqual(self.transport.written, [b"a", b"b", b"c", b"d", b"e"])
        self.assertEqual(self.outbox.queued_bytes, 0)

    def test_pause_during_flush_stops_flushing(self) -> None:
        """If the transport pauses again while flushing, the rest waits for the next resume."""
        self.outbox.pauseProducing()
        for frame in (b"1", b"2", b"3", b"4"):
            self.outbox.write(frame)
        self.transport.pause_after = 2
        self.outbox.resumeProducing()
        self.assertEqual(self.transport.written, [b"1", b"2"])
        self.assertEqual(self.outbox.queued_bytes, 2)
        self.outbox.write(b"5")  # still behind the queue, not written ahead of it
        self.assertEqual(self.transport.written, [b"1", b"2"])
        self.outbox.resumeProducing()
        self.assertEqual(self.transport.written, [b"1", b"2", b"3", b"4", b"5"])

    def test_queue_may_hold_exactly_the_limit(self) -> None:
        """Queued bytes equal to the limit are not an overflow."""
        self.outbox.pauseProducing()
        self.outbox.write(b"x" * 60)
        self.outbox.write(b"y" * 40)
        self.assertEqual((self.outbox.queued_bytes, self.overflows), (100, 0))
        self.assertFalse(self.outbox.overflowed)

    def test_overflow_calls_on_overflow_once_and_drops_the_queue(self) -> None:
        """Passing the limit tells on_overflow once, frees the queue, and drops later frames."""
        self.outbox.pauseProducing()
        self.outbox.write(b"x" * 60)
        self.outbox.write(b"y" * 41)
        self.assertEqual(self.overflows, 1)
        self.assertTrue(self.outbox.overflowed)
        self.assertEqual(self.outbox.queued_bytes, 0)
        self.outbox.write(b"z" * 200)
        self.outbox.resumeProducing()
        self.outbox.write(b"after")
        self.assertEqual(self.overflows, 1)
        self.assertEqual(self.transport.written, [])
        self.assertEqual(self.outbox.queued_bytes, 0)

    def test_one_frame_larger_than_the_limit_overflows_while_paused(self) -> None:
        """A single frame bigger than the limit, queued while paused, overflows at once."""
        self.outbox.pauseProducing()
        self.outbox.write(b"x" * 101)
        self.assertEqual((self.overflows, self.outbox.queued_bytes), (1, 0))

    def test_large_frame_is_written_while_not_paused(self) -> None:
        """The limit bounds what waits, not what passes: an unpaused outbox writes any frame."""
        self.outbox.write(b"x" * 1000)
        self.assertEqual(self.overflows, 0)
        self.assertEqual(self.transport.written, [b"x" * 1000])

    def test_burst_may_pass_the_limit_by_its_own_size(self) -> None:
        """A burst (a replay) queued while paused does not overflow; the bound is limit + burst."""
        self.outbox.pauseProducing()
        self.outbox.write_burst([b"r" * 150, b"r" * 150])
        self.assertEqual((self.overflows, self.outbox.queued_bytes), (0, 300))
        self.outbox.write(b"x" * 100)  # the ordinary limit still applies on top
        self.assertEqual(self.overflows, 0)
        self.outbox.write(b"x")
        self.assertEqual(self.overflows, 1)

    def test_burst_allowance_ends_when_the_queue_empties(self) -> None:
        """Once a queued burst has drained, the ordinary limit is back."""
        self.outbox.pauseProducing()
        self.outbox.write_burst([b"r" * 300])
        self.outbox.resumeProducing()
        self.assertEqual(self.transport.written, [b"r" * 300])
        self.outbox.pauseProducing()
        self.outbox.write(b"x" * 101)
        self.assertEqual(self.overflows, 1)

    def test_burst_written_at_once_leaves_no_allowance(self) -> None:
        """A burst that never had to wait grants nothing for later."""
        self.outbox.write_burst([b"r" * 300, b"r" * 300])
        self.assertEqual(self.transport.written, [b"r" * 300, b"r" * 300])
        self.outbox.pauseProducing()
        self.outbox.write(b"x" * 101)
        self.assertEqual(self.overflows, 1)

    def test_flush_writes_everything_waiting_even_while_paused(self) -> None:
        """Flush (before a graceful close) hands the whole queue to the transport, in order."""
        self.outbox.pauseProducing()
        for frame in (b"1", b"2", b"3"):
            self.outbox.write(frame)
        self.outbox.flush()
        self.assertEqual(self.transport.written, [b"1", b"2", b"3"])
        self.assertEqual(self.outbox.queued_bytes, 0)

    def test_stop_producing_clears_the_queue_and_drops_later_frames(self) -> None:
        """StopProducing (the connection is gone) frees the queue; nothing is written after."""
        self.outbox.pauseProducing()
        self.outbox.write(b"queued")
        self.outbox.stopProducing()
        self.assertEqual(self.outbox.queued_bytes, 0)
        self.outbox.resumeProducing()
        self.outbox.write(b"late")
        self.assertEqual(self.transport.written, [])
        self.assertEqual(self.overflows, 0)


class FlowControlledStringTransport(StringTransport):
    """A StringTransport that pauses its streaming producer past ``buffer_size`` bytes.

    As a TCP transport does: ``pauseProducing`` once its buffer is over the
    size, ``resumeProducing`` once the peer took everything (``peer_reads``).
    The size is under one frame, so each read lets exactly one more frame
    through: a test sets the peer's reading speed by how often it reads.
    """

    buffer_size = 9

    def write(self, data: bytes) -> None:
        super().write(data)
        if (
            self.producer is not None
            and self.streaming
            and self.producerState == "producing"
            and len(self.value()) > self.buffer_size
        ):
            self.producerState = "paused"
            self.producer.pauseProducing()

    def peer_reads(self) -> int:
        """The peer takes the whole buffer: the producer is resumed; returns the bytes taken."""
        taken = len(self.value())
        self.clear()
        if self.producer is not None and self.producerState == "paused":
            self.producerState = "producing"
            self.producer.resumeProducing()
        return taken


SOFT = 100
HARD = SOFT * HARD_LIMIT_FACTOR
FRAME = b"f" * 10


class StallRuleTests(SynchronousTestCase):
    """Over the soft bound: closed after a stall without progress; past the hard cap: at once."""

    def setUp(self) -> None:
        self.clock = Clock()
        self.transport = FlowControlledStringTransport()
        self.overflows = 0
        self.outbox = self.make()

    def make(self, **options: Any) -> Outbox:
        outbox = Outbox(self.transport, self.overflowed, SOFT, clock=self.clock, **options)
        if self.transport.producer is not None:
            self.transport.unregisterProducer()
        self.transport.registerProducer(outbox, True)
        return outbox

    def overflowed(self) -> None:
        self.overflows += 1

    def fill(self, size: int) -> None:
        """Write ``size`` bytes of frames; the transport takes the first and pauses."""
        for _ in range(size // len(FRAME)):
            self.outbox.write(FRAME)

    def test_over_the_soft_bound_the_socket_is_closed_after_the_stall_time(self) -> None:
        """A peer that stopped reading is closed STALL_SECONDS after passing the soft bound."""
        self.fill(SOFT + 2 * len(FRAME))
        self.assertGreater(self.outbox.queued_bytes, SOFT)
        self.assertTrue(self.outbox.stalling)
        self.clock.advance(STALL_SECONDS - 0.01)
        self.assertEqual((self.overflows, self.outbox.overflowed), (0, False))
        self.fill(3 * len(FRAME))  # more frames over the bound do not restart the timer
        self.clock.advance(0.01)
        self.assertEqual((self.overflows, self.outbox.queued_bytes), (1, 0))
        self.assertTrue(self.outbox.overflowed)
        self.assertEqual(self.outbox.overflow_reason, f"no progress for {STALL_SECONDS:g} s")
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_at_or_under_the_soft_bound_no_timer_runs(self) -> None:
        """Queued bytes up to the soft bound are a plain lag: nothing is timed."""
        self.fill(len(FRAME) + SOFT)  # the first frame went to the transport
        self.assertEqual(self.outbox.queued_bytes, SOFT)
        self.assertFalse(self.outbox.stalling)
        self.clock.advance(10 * STALL_SECONDS)
        self.assertEqual(self.overflows, 0)

    def test_progress_restarts_the_stall_timer(self) -> None:
        """A drain that takes frames from the queue counts as progress: the wait starts again."""
        self.fill(SOFT * 3)
        self.clock.advance(STALL_SECONDS - 1)
        self.assertGreater(self.transport.peer_reads(), 0)
        self.assertGreater(self.outbox.queued_bytes, SOFT)  # still over the bound
        self.clock.advance(STALL_SECONDS - 0.01)
        self.assertEqual(self.overflows, 0)
        self.clock.advance(0.01)  # STALL_SECONDS after the last progress
        self.assertEqual(self.overflows, 1)

    def test_draining_under_the_soft_bound_stops_the_timer(self) -> None:
        """Once the queue is back under the soft bound, no stall is pending."""
        self.fill(SOFT + 2 * len(FRAME))
        self.assertTrue(self.outbox.stalling)
        while self.outbox.queued_bytes > SOFT:
            self.transport.peer_reads()
        self.assertFalse(self.outbox.stalling)
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.clock.advance(10 * STALL_SECONDS)
        self.assertEqual(self.overflows, 0)

    def test_consumer_that_lags_but_keeps_draining_is_never_closed(self) -> None:
        """A peer far behind for many stall times, reading steadily, stays open and gets it all."""
        self.fill(3 * SOFT)
        taken = 0
        seconds = int(20 * STALL_SECONDS)
        for _ in range(seconds):
            for _ in range(2):  # two frames a second in, two read
                self.outbox.write(FRAME)
                taken += self.transport.peer_reads()
            self.clock.advance(1)
            self.assertGreater(self.outbox.queued_bytes, SOFT)  # lagging, past the bound
            self.assertLessEqual(self.outbox.queued_bytes, HARD)
        self.assertEqual((self.overflows, self.outbox.overflowed), (0, False))
        while self.outbox.queued_bytes:
            taken += self.transport.peer_reads()
        taken += self.transport.peer_reads()
        self.assertEqual(taken, 3 * SOFT + 2 * seconds * len(FRAME))
        self.assertFalse(self.outbox.stalling)

    def test_consumer_that_lags_past_the_hard_cap_is_closed_at_once(self) -> None:
        """Past HARD_LIMIT_FACTOR times the soft bound: closed without waiting, progress or not."""
        self.fill(len(FRAME) + HARD)  # exactly the hard cap waits: allowed
        self.assertEqual((self.outbox.queued_bytes, self.overflows), (HARD, 0))
        self.outbox.write(b"x")
        self.assertEqual((self.overflows, self.outbox.queued_bytes), (1, 0))
        self.assertEqual(self.outbox.overflow_reason, "past the hard cap")
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_queued_bytes_never_exceed_the_hard_cap_while_the_peer_drains_slowly(self) -> None:
        """A peer that reads, but much slower than its room talks, is cut at the hard cap."""
        peak = 0
        for _ in range(1000):
            self.fill(5 * len(FRAME))
            peak = max(peak, self.outbox.queued_bytes)
            if self.outbox.overflowed:
                break
            self.clock.advance(1)
            self.transport.peer_reads()  # one frame a second out, five in
        self.assertEqual(self.overflows, 1)
        self.assertLessEqual(peak, HARD)
        self.assertGreater(peak, HARD - 5 * len(FRAME))

    def test_hard_limit_may_be_given(self) -> None:
        """An explicit hard cap replaces HARD_LIMIT_FACTOR times the soft bound."""
        self.outbox = self.make(hard_limit=SOFT * 2)
        self.fill(len(FRAME) + SOFT * 2)
        self.assertEqual(self.overflows, 0)
        self.outbox.write(b"x")
        self.assertEqual(self.overflows, 1)

    def test_stall_time_may_be_given(self) -> None:
        """``stall_seconds`` sets how long a queue over the soft bound may go without progress."""
        self.outbox = self.make(stall_seconds=0.5)
        self.fill(SOFT * 2)
        self.clock.advance(0.49)
        self.assertEqual(self.overflows, 0)
        self.clock.advance(0.01)
        self.assertEqual(self.overflows, 1)

    def test_invalid_bounds_are_refused(self) -> None:
        """A hard cap under the soft bound, or a stall time that is not positive, is a bug."""
        with self.assertRaises(ValueError):
            Outbox(self.transport, self.overflowed, SOFT, clock=self.clock, hard_limit=SOFT - 1)
        with self.assertRaises(ValueError):
            Outbox(self.transport, self.overflowed, SOFT, clock=self.clock, stall_seconds=0)

    def test_burst_allowance_lifts_both_bounds(self) -> None:
        """A replay burst over the hard cap neither closes at once nor starts the stall timer."""
        self.outbox.pauseProducing()
        self.outbox.write_burst([b"r" * HARD, b"r" * HARD])
        self.assertEqual((self.overflows, self.outbox.stalling), (0, False))
        self.fill(SOFT + len(FRAME))  # the soft bound applies on top of the burst
        self.assertTrue(self.outbox.stalling)
        self.clock.advance(STALL_SECONDS)
        self.assertEqual(self.overflows, 1)

    def test_flush_cancels_the_stall_timer(self) -> None:
        """A graceful close hands the queue to the transport: nothing is left to time."""
        self.fill(SOFT * 2)
        self.outbox.flush()
        self.assertEqual((self.outbox.queued_bytes, self.clock.getDelayedCalls()), (0, []))
        self.clock.advance(STALL_SECONDS)
        self.assertEqual(self.overflows, 0)

    def test_stop_producing_cancels_the_stall_timer(self) -> None:
        """The connection is gone: the queue is freed and no timer is left behind."""
        self.fill(SOFT * 2)
        self.assertTrue(self.outbox.stalling)
        self.outbox.stopProducing()
        self.assertEqual((self.outbox.queued_bytes, self.clock.getDelayedCalls()), (0, []))

    def test_stall_after_the_producer_was_unregistered_reports_nothing(self) -> None:
        """Dropped with abort (the producer unregistered, no stopProducing): no slow consumer."""
        self.fill(SOFT * 2)
        self.transport.unregisterProducer()
        self.clock.advance(STALL_SECONDS)
        self.assertEqual((self.overflows, self.outbox.queued_bytes), (0, 0))
