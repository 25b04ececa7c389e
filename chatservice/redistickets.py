"""WebSocket tickets in Redis, so that any process can redeem one, once.

With several processes, the ``/ws`` handshake that brings a ticket may reach
another process than the one that issued it (``tickets.py`` explains
tickets). ``RedisCluster`` keeps them here: ``SET ... EX`` issues, ``GETDEL``
redeems, so each is used at most once wherever it arrives. While Redis
cannot be reached, this process's own ``TicketBook`` issues and redeems.

Apart from ``rediscluster.py`` because tickets are plain keys with a
lifetime, not part of the per-process mirror its scripts keep; they share
only its connection and its outage state (``CommandRunner``).
"""

from __future__ import annotations

import json
from typing import Any, Protocol

from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IReactorTime
from twisted.python.failure import Failure

from chatservice.tickets import TicketBook, new_ticket
from chatservice.tokens import Identity

# Tickets are 32 characters; anything much longer is not one of ours.
MAX_TICKET_LENGTH = 64


class CommandRunner(Protocol):
    """What tickets need from the cluster (``RedisCluster`` is one)."""

    def reachable(self) -> bool:
        """True if a command can be sent now."""

    def note_failure(self, failure: Failure) -> None:
        """A command failed: decide locally until Redis answers."""

    def run_command(self, *args: object) -> Deferred[Any]:
        """Run one command; fails if Redis does not answer in time."""


class RedisTickets:
    """Issue and redeem tickets in Redis, in ``book`` while Redis cannot be reached."""

    def __init__(
        self, runner: CommandRunner, book: TicketBook, clock: IReactorTime, prefix: str
    ) -> None:
        """Keep tickets under ``<prefix>ticket:``, as long as ``book`` keeps its own."""
        self._runner = runner
        self._book = book
        self._clock = clock
        self._prefix = prefix + "ticket:"

    def issue(self, identity: Identity) -> Deferred[str]:
        """A ticket any process can redeem once (this process's own book while degraded)."""
        if not self._runner.reachable():
            return succeed(self._book.issue(identity))
        ticket = new_ticket()
        value = json.dumps(
            [
                identity.user_id,
                identity.username,
                identity.expires_at,
                identity.session,
                identity.generation,
            ]
        )
        setting = self._runner.run_command(
            "SET", self._prefix + ticket, value, "EX", self._book.lifetime
        )

        def failed(failure: Failure) -> str:
            self._runner.note_failure(failure)
            return self._book.issue(identity)

        return setting.addCallbacks(lambda _: ticket, failed)

    def redeem(self, ticket: str) -> Deferred[Identity | None]:
        """Use a ticket up: one from this process's book, else one from Redis (GETDEL)."""
        identity = self._book.redeem(ticket)
        if identity is not None or len(ticket) > MAX_TICKET_LENGTH or not self._runner.reachable():
            return succeed(identity)
        taking = self._runner.run_command("GETDEL", self._prefix + ticket)

        def failed(failure: Failure) -> None:
            self._runner.note_failure(failure)

        return taking.addCallbacks(self._identity, failed)

    def _identity(self, value: object) -> Identity | None:
        if not isinstance(value, str):
            return None
        # Tickets written before sessions existed hold three fields.
        user_id, username, expires_at, session, generation = [*json.loads(value), None, 0][:5]
        if float(expires_at) <= self._clock.seconds():
            return None
        session = None if session is None else str(session)
        return Identity(int(user_id), str(username), float(expires_at), session, int(generation))
