"""bcrypt hashing on an (inline, for tests) thread pool."""

from __future__ import annotations

import bcrypt
from twisted.trial.unittest import SynchronousTestCase

from chatservice.errors import Overloaded
from chatservice.passwords import PasswordHasher
from tests.fakes import FakeReactor, HeldPool, ImmediateThreadPool


class PasswordHasherTests(SynchronousTestCase):
    """``PasswordHasher.hash`` and ``verify``."""

    def setUp(self) -> None:
        self.hasher = PasswordHasher(FakeReactor(), ImmediateThreadPool(), 4)  # type: ignore[arg-type]

    def hash(self, password: str) -> bytes:
        result: bytes = self.successResultOf(self.hasher.hash(password))
        return result

    def verify(self, password: str, password_hash: bytes | None) -> bool:
        result: bool = self.successResultOf(self.hasher.verify(password, password_hash))
        return result

    def test_hash_uses_the_configured_cost(self) -> None:
        """The hash is bcrypt ``$2b$`` at the cost given (4 here)."""
        self.assertTrue(self.hash("correct horse").startswith(b"$2b$04$"))

    def test_hashes_are_salted(self) -> None:
        """The same password hashes differently each time."""
        self.assertNotEqual(self.hash("correct horse"), self.hash("correct horse"))

    def test_roundtrip(self) -> None:
        """A password verifies against its own hash."""
        self.assertTrue(self.verify("correct horse", self.hash("correct horse")))

    def test_multibyte_password_at_72_bytes(self) -> None:
        """72 bytes of multibyte characters hash and verify."""
        password = "€" * 24
        self.assertTrue(self.verify(password, self.hash(password)))

    def test_wrong_password_is_false(self) -> None:
        """A different password does not verify."""
        self.assertFalse(self.verify("correct horsf", self.hash("correct horse")))

    def test_no_hash_is_false(self) -> None:
        """An unknown user (no hash) is False, whatever the password."""
        self.assertFalse(self.verify("timing-equalizer", None))
        self.assertFalse(self.verify("correct horse", None))

    def test_password_over_72_bytes_is_false(self) -> None:
        """A password longer than 72 bytes is False, even if its first 72 bytes match."""
        stored = self.hash("p" * 72)
        self.assertTrue(self.verify("p" * 72, stored))
        self.assertFalse(self.verify("p" * 73, stored))
        self.assertFalse(self.verify("p" * 72 + "€", stored))

    def test_corrupt_hash_is_false(self) -> None:
        """A stored hash bcrypt cannot read is False, not an error."""
        for corrupt in (b"", b"not-a-hash", b"$2b$04$short", self.hash("correct horse")[:-5]):
            self.assertFalse(self.verify("correct horse", corrupt), corrupt)

    def test_hashes_from_other_bcrypt_costs_verify(self) -> None:
        """A hash made at another cost (an earlier BCRYPT_ROUNDS) still verifies."""
        stored = bcrypt.hashpw(b"correct horse", bcrypt.gensalt(5))
        self.assertTrue(self.verify("correct horse", stored))


class PasswordQueueTests(SynchronousTestCase):
    """bcrypt work that could not start within ``max_wait`` seconds is refused."""

    def setUp(self) -> None:
        self.pool = HeldPool(threads=2)
        self.hasher = PasswordHasher(
            FakeReactor(),  # type: ignore[arg-type]
            self.pool,  # type: ignore[arg-type]
            4,
            job_seconds=0.5,
            max_wait=2.0,
        )

    def test_threads_come_from_the_pool(self) -> None:
        """2 threads x 2 s / 0.5 s a job: 8 jobs may wait."""
        self.assertEqual(self.hasher.max_waiting, 8)

    def test_jobs_past_the_bound_are_overloaded_with_the_wait(self) -> None:
        """2 run and 8 wait; the 11th is ``Overloaded`` with the estimated wait rounded up."""
        accepted = [self.hasher.verify("password", None) for _ in range(10)]
        self.assertEqual(self.hasher.waiting, 8)
        error = self.failureResultOf(self.hasher.hash("password"), Overloaded).value
        self.assertEqual((error.status, error.code, error.retry_after), (503, "overloaded", 3))
        self.pool.release()
        self.assertEqual([self.successResultOf(d) for d in accepted], [False] * 10)

    def test_finished_jobs_free_their_places(self) -> None:
        """Once the queue drains, new work is accepted again."""
        for _ in range(10):
            self.hasher.verify("password", None)
        self.pool.release()
        self.assertEqual(self.hasher.waiting, 0)
        self.assertNoResult(self.hasher.verify("password", None))

    def test_failed_jobs_free_their_places_too(self) -> None:
        """A job that raises still counts as finished."""
        # bcrypt refuses cost 3 inside the job, in the pool's thread.
        broken = PasswordHasher(
            FakeReactor(),  # type: ignore[arg-type]
            ImmediateThreadPool(),  # type: ignore[arg-type]
            3,
            threads=1,
            max_wait=0,
        )
        for _ in range(3):
            self.failureResultOf(broken.hash("password"), ValueError)
        self.assertEqual(broken.waiting, 0)

    def test_job_time_is_measured(self) -> None:
        """Without a fixed ``job_seconds``, the bound follows how long jobs really take."""
        ticks = iter([0.0, 1.0] * 20)
        hasher = PasswordHasher(
            FakeReactor(),  # type: ignore[arg-type]
            ImmediateThreadPool(),  # type: ignore[arg-type]
            4,
            threads=1,
            max_wait=3.0,
            timer=lambda: next(ticks),
        )
        self.assertEqual(hasher.max_waiting, 256)  # cost 4's estimate: capped
        for _ in range(20):
            self.successResultOf(hasher.verify("password", None))
        self.assertEqual(hasher.max_waiting, 3)  # ~1 s a job now

    def test_over_long_password_is_encoded_only_in_part(self) -> None:
        """A 60 KB password is still False, and only its head is looked at."""
        stored = self.successResultOf(
            PasswordHasher(FakeReactor(), ImmediateThreadPool(), 4).hash("p" * 72)  # type: ignore[arg-type]
        )
        hasher = PasswordHasher(FakeReactor(), ImmediateThreadPool(), 4)  # type: ignore[arg-type]
        self.assertFalse(self.successResultOf(hasher.verify("p" * 60_000, stored)))
