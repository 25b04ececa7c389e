"""bcrypt hashing and checking on a dedicated thread pool, with a bounded queue.

bcrypt at cost 12 takes ~0.2 s of CPU; it releases the GIL, so running it on
threads keeps the reactor free to deliver messages. A pool of its own keeps
logins from starving DNS lookups and other users of the reactor's pool.

A thread pool queues work without end, and each queued job holds a login
request, its Deferreds and its coroutine (~4 KB): 10,000 logins from as many
addresses would queue 2,000 thread-seconds of work and answer the last one
after half an hour. Work that could not start within ``max_wait`` seconds is
refused at once with ``Overloaded`` (503, ``Retry-After``) instead.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import TypeVar

import bcrypt
from twisted.internet.defer import Deferred, fail
from twisted.internet.interfaces import IReactorFromThreads
from twisted.internet.threads import deferToThreadPool
from twisted.python.failure import Failure
from twisted.python.threadpool import ThreadPool

from chatservice.errors import Overloaded
from chatservice.metrics import BCRYPT_QUEUE_LENGTH, BCRYPT_WAIT_SECONDS, TIMER
from chatservice.wire import MAX_PASSWORD_BYTES

MAX_WAIT_SECONDS = 3.0
# A hard cap on waiting jobs whatever the measured speed: even cheap jobs
# (a low BCRYPT_ROUNDS) hold a request each while they wait, ~5.5 KB with
# its Deferreds and coroutine, so 256 of them are ~1.4 MB.
MAX_WAITING_JOBS = 256
COST_12_SECONDS = 0.2  # measured on the 2-core development machine (STACK-NOTES)
_SMOOTHING = 0.2  # weight of the newest measurement in the moving average

T = TypeVar("T")


def estimated_seconds(rounds: int) -> float:
    """A first guess at one bcrypt job's time: each round of cost doubles the work."""
    return COST_12_SECONDS * 2.0 ** (rounds - 12)


class PasswordHasher:
    """Hashes and checks passwords without blocking the reactor or queueing without end."""

    def __init__(
        self,
        reactor: IReactorFromThreads,
        pool: ThreadPool,
        rounds: int,
        *,
        threads: int | None = None,
        max_wait: float = MAX_WAIT_SECONDS,
        job_seconds: float | None = None,
        timer: Callable[[], float] = time.perf_counter,
    ) -> None:
        """Hash on ``pool``.

        Args:
            reactor: where results are delivered.
            pool: the threads bcrypt runs on.
            rounds: the bcrypt cost of new hashes.
            threads: how many jobs ``pool`` runs at once (default: its ``max``).
            max_wait: the longest a job may be expected to wait for a thread.
            job_seconds: one job's time, fixed; by default it is estimated
                from ``rounds`` and then measured (a moving average).
            timer: the clock jobs are timed with, in their thread.
        """
        self._reactor = reactor
        self._pool = pool
        self._rounds = rounds
        self._threads = max(1, threads if threads is not None else getattr(pool, "max", 1))
        self._max_wait = max_wait
        self._measure = job_seconds is None
        self._job_seconds = job_seconds if job_seconds is not None else estimated_seconds(rounds)
        self._timer = timer
        self._outstanding = 0  # handed to the pool and not finished: running or waiting
        # Checked against when the user does not exist, so that an unknown
        # username costs as much as a wrong password (no user enumeration by
        # timing). Computed lazily on the pool: cost 12 takes ~0.2 s.
        self._dummy_hash: bytes | None = None

    @property
    def waiting(self) -> int:
        """How many jobs wait for a thread (an estimate: the pool is shared by nobody else)."""
        return max(0, self._outstanding - self._threads)

    @property
    def max_waiting(self) -> int:
        """How many jobs may wait: ``max_wait`` seconds' worth for every thread, capped."""
        # The epsilon keeps 3 s / 0.2 s at 15 jobs, not 14, despite float rounding.
        job_seconds = max(self._job_seconds, 1e-6)
        fits = math.floor(self._max_wait * self._threads / job_seconds + 1e-9)
        return min(MAX_WAITING_JOBS, fits)

    def hash(self, password: str) -> Deferred[bytes]:
        """Fire with the bcrypt hash of ``password`` (at most 72 UTF-8 bytes).

        Fails with ``Overloaded`` if it could not start within ``max_wait``.
        """
        secret = password.encode("utf-8")
        rounds = self._rounds
        return self._run(lambda: bcrypt.hashpw(secret, bcrypt.gensalt(rounds)))

    def verify(self, password: str, password_hash: bytes | None) -> Deferred[bool]:
        """Fire with True if ``password`` matches ``password_hash``.

        With ``password_hash=None`` (no such user) a dummy hash of the same
        cost is checked and the result is False, so both cost the same. A
        password over 72 bytes or a corrupt hash is simply False. Fails with
        ``Overloaded`` if the check could not start within ``max_wait``.
        """
        # Over-long passwords are checked on their first 72 bytes (and then
        # refused), so a too-long password costs the same as a wrong one. Only
        # 73 characters are ever encoded: that is enough to tell "too long".
        head = password[: MAX_PASSWORD_BYTES + 1].encode("utf-8")
        secret = head[:MAX_PASSWORD_BYTES]
        too_long = len(head) > MAX_PASSWORD_BYTES
        rounds = self._rounds

        def check() -> bool:
            target = password_hash
            if target is None:
                if self._dummy_hash is None:
                    self._dummy_hash = bcrypt.hashpw(b"timing-equalizer", bcrypt.gensalt(rounds))
                target = self._dummy_hash
            try:
                matches = bcrypt.checkpw(secret, target)
            except ValueError:
                return False
            return matches and password_hash is not None and not too_long

        return self._run(check)

    def _run(self, job: Callable[[], T]) -> Deferred[T]:
        """Run ``job`` on the pool, or refuse it if it would wait too long."""
        if self.waiting + 1 > self.max_waiting and self._outstanding >= self._threads:
            wait = (self.waiting + 1) / self._threads * self._job_seconds
            return fail(Overloaded(wait))
        timer = self._timer
        took: list[float] = []
        waited: list[float] = []  # for the metric, on its own clock (``timer`` is the job's)
        submitted = TIMER()

        def timed() -> T:
            waited.append(TIMER() - submitted)
            start = timer()
            try:
                return job()
            finally:
                took.append(timer() - start)

        def finished() -> None:
            self._outstanding -= 1
            BCRYPT_QUEUE_LENGTH.set(self.waiting)
            if waited:
                BCRYPT_WAIT_SECONDS.observe(waited[0])
            if self._measure and took:
                self._job_seconds += _SMOOTHING * (took[0] - self._job_seconds)

        def succeeded(result: T) -> T:
            finished()
            return result

        def failed(reason: Failure) -> Failure:
            finished()
            return reason

        self._outstanding += 1
        BCRYPT_QUEUE_LENGTH.set(self.waiting)
        running: Deferred[T] = deferToThreadPool(self._reactor, self._pool, timed)
        return running.addCallbacks(succeeded, failed)
