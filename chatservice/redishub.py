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
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from twisted.internet import defer
from twisted.internet.defer import Deferred, DeferredList, FirstError, gatherResults, succeed
from twisted.internet.endpoints import HostnameEndpoint
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure
from txredisapi import RedisFactory, SubscriberFactory, SubscriberProtocol
from zope.interface import implementer

from chatservice.hub import IHub, IRoomListener, RoomEvent, instance_id

SEPARATOR = b"\x1f"
DEFAULT_PORT = 6379


@dataclass(frozen=True, slots=True)
class Envelope:
    """A room event as it travels through Redis, with the process that sent it."""

    origin: bytes
    exclude: str | None
    payload: bytes


def encode_envelope(origin: bytes, event: RoomEvent) -> bytes:
    """Return ``origin US exclude US payload``: no JSON round trip, payload bytes untouched.

    The room id is not in the envelope: the channel names the room.

    Raises:
        ValueError: ``origin`` or ``exclude`` contains the separator (0x1f),
            which would make the envelope ambiguous.
    """
    exclude = event.exclude.encode("utf-8") if event.exclude is not None else b""
    if SEPARATOR in origin or SEPARATOR in exclude:
        raise ValueError("origin and exclude must not contain 0x1f")
    return b"".join((origin, SEPARATOR, exclude, SEPARATOR, event.payload))


def decode_envelope(data: bytes) -> Envelope:
    """Split an envelope made by ``encode_envelope``; the payload may contain anything.

    Raises:
        ValueError: ``data`` is not an envelope.
    """
    parts = data.split(SEPARATOR, 2)
    if len(parts) != 3 or not parts[0]:
        raise ValueError("not a chatservice envelope")
    origin, exclude, payload = parts
    return Envelope(origin, exclude.decode("utf-8") if exclude else None, payload)


@dataclass(frozen=True, slots=True)
class RedisAddress:
    """Where Redis is and how to log in, parsed from a ``redis://`` URL."""

    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    db: int | None = None
    username: str | None = None
    password: str | None = None


def parse_redis_url(url: str) -> RedisAddress:
    """Parse ``redis://[[username]:password@]host[:port][/db]``.

    Raises:
        ValueError: another scheme, or a port or db that is not a number; the
            message does not repeat the URL, which may hold a password.
    """
    parts = urlsplit(url)
    if parts.scheme != "redis":
        raise ValueError("REDIS_URL: only redis://[[user]:password@]host[:port][/db] is supported")
    try:
        port = parts.port or DEFAULT_PORT
    except ValueError:
        raise ValueError("REDIS_URL: the port is not a number") from None
    path = parts.path.strip("/")
    if path and not (path.isascii() and path.isdigit()):
        raise ValueError("REDIS_URL: the database must be a number, e.g. redis://host:6379/0")
    return RedisAddress(
        host=parts.hostname or "127.0.0.1",
        port=port,
        db=int(path) if path else None,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password is not None else None,
    )


class _Subscriber(SubscriberProtocol):  # type: ignore[misc]  # txredisapi is untyped
    """The subscribed connection: reports readiness, loss and messages to the hub."""

    factory: _SubscriberFactory

    def connectionMade(self) -> Deferred[None]:
        """Re-subscribe once the base class has authenticated (STACK-NOTES §6).

        ``whenConnected`` fires at the end of the base ``connectionMade``,
        after AUTH, and only if it succeeded; the base must run or the
        factory never counts the connection.
        """
        self.whenConnected().addCallback(self.factory.on_ready)
        result: Deferred[None] = super().connectionMade()
        return result

    def connectionLost(self, reason: Failure) -> None:
        """Tell the hub its subscriptions are gone with this connection."""
        super().connectionLost(reason)
        self.factory.on_lost(self, reason)

    def messageReceived(self, pattern: Any, channel: bytes, message: bytes) -> None:
        """Hand a published message to the hub."""
        self.factory.on_message(channel, message)


class _SubscriberFactory(SubscriberFactory):  # type: ignore[misc]  # txredisapi is untyped
    """One reconnecting subscriber connection that keeps payloads as bytes."""

    protocol = _Subscriber

    def __init__(
        self,
        address: RedisAddress,
        on_ready: Callable[[_Subscriber], None],
        on_lost: Callable[[_Subscriber, Failure], None],
        on_message: Callable[[bytes, bytes], None],
    ) -> None:
        super().__init__(isLazy=True)
        # charset=None: bytes in, bytes out, so payloads are never decoded;
        # convertNumbers would turn a payload that looks like a number into an int.
        self.charset = None
        self.convertNumbers = False
        # The constructor takes no credentials; pub/sub ignores the db.
        self.password = address.password
        self.username = address.username
        self.on_ready = on_ready
        self.on_lost = on_lost
        self.on_message = on_message


