"""RedisHub: envelopes, URLs, and room events between two "processes" on a real Redis.

The Redis tests need ``CHAT_TEST_REDIS`` (e.g. ``redis://127.0.0.1:6379/15``);
each test uses its own channel prefix, so runs sharing a server do not mix.
The unreachable-Redis tests need no server: they point at a closed port.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from typing import Any

from twisted.internet import reactor as global_reactor
from twisted.internet.address import IPv4Address
from twisted.internet.defer import Deferred
from twisted.internet.protocol import Protocol, ServerFactory
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.logger import ILogObserver, LogLevel, globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase, TestCase
from zope.interface import implementer
from zope.interface.verify import verifyObject

from chatservice.hub import IHub, IRoomListener, RoomEvent
from chatservice.redisenvelope import Envelope, decode_envelope, encode_envelope
from chatservice.redishub import RedisHub
from chatservice.redisurl import RedisAddress, parse_redis_url
from chatservice.service import ChatService
from chatservice.store.memory import MemoryStore
from chatservice.tokens import Identity
from chatservice.websocket import ChatServerProtocol, SocketSession
from tests.fakes import FakeReactor, ImmediateThreadPool, config_for_tests, settle
from tests.logcapture import LogCapture
from tests.metrics_support import current

REDIS_URL = os.environ.get("CHAT_TEST_REDIS")
NO_REDIS = "set CHAT_TEST_REDIS (e.g. redis://127.0.0.1:6379/15) to run the Redis hub tests"


@implementer(IRoomListener)
class RecordingListener:
    """Records room events; ``wait_for(n)`` fires once ``n`` have arrived."""

    def __init__(self) -> None:
        self.events: list[RoomEvent] = []
        self.notices: list[tuple[str, list[int]]] = []
        self.restored: Deferred[list[int]] = Deferred()
        self._waiting: list[tuple[int, Deferred[list[RoomEvent]]]] = []

    def rooms_interrupted(self, room_ids: Sequence[int]) -> None:
        self.notices.append(("interrupted", sorted(room_ids)))

    def rooms_restored(self, room_ids: Sequence[int]) -> None:
        self.notices.append(("restored", sorted(room_ids)))
        if not self.restored.called:
            self.restored.callback(sorted(room_ids))

    def room_event(self, event: RoomEvent) -> None:
        self.events.append(event)
        ready = [(n, d) for n, d in self._waiting if len(self.events) >= n]
        self._waiting = [(n, d) for n, d in self._waiting if len(self.events) < n]
        for _, d in ready:
            d.callback(list(self.events))

    def wait_for(self, count: int) -> Deferred[list[RoomEvent]]:
        waiter: Deferred[list[RoomEvent]] = Deferred()
        if len(self.events) >= count:
            waiter.callback(list(self.events))
        else:
            self._waiting.append((count, waiter))
        return waiter


def _unique_prefix() -> str:
    return f"chat:test-{os.urandom(6).hex()}:"


def _closed_port() -> int:
    """A local TCP port nobody listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def _warnings(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in events if e["log_level"] == LogLevel.warn]


