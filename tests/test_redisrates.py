"""Shared rates: the takes of one reactor turn go to Redis in one script call."""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.task import Clock
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from chatservice import redisrates
from chatservice.ratelimit import Decision, Rate, RateLimiter
from chatservice.redisrates import RateBatch, SharedRedisRate
from tests.wsclient import result_now

RATE = Rate(burst=2, per_second=0.5)


class _Runner:
    """Answers each batch as Redis would: buckets of ``burst`` tokens, no refill."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.tokens: dict[str, float] = {}
        self.up = True
        self.failures: list[Failure] = []

    def reachable(self) -> bool:
        return self.up

    def note_failure(self, failure: Failure) -> None:
        self.failures.append(failure)

    def run_script(self, script: str, keys: list[str], args: list[str]) -> Deferred[Any]:
        self.calls.append(keys)
        if not self.up:
            return fail(ConnectionError("gone"))
        flat: list[Any] = []
        for n, key in enumerate(keys):
            left = self.tokens.get(key, float(args[2 * n]))
            allowed = left >= 1
            self.tokens[key] = left - 1 if allowed else left
            flat += [1 if allowed else 0, str(self.tokens[key])]
        return succeed(flat)


class RateBatchTests(SynchronousTestCase):
    """One call per turn, answers in order, local decisions while Redis fails."""

    def setUp(self) -> None:
        self.clock = Clock()
        self.runner = _Runner()
        batch = RateBatch(self.runner, self.clock, "p:rate:")
        self.local = RateLimiter("messages-per-user", RATE, self.clock)
        self.rate = SharedRedisRate(self.runner, batch, "messages-per-user", RATE, self.local)

    def take(self, key: str) -> Deferred[Decision]:
        taken = self.rate.take(key)
        assert isinstance(taken, Deferred)
        return taken

    def test_one_turn_is_one_call_answered_in_order(self) -> None:
        """Three takes of one user and one of another: one call, the third refused."""
        taken = [self.take(key) for key in ("7", "7", "7", "8")]
        self.assertEqual(self.runner.calls, [])
        self.clock.advance(0)
        seven, eight = "p:rate:messages-per-user:7", "p:rate:messages-per-user:8"
        self.assertEqual(self.runner.calls, [[seven, seven, seven, eight]])
        decisions = [result_now(t) for t in taken]
        self.assertEqual([d.allowed for d in decisions], [True, True, False, True])
        refused = decisions[2]
        self.assertEqual((refused.limit, refused.retry_after), (2, 2.0))
        self.take("7")
        self.clock.advance(0)
        self.assertEqual(len(self.runner.calls), 2)

    def test_a_large_turn_is_split(self) -> None:
        """Past MAX_BATCH keys, another call."""
        for n in range(redisrates.MAX_BATCH + 1):
            self.take(str(n))
        self.clock.advance(0)
        self.assertEqual([len(keys) for keys in self.runner.calls], [redisrates.MAX_BATCH, 1])

    def test_without_redis_the_local_limiter_decides(self) -> None:
        """Unreachable: decided at once, locally; a failed call: locally, and noted."""
        self.runner.up = False
        self.assertIsInstance(self.rate.take("7"), Decision)
        self.runner.reachable = lambda: True  # type: ignore[method-assign]
        taken = self.take("7")
        self.clock.advance(0)
        self.assertTrue(result_now(taken).allowed)
        self.assertFalse(result_now(self.take_now("7")).allowed)
        self.assertEqual(len(self.runner.failures), 2)

    def take_now(self, key: str) -> Deferred[Decision]:
        taken = self.take(key)
        self.clock.advance(0)
        return taken