@implementer(IHub)
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
        self._desired: dict[bytes, int] = {}  # channel -> room id
        self._confirmed: set[bytes] = set()  # subscribed on the current connection
        self._sent: dict[bytes, object] = {}  # channel -> token of the latest SUBSCRIBE
        self._waiters: dict[bytes, list[Deferred[None]]] = {}
        self._restore_waiters: list[Deferred[int]] = []
        self._subscriber: _Subscriber | None = None
        self._subscriber_factory: _SubscriberFactory | None = None
        self._pool: Any = None  # txredisapi.RedisFactory
        self._publishing: set[Deferred[None]] = set()
        self._failing = False  # a publish failed and nothing has succeeded since
        self._dropping = False  # the pool is down: drop publishes instead of queueing
        self._stopped = False

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
        if self._pool is not None:
            raise RuntimeError("RedisHub.start() was already called")
        address = self._address
        self._subscriber_factory = _SubscriberFactory(
            address, self._subscriber_ready, self._subscriber_lost, self._received
        )
        # What lazyConnectionPool() builds, with the endpoint on our reactor.
        self._pool = RedisFactory(
            f"{address.host}:{address.port}",
            address.db,
            1,
            isLazy=True,
            charset="utf-8",
            password=address.password,
            # Besides our addTimeout: a reply that never comes aborts the
            # connection, so a wedged link is replaced instead of kept forever.
            replyTimeout=self._publish_timeout,
            username=address.username,
        )
        connected = gatherResults(
            [self._subscriber_factory.deferred, self._pool.deferred], consumeErrors=True
        )
        endpoint = HostnameEndpoint(
            self._reactor, address.host, address.port, timeout=self._connect_timeout
        )
        self._subscriber_factory.startConnecting(endpoint)
        self._pool.startConnecting(endpoint)

        timer: IDelayedCall | None = None

        def cancel(_: Deferred[bool]) -> None:
            if timer is not None and timer.active():
                timer.cancel()

        result: Deferred[bool] = Deferred(cancel)

        def finish(value: bool) -> None:
            cancel(result)
            if not result.called:
                result.callback(value)

        def refused(failure: Failure) -> None:
            # AUTH or SELECT failed: txredisapi stops reconnecting for good.
            if isinstance(failure.value, FirstError):  # from gatherResults
                failure = failure.value.subFailure
            self.log.error(
                "Redis at {address} refused the connection ({error}); "
                "room events stay in this process",
                address=self.address,
                error=_describe(failure),
            )
            finish(False)

        def expire() -> None:
            if not result.called:
                self.log.warn(
                    "Redis at {address} is not reachable after {timeout} s; starting anyway. "
                    "Rooms are shared with other processes once it connects.",
                    address=self.address,
                    timeout=self._connect_timeout,
                )
                result.callback(False)

        connected.addCallbacks(lambda _: finish(True), refused)
        if not result.called:
            timer = self._clock.callLater(self._connect_timeout, expire)
        return result

    def stop(self) -> Deferred[None]:
        """Disconnect both connections and cancel every pending publish and timer.

        PUBLISH commands already written are flushed before the connection
        closes; those still waiting for a connection are dropped.
        """
        self._stopped = True
        waiters, self._waiters = self._waiters, {}
        restore, self._restore_waiters = self._restore_waiters, []
        for pending in waiters.values():
            for d in pending:
                d.callback(None)
        for waiter in restore:
            waiter.callback(len(self._desired))
        stopping = [
            f.disconnect() for f in (self._subscriber_factory, self._pool) if f is not None
        ]

        def cancel_publishes(_: object) -> None:
            for d in list(self._publishing):
                d.cancel()

        done = gatherResults(stopping, consumeErrors=True).addBoth(cancel_publishes)
        return done

    @property
    def address(self) -> str:
        """``host:port`` of Redis, safe to log (no credentials)."""
        return f"{self._address.host}:{self._address.port}"

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
        if channel in self._confirmed or self._stopped:
            return succeed(None)
        waiter: Deferred[None] = Deferred()
        self._waiters.setdefault(channel, []).append(waiter)
        if channel not in self._desired:
            self._desired[channel] = room_id
            if self._subscriber is not None:
                self._send_subscribe(self._subscriber, channel)
        return waiter

    def unsubscribe(self, room_id: int) -> None:
        """Stop receiving the room's events; messages already in flight are dropped."""
        channel = self.channel(room_id)
        if self._desired.pop(channel, None) is None:
            return
        self._confirmed.discard(channel)
        self._sent.pop(channel, None)
        for waiter in self._waiters.pop(channel, []):
            waiter.callback(None)
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
        if self._pool is None or self._stopped:
            return succeed(None)
        if self._dropping:
            if not self._pool.size:
                return succeed(None)
            self._dropping = False
        envelope = encode_envelope(self._origin, event)
        publishing: Deferred[None] = self._pool.handler.publish(
            self.channel(event.room_id), envelope
        )
        publishing.addTimeout(self._publish_timeout, self._clock)
        publishing.addCallbacks(self._published, self._publish_failed)
        self._publishing.add(publishing)
        publishing.addBoth(self._forget, publishing)
        return succeed(None)

    def flush(self) -> Deferred[None]:
        """Fire once every PUBLISH started so far has been answered or given up."""
        pending = list(self._publishing)
        if not pending:
            return succeed(None)
        return DeferredList(pending).addCallback(lambda _: None)

    def wait_for_resubscribe(self) -> Deferred[int]:
        """Fire with the number of rooms once the *next* subscriber connection has restored them.

        For operations and tests: it does not fire for the current
        connection, only for the one made after it is lost.
        """
        waiter: Deferred[int] = Deferred()
        self._restore_waiters.append(waiter)
        return waiter

    # -- publishing ----------------------------------------------------------

    def _deliver(self, event: RoomEvent) -> None:
        if self._listener is None:
            return
        try:
            self._listener.room_event(event)
        except Exception:  # noqa: BLE001 - one listener bug must not stop the publish
            self.log.failure("delivering a room event to this process's sockets failed")

    def _published(self, _: object) -> None:
        if self._failing:
            self._failing = False
            self.log.info(
                "publishing room events to Redis at {address} works again", address=self.address
            )

    def _publish_failed(self, failure: Failure) -> None:
        if self._stopped:
            return
        if self._pool is not None and not self._pool.size:
            self._dropping = True
        if self._failing:
            self.log.debug("a Redis PUBLISH failed: {error}", error=failure.getErrorMessage())
            return
        self._failing = True
        self.log.warn(
            "publishing room events to Redis at {address} failed ({error}); until it works "
            "again other processes miss this process's live events (clients catch up from "
            "history)",
            address=self.address,
            error=_describe(failure),
        )

    def _forget(self, result: object, publishing: Deferred[None]) -> object:
        self._publishing.discard(publishing)
        return result

    # -- subscribing -----------------------------------------------------------

    def _subscriber_ready(self, subscriber: _Subscriber) -> None:
        if self._stopped:
            return
        self._subscriber = subscriber
        self._confirmed.clear()
        subscriber.execute_command("CLIENT", "SETNAME", self.client_name).addErrback(
            self._ignore  # an ACL may forbid CLIENT; the name is only a convenience
        )
        restoring = [self._send_subscribe(subscriber, channel) for channel in list(self._desired)]
        self.log.info(
            "subscribed to Redis at {address} for {count} rooms",
            address=self.address,
            count=len(restoring),
        )
        waiters, self._restore_waiters = self._restore_waiters, []
        if waiters:
            count = len(restoring)

            def restored(_: object) -> None:
                for waiter in waiters:
                    waiter.callback(count)

            DeferredList(restoring).addCallback(restored)

    def _send_subscribe(self, subscriber: _Subscriber, channel: bytes) -> Deferred[None]:
        """SUBSCRIBE one channel per command, so that each reply confirms exactly one."""
        token = object()
        self._sent[channel] = token

        def confirmed(_: object) -> None:
            # Only if nothing changed meanwhile: a later unsubscribe or a new
            # connection makes this reply stale.
            if subscriber is self._subscriber and self._sent.get(channel) is token:
                self._confirmed.add(channel)
                for waiter in self._waiters.pop(channel, []):
                    waiter.callback(None)

        # A list: txredisapi only wraps a str, and would iterate bytes.
        try:
            sending: Deferred[object] = subscriber.subscribe([channel])
        except Exception:  # noqa: BLE001 - the link dropped; restored on reconnect
            return succeed(None)
        return sending.addCallbacks(confirmed, self._ignore)

    def _subscriber_lost(self, subscriber: _Subscriber, reason: Failure) -> None:
        if subscriber is not self._subscriber:
            return
        self._subscriber = None
        self._confirmed.clear()
        if not self._stopped:
            self.log.warn(
                "lost the Redis subscriber connection to {address} ({reason}); reconnecting. "
                "Events of other processes are missed until then (clients catch up from "
                "history).",
                address=self.address,
                reason=reason.getErrorMessage(),
            )

    def _received(self, channel: bytes, data: bytes) -> None:
        room_id = self._desired.get(channel)
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
        self._deliver(RoomEvent(room_id, envelope.payload, envelope.exclude))

    def _ignore(self, failure: Failure) -> None:
        self.log.debug("Redis subscriber command failed: {error}", error=failure.getErrorMessage())


def _describe(failure: Failure) -> str:
    """A short reason for a log line; ``addTimeout``'s error has no readable message."""
    if failure.check(defer.TimeoutError):
        return "no answer in time"
    message = failure.getErrorMessage()
    name = failure.type.__name__ if failure.type is not None else "error"
    return f"{name}: {message}" if message else name