class EnvelopeTests(SynchronousTestCase):
    """The envelope format and the REDIS_URL parser."""

    def test_envelope_round_trip_keeps_payload_bytes_and_exclude(self) -> None:
        """Decoding an encoded envelope gives back origin, exclude and every payload byte."""
        payload = b'{"a":"\xc3\xa9"}\x1f\x00\xff\r\n'
        data = encode_envelope(b"abc123", RoomEvent(7, payload, exclude="p1-42"))
        self.assertEqual(decode_envelope(data), Envelope(b"abc123", "p1-42", payload))

    def test_envelope_without_exclude_decodes_to_none(self) -> None:
        """An event without ``exclude`` travels as an empty field and comes back as None."""
        data = encode_envelope(b"o", RoomEvent(1, b"{}"))
        self.assertEqual(data, b"o\x1f\x1f\x1f{}")
        self.assertEqual(decode_envelope(data), Envelope(b"o", None, b"{}"))

    def test_event_id_travels_beside_the_payload(self) -> None:
        """A stored event's id survives the trip, so the receiver keeps cursors without JSON."""
        data = encode_envelope(b"o", RoomEvent(1, b'{"id":42}\x1f', event_id=42))
        self.assertEqual(decode_envelope(data), Envelope(b"o", None, b'{"id":42}\x1f', 42))

    def test_previous_format_still_decodes_without_an_event_id(self) -> None:
        """An envelope from a process not yet upgraded (three fields) decodes as before."""
        self.assertEqual(
            decode_envelope(b'o\x1fp1-2\x1f{"a":"\x1f"}'),
            Envelope(b"o", "p1-2", b'{"a":"\x1f"}'),
        )
        self.assertEqual(decode_envelope(b"o\x1f\x1f{}"), Envelope(b"o", None, b"{}"))

    def test_separator_in_exclude_is_refused(self) -> None:
        """An exclude holding the separator would be ambiguous, so encoding refuses it."""
        self.assertRaises(ValueError, encode_envelope, b"o", RoomEvent(1, b"{}", "a\x1fb"))

    def test_foreign_message_is_not_an_envelope(self) -> None:
        """Something another program published on our channel is rejected, not delivered."""
        self.assertRaises(ValueError, decode_envelope, b"hello")
        self.assertRaises(ValueError, decode_envelope, b"\x1f\x1f{}")

    def test_url_with_credentials_port_and_db(self) -> None:
        """A full redis:// URL gives host, port, db, username and (unquoted) password."""
        self.assertEqual(
            parse_redis_url("redis://chat:p%40ss@redis.example:6380/3"),
            RedisAddress("redis.example", 6380, 3, "chat", "p@ss"),
        )

    def test_url_defaults(self) -> None:
        """Port 6379, no db, no credentials when the URL leaves them out; IPv6 hosts work."""
        self.assertEqual(parse_redis_url("redis://localhost"), RedisAddress("localhost"))
        self.assertEqual(
            parse_redis_url("redis://:secret@[::1]/"),
            RedisAddress("::1", 6379, None, None, "secret"),
        )

    def test_bad_urls_are_refused(self) -> None:
        """Another scheme, a bad port or a bad db is a ValueError naming REDIS_URL."""
        for url in ("http://h", "redis://h:port/0", "redis://h/zero", "rediss://h"):
            error = self.assertRaises(ValueError, parse_redis_url, url)
            self.assertIn("REDIS_URL", str(error))

    def test_from_url_channels_include_the_db(self) -> None:
        """Pub/sub ignores SELECT, so the db number is part of the channel prefix."""
        hub = RedisHub.from_url("redis://127.0.0.1:6379/4", FakeReactor())
        self.assertEqual(hub.channel(12), b"chat:4:room:12")
        self.assertTrue(verifyObject(IHub, hub))


class UnreachableRedisTests(TestCase):
    """A Redis that is down never hangs start-up nor fails or delays a poster."""

    timeout = 10

    def _hub(self, clock: Clock) -> RedisHub:
        hub = RedisHub(
            global_reactor,
            RedisAddress("127.0.0.1", _closed_port()),
            clock=clock,
            publish_timeout=2.0,
            connect_timeout=3.0,
        )
        self.addCleanup(hub.stop)
        return hub

    def test_start_gives_up_after_connect_timeout(self) -> None:
        """start() fires False with one warning after connect_timeout, instead of hanging."""
        logs = LogCapture(self, "chatservice.redishub")
        clock = Clock()
        started = self._hub(clock).start()
        self.assertNoResult(started)
        clock.advance(3.0)
        self.assertIs(self.successResultOf(started), False)
        self.assertEqual(len(_warnings(logs.events)), 1)

    def test_publish_times_out_without_failing_the_caller(self) -> None:
        """Local delivery is immediate, the PUBLISH is given up on the clock, one warning only."""
        logs = LogCapture(self, "chatservice.redishub")
        clock = Clock()
        hub = self._hub(clock)
        listener = RecordingListener()
        hub.set_listener(listener)
        hub.start()
        clock.advance(3.0)  # start-up gave up
        logs.clear()
        failures = current("chat_hub_publish_failures_total")

        event = RoomEvent(1, b'{"n":1}')
        self.assertIsNone(self.successResultOf(hub.publish(event)))
        self.assertEqual(listener.events, [event])
        flushed = hub.flush()
        self.assertNoResult(flushed)
        clock.advance(2.0)
        self.successResultOf(flushed)
        self.assertEqual(len(_warnings(logs.events)), 1)

        # The outage is known now: the next events are not even queued.
        second = RoomEvent(1, b'{"n":2}')
        self.successResultOf(hub.publish(second))
        self.successResultOf(hub.flush())
        self.assertEqual(listener.events, [event, second])
        self.assertEqual(len(_warnings(logs.events)), 1)
        # Both missed the other processes: one timed out, one was dropped.
        self.assertEqual(current("chat_hub_publish_failures_total") - failures, 2)


