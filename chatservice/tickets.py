"""Single-use WebSocket tickets, so a long-lived token never enters a URL.

Browsers cannot set headers on a WebSocket; a ticket is a short random string
that stands for the identity of the token that asked for it, for 30 seconds,
once.

Tickets are made by the server, but how many are asked for is up to clients
(the ticket route limits each user's rate), so the book is bounded in bytes
as well as in count: past either bound the oldest tickets are forgotten.
"""

from __future__ import annotations

import secrets
import sys

from twisted.internet.interfaces import IReactorTime

from chatservice.tokens import Identity

TICKET_LIFETIME = 30
MAX_OUTSTANDING = 100_000
# ~25,000 tickets: 800 handshakes a second within one 30-second lifetime.
DEFAULT_MAX_BYTES = 8 * 2**20
# What a ticket costs besides the two strings: the dict slot, the (expiry,
# Identity) tuple, the expiry float, and the Identity with its int and float.
# tracemalloc measures ~190 bytes on CPython 3.11 (tests/test_memory_bounds.py).
ENTRY_OVERHEAD = 240


def new_ticket() -> str:
    """A new random ticket string (192 bits, URL-safe, 32 characters)."""
    return secrets.token_urlsafe(24)


def entry_bytes(ticket: str, identity: Identity) -> int:
    """The bytes one ticket is accounted as."""
    return ENTRY_OVERHEAD + sys.getsizeof(ticket) + sys.getsizeof(identity.username)


class TicketBook:
    """Issues and redeems tickets, in memory, with bounds on how many and how much are kept."""

    def __init__(
        self,
        clock: IReactorTime,
        lifetime: int = TICKET_LIFETIME,
        max_bytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
        self._clock = clock
        self.lifetime = lifetime
        self.max_bytes = max_bytes
        # Insertion order is expiry order (one lifetime for all), so the oldest
        # are pruned from the front.
        self._tickets: dict[str, tuple[float, Identity]] = {}
        self._bytes = 0

    @property
    def bytes_held(self) -> int:
        """The bytes the outstanding tickets are accounted as (``entry_bytes`` of each)."""
        return self._bytes

    def __len__(self) -> int:
        """How many tickets are outstanding (for tests of the memory bound)."""
        return len(self._tickets)

    def issue(self, identity: Identity) -> str:
        """Return a new ticket for ``identity``, valid for ``lifetime`` seconds."""
        self._prune()
        ticket = new_ticket()
        size = entry_bytes(ticket, identity)
        while self._tickets and (
            len(self._tickets) >= MAX_OUTSTANDING or self._bytes + size > self.max_bytes
        ):
            self._forget(next(iter(self._tickets)))
        self._tickets[ticket] = (self._clock.seconds() + self.lifetime, identity)
        self._bytes += size
        return ticket

    def redeem(self, ticket: str) -> Identity | None:
        """Use a ticket up; return its identity, or None if unknown or expired."""
        entry = self._forget(ticket)
        self._prune()
        if entry is None:
            return None
        expires, identity = entry
        if expires <= self._clock.seconds() or identity.expires_at <= self._clock.seconds():
            return None
        return identity

    def _forget(self, ticket: str) -> tuple[float, Identity] | None:
        entry = self._tickets.pop(ticket, None)
        if entry is not None:
            self._bytes -= entry_bytes(ticket, entry[1])
        return entry

    def _prune(self) -> None:
        now = self._clock.seconds()
        while self._tickets:
            oldest = next(iter(self._tickets))
            if self._tickets[oldest][0] > now:
                break
            self._forget(oldest)
