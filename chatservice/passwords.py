"""bcrypt hashing and checking on a dedicated thread pool.

bcrypt at cost 12 takes ~0.2 s of CPU; it releases the GIL, so running it on
threads keeps the reactor free to deliver messages. A pool of its own keeps
logins from starving DNS lookups and other users of the reactor's pool.
"""

from __future__ import annotations

import bcrypt
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorFromThreads
from twisted.internet.threads import deferToThreadPool
from twisted.python.threadpool import ThreadPool

MAX_PASSWORD_BYTES = 72  # bcrypt's limit; longer raises ValueError in bcrypt 5


class PasswordHasher:
    """Hashes and checks passwords without blocking the reactor."""

    def __init__(self, reactor: IReactorFromThreads, pool: ThreadPool, rounds: int) -> None:
        self._reactor = reactor
        self._pool = pool
        self._rounds = rounds
        # Checked against when the user does not exist, so that an unknown
        # username costs as much as a wrong password (no user enumeration by
        # timing). Computed lazily on the pool: cost 12 takes ~0.2 s.
        self._dummy_hash: bytes | None = None

    def hash(self, password: str) -> Deferred[bytes]:
        """Fire with the bcrypt hash of ``password`` (at most 72 UTF-8 bytes)."""
        secret = password.encode("utf-8")
        rounds = self._rounds
        return deferToThreadPool(
            self._reactor, self._pool, lambda: bcrypt.hashpw(secret, bcrypt.gensalt(rounds))
        )

    def verify(self, password: str, password_hash: bytes | None) -> Deferred[bool]:
        """Fire with True if ``password`` matches ``password_hash``.

        With ``password_hash=None`` (no such user) a dummy hash of the same
        cost is checked and the result is False, so both cost the same. A
        password over 72 bytes or a corrupt hash is simply False.
        """
        secret = password.encode("utf-8")[:MAX_PASSWORD_BYTES]
        # Over-long passwords are checked on their first 72 bytes (and then
        # refused), so a too-long password costs the same as a wrong one.
        too_long = len(password.encode("utf-8")) > MAX_PASSWORD_BYTES
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

        return deferToThreadPool(self._reactor, self._pool, check)
