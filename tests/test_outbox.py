"""Outbox alone: a socket's outbound frames, bounded, driven by producer signals."""

from __future__ import annotations

from twisted.internet.interfaces import IPushProducer
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from chatservice.outbox import Outbox


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