class _Silent(Protocol):
    """Accepts a connection and never answers: a Redis that hangs."""


class HungRedisTests(TestCase):
    """A Redis that accepts connections but never replies."""

    timeout = 10

    async def test_publish_to_a_silent_server_times_out(self) -> None:
        """A PUBLISH without a reply is given up after publish_timeout on the injected clock."""
        port = _listen_silently(self)
        clock = Clock()
        hub = RedisHub(global_reactor, RedisAddress("127.0.0.1", port), clock=clock)
        self.addCleanup(hub.stop)
        listener = RecordingListener()
        hub.set_listener(listener)
        self.assertIs(await hub.start(), True)  # TCP is up; nothing else is needed to connect

        self.successResultOf(hub.publish(RoomEvent(1, b"{}")))
        flushed = hub.flush()
        self.assertNoResult(flushed)
        clock.advance(5.0)
        self.successResultOf(flushed)
        self.assertEqual(len(listener.events), 1)


def _listen_silently(case: TestCase) -> int:
    factory = ServerFactory()
    factory.protocol = _Silent
    port = global_reactor.listenTCP(0, factory, interface="127.0.0.1")
    case.addCleanup(port.stopListening)
    address = port.getHost()
    assert isinstance(address, IPv4Address)
    return address.port


class RedisHubTests(TestCase):
    """Two hubs (two "processes") on the real server of CHAT_TEST_REDIS."""

    timeout = 15
    if REDIS_URL is None:
        skip = NO_REDIS

    async def _hub(self, prefix: str) -> tuple[RedisHub, RecordingListener]:
        assert REDIS_URL is not None
        hub = RedisHub.from_url(REDIS_URL, global_reactor, channel_prefix=prefix)
        self.addCleanup(hub.stop)
        listener = RecordingListener()
        hub.set_listener(listener)
        self.assertIs(await hub.start(), True)
        return hub, listener

    async def _pair(self) -> tuple[RedisHub, RecordingListener, RedisHub, RecordingListener]:
        prefix = _unique_prefix()
        a, heard_a = await self._hub(prefix)
        b, heard_b = await self._hub(prefix)
        return a, heard_a, b, heard_b

    async def test_event_reaches_each_process_exactly_once(self) -> None:
        """Another process gets an event once; the poster's process once (locally, no echo)."""
        a, heard_a, b, heard_b = await self._pair()
        await a.subscribe(1)
        await b.subscribe(1)
        first, reply, third = RoomEvent(1, b"1"), RoomEvent(1, b"2"), RoomEvent(1, b"3")

        await a.publish(first)
        self.assertEqual(heard_a.events, [first])  # delivered before any round trip
        self.assertEqual(await heard_b.wait_for(1), [first])
        # Ping-pong: each answer travels behind the echo it must prove ignored.
        await b.publish(reply)
        self.assertEqual(await heard_a.wait_for(2), [first, reply])
        await a.publish(third)
        self.assertEqual(await heard_b.wait_for(3), [first, reply, third])
        self.assertEqual(heard_a.events, [first, reply, third])

    async def test_a_started_hub_is_reachable_and_a_stopped_one_is_not(self) -> None:
        """What ``/health`` reports as ``redis``: ok once started, down once stopped."""
        assert REDIS_URL is not None
        hub = RedisHub.from_url(REDIS_URL, global_reactor, channel_prefix=_unique_prefix())
        self.assertFalse(hub.reachable())
        self.assertIs(await hub.start(), True)
        await hub.subscribe(1)
        self.assertTrue(hub.reachable())
        await hub.stop()
        self.assertFalse(hub.reachable())

    async def test_exclude_and_payload_bytes_survive_the_trip(self) -> None:
        """``exclude`` and every payload byte (large, binary, separator included) arrive intact."""
        a, _, b, heard_b = await self._pair()
        await b.subscribe(5)
        small = RoomEvent(5, '{"t":"é"}\x1f'.encode(), exclude="abcd-17")
        large = RoomEvent(5, bytes(range(256)) * 400)  # 100 KiB: crosses TCP reads
        await a.publish(small)
        await a.publish(large)
        self.assertEqual(await heard_b.wait_for(2), [small, large])

    async def test_unsubscribed_rooms_are_not_delivered(self) -> None:
        """Events of a room left (or never joined) do not reach the listener."""
        a, _, b, heard_b = await self._pair()
        await b.subscribe(1)
        await b.subscribe(2)
        b.unsubscribe(1)
        await a.publish(RoomEvent(1, b"left"))
        await a.publish(RoomEvent(3, b"never joined"))
        await a.publish(RoomEvent(2, b"joined"))
        # One publishing connection keeps order: anything of rooms 1 and 3
        # would have arrived before this.
        self.assertEqual(await heard_b.wait_for(1), [RoomEvent(2, b"joined")])

    async def test_subscriptions_are_restored_after_the_connection_is_killed(self) -> None:
        """After Redis drops the subscriber, the hub reconnects, re-subscribes, and events flow."""
        assert REDIS_URL is not None
        a, _, b, heard_b = await self._pair()
        await b.subscribe(1)
        await b.subscribe(2)
        restored = b.wait_for_resubscribe()
        reconnects = current("chat_hub_reconnects_total")
        await _kill_client(self, REDIS_URL, b.client_name)
        self.assertEqual(await restored, 2)
        self.assertEqual(current("chat_hub_reconnects_total") - reconnects, 1)
        await a.publish(RoomEvent(1, b"after", event_id=7))
        self.assertEqual(await heard_b.wait_for(1), [RoomEvent(1, b"after", event_id=7)])

    async def test_listener_hears_of_the_lost_connection_and_the_restored_rooms(self) -> None:
        """Not on the first subscribe; after a kill, which rooms were cut and are back."""
        assert REDIS_URL is not None
        _, _, b, heard_b = await self._pair()
        await b.subscribe(1)
        await b.subscribe(2)
        self.assertEqual(heard_b.notices, [])
        await _kill_client(self, REDIS_URL, b.client_name)
        self.assertEqual(await heard_b.restored, [1, 2])
        self.assertEqual(heard_b.notices, [("interrupted", [1, 2]), ("restored", [1, 2])])

    async def test_subscribe_while_disconnected_fires_once_restored(self) -> None:
        """A room joined while the subscriber is down is subscribed on reconnection."""
        assert REDIS_URL is not None
        a, _, b, heard_b = await self._pair()
        restored = b.wait_for_resubscribe()
        lost = _when_hub_warns(self)
        await _kill_client(self, REDIS_URL, b.client_name)
        await lost  # the hub noticed
        subscribed = b.subscribe(4)
        self.assertNoResult(subscribed)
        self.assertEqual(await restored, 1)
        await subscribed
        await a.publish(RoomEvent(4, b"x"))
        self.assertEqual(await heard_b.wait_for(1), [RoomEvent(4, b"x")])


