"""Per-user rates kept in Redis, checked in batches.

A message's rate is checked on the hot path; with several processes the
bucket must be the same everywhere, so it lives in Redis. One script call
per message would cost a command's parsing, a Deferred and a timer per
message; instead every take of one reactor turn (all the frames that
arrived together, of every user and every rate) goes in one call of
``cluster_scripts.RATE_TAKE``, which answers each in order.

While Redis cannot be reached a rate is this process's own ``RateLimiter``.
"""

from __future__ import annotations

from typing import Any, Protocol

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.python.failure import Failure

from chatservice import cluster_scripts as scripts
from chatservice.errors import RateLimited
from chatservice.ratelimit import Decision, Rate, RateLimiter, decision_for

# Keys per script call: bounds one call's arguments and its time inside Redis.
MAX_BATCH = 500


class ScriptRunner(Protocol):
    """What a batch needs from the cluster (``RedisCluster`` is one)."""

    def reachable(self) -> bool:
        """True if a command can be sent now."""

    def note_failure(self, failure: Failure) -> None:
        """A command failed: decide locally until Redis answers."""

    def run_script(self, script: str, keys: list[str], args: list[str]) -> Deferred[Any]:
        """Run ``script`` with ``keys`` and ``args``; fails if Redis does not answer."""


class RateBatch:
    """Collects the takes of one reactor turn and sends them in one script call."""

    def __init__(self, runner: ScriptRunner, clock: IReactorTime, prefix: str) -> None:
        self._runner = runner
        self._clock = clock
        self._prefix = prefix
        self._pending: list[tuple[str, Rate, Deferred[tuple[bool, float]]]] = []
        self._flushing: IDelayedCall | None = None

    def take(self, name: str, rate: Rate, key: str) -> Deferred[tuple[bool, float]]:
        """Spend one token of ``name``'s bucket for ``key``: (allowed, tokens left)."""
        taken: Deferred[tuple[bool, float]] = Deferred()
        self._pending.append((f"{self._prefix}{name}:{key}", rate, taken))
        if self._flushing is None:
            self._flushing = self._clock.callLater(0, self._flush)
        return taken

    def _flush(self) -> None:
        self._flushing = None
        pending, self._pending = self._pending, []
        for start in range(0, len(pending), MAX_BATCH):
            self._send(pending[start : start + MAX_BATCH])

    def _send(self, batch: list[tuple[str, Rate, Deferred[tuple[bool, float]]]]) -> None:
        keys = [bucket for bucket, _, _ in batch]
        args: list[str] = []
        for _, rate, _ in batch:
            args += [str(rate.burst), repr(rate.per_second)]

        def answered(flat: list[Any]) -> None:
            for n, (_, _, taken) in enumerate(batch):
                taken.callback((flat[2 * n] == 1, float(flat[2 * n + 1])))

        def failed(failure: Failure) -> None:
            for _, _, taken in batch:
                taken.errback(failure)

        self._runner.run_script(scripts.RATE_TAKE, keys, args).addCallbacks(answered, failed)


class SharedRedisRate:
    """One per-user rate in Redis; this process's limiter while Redis is down."""

    def __init__(
        self, runner: ScriptRunner, batch: RateBatch, name: str, rate: Rate, local: RateLimiter
    ) -> None:
        self.name = name
        self.rate = rate
        self._runner = runner
        self._batch = batch
        self._local = local

    def take(self, key: str) -> Decision | Deferred[Decision]:
        """Spend one token of the user's shared bucket."""
        if not self._runner.reachable():
            return self._local.take(key)

        def decided(answer: tuple[bool, float]) -> Decision:
            allowed, tokens = answer
            return decision_for(self.rate, tokens, allowed)

        def failed(failure: Failure) -> Decision:
            self._runner.note_failure(failure)
            return self._local.take(key)

        return self._batch.take(self.name, self.rate, key).addCallbacks(decided, failed)

    def refusal(self, decision: Decision, message: str | None = None) -> RateLimited:
        """The 429 / ``rate_limited`` error, named like the local limiter."""
        return self._local.refusal(decision, message)
