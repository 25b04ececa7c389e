"""A Redis reconnect is no silent gap: the sockets of the cut process are caught up from the store.

Two complete services on one PostgreSQL database (a schema of their own) and
one Redis, a client on each in room 1, messages sent through the first. The
second service reaches Redis through a TCP proxy the test cuts in the middle
of the conversation and restores after more messages were stored: those
never reach it over pub/sub, and must reach its client anyway, from the
store, once the subscription is back. The proxy (rather than ``CLIENT
KILL``, which Redis follows by an immediate reconnection) keeps the link
down for as long as the test needs, so the gap is certain, not a race.

Needs ``CHAT_TEST_POSTGRES`` and ``CHAT_TEST_REDIS``.
"""

from __future__ import annotations

from twisted.internet import reactor
from twisted.trial.unittest import TestCase

from chatservice.redishub import RedisHub
from chatservice.redisurl import RedisAddress, parse_redis_url
from chatservice.service import ChatService
from chatservice.wire import CredentialsForm
from tests.fakes import ImmediateThreadPool, config_for_tests
from tests.test_outage import CuttableProxy
from tests.test_redishub import NO_REDIS, REDIS_URL, _unique_prefix, _when_hub_warns
from tests.test_store_postgresql import SKIP, PostgreSQLDatabase
from tests.wsclient import RecordingClient, join_tcp, serve_tcp

BURST = 10


class RedisReconnectCatchUpTests(PostgreSQLDatabase, TestCase):
    """After the subscriber connection is restored, the client has every stored message once."""

    skip = SKIP or (NO_REDIS if REDIS_URL is None else None)
    timeout = 30

    async def start_service(self, hub: RedisHub) -> tuple[ChatService, int]:
        """Start a service on its own pool of the shared schema, with ``hub``; return its port."""
        self.assertIs(await hub.start(), True)
        self.addCleanup(hub.stop)
        service = ChatService(
            config_for_tests(listen=("tcp:0:interface=127.0.0.1",), message_burst=100_000),
            reactor,
            store=self.build_store(),
            hub=hub,
            password_pool=ImmediateThreadPool(),  # type: ignore[arg-type]
        )
        return service, await serve_tcp(self, service)

    async def say(self, sender: RecordingClient, prefix: str, count: int = BURST) -> None:
        """Send ``count`` messages; wait until the sender's service stored and published them."""
        for n in range(count):
            sender.send_json({"content": f"{prefix}-{n}"})
        for _ in range(count):
            await sender.next_of("message")

    async def test_messages_sent_while_the_subscriber_is_cut_reach_the_client(self) -> None:
        """10 before the cut, 10 during it (lost on pub/sub), 10 after: all 31, once, in order."""
        assert REDIS_URL is not None
        redis = parse_redis_url(REDIS_URL)
        proxy = CuttableProxy(redis.host, redis.port)
        proxy_port = await proxy.start()
        self.addCleanup(proxy.close)
        prefix = _unique_prefix()
        hub_a = RedisHub.from_url(REDIS_URL, reactor, channel_prefix=prefix)
        hub_b = RedisHub(
            reactor,
            RedisAddress("127.0.0.1", proxy_port, redis.db, redis.username, redis.password),
            channel_prefix=prefix,
        )
        service_a, port_a = await self.start_service(hub_a)
        service_b, port_b = await self.start_service(hub_b)
        accounts = service_a.accounts
        alice_token = (await accounts.register(CredentialsForm("alice", "pw-123456"))).token
        bob_token = (await accounts.register(CredentialsForm("bob", "pw-123456"))).token
        alice = await join_tcp(self, reactor, port_a, alice_token)
        bob = await join_tcp(self, reactor, port_b, bob_token)
        await hub_b.subscribe(1)  # B receives room 1 from A

        await self.say(alice, "before")
        for _ in range(BURST):
            await bob.next_of("message")

        noticed = _when_hub_warns(self)
        proxy.cut()
        await noticed  # B saw a Redis connection drop
        await self.say(alice, "during")  # stored and published; B hears nothing
        restored = hub_b.wait_for_resubscribe()
        proxy.restore()
        self.assertEqual(await restored, 2)  # room 1 and the control channel
        await self.say(alice, "after")
        alice.send_json({"content": "marker"})
        while (await bob.next_of("message"))["content"] != "marker":
            pass

        stored = [m.id for m in await service_b.store.get_messages(1, 100)]
        self.assertEqual(len(stored), 3 * BURST + 1)
        received = [frame["id"] for frame in bob.of_type("message")]
        self.assertEqual(received, stored)
        self.assertEqual(bob.of_type("recovery"), [])
