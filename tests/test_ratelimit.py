"""Tests for chatservice.ratelimit: token buckets on a Clock."""

from __future__ import annotations

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from chatservice.ratelimit import Rate, RateLimiter


class RateLimiterTests(SynchronousTestCase):
    """A bucket allows bursts, refuses the excess, and refills with time."""

    def setUp(self) -> None:
        self.clock = Clock()
        self.limiter = RateLimiter("messages", Rate(burst=20, per_second=10), self.clock)

    def test_burst_passes_then_excess_is_refused(self) -> None:
        """Exactly ``burst`` events pass at once; the next is refused."""
        results = [self.limiter.take("alice").allowed for _ in range(21)]
        self.assertEqual(results, [True] * 20 + [False])

    def test_refused_decision_says_when_to_retry(self) -> None:
        """A refusal carries the seconds until one token is back."""
        for _ in range(20):
            self.limiter.take("alice")
        decision = self.limiter.take("alice")
        self.assertFalse(decision.allowed)
        self.assertAlmostEqual(decision.retry_after, 0.1)
        self.assertEqual(decision.remaining, 0)
        self.assertEqual(decision.limit, 20)

    def test_tokens_refill_with_the_clock(self) -> None:
        """After 0.5 s at 10/s, five more events pass and the sixth does not."""
        for _ in range(20):
            self.limiter.take("alice")
        self.clock.advance(0.5)
        results = [self.limiter.take("alice").allowed for _ in range(6)]
        self.assertEqual(results, [True] * 5 + [False])

    def test_keys_do_not_share_buckets(self) -> None:
        """One key's exhaustion does not limit another."""
        for _ in range(21):
            self.limiter.take("alice")
        self.assertTrue(self.limiter.take("bob").allowed)

    def test_refused_attempts_do_not_spend(self) -> None:
        """Hammering while limited does not push the refill further away."""
        for _ in range(20):
            self.limiter.take("alice")
        for _ in range(100):
            self.limiter.take("alice")
        self.clock.advance(0.1)
        self.assertTrue(self.limiter.take("alice").allowed)

    def test_full_buckets_are_forgotten(self) -> None:
        """Buckets that refilled completely are dropped, bounding memory."""
        for n in range(50):
            self.limiter.take(f"user{n}")
        self.assertEqual(len(self.limiter), 50)
        self.clock.advance(2.0)  # 20 tokens at 10/s: full again
        self.limiter.take("late")
        self.assertEqual(len(self.limiter), 1)

    def test_key_count_is_capped(self) -> None:
        """No more than ``max_keys`` buckets are ever kept."""
        limiter = RateLimiter("x", Rate.per(1, 60), self.clock, max_keys=10)
        for n in range(100):
            limiter.take(f"k{n}")
        self.assertEqual(len(limiter), 10)

    def test_peek_does_not_spend(self) -> None:
        """``peek`` reports without taking a token."""
        limiter = RateLimiter("x", Rate(burst=1, per_second=1), self.clock)
        self.assertTrue(limiter.peek("a").allowed)
        self.assertTrue(limiter.take("a").allowed)
        self.assertFalse(limiter.peek("a").allowed)

    def test_rate_per_window(self) -> None:
        """``Rate.per(10, 300)`` is ten events per five minutes."""
        rate = Rate.per(10, 300)
        self.assertEqual(rate.burst, 10)
        self.assertAlmostEqual(rate.per_second, 10 / 300)
