"""RedisHub: an ``IHub`` that shares room events between processes over Redis pub/sub.

A process delivers its own events to its listener at once, so local delivery
and the in-process ``id`` order never depend on Redis, and also PUBLISHes them
in an envelope that names the process (its *origin*). Every process
subscribed to the room's channel hands the events of *other* origins to its
listener and ignores the echo of its own. Pub/sub is at-most-once: whatever
is lost while a link is down is recovered from the store, so a Redis failure
is logged and never reaches the poster.

Importing this module imports txredisapi, which imports the global reactor:
``service.py`` imports it only when ``REDIS_URL`` is set. txredisapi also
schedules its reconnection timers on the global reactor whatever reactor is
passed here.

The hub is the glue: local delivery, origin filtering, and keeping the
wanted rooms subscribed across connections. The envelope format
(``redisenvelope``), the URL (``redisurl``), the subscribed connection
(``redissubscriber``), the book of wanted and confirmed channels
(``redissubscriptions``) and the publishing connection with its failure
policy (``redispublisher``) each live in their own module.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred, DeferredList, FirstError, gatherResults, succeed
from twisted.internet.endpoints import HostnameEndpoint
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from chatservice.hub import IHub, IHubStatus, IRoomListener, RoomEvent, instance_id
from chatservice.metrics import HUB_RECONNECTS
from chatservice.redisenvelope import decode_envelope
from chatservice.redispublisher import RedisPublisher, describe_failure
from chatservice.redissubscriber import HubSubscriber, HubSubscriberFactory
from chatservice.redissubscriptions import Subscriptions
from chatservice.redisurl import RedisAddress, parse_redis_url
from chatservice.waiting import succeeded_within


@implementer(IHub, IHubStatus)
class RedisHub:
    """Room events for this process's listener and, through Redis, for every other process.

    ``start()`` connects; ``stop()`` disconnects and cancels every timer.
    Subscriptions are kept as a desired set and restored on every new
    subscriber connection. PUBLISH goes through its own connection (a
    subscribed connection cannot run commands): one connection, so Redis
    receives this process's events in the order they were published.
    """

    log = Logger()

    def __init__(
        self,
        reactor: Any,
        address: RedisAddress | None = None,
        *,
        channel_prefix: str = "chat:",
        clock: IReactorTime | None = None,
        publish_timeout: float = 5.0,
        connect_timeout: float = 5.0,
        origin: str | None = None,
    ) -> None:
        """Build the hub; nothing connects before ``start()``.

        Args:
            reactor: connects the TCP endpoints (``IReactorTCP`` and
                ``IReactorTime``).
            address: where Redis is; ``127.0.0.1:6379`` by default.
            channel_prefix: room ``n`` uses channel ``<prefix>room:<n>``; every
                process sharing rooms must use the same prefix.
            clock: times publishes and the start-up wait (``reactor`` by default).
            publish_timeout: seconds a PUBLISH may wait for a connection and
                a reply before it is given up.
            connect_timeout: seconds ``start()`` waits for Redis, and the
                timeout of each TCP connection attempt.
            origin: the id of the service instance this hub belongs to (its
                own events, coming back from Redis, are recognised by it);
                random by default.
        """
        self._reactor = reactor
        self._address = address or RedisAddress()
        self._prefix = channel_prefix.encode("utf-8")
        self._clock: IReactorTime = clock if clock is not None else reactor
        self._publish_timeout = publish_timeout
        self._connect_timeout = connect_timeout
        # Per service instance rather than per process, so that two services
        # (or hubs) in one test process behave like two processes.
        self._origin = (origin or instance_id()).encode("ascii")
        self._listener: IRoomListener | None = None
        self._subscriptions = Subscriptions()
        self._restore_waiters: list[Deferred[int]] = []
        self._subscriber: HubSubscriber | None = None
        self._subscriber_factory: HubSubscriberFactory | None = None
        self._publisher: RedisPublisher | None = None
        self._stopped = False
        # True from a lost subscriber connection until the next one is ready.
        self._interrupted = False

    @classmethod
    def from_url(cls, url: str, reactor: Any, **kwargs: Any) -> RedisHub:
        """Build a hub from ``REDIS_URL``; ``kwargs`` go to the constructor.

        The channel prefix includes the database number (``chat:<db>:``):
        pub/sub ignores SELECT, so without it two deployments on different
        databases of one Redis would receive each other's rooms.

        Raises:
            ValueError: the URL is not a ``redis://`` URL.
        """
        address = parse_redis_url(url)
        kwargs.setdefault("channel_prefix", f"chat:{address.db or 0}:")
        return cls(reactor, address, **kwargs)

    @property
    def client_name(self) -> str:
        """The subscriber connection's name in ``CLIENT LIST``, to tell processes apart."""
        return "chatservice-" + self._origin.decode("ascii")

    def channel(self, room_id: int) -> bytes:
        """The pub/sub channel of a room."""
        return self._prefix + b"room:" + str(room_id).encode("ascii")

    # -- lifecycle -----------------------------------------------------------

    def start(self) -> Deferred[bool]:
        """Connect to Redis; fire with True once connected, or False if it took too long.

        Start-up must not hang on a Redis that is down: after
        ``connect_timeout`` seconds this logs a warning and fires False, and
        the connections keep retrying in the background. Until they succeed
        events are delivered in this process only.
        """
        if self._publisher is not None:
            raise RuntimeError("RedisHub.start() was already called")
        address = self._address
        self._subscriber_factory = HubSubscriberFactory(
            address, self._subscriber_ready, self._subscriber_lost, self._received
        )
        self._publisher = RedisPublisher(
            address, self._origin, clock=self._clock, timeout=self._publish_timeout, log=self.log
        )
        connected = gatherResults(
            [self._subscriber_factory.deferred, self._publisher.connected], consumeErrors=True
        )
        endpoint = HostnameEndpoint(
            self._reactor, address.host, address.port, timeout=self._connect_timeout
        )
        self._subscriber_factory.startConnecting(endpoint)
        self._publisher.start_connecting(endpoint)
        return succeeded_within(
            connected,
            self._connect_timeout,
            self._clock,
            failed=self._refused,
            late=self._not_reachable_yet,
        )

    def _refused(self, failure: Failure) -> None:
        # AUTH or SELECT failed: txredisapi stops reconnecting for good.
        if isinstance(failure.value, FirstError):  # from gatherResults
            failure = failure.value.subFailure
        self.log.error(
            "Redis at {address} refused the connection ({error}); "
            "room events stay in this process",
            address=self.address,
            error=describe_failure(failure),
        )

    def _not_reachable_yet(self) -> None:
        self.log.warn(
            "Redis at {address} is not reachable after {timeout} s; starting anyway. "
            "Rooms are shared with other processes once it connects.",
            address=self.address,
            timeout=self._connect_timeout,
        )

    def stop(self) -> Deferred[None]:
        """Disconnect both connections and cancel every pending publish and timer.

        PUBLISH commands already written are flushed before the connection
        closes; those still waiting for a connection are dropped.
        """
        self._stopped = True
        self._subscriptions.release()
        restore, self._restore_waiters = self._restore_waiters, []
        for waiter in restore:
            waiter.callback(len(self._subscriptions))
        stopping = [
            f.disconnect() for f in (self._subscriber_factory, self._publisher) if f is not None
        ]

        def cancel_publishes(_: object) -> None:
            if self._publisher is not None:
                self._publisher.cancel_pending()

        done = gatherResults(stopping, consumeErrors=True).addBoth(cancel_publishes)
        return done

    def reachable(self) -> bool:
        """True while subscribed to Redis and publishes go through (``/health``)."""
        publisher = self._publisher
        return (
            not self._stopped
            and self._subscriber is not None
            and publisher is not None
            and not publisher.failing
        )

    @property
    def address(self) -> str:
        """``host:port`` of Redis, safe to log (no credentials)."""
        return self._address.location

    # -- IHub ----------------------------------------------------------------

    def set_listener(self, listener: IRoomListener) -> None:
        """Set the one listener of this process (the WebSocket factory)."""
        self._listener = listener

    def subscribe(self, room_id: int) -> Deferred[None]:
        """Receive the room's events from other processes; fires once Redis confirms.

        While Redis is unreachable the Deferred waits for the subscription
        to be restored (or for ``unsubscribe``/``stop``); it never fails.
        """
        channel = self.channel(room_id)
        if self._subscriptions.is_confirmed(channel) or self._stopped:
            return succeed(None)
        waiter, new = self._subscriptions.want(channel, room_id)
        if new and self._subscriber is not None:
            self._send_subscribe(self._subscriber, channel)
        return waiter

    def unsubscribe(self, room_id: int) -> None:
        """Stop receiving the room's events; messages already in flight are dropped."""
        channel = self.channel(room_id)
        if not self._subscriptions.drop(channel):
            return
        subscriber = self._subscriber
        if subscriber is not None:
            try:
                subscriber.unsubscribe([channel]).addErrback(self._ignore)
            except Exception:  # noqa: BLE001 - txredisapi raises if the link just dropped
                pass  # the subscription went with the connection

    def publish(self, event: RoomEvent) -> Deferred[None]:
        """Deliver ``event`` here at once and PUBLISH it to the other processes.

        The returned Deferred has already fired: Redis latency or an outage
        never delays or fails a poster whose message the store has already
        committed. The PUBLISH continues in the background for at most
        ``publish_timeout`` seconds (``flush()`` waits for it); failures are
        logged, a warning once per outage. While the publishing connection
        is known to be down, events are not queued at all.
        """
        self._deliver(event)
        if self._publisher is not None and not self._stopped:
            self._publisher.publish(self.channel(event.room_id), event)
        return succeed(None)

    def flush(self) -> Deferred[None]:
        """Fire once every PUBLISH started so far has been answered or given up."""
        if self._publisher is None:
            return succeed(None)
        return self._publisher.flush()

    def wait_for_resubscribe(self) -> Deferred[int]:
        """Fire with the number of rooms once the *next* subscriber connection has restored them.

        For operations and tests: it does not fire for the current
        connection, only for the one made after it is lost.
        """
        waiter: Deferred[int] = Deferred()
        self._restore_waiters.append(waiter)
        return waiter

    # -- delivering ----------------------------------------------------------

    def _deliver(self, event: RoomEvent) -> None:
        if self._listener is None:
            return
        try:
            self._listener.room_event(event)
        except Exception:  # noqa: BLE001 - one listener bug must not stop the publish
            self.log.failure("delivering a room event to this process's sockets failed")

    # -- subscribing -----------------------------------------------------------

    def _subscriber_ready(self, subscriber: HubSubscriber) -> None:
        if self._stopped:
            return
        self._subscriber = subscriber
        self._subscriptions.unconfirm_all()
        interrupted, self._interrupted = self._interrupted, False
        if interrupted:
            HUB_RECONNECTS.inc()
        subscriber.execute_command("CLIENT", "SETNAME", self.client_name).addErrback(
            self._ignore  # an ACL may forbid CLIENT; the name is only a convenience
        )
        restoring = [self._send_subscribe(subscriber, c) for c in self._subscriptions.channels()]
        self.log.info(
            "subscribed to Redis at {address} for {count} rooms",
            address=self.address,
            count=len(restoring),
        )
        waiters, self._restore_waiters = self._restore_waiters, []
        if waiters or interrupted:
            count = len(restoring)

            def restored(_: object) -> None:
                # Events of the rooms confirmed on this connection flow again:
                # the listener catches its sockets up from the store now.
                if interrupted and subscriber is self._subscriber and self._listener is not None:
                    self._listener.rooms_restored(self._subscriptions.confirmed_rooms())
                for waiter in waiters:
                    waiter.callback(count)

            DeferredList(restoring).addCallback(restored)

    def _send_subscribe(self, subscriber: HubSubscriber, channel: bytes) -> Deferred[None]:
        """SUBSCRIBE one channel per command, so that each reply confirms exactly one."""
        token = self._subscriptions.sending(channel)

        def confirmed(_: object) -> None:
            # Only if nothing changed meanwhile: a later unsubscribe or a new
            # connection makes this reply stale.
            if subscriber is self._subscriber:
                self._subscriptions.confirm(channel, token)

        # A list: txredisapi only wraps a str, and would iterate bytes.
        try:
            sending: Deferred[object] = subscriber.subscribe([channel])
        except Exception:  # noqa: BLE001 - the link dropped; restored on reconnect
            return succeed(None)
        return sending.addCallbacks(confirmed, self._ignore)

    def _subscriber_lost(self, subscriber: HubSubscriber, reason: Failure) -> None:
        if subscriber is not self._subscriber:
            return
        self._subscriber = None
        self._subscriptions.unconfirm_all()
        if not self._stopped:
            self._interrupted = True
            if self._listener is not None:
                self._listener.rooms_interrupted(self._subscriptions.rooms())
            self.log.warn(
                "lost the Redis subscriber connection to {address} ({reason}); reconnecting. "
                "Events of other processes are missed until then (clients catch up from "
                "history).",
                address=self.address,
                reason=reason.getErrorMessage(),
            )

    def _received(self, channel: bytes, data: bytes) -> None:
        room_id = self._subscriptions.room_of(channel)
        if room_id is None or self._listener is None:
            return  # unsubscribed while the message was in flight
        try:
            envelope = decode_envelope(data)
        except ValueError:
            # Debug only: a foreign publisher must not be able to flood the log.
            self.log.debug("dropped a malformed message on {channel}", channel=channel)
            return
        if envelope.origin == self._origin:
            return  # our own event, already delivered locally
        self._deliver(RoomEvent(room_id, envelope.payload, envelope.exclude, envelope.event_id))

    def _ignore(self, failure: Failure) -> None:
        self.log.debug("Redis subscriber command failed: {error}", error=failure.getErrorMessage())
