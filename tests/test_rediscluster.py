"""RedisCluster: two "processes" (two clusters, one prefix) share limits, presence and tickets.

Needs ``CHAT_TEST_REDIS``; each test uses a key prefix of its own. The
fallback tests need no server: they point at a closed port.
"""

from __future__ import annotations

from typing import Any

from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.logger import LogLevel
from twisted.trial.unittest import TestCase
from txredisapi import Connection
from zope.interface.verify import verifyObject

from chatservice.cluster import ICluster, take
from chatservice.ratelimit import Rate
from chatservice.rediscluster import RedisCluster
from chatservice.redisurl import RedisAddress, parse_redis_url
from chatservice.tokens import Identity
from tests.logcapture import LogCapture
from tests.test_outage import CuttableProxy
from tests.test_redishub import NO_REDIS, REDIS_URL, _closed_port, _unique_prefix

# Practically no refill during a test: a bucket's answers depend on takes only.
SLOW = Rate(burst=3, per_second=0.001)
ALICE = Identity(7, "alice", 4_000_000_000.0)


class SharedTests(TestCase):
    """What one process counts, the other sees."""

    skip = NO_REDIS if REDIS_URL is None else None
    timeout = 20

    def setUp(self) -> None:
        self.prefix = _unique_prefix()
        self.offline: list[tuple[int, int, str, str]] = []

    async def cluster(self, instance: str, address: RedisAddress | None = None) -> RedisCluster:
        """A started cluster named ``instance`` on this test's prefix, stopped at clean-up."""
        assert REDIS_URL is not None
        cluster = RedisCluster(
            reactor,
            address or parse_redis_url(REDIS_URL),
            prefix=self.prefix,
            instance=instance,
            timeout=0.5,
        )
        cluster.on_presence(lambda *presence: self.offline.append(presence))
        await cluster.start()
        self.addCleanup(cluster.stop)
        await cluster.when_connected()
        return cluster

    async def redis(self) -> Any:
        """A plain connection to the test Redis, for what a test must set by hand."""
        assert REDIS_URL is not None
        address = parse_redis_url(REDIS_URL)
        connection = await Connection(address.host, address.port, address.db, reconnect=False)
        self.addCleanup(connection.disconnect)
        return connection

    async def test_it_is_a_cluster(self) -> None:
        """``RedisCluster`` provides ``ICluster``."""
        self.assertTrue(verifyObject(ICluster, await self.cluster("a")))

    async def test_the_socket_limit_holds_across_processes(self) -> None:
        """Limit 3: two here and one there leave no room anywhere; a close frees one."""
        a, b = await self.cluster("a"), await self.cluster("b")
        self.assertEqual([await a.reserve_socket(5, 3) for _ in range(2)], [True, True])
        self.assertIs(await b.reserve_socket(5, 3), True)
        self.assertIs(await b.reserve_socket(5, 3), False)
        self.assertIs(await a.reserve_socket(5, 3), False)
        self.assertIs(await b.reserve_socket(6, 3), True)  # another user
        a.release_socket(5)
        await a.beat()  # after the release, on a's one connection
        self.assertIs(await b.reserve_socket(5, 3), True)
        self.assertEqual((a.sockets_of(5), b.sockets_of(5)), (1, 2))

    async def test_presence_is_the_first_and_last_socket_anywhere(self) -> None:
        """Online on the first socket of any process, offline on the last of all."""
        a, b = await self.cluster("a"), await self.cluster("b")
        self.assertIs(await a.arrive(1, 7, "alice"), True)
        self.assertIs(await b.arrive(1, 7, "alice"), False)
        self.assertIs(await a.arrive(2, 7, "alice"), True)  # another room
        self.assertIs(await a.depart(1, 7), False)  # still on b
        self.assertIs(await b.depart(1, 7), True)
        self.assertIs(await b.arrive(1, 7, "alice"), True)

    async def test_a_dead_process_stops_counting_and_its_users_go_offline(self) -> None:
        """A process silent past the ttl: its sockets free, its users announced once."""
        a, b = await self.cluster("a"), await self.cluster("b")
        self.assertTrue(await a.reserve_socket(5, 1))
        self.assertTrue(await a.arrive(1, 7, "alice"))
        self.assertTrue(await a.arrive(1, 8, "bob"))
        self.assertFalse(await b.arrive(1, 8, "bob"))  # bob is on b too
        self.assertFalse(await b.reserve_socket(5, 1))
        await a.stop()  # no withdrawal reaches Redis below: it is made stale by hand
        redis = await self.redis()
        await redis.zadd(self.prefix + "instances", 0, "a")
        await redis.hset(self.prefix + "presence:a", "1:7", "alice")
        await redis.hset(self.prefix + "presence:a", "1:8", "bob")
        await redis.hset(self.prefix + "sockets:a", "5", 1)
        await b.beat()
        self.assertEqual(self.offline, [(1, 7, "alice", "offline")])
        self.assertIs(await b.reserve_socket(5, 1), True)
        await b.beat()
        self.assertEqual(len(self.offline), 1)  # announced once

    async def test_the_message_rate_is_one_bucket_for_all_processes(self) -> None:
        """Burst 3: two takes here and one there; the fourth is refused on both."""
        a, b = await self.cluster("a"), await self.cluster("b")
        rate_a, rate_b = a.rate("messages-per-user", SLOW), b.rate("messages-per-user", SLOW)
        allowed = [(await take(r, "7")).allowed for r in (rate_a, rate_a, rate_b)]
        self.assertEqual(allowed, [True, True, True])
        refused = await take(rate_b, "7")
        self.assertFalse(refused.allowed)
        self.assertGreater(refused.retry_after, 100)
        self.assertFalse((await take(rate_a, "7")).allowed)
        self.assertTrue((await take(rate_a, "8")).allowed)
        self.assertEqual(rate_a.refusal(refused).limiter, "messages-per-user")

    async def test_a_ticket_is_used_once_by_any_process(self) -> None:
        """Issued by a, redeemed by b; then it is gone for both."""
        a, b = await self.cluster("a"), await self.cluster("b")
        ticket = await a.issue_ticket(ALICE)
        self.assertEqual(await b.redeem_ticket(ticket), ALICE)
        self.assertIsNone(await a.redeem_ticket(ticket))
        self.assertIsNone(await b.redeem_ticket(ticket))
        self.assertIsNone(await b.redeem_ticket("x" * 10_000))
        self.assertEqual(len(a.local.tickets), 0)  # it lived in Redis only

    async def test_a_ticket_keeps_the_session_and_generation_of_its_token(self) -> None:
        """What revocation judges a ticket's socket by crosses Redis whole."""
        a, b = await self.cluster("a"), await self.cluster("b")
        identity = Identity(7, "alice", 4_000_000_000.0, "s-1", 3)
        self.assertEqual(await b.redeem_ticket(await a.issue_ticket(identity)), identity)

    async def test_after_an_outage_the_mirror_is_rebuilt_from_what_the_process_holds(
        self,
    ) -> None:
        """Counts made while cut off reach Redis on reconnection; one warning, one recovery."""
        assert REDIS_URL is not None
        logs = LogCapture(self, "chatservice.rediscluster")
        redis = parse_redis_url(REDIS_URL)
        proxy = CuttableProxy(redis.host, redis.port)
        port = await proxy.start()
        self.addCleanup(proxy.close)
        a = await self.cluster("a", RedisAddress("127.0.0.1", port, redis.db))
        b = await self.cluster("b")
        self.assertTrue(await a.reserve_socket(5, 2))
        proxy.cut()
        a.release_socket(5)  # never reaches Redis
        self.assertEqual([await a.reserve_socket(5, 2) for _ in range(3)], [True, True, False])
        self.assertIs(await a.arrive(1, 5, "eve"), True)  # decided locally
        proxy.restore()
        await a.when_connected()
        await a.beat()  # rebuilds the mirror first
        self.assertIs(await b.reserve_socket(5, 2), False)  # a holds 2, as it counted
        self.assertIs(await b.arrive(1, 5, "eve"), False)
        warnings = [e for e in logs.events if e["log_level"] == LogLevel.warn]
        self.assertEqual(len(warnings), 1, warnings)
        self.assertTrue(any("answers again" in e["log_format"] for e in logs.events))


