"""Web Push endpoints pass the webhooks' SSRF guard: at registration and at delivery."""

from __future__ import annotations

import json
from typing import Any

from twisted.internet.defer import Deferred, ensureDeferred
from twisted.internet.testing import MemoryReactorClock
from twisted.trial.unittest import SynchronousTestCase

from chatservice.cluster import LocalCluster
from chatservice.errors import InvalidRequest
from chatservice.push import guarded_push_http, setup_push
from chatservice.push_models import parse_subscription
from chatservice.ssrf import ForbiddenAddress
from chatservice.store.memory import MemoryStore
from chatservice.tokens import Identity
from chatservice.webhook_client import WebhookTransport
from tests.fakes import config_for_tests
from tests.push_support import PUSH_SETTINGS, Browser
from tests.webhook_support import FakeResolver

REFUSED_ENDPOINTS = (
    "https://127.0.0.1/push/1",
    "https://[::1]:8443/push",
    "https://[::ffff:127.0.0.1]/push",
    "https://[::ffff:10.0.0.1]/push",
    "https://10.0.0.1/push",
    "https://192.168.1.20/push",
    "https://169.254.169.254/latest/meta-data",
    "https://[fe80::1]/push",
    "https://2130706433/push",
    "https://localhost:9000/push",
)


def _body(endpoint: str) -> bytes:
    return json.dumps(Browser().subscription(endpoint)).encode()


class RegistrationTests(SynchronousTestCase):
    """A literal forbidden host is a 400 when a browser registers."""

    def test_literal_private_hosts_are_refused_unless_allowed(self) -> None:
        """Loopback, private, link-local, mapped, shorthand and localhost: refused."""
        for endpoint in REFUSED_ENDPOINTS:
            error = self.assertRaises(InvalidRequest, parse_subscription, _body(endpoint))
            self.assertIn("refused", error.message, endpoint)
            form = parse_subscription(_body(endpoint), allow_private=True)
            self.assertEqual(form.endpoint, endpoint)

    def test_names_and_public_literals_pass(self) -> None:
        """A name is checked at delivery; a public address now."""
        for endpoint in ("https://fcm.googleapis.com/fcm/send/x", "https://8.8.8.8/p"):
            self.assertEqual(parse_subscription(_body(endpoint)).endpoint, endpoint)

    def _register(self, endpoint: str, allow_private: bool) -> Deferred[Any]:
        """Register ``endpoint`` for a new user of a service with the setting on or off."""
        reactor = MemoryReactorClock()
        store = MemoryStore(reactor)
        config = config_for_tests(**{**PUSH_SETTINGS, "webhook_allow_private": allow_private})
        subscriptions, _ = setup_push(config, store, LocalCluster(reactor), reactor)
        user = self.successResultOf(store.create_user("alice", b"hash", 1))
        identity = Identity(user.id, "alice", expires_at=10**9)
        return ensureDeferred(subscriptions.register(identity, _body(endpoint)))

    def test_the_service_setting_decides(self) -> None:
        """``setup_push`` hands ``WEBHOOK_ALLOW_PRIVATE`` to registration."""
        failure = self.failureResultOf(
            self._register("https://127.0.0.1/p", allow_private=False), InvalidRequest
        )
        self.assertIn("refused", failure.value.message)
        stored = self.successResultOf(self._register("https://127.0.0.1/p", allow_private=True))
        self.assertEqual(stored.endpoint, "https://127.0.0.1/p")


class DeliveryTests(SynchronousTestCase):
    """A push goes through the guarded agent: the name is resolved once and checked."""

    def _post(self, address: str, allow_private: bool) -> tuple[object, MemoryReactorClock]:
        reactor = MemoryReactorClock()
        resolver = FakeResolver({"push.example.com": [address]})
        config = config_for_tests(**{**PUSH_SETTINGS, "webhook_allow_private": allow_private})
        http = guarded_push_http(reactor, WebhookTransport(resolver, reactor), config)
        sending = http.post("https://push.example.com/p/1", {"TTL": "60"}, b"x")
        return sending, reactor

    def test_a_name_resolving_to_a_refused_address_is_never_connected(self) -> None:
        """push.example.com -> 10.0.0.7, ::ffff:127.0.0.1, 169.254.169.254: ForbiddenAddress."""
        for address in ("10.0.0.7", "::ffff:127.0.0.1", "169.254.169.254", "127.0.0.1"):
            sending, reactor = self._post(address, allow_private=False)
            self.failureResultOf(sending, ForbiddenAddress)
            self.assertEqual(reactor.tcpClients, [], address)

    def test_a_public_address_is_connected_to_and_the_setting_lets_private_through(self) -> None:
        """The connection goes to the vetted address; with the setting, a private one too."""
        sending, reactor = self._post("93.184.216.34", allow_private=False)
        [(host, port, *_)] = reactor.tcpClients
        self.assertEqual((host, port), ("93.184.216.34", 443))
        sending, reactor = self._post("10.0.0.7", allow_private=True)
        [(host, port, *_)] = reactor.tcpClients
        self.assertEqual((host, port), ("10.0.0.7", 443))

    def test_the_service_pushes_through_the_guard(self) -> None:
        """Without an injected client, ``setup_push``'s sender uses the guarded one."""
        reactor = MemoryReactorClock()
        resolver = FakeResolver({"push.example.com": ["10.0.0.7"]})
        config = config_for_tests(**{**PUSH_SETTINGS, "webhook_allow_private": False})
        _, notifier = setup_push(
            config,
            MemoryStore(reactor),
            LocalCluster(reactor),
            reactor,
            transport=WebhookTransport(resolver, reactor),
        )
        assert notifier is not None
        http = notifier._sender._http  # noqa: SLF001 - the wiring is what is tested
        self.failureResultOf(http.post("https://push.example.com/p", {}, b"x"), ForbiddenAddress)
        self.assertEqual(reactor.tcpClients, [])
