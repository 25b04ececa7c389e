"""Web Push's settings, its key command, and the cluster's answer to "who is online"."""

from __future__ import annotations

import io
from contextlib import redirect_stderr, redirect_stdout

from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.internet.testing import MemoryReactorClock
from twisted.trial.unittest import SynchronousTestCase, TestCase

from chatservice.cluster import LocalCluster
from chatservice.config import Config, ConfigError
from chatservice.push_models import b64url_decode
from chatservice.rediscluster import RedisCluster
from chatservice.redisurl import parse_redis_url
from chatservice.vapid import Vapid, main, new_key_pair
from tests.test_redishub import NO_REDIS, REDIS_URL, _unique_prefix

SUBJECT = "mailto:ops@chat.example"


class SettingsTests(SynchronousTestCase):
    """VAPID_PRIVATE_KEY, VAPID_SUBJECT and PUSH_MAX_SUBSCRIPTIONS are checked at start-up."""

    def test_push_is_off_by_default(self) -> None:
        """No key, no subject, ten subscriptions per user."""
        config = Config.defaults()
        self.assertEqual(
            (config.vapid_private_key, config.vapid_subject, config.push_max_subscriptions),
            (None, None, 10),
        )

    def test_a_generated_key_and_a_subject_turn_push_on(self) -> None:
        """The command's key is accepted from the environment, with a mailto: subject."""
        private, _ = new_key_pair()
        env = {"VAPID_PRIVATE_KEY": private, "VAPID_SUBJECT": SUBJECT}
        config = Config.from_sources({}, env)
        self.assertEqual((config.vapid_private_key, config.vapid_subject), (private, SUBJECT))

    def test_bad_push_settings_stop_start_up_naming_the_setting(self) -> None:
        """A key that is not one, a key without a subject, a bad subject, a bad bound."""
        private, _ = new_key_pair()
        cases = [
            ({"VAPID_PRIVATE_KEY": "not-a-key", "VAPID_SUBJECT": SUBJECT}, "VAPID_PRIVATE_KEY"),
            ({"VAPID_PRIVATE_KEY": private}, "VAPID_SUBJECT"),
            ({"VAPID_PRIVATE_KEY": private, "VAPID_SUBJECT": "ops@x"}, "VAPID_SUBJECT"),
            ({"PUSH_MAX_SUBSCRIPTIONS": "0"}, "PUSH_MAX_SUBSCRIPTIONS"),
        ]
        for env, named in cases:
            error = self.assertRaises(ConfigError, Config.from_sources, {}, env)
            self.assertIn(named, str(error))
            self.assertNotIn(private, str(error))

    def test_the_key_command_prints_a_pair_that_belongs_together(self) -> None:
        """``python -m chatservice.vapid``: the private key as a setting, its public key."""
        out = io.StringIO()
        with redirect_stdout(out):
            self.assertEqual(main(["vapid"]), 0)
        lines = out.getvalue().splitlines()
        private = lines[0].removeprefix("VAPID_PRIVATE_KEY=")
        public = lines[1].rsplit(" ", 1)[1]
        self.assertEqual(Vapid(private, SUBJECT, Clock()).public_key, public)
        self.assertEqual((len(b64url_decode(private)), len(b64url_decode(public))), (32, 65))
        with redirect_stderr(io.StringIO()):
            self.assertEqual(main(["vapid", "extra"]), 2)


class LocalOnlineTests(SynchronousTestCase):
    """One process: a user is online while it counts a socket of theirs."""

    def test_online_is_who_holds_a_socket(self) -> None:
        """Counted sockets make a user online; released, they are offline."""
        cluster = LocalCluster(Clock())
        cluster.count_socket(7)
        cluster.count_socket(7)
        self.assertEqual(cluster.online([7, 8]), frozenset({7}))
        cluster.release_socket(7)
        cluster.release_socket(7)
        self.assertEqual(cluster.online([7, 8]), frozenset())


async def ask(cluster: RedisCluster, user_ids: list[int]) -> frozenset[int]:
    """The cluster's answer, plain or later."""
    online = cluster.online(user_ids)
    return await online if isinstance(online, Deferred) else online


class SharedOnlineTests(TestCase):
    """Several processes: a socket on any live process makes a user online (Redis)."""

    skip = NO_REDIS if REDIS_URL is None else None
    timeout = 20

    async def cluster(self, instance: str, prefix: str) -> RedisCluster:
        assert REDIS_URL is not None
        cluster = RedisCluster(
            reactor, parse_redis_url(REDIS_URL), prefix=prefix, instance=instance, timeout=0.5
        )
        await cluster.start()
        self.addCleanup(cluster.stop)
        await cluster.when_connected()
        return cluster

    async def test_a_socket_on_another_process_counts(self) -> None:
        """Bob's socket on b makes him online for a; closed, he is offline for both."""
        prefix = _unique_prefix()
        a, b = await self.cluster("a", prefix), await self.cluster("b", prefix)
        self.assertIs(await b.reserve_socket(5, 20), True)
        self.assertIs(await a.reserve_socket(6, 20), True)
        self.assertEqual(await ask(a, [5, 6, 7]), frozenset({5, 6}))
        self.assertEqual(await ask(b, [5, 6, 7]), frozenset({5, 6}))
        b.release_socket(5)
        await b.beat()  # after the release, on b's one connection
        self.assertEqual(await ask(a, [5, 6, 7]), frozenset({6}))
        # Users with a socket here are answered without a round trip.
        self.assertEqual(a.online([6]), frozenset({6}))


class EncryptedAtRestSetupTests(SynchronousTestCase):
    """``setup_push`` reads ``ENCRYPTION_KEY`` from the config the service really has."""

    def test_with_a_key_ring_pushes_carry_no_content(self) -> None:
        from chatservice.keyring import new_key
        from chatservice.push import setup_push
        from chatservice.store.memory import MemoryStore

        # A reactor, not a Clock: the guarded push client takes its resolver.
        memory_reactor = MemoryReactorClock()
        private, _ = new_key_pair()
        base = {"VAPID_PRIVATE_KEY": private, "VAPID_SUBJECT": SUBJECT}
        for env, hidden in [(base, False), ({**base, "ENCRYPTION_KEY": new_key()}, True)]:
            config = Config.from_sources({}, env)
            _, notifier = setup_push(
                config, MemoryStore(), LocalCluster(memory_reactor), memory_reactor
            )
            assert notifier is not None
            self.assertIs(notifier._hide_content, hidden)
