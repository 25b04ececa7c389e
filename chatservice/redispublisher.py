"""The hub's publishing Redis connection: PUBLISH room events, at most once, never blocking.

Pub/sub is at-most-once anyway (what is lost is recovered from the store),
so a PUBLISH that fails or takes too long is given up and logged, and the
poster never waits for Redis. This module owns that policy and the one
connection it runs on; the hub decides what to publish and where.
Importing it imports txredisapi, and so the global reactor.
"""

from __future__ import annotations

from typing import Any

from twisted.internet import defer
from twisted.internet.defer import Deferred, DeferredList, succeed
from twisted.internet.interfaces import IReactorTime, IStreamClientEndpoint
from twisted.logger import Logger
from twisted.python.failure import Failure
from txredisapi import RedisFactory

from chatservice.hub import RoomEvent
from chatservice.metrics import HUB_PUBLISH_FAILURES
from chatservice.redisenvelope import encode_envelope
from chatservice.redisurl import RedisAddress


class RedisPublisher:
    """PUBLISHes room events, in envelopes naming this process, on one connection.

    One connection (a subscribed one cannot run commands), so Redis
    receives this process's events in the order they were published. While
    that connection is known to be down, events are dropped instead of
    queued: a queue would only grow while Redis is down, and what it would
    hold is recovered from the store anyway.
    """

    def __init__(
        self,
        address: RedisAddress,
        origin: bytes,
        *,
        clock: IReactorTime,
        timeout: float,
        log: Logger,
    ) -> None:
        """Build the connection; nothing connects before ``start_connecting``.

        Args:
            address: where Redis is.
            origin: this service instance's id, put in every envelope so
                that its own events coming back from Redis are recognised.
            clock: times each PUBLISH.
            timeout: seconds a PUBLISH may wait for a connection and a reply
                before it is given up.
            log: the hub's logger, so that operators find every Redis line
                under one namespace.
        """
        self._origin = origin
        self._clock = clock
        self._timeout = timeout
        self._log = log
        self._location = address.location
        self._pool = lazy_connection(address, timeout)
        self._publishing: set[Deferred[None]] = set()
        self._failing = False  # a publish failed and nothing has succeeded since
        self._dropping = False  # the pool is down: drop publishes instead of queueing
        self._stopped = False

    @property
    def failing(self) -> bool:
        """True while publishes fail (since the last failure, nothing went through)."""
        return self._failing

    @property
    def connected(self) -> Deferred[object]:
        """Fires once the first connection is made; fails if Redis refuses it (AUTH, SELECT)."""
        connected: Deferred[object] = self._pool.deferred
        return connected

    def start_connecting(self, endpoint: IStreamClientEndpoint) -> None:
        """Connect, and reconnect whenever the connection is lost, until ``disconnect``."""
        self._pool.startConnecting(endpoint)

    def publish(self, channel: bytes, event: RoomEvent) -> None:
        """PUBLISH ``event`` on ``channel`` in the background; failures are only logged.

        The PUBLISH is given up after ``timeout`` seconds (``flush()`` waits
        for it); a warning is logged once per outage, not once per event.

        Raises:
            ValueError: the event's ``exclude`` cannot be put in an envelope.
        """
        if self._dropping:
            if not self._pool.size:
                HUB_PUBLISH_FAILURES.inc()
                return
            self._dropping = False
        envelope = encode_envelope(self._origin, event)
        publishing: Deferred[None] = self._pool.handler.publish(channel, envelope)
        publishing.addTimeout(self._timeout, self._clock)
        publishing.addCallbacks(self._published, self._failed)
        self._publishing.add(publishing)
        publishing.addBoth(self._forget, publishing)

    def flush(self) -> Deferred[None]:
        """Fire once every PUBLISH started so far has been answered or given up."""
        pending = list(self._publishing)
        if not pending:
            return succeed(None)
        return DeferredList(pending).addCallback(lambda _: None)

    def disconnect(self) -> Deferred[None]:
        """Stop reconnecting and close; PUBLISHes already written are flushed first.

        From now on a failure is the shutdown's doing, not an outage, so it
        is no longer logged.
        """
        self._stopped = True
        disconnecting: Deferred[None] = self._pool.disconnect()
        return disconnecting

    def cancel_pending(self) -> None:
        """Give up every PUBLISH still waiting, so that shutdown leaves no timer behind."""
        for d in list(self._publishing):
            d.cancel()

    def _published(self, _: object) -> None:
        if self._failing:
            self._failing = False
            self._log.info(
                "publishing room events to Redis at {address} works again",
                address=self._location,
            )

    def _failed(self, failure: Failure) -> None:
        if self._stopped:
            return
        HUB_PUBLISH_FAILURES.inc()
        if not self._pool.size:
            self._dropping = True
        if self._failing:
            self._log.debug("a Redis PUBLISH failed: {error}", error=failure.getErrorMessage())
            return
        self._failing = True
        self._log.warn(
            "publishing room events to Redis at {address} failed ({error}); until it works "
            "again other processes miss this process's live events (clients catch up from "
            "history)",
            address=self._location,
            error=describe_failure(failure),
        )

    def _forget(self, result: object, publishing: Deferred[None]) -> object:
        self._publishing.discard(publishing)
        return result


def lazy_connection(address: RedisAddress, timeout: float) -> Any:
    """One Redis connection, made on first use and again after a loss (a txredisapi factory).

    What ``lazyConnectionPool()`` builds, with the endpoint on our reactor;
    the publisher and ``RedisCluster`` each own one. Besides the callers'
    addTimeout, a reply that never comes within ``timeout`` aborts the
    connection, so a wedged link is replaced instead of kept forever.
    """
    return RedisFactory(
        address.location,
        address.db,
        1,
        isLazy=True,
        charset="utf-8",
        password=address.password,
        replyTimeout=timeout,
        username=address.username,
    )


def describe_failure(failure: Failure) -> str:
    """A short reason for a log line; ``addTimeout``'s error has no readable message."""
    if failure.check(defer.TimeoutError):
        return "no answer in time"
    message = failure.getErrorMessage()
    name = failure.type.__name__ if failure.type is not None else "error"
    return f"{name}: {message}" if message else name