class FallbackTests(TestCase):
    """Without Redis every decision is this process's own, and nothing hangs."""

    timeout = 10

    async def test_decisions_are_local_while_redis_is_unreachable(self) -> None:
        """Socket limit, presence, rates and tickets keep working, per process."""
        logs = LogCapture(self, "chatservice.rediscluster")
        cluster = RedisCluster(
            reactor,
            RedisAddress("127.0.0.1", _closed_port(), 0),
            prefix=_unique_prefix(),
            instance="lonely",
            timeout=0.2,
        )
        await cluster.start()
        self.addCleanup(cluster.stop)
        reserved = [await cluster.reserve_socket(5, 2) for _ in range(3)]
        self.assertEqual(reserved, [True, True, False])
        self.assertIs(await cluster.arrive(1, 5, "eve"), True)
        self.assertIs(await cluster.arrive(1, 5, "eve"), False)
        rate = cluster.rate("messages-per-user", SLOW)
        self.assertEqual([(await take(rate, "5")).allowed for _ in range(4)], [True] * 3 + [False])
        ticket = await cluster.issue_ticket(ALICE)
        self.assertEqual(await cluster.redeem_ticket(ticket), ALICE)
        self.assertIsNone(await cluster.redeem_ticket(ticket))
        warnings = [e for e in logs.events if e["log_level"] == LogLevel.warn]
        self.assertEqual(len(warnings), 1)
        self.assertIn("per process", warnings[0]["log_format"])

    async def test_stop_does_not_wait_for_an_unreachable_redis(self) -> None:
        """A cluster that never connected stops at once."""
        cluster = RedisCluster(
            reactor,
            RedisAddress("127.0.0.1", _closed_port(), 0),
            prefix=_unique_prefix(),
            instance="lonely",
        )
        await cluster.start()
        stopping: Deferred[None] = cluster.stop()
        await stopping
        self.assertFalse(cluster.reachable())