def _when_hub_warns(case: TestCase) -> Deferred[None]:
    """A Deferred that fires at the hub's next warning (e.g. "lost the subscriber")."""
    fired: Deferred[None] = Deferred()

    @implementer(ILogObserver)
    def observe(event: dict[str, Any]) -> None:
        if (
            event.get("log_namespace", "").startswith("chatservice.redishub")
            and event["log_level"] == LogLevel.warn
            and not fired.called
        ):
            fired.callback(None)

    globalLogPublisher.addObserver(observe)
    case.addCleanup(globalLogPublisher.removeObserver, observe)
    return fired


async def _kill_client(case: TestCase, url: str, name: str) -> None:
    """Kill one named client with CLIENT KILL ID, as Redis does to a slow subscriber."""
    import txredisapi

    address = parse_redis_url(url)
    redis = await txredisapi.Connection(
        address.host,
        address.port,
        reconnect=False,
        password=address.password,
        username=address.username,
    )
    case.addCleanup(redis.disconnect)
    clients = await redis.execute_command("CLIENT", "LIST")
    ids = [
        fields["id"]
        for line in clients.splitlines()
        for fields in [dict(f.split("=", 1) for f in line.split(" ") if "=" in f)]
        if fields.get("name") == name
    ]
    case.assertEqual(len(ids), 1, f"no single client named {name}")
    await redis.execute_command("CLIENT", "KILL", "ID", ids[0])


