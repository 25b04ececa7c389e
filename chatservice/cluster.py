"""What the processes of one service must agree on besides room events.

A user's sockets, their message and ticket rates, who is in a room and the
single use of a WebSocket ticket are one service's facts, however many
processes serve it: counted per process, N processes would give a user N
times the limits, and a user with sockets on two processes would be
announced offline when one of them closes.

``ICluster`` names those decisions. ``LocalCluster`` makes them in one
process (one process *is* the whole service, or Redis is not configured);
``rediscluster.RedisCluster`` makes them in Redis for every process, and
falls back to a ``LocalCluster`` while Redis cannot be reached.

Every decision returns a Deferred because the shared one needs a round
trip; rates return a plain ``Decision`` when they can, since a message's
rate is checked on the hot path.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IReactorTime
from zope.interface import Attribute, Interface, implementer

from chatservice.errors import RateLimited
from chatservice.ratelimit import Decision, Rate, RateLimiter
from chatservice.tickets import TicketBook
from chatservice.tokens import Identity

# Called with (room_id, user_id, username, status) when the cluster learns
# that a user left a room with no socket of this process involved (the
# process that held their last socket died).
PresenceCallback = Callable[[int, int, str, str], None]


class SharedRate(Protocol):
    """One per-user rate, counted wherever the service counts (``RateLimiter`` is one)."""

    name: str

    def take(self, key: str) -> Decision | Deferred[Decision]:
        """Spend one token of ``key``'s bucket if there is one."""

    def refusal(self, decision: Decision, message: str | None = None) -> RateLimited:
        """The 429 / ``rate_limited`` error for a refused ``decision``."""


async def take(rate: SharedRate, key: str) -> Decision:
    """Spend one token of ``key``'s bucket, waiting for a shared answer if it needs one."""
    decision = rate.take(key)
    if isinstance(decision, Deferred):
        return await decision
    return decision


class ICluster(Interface):
    """The per-user and per-room facts every process of the service shares."""

    ticket_lifetime = Attribute("Seconds a WebSocket ticket stays valid.")

    def rate(name: str, rate: Rate) -> SharedRate:
        """A per-user rate named ``name`` (the same name is the same buckets everywhere)."""

    def reserve_socket(user_id: int, limit: int) -> Deferred[bool]:
        """Count one more socket of the user if they have fewer than ``limit``; say whether."""

    def release_socket(user_id: int) -> None:
        """Uncount a socket that ``reserve_socket`` counted."""

    def sockets_of(user_id: int) -> int:
        """How many of the user's sockets this process counts (open or opening)."""

    def online(user_ids: Sequence[int]) -> frozenset[int] | Deferred[frozenset[int]]:
        """Which of these users hold a socket on any live process (Web Push skips them).

        A plain answer when it needs no round trip (as rates do): the
        question is asked for every direct message.
        """

    def arrive(room_id: int, user_id: int, username: str) -> Deferred[bool]:
        """A socket of the user joined the room here; True if it is their first anywhere."""

    def depart(room_id: int, user_id: int) -> Deferred[bool]:
        """A socket of the user left the room here; True if it was their last anywhere."""

    def issue_ticket(identity: Identity) -> Deferred[str]:
        """A new single-use ticket for ``identity``, redeemable by any process."""

    def redeem_ticket(ticket: str) -> Deferred[Identity | None]:
        """Use a ticket up; its identity, or None if unknown, used or expired."""

    def on_presence(callback: PresenceCallback) -> None:
        """Set who announces presence changes found without a local socket."""

    def start() -> Deferred[None]:
        """Begin sharing (connect, announce this process)."""

    def stop() -> Deferred[None]:
        """Stop sharing; what this process counted is withdrawn."""


