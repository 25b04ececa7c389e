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


class RateLimiterMemoryTests(SynchronousTestCase):
    """Buckets are bounded in bytes, and a bucket given back to full is not kept."""

    def setUp(self) -> None:
        self.clock = Clock()

    def test_give_back_to_full_drops_the_bucket(self) -> None:
        """A token given back that fills the bucket leaves no entry behind."""
        limiter = RateLimiter("x", Rate.per(10, 300), self.clock)
        limiter.take("alice")
        limiter.give_back("alice")
        self.assertEqual((len(limiter), limiter.bytes_held), (0, 0))

    def test_give_back_below_full_keeps_the_bucket(self) -> None:
        """A bucket still short of full after a give-back keeps its level."""
        limiter = RateLimiter("x", Rate.per(10, 300), self.clock)
        limiter.take("alice")
        limiter.take("alice")
        limiter.give_back("alice")
        self.assertEqual(len(limiter), 1)
        self.assertEqual(limiter.peek("alice").remaining, 9)

    def test_give_back_of_an_unknown_key_stores_nothing(self) -> None:
        """Giving back to a key the limiter never saw (or forgot) keeps nothing."""
        limiter = RateLimiter("x", Rate.per(10, 300), self.clock)
        limiter.give_back("nobody")
        self.assertEqual((len(limiter), limiter.bytes_held), (0, 0))

    def test_bytes_count_the_key_length(self) -> None:
        """A longer key is accounted as more bytes, on top of a fixed overhead."""
        short = RateLimiter("x", Rate.per(10, 300), self.clock)
        long = RateLimiter("y", Rate.per(10, 300), self.clock)
        short.take("a")
        long.take("a" * 1001)
        self.assertEqual(long.bytes_held - short.bytes_held, 1000)
        self.assertGreater(short.bytes_held, 1)

    def test_bytes_follow_updates_and_expiry(self) -> None:
        """Taking again from a key adds nothing; forgotten buckets give their bytes back."""
        limiter = RateLimiter("x", Rate(burst=2, per_second=1), self.clock)
        limiter.take("alice")
        held = limiter.bytes_held
        limiter.take("alice")
        self.assertEqual(limiter.bytes_held, held)
        self.clock.advance(5)
        limiter.take("carol")
        self.assertEqual(len(limiter), 1)
        self.assertEqual(limiter.bytes_held, held)  # "carol" is as long as "alice"

    def test_byte_bound_evicts_the_least_recently_used(self) -> None:
        """Past ``max_bytes`` the least recently touched buckets go first."""
        probe = RateLimiter("p", Rate.per(1, 60), self.clock)
        probe.take("k00")
        one = probe.bytes_held
        limiter = RateLimiter("x", Rate.per(1, 60), self.clock, max_bytes=3 * one)
        for key in ("k00", "k01", "k02"):
            limiter.take(key)
        limiter.take("k00")  # touched: now the most recent
        limiter.take("k03")
        self.assertEqual(len(limiter), 3)
        self.assertLessEqual(limiter.bytes_held, 3 * one)
        self.assertFalse(limiter.peek("k00").allowed)  # kept
        self.assertTrue(limiter.peek("k01").allowed)  # evicted: a fresh bucket

    def test_default_byte_bound_is_a_few_mebibytes(self) -> None:
        """The default bound keeps one limiter within a few MiB, whatever the keys."""
        limiter = RateLimiter("x", Rate.per(1, 60), self.clock)
        self.assertLessEqual(limiter.max_bytes, 8 * 2**20)
        self.assertGreaterEqual(limiter.max_bytes, 2**20)
