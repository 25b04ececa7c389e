"""Single-use WebSocket tickets, so a long-lived token never enters a URL.

Browsers cannot set headers on a WebSocket; a ticket is a short random string
that stands for the identity of the token that asked for it, for 30 seconds,
once.
"""

from __future__ import annotations

import secrets

from twisted.internet.interfaces import IReactorTime

from chatservice.tokens import Identity

TICKET_LIFETIME = 30
MAX_OUTSTANDING = 100_000


class TicketBook:
    """Issues and redeems tickets, in memory, with a bound on how many are kept."""

    def __init__(self, clock: IReactorTime, lifetime: int = TICKET_LIFETIME) -> None:
        self._clock = clock
        self.lifetime = lifetime
        # Insertion order is expiry order (one lifetime for all), so the oldest
        # are pruned from the front.
        self._tickets: dict[str, tuple[float, Identity]] = {}

    def issue(self, identity: Identity) -> str:
        """Return a new ticket for ``identity``, valid for ``lifetime`` seconds."""
        self._prune()
        while len(self._tickets) >= MAX_OUTSTANDING:
            del self._tickets[next(iter(self._tickets))]
        ticket = secrets.token_urlsafe(24)
        self._tickets[ticket] = (self._clock.seconds() + self.lifetime, identity)
        return ticket

    def redeem(self, ticket: str) -> Identity | None:
        """Use a ticket up; return its identity, or None if unknown or expired."""
        entry = self._tickets.pop(ticket, None)
        self._prune()
        if entry is None:
            return None
        expires, identity = entry
        if expires <= self._clock.seconds() or identity.expires_at <= self._clock.seconds():
            return None
        return identity

    def _prune(self) -> None:
        now = self._clock.seconds()
        while self._tickets:
            oldest = next(iter(self._tickets))
            if self._tickets[oldest][0] > now:
                break
            del self._tickets[oldest]
