"""bcrypt hashing on an (inline, for tests) thread pool."""

from __future__ import annotations

import bcrypt
from twisted.trial.unittest import SynchronousTestCase

from chatservice.passwords import PasswordHasher
from tests.fakes import FakeReactor, ImmediateThreadPool


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
