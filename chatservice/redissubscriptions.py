"""The channels a ``RedisHub`` keeps subscribed: wanted, sent, confirmed, and who waits for them.

Plain bookkeeping, no I/O: the hub sends SUBSCRIBE and UNSUBSCRIBE and
tells this book what happened. Apart from the hub because the rules are
easy to get subtly wrong and are the same whatever the connection does: a
channel stays wanted across reconnections (and is confirmed again on each
new connection), only the reply to the *latest* SUBSCRIBE of a channel
confirms it (an unsubscribe or a new connection makes older replies
stale), and whoever waits for a confirmation is released when it comes,
when the channel is dropped, or when the hub stops.
"""

from __future__ import annotations

from twisted.internet.defer import Deferred


class Subscriptions:
    """The wanted channels (each a room's), their confirmations on this connection, and waiters."""

    def __init__(self) -> None:
        self._desired: dict[bytes, int] = {}  # channel -> room id
        self._confirmed: set[bytes] = set()  # subscribed on the current connection
        self._sent: dict[bytes, object] = {}  # channel -> token of the latest SUBSCRIBE
        self._waiters: dict[bytes, list[Deferred[None]]] = {}

    def __len__(self) -> int:
        """How many channels are wanted."""
        return len(self._desired)

    def room_of(self, channel: bytes) -> int | None:
        """The room of a wanted channel; None if it is not (or no longer) wanted."""
        return self._desired.get(channel)

    def channels(self) -> list[bytes]:
        """Every wanted channel, to subscribe again on a new connection."""
        return list(self._desired)

    def rooms(self) -> list[int]:
        """The rooms of every wanted channel."""
        return list(self._desired.values())

    def confirmed_rooms(self) -> list[int]:
        """The rooms of the wanted channels confirmed on the current connection."""
        return [room for channel, room in self._desired.items() if channel in self._confirmed]

    def is_confirmed(self, channel: bytes) -> bool:
        """True if the channel is subscribed on the current connection."""
        return channel in self._confirmed

    def want(self, channel: bytes, room_id: int) -> tuple[Deferred[None], bool]:
        """A Deferred that fires once the channel is confirmed, and True if it was not wanted yet.

        A channel that was not wanted yet needs a SUBSCRIBE (if connected).
        """
        waiter: Deferred[None] = Deferred()
        self._waiters.setdefault(channel, []).append(waiter)
        new = channel not in self._desired
        if new:
            self._desired[channel] = room_id
        return waiter, new

    def drop(self, channel: bytes) -> bool:
        """Stop wanting the channel and release its waiters; False if it was not wanted."""
        if self._desired.pop(channel, None) is None:
            return False
        self._confirmed.discard(channel)
        self._sent.pop(channel, None)
        for waiter in self._waiters.pop(channel, []):
            waiter.callback(None)
        return True

    def sending(self, channel: bytes) -> object:
        """Note a SUBSCRIBE sent now; the token it returns is what its reply must confirm."""
        token = object()
        self._sent[channel] = token
        return token

    def confirm(self, channel: bytes, token: object) -> None:
        """A SUBSCRIBE was answered: confirm it unless a later one (or a drop) superseded it."""
        if self._sent.get(channel) is token:
            self._confirmed.add(channel)
            for waiter in self._waiters.pop(channel, []):
                waiter.callback(None)

    def unconfirm_all(self) -> None:
        """The connection changed: nothing is confirmed on the new one yet."""
        self._confirmed.clear()

    def release(self) -> None:
        """Fire every waiter: the hub stops and nothing will be confirmed any more."""
        waiters, self._waiters = self._waiters, {}
        for pending in waiters.values():
            for d in pending:
                d.callback(None)