class ServiceWiringTests(TestCase):
    """ChatService builds, starts and stops a RedisHub when REDIS_URL is set."""

    timeout = 10

    def test_redis_down_at_start_does_not_block_start(self) -> None:
        """With Redis unreachable, start-up finishes after the bounded wait; stop is clean."""
        logs = LogCapture(self, "chatservice.redishub")
        reactor = FakeReactor()
        service = ChatService(
            config_for_tests(redis_url="redis://127.0.0.1:1/0"),
            reactor,
            store=MemoryStore(reactor),
            password_pool=ImmediateThreadPool(),  # type: ignore[arg-type]
        )
        self.assertIsInstance(service.hub, RedisHub)
        service.startService()
        self.assertNoResult(service.ready)
        reactor.advance(5.0)
        self.successResultOf(service.ready)
        self.assertEqual(len(_warnings(logs.events)), 1)
        self.successResultOf(service.stopService())

    async def test_message_posted_on_one_service_reaches_a_socket_on_the_other(self) -> None:
        """Two services sharing a store and Redis: a post on A is written to B's socket."""
        if REDIS_URL is None:
            self.skipTest(NO_REDIS)
        prefix = _unique_prefix()
        store_clock = FakeReactor()
        store = MemoryStore(store_clock)
        services = []
        for _ in range(2):
            hub = RedisHub.from_url(REDIS_URL, global_reactor, channel_prefix=prefix)
            self.assertIs(await hub.start(), True)
            self.addCleanup(hub.stop)
            clock = FakeReactor()
            service = ChatService(
                config_for_tests(),
                clock,
                store=store,
                hub=hub,
                password_pool=ImmediateThreadPool(),  # type: ignore[arg-type]
            )
            service.startService()
            await service.ready
            self.addCleanup(service.stopService)
            services.append((service, hub, clock))
        (service_a, _, clock_a), (service_b, hub_b, _) = services

        general = (await service_a.rooms.list())[0]
        arrived: Deferred[None] = Deferred()
        transport = _WatchingTransport(b"hello from A", arrived)
        socket_b = service_b.sockets.buildProtocol(None)
        assert isinstance(socket_b, ChatServerProtocol)
        socket_b.session = SocketSession(Identity(2, "bob", 2e9), general.id, None, "b-1")
        socket_b.transport = transport
        socket_b.state = socket_b.STATE_OPEN
        service_b.sockets.join(socket_b)
        self.addCleanup(service_b.sockets.leave, socket_b)
        await hub_b.subscribe(general.id)

        posting = service_a.messages.post(Identity(1, "alice", 2e9), general.id, "hello from A")
        settle(clock_a)  # the post commits at the end of A's reactor turn
        await posting
        await arrived


class _WatchingTransport(StringTransport):
    """A transport that fires a Deferred once some bytes have been written."""

    def __init__(self, needle: bytes, seen: Deferred[None]) -> None:
        super().__init__()
        self._needle = needle
        self._seen = seen

    def write(self, data: bytes) -> None:
        super().write(data)
        if self._needle in self.value() and not self._seen.called:
            # Not from inside write(): the test would resume, and clean up,
            # while the factory is still iterating over the room's sockets.
            global_reactor.callLater(0, self._seen.callback, None)
