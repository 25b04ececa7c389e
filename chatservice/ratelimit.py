"""Token buckets on an injected clock, keyed by user, username or address.

One ``RateLimiter`` holds the buckets of one rule (e.g. "10 messages a
second, bursts of 20"). Buckets that have refilled completely carry no
information, so they are dropped: memory is bounded by the keys active within
one refill period, not by every key ever seen.

Keys are often chosen by clients (usernames, addresses), so the buckets are
also bounded in bytes, not only in number: 100,000 keys of 60 KB each would
be 6 GB. Past either bound the least recently used buckets are forgotten,
which only ever makes the limiter more lenient, never wrong for others.
"""

from __future__ import annotations

import math
import sys
from collections import OrderedDict
from dataclasses import dataclass
from typing import NamedTuple

from twisted.internet.interfaces import IReactorTime

from chatservice.errors import RateLimited
from chatservice.metrics import RATE_LIMITED

# What a bucket costs besides its key: the (tokens, time) tuple and its two
# floats, the dict slot and the OrderedDict link. tracemalloc measures ~150
# bytes on CPython 3.11 (tests/test_memory_bounds.py); rounded up, so the
# accounting does not undercount when the tables have grown.
ENTRY_OVERHEAD = 200
DEFAULT_MAX_BYTES = 4 * 2**20
DEFAULT_MAX_KEYS = 100_000


def entry_bytes(key: str) -> int:
    """The bytes one bucket for ``key`` is accounted as: the key object plus overhead."""
    return ENTRY_OVERHEAD + sys.getsizeof(key)


@dataclass(frozen=True, slots=True)
class Rate:
    """``burst`` events at once, refilled at ``per_second`` events a second."""

    burst: int
    per_second: float

    @classmethod
    def per(cls, count: int, seconds: float, burst: int | None = None) -> Rate:
        """``count`` events per ``seconds``, with bursts of ``burst`` (default ``count``)."""
        return cls(burst if burst is not None else count, count / seconds)


class Decision(NamedTuple):
    """The answer of one ``take``: allowed or not, and the numbers for headers.

    A message spends a token on every post, and the hot path only reads
    ``allowed``: so a decision is a tuple of what the bucket said (the
    cheapest object Python makes) and the header numbers are worked out
    only when a caller reads them.
    """

    allowed: bool
    tokens: float  # left in the bucket after this take
    rate: Rate
    cost: float = 1.0

    @property
    def limit(self) -> int:
        """The bucket's size (``X-RateLimit-Limit``)."""
        return self.rate.burst

    @property
    def remaining(self) -> int:
        """Whole tokens left (``X-RateLimit-Remaining``)."""
        return max(0, math.floor(self.tokens))

    @property
    def retry_after(self) -> float:
        """Seconds until ``cost`` tokens are there again (0 when allowed)."""
        if self.allowed:
            return 0.0
        return max(0.0, self.cost - self.tokens) / self.rate.per_second

    @property
    def reset_after(self) -> float:
        """Seconds until the bucket is full again."""
        return (self.rate.burst - self.tokens) / self.rate.per_second


def decision_for(rate: Rate, tokens: float, allowed: bool, cost: float = 1.0) -> Decision:
    """The ``Decision`` for a bucket left with ``tokens`` (also for buckets kept elsewhere)."""
    return Decision(allowed, tokens, rate, cost)


class RateLimiter:
    """The buckets of one rule; ``take(key)`` spends a token if there is one."""

    def __init__(
        self,
        name: str,
        rate: Rate,
        clock: IReactorTime,
        max_keys: int = DEFAULT_MAX_KEYS,
        max_bytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
        self.name = name
        self.rate = rate
        self.max_bytes = max_bytes
        self._clock = clock
        self._max_keys = max_keys
        # key -> (tokens, time of last update); least recently used first.
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._bytes = 0

    def _level(self, key: str, now: float) -> float:
        entry = self._buckets.get(key)
        if entry is None:
            return float(self.rate.burst)
        tokens, then = entry
        return min(float(self.rate.burst), tokens + (now - then) * self.rate.per_second)

    def peek(self, key: str) -> Decision:
        """Say whether one more event would be allowed, without spending."""
        tokens = self._level(key, self._clock.seconds())
        return self._decide(tokens, allowed=tokens >= 1)

    def take(self, key: str, cost: float = 1.0) -> Decision:
        """Spend ``cost`` tokens of ``key``'s bucket if it has them."""
        now = self._clock.seconds()
        tokens = self._level(key, now)
        allowed = tokens >= cost
        if allowed:
            tokens -= cost
        self._store(key, tokens, now)
        return self._decide(tokens, allowed, cost)

    def refusal(self, decision: Decision, message: str | None = None) -> RateLimited:
        """The 429 / ``rate_limited`` error for a refused ``decision`` of this limiter.

        Call it once per refusal: it counts one in ``chat_rate_limited_total``.
        """
        RATE_LIMITED.labels(self.name).inc()
        return RateLimited(
            decision.retry_after,
            message,
            limiter=self.name,
            limit=decision.limit,
            reset_after=decision.reset_after,
        )

    def give_back(self, key: str, cost: float = 1.0) -> None:
        """Return tokens taken for an event that turned out not to count.

        A bucket that is full again is dropped, not stored: otherwise every
        attempt refused for another reason would keep its key for a window.
        """
        now = self._clock.seconds()
        if key in self._buckets:
            self._store(key, min(float(self.rate.burst), self._level(key, now) + cost), now)

    @property
    def bytes_held(self) -> int:
        """The bytes the buckets are accounted as (``entry_bytes`` of each key)."""
        return self._bytes

    def _store(self, key: str, tokens: float, now: float) -> None:
        if tokens >= self.rate.burst:
            # A full bucket says nothing a missing one does not.
            self._forget(key)
        else:
            if key not in self._buckets:
                self._bytes += entry_bytes(key)
            self._buckets[key] = (tokens, now)
            self._buckets.move_to_end(key)
        self._prune(now)

    def _forget(self, key: str) -> None:
        if self._buckets.pop(key, None) is not None:
            self._bytes -= entry_bytes(key)

    def _decide(self, tokens: float, allowed: bool, cost: float = 1.0) -> Decision:
        return decision_for(self.rate, tokens, allowed, cost)

    def _prune(self, now: float) -> None:
        # The least recently touched bucket is the first to be full again.
        full_after = self.rate.burst / self.rate.per_second
        while self._buckets:
            key, (_, then) = next(iter(self._buckets.items()))
            if (
                now - then < full_after
                and len(self._buckets) <= self._max_keys
                and self._bytes <= self.max_bytes
            ):
                break
            self._forget(key)

    def __len__(self) -> int:
        """How many buckets are kept (for tests of the memory bound)."""
        return len(self._buckets)
