"""Bounded waits: go on after the deadline without cancelling what was waited for."""

from __future__ import annotations

from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from chatservice.waiting import succeeded_within, within


class WithinTests(SynchronousTestCase):
    """``within`` fires when the other Deferred does, or at the deadline."""

    def test_fires_at_the_deadline_and_leaves_the_wait_alone(self) -> None:
        clock = Clock()
        waited: Deferred[None] = Deferred()
        done = within(waited, 2.0, clock)
        clock.advance(1.9)
        self.assertNoResult(done)
        clock.advance(0.1)
        self.successResultOf(done)
        self.assertFalse(waited.called)
        waited.callback(None)


class SucceededWithinTests(SynchronousTestCase):
    """``succeeded_within`` says whether it came in time, and who hears of what."""

    def setUp(self) -> None:
        self.clock = Clock()
        self.connected: Deferred[object] = Deferred()
        self.failures: list[Failure] = []
        self.lates: list[None] = []
        self.answer = succeeded_within(
            self.connected,
            5.0,
            self.clock,
            failed=self.failures.append,
            late=lambda: self.lates.append(None),
        )

    def test_true_when_it_succeeds_in_time(self) -> None:
        self.clock.advance(4.0)
        self.connected.callback("ok")
        self.assertIs(self.successResultOf(self.answer), True)
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.assertEqual((self.failures, self.lates), ([], []))

    def test_false_when_it_fails_and_the_failure_is_heard(self) -> None:
        self.connected.errback(ValueError("refused"))
        self.assertIs(self.successResultOf(self.answer), False)
        self.assertEqual([f.type for f in self.failures], [ValueError])
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_false_when_late_and_a_later_failure_is_still_heard(self) -> None:
        self.clock.advance(5.0)
        self.assertIs(self.successResultOf(self.answer), False)
        self.assertEqual(self.lates, [None])
        self.assertFalse(self.connected.called)
        self.connected.errback(ValueError("refused"))
        self.assertEqual(len(self.failures), 1)

    def test_already_done_sets_no_timer(self) -> None:
        answer = succeeded_within(
            Deferred.fromCoroutine(_ready()),
            5.0,
            self.clock,
            failed=self.fail,
            late=lambda: self.fail("late"),
        )
        self.assertIs(self.successResultOf(answer), True)
        self.assertEqual(len(self.clock.getDelayedCalls()), 1)  # setUp's only

    def test_cancelling_the_answer_stops_the_timer_not_the_wait(self) -> None:
        self.answer.cancel()
        self.failureResultOf(self.answer)
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.assertFalse(self.connected.called)
        self.connected.callback("ok")  # no error: the answer was already given


async def _ready() -> None:
    """A wait that is over before it is waited for."""