@implementer(ICluster)
class LocalCluster:
    """Every decision made in this process: exact when it is the only one.

    It is also the *local truth* of a ``RedisCluster``: this process's own
    sockets and presence, which the shared counts mirror and are rebuilt
    from after an outage.
    """

    def __init__(self, clock: IReactorTime, tickets: TicketBook | None = None) -> None:
        self._clock = clock
        self.tickets = tickets if tickets is not None else TicketBook(clock)
        self._sockets: dict[int, int] = {}
        # (room_id, user_id) -> [sockets here, username]
        self._present: dict[tuple[int, int], list[int | str]] = {}
        self._rates: dict[str, RateLimiter] = {}

    @property
    def ticket_lifetime(self) -> int:
        """Seconds a ticket stays valid."""
        return self.tickets.lifetime

    def rate(self, name: str, rate: Rate) -> RateLimiter:
        """The in-process limiter of ``name`` (one per name)."""
        limiter = self._rates.get(name)
        if limiter is None:
            limiter = self._rates[name] = RateLimiter(name, rate, self._clock)
        return limiter

    # -- sockets ------------------------------------------------------------------

    def reserve_socket(self, user_id: int, limit: int) -> Deferred[bool]:
        """Count the socket if the user has fewer than ``limit`` here."""
        return succeed(self.reserve_here(user_id, limit))

    def reserve_here(self, user_id: int, limit: int) -> bool:
        """The synchronous form of ``reserve_socket``."""
        if self._sockets.get(user_id, 0) >= limit:
            return False
        self.count_socket(user_id)
        return True

    def count_socket(self, user_id: int) -> None:
        """Count a socket whatever the limit (a shared count already allowed it)."""
        self._sockets[user_id] = self._sockets.get(user_id, 0) + 1

    def release_socket(self, user_id: int) -> None:
        """Uncount one socket of the user."""
        left = self._sockets.get(user_id, 0) - 1
        if left > 0:
            self._sockets[user_id] = left
        else:
            self._sockets.pop(user_id, None)

    def sockets_of(self, user_id: int) -> int:
        """How many sockets of the user this process counts."""
        return self._sockets.get(user_id, 0)

    def online(self, user_ids: Sequence[int]) -> frozenset[int]:
        """The users of ``user_ids`` with a socket here."""
        return frozenset(user_id for user_id in user_ids if user_id in self._sockets)

    def socket_counts(self) -> dict[int, int]:
        """A copy of every user's socket count here (to rebuild a shared mirror)."""
        return dict(self._sockets)

    # -- presence -----------------------------------------------------------------

    def arrive(self, room_id: int, user_id: int, username: str) -> Deferred[bool]:
        """Count the socket in the room; True if it is the user's first here."""
        return succeed(self.arrive_here(room_id, user_id, username))

    def arrive_here(self, room_id: int, user_id: int, username: str) -> bool:
        """The synchronous form of ``arrive``."""
        entry = self._present.get((room_id, user_id))
        if entry is None:
            self._present[(room_id, user_id)] = [1, username]
            return True
        entry[0] = int(entry[0]) + 1
        return False

    def depart(self, room_id: int, user_id: int) -> Deferred[bool]:
        """Uncount the socket in the room; True if it was the user's last here."""
        return succeed(self.depart_here(room_id, user_id))

    def depart_here(self, room_id: int, user_id: int) -> bool:
        """The synchronous form of ``depart``."""
        key = (room_id, user_id)
        entry = self._present.get(key)
        if entry is None:
            return False
        left = int(entry[0]) - 1
        if left > 0:
            entry[0] = left
            return False
        del self._present[key]
        return True

    def present_here(self) -> dict[tuple[int, int], str]:
        """Who is in which room here: (room_id, user_id) -> username."""
        return {key: str(entry[1]) for key, entry in self._present.items()}

    def on_presence(self, callback: PresenceCallback) -> None:
        """Nothing to announce: every change here comes from a local socket."""

    # -- tickets ------------------------------------------------------------------

    def issue_ticket(self, identity: Identity) -> Deferred[str]:
        """A ticket from the in-process book."""
        return succeed(self.tickets.issue(identity))

    def redeem_ticket(self, ticket: str) -> Deferred[Identity | None]:
        """Use a ticket of the in-process book."""
        return succeed(self.tickets.redeem(ticket))

    # -- lifecycle ----------------------------------------------------------------

    def start(self) -> Deferred[None]:
        """Nothing to connect."""
        return succeed(None)

    def stop(self) -> Deferred[None]:
        """Nothing to withdraw."""
        return succeed(None)
