"""Prometheus metrics: a real service's ``/metrics`` on its own port after a short conversation.

Metrics are facts about the process (module-level, as prometheus_client
intends), so other tests in the same process move them too: every check
here compares two scrapes taken around what the test does.
"""

from __future__ import annotations

from typing import Any

import treq
from twisted.internet import reactor
from twisted.internet.address import IPv4Address
from twisted.trial.unittest import TestCase
from twisted.web.client import HTTPConnectionPool

from chatservice.config import Config, ConfigError
from chatservice.metrics_http import OTHER, PREFLIGHT, UNMATCHED
from chatservice.service import ChatService
from chatservice.store.memory import MemoryStore
from chatservice.wire import CredentialsForm
from tests.fakes import ImmediateThreadPool, config_for_tests, make_service
from tests.metrics_support import current, moved, scrape, value
from tests.wsclient import Rest, join_tcp, serve_tcp

HTTP = "chat_http_request_duration_seconds_count"


class MetricsEndpointTests(TestCase):
    """A real service on 127.0.0.1:0 with its metrics on another 127.0.0.1:0 port."""

    timeout = 20

    async def start_service(self) -> tuple[ChatService, int, str]:
        """Serve the chat and the metrics; return the service, chat port and metrics URL."""
        config = config_for_tests(
            listen=("tcp:0:interface=127.0.0.1",),
            metrics_listen="tcp:0:interface=127.0.0.1",
            login_failure_limit=1,
        )
        service = ChatService(
            config,
            reactor,
            store=MemoryStore(),
            password_pool=ImmediateThreadPool(),  # type: ignore[arg-type]
        )
        port = await serve_tcp(self, service)
        assert service.metrics_port is not None
        address = service.metrics_port.getHost()
        assert isinstance(address, IPv4Address)
        self.assertNotEqual(address.port, port)
        self.pool = HTTPConnectionPool(reactor, persistent=False)
        return service, port, f"http://127.0.0.1:{address.port}/metrics"

    async def get(self, url: str, method: str = "GET", json: Any = None) -> int:
        """Make one request over real HTTP; return its status (the body is read and dropped)."""
        response = await treq.request(method, url, pool=self.pool, json=json)
        await response.content()
        code: int = response.code
        return code

    async def test_a_conversation_moves_each_counter_by_its_definition(self) -> None:
        """3 messages, 2 sockets: +3 stored, +6 deliveries; a 401 and a 429 under their routes."""
        service, port, metrics_url = await self.start_service()
        base = f"http://127.0.0.1:{port}"
        tokens = [
            (await service.accounts.register(CredentialsForm(name, "password-1"))).token
            for name in ("alice", "bob")
        ]
        _, _, empty = await scrape(metrics_url, self.pool)
        alice = await join_tcp(self, reactor, port, tokens[0])
        bob = await join_tcp(self, reactor, port, tokens[1])
        # bob's arrival reached alice: both sockets are in the room's fan-out.
        while (await alice.next_of("presence"))["username"] != "bob":
            pass
        code, kind, before = await scrape(metrics_url, self.pool)
        self.assertEqual(code, 200)
        self.assertTrue(kind.startswith("text/plain"), kind)
        self.assertEqual(moved(empty, before, "chat_open_sockets"), 2)
        self.assertEqual(moved(empty, before, "chat_open_rooms"), 1)

        for n in range(3):
            alice.send_json({"content": f"message {n}", "client_msg_id": f"m{n}"})
        for client in (alice, bob):
            for n in range(3):
                self.assertEqual((await client.next_of("message"))["content"], f"message {n}")
        # A repeated client_msg_id stores nothing and delivers nothing.
        alice.send_json({"content": "message 0", "client_msg_id": "m0"})
        await alice.next_of("message")
        # An HTTP 401, then a failed login (401) and the next one refused (429).
        self.assertEqual(await self.get(f"{base}/api/messages?roomId=1"), 401)
        login = {"username": "alice", "password": "wrong-password"}
        self.assertEqual(await self.get(f"{base}/api/login", method="POST", json=login), 401)
        self.assertEqual(await self.get(f"{base}/api/login", method="POST", json=login), 429)
        _, _, after = await scrape(metrics_url, self.pool)

        self.assertEqual(moved(before, after, "chat_messages_stored_total"), 3)
        self.assertEqual(moved(before, after, "chat_deliveries_total"), 6)
        self.assertEqual(moved(before, after, "chat_post_to_delivery_seconds_count"), 3)
        # The repeat went through a commit too (the store found the original).
        self.assertEqual(moved(before, after, "chat_store_batch_size_messages_sum"), 4)
        commits = moved(before, after, "chat_store_commit_seconds_count")
        self.assertEqual(moved(before, after, "chat_store_batch_size_messages_count"), commits)
        self.assertGreaterEqual(commits, 1)
        self.assertEqual(moved(before, after, "chat_open_sockets"), 0)
        messages = {"route": "/api/messages", "method": "GET", "status": "401"}
        self.assertEqual(moved(before, after, HTTP, **messages), 1)
        for status in ("401", "429"):
            login_labels = {"route": "/api/login", "method": "POST", "status": status}
            self.assertEqual(moved(before, after, HTTP, **login_labels), 1)
        limiter = {"limiter": "login-failures-per-address"}
        self.assertEqual(moved(before, after, "chat_rate_limited_total", **limiter), 1)
        # Only the first login checked a password (the second was refused first).
        self.assertEqual(moved(before, after, "chat_bcrypt_wait_seconds_count"), 1)
        self.assertEqual(value(after, "chat_bcrypt_queue_length"), 0)
        # No label carries a raw path.
        self.assertFalse(any("roomId" in str(labels) for _, labels in after))

        alice.sendClose()
        await alice.closed
        # The server counted her out before it told bob she left.
        while (await bob.next_of("presence"))["status"] != "offline":
            pass
        _, _, closed = await scrape(metrics_url, self.pool)
        self.assertEqual(moved(after, closed, "chat_open_sockets"), -1)

    async def test_the_chat_port_answers_404_on_metrics(self) -> None:
        """/metrics is not served on the chat port; the metrics port serves nothing else."""
        _, port, metrics_url = await self.start_service()
        self.assertEqual(await self.get(f"http://127.0.0.1:{port}/metrics"), 404)
        metrics_root = metrics_url.removesuffix("/metrics")
        self.assertEqual(await self.get(f"{metrics_root}/"), 404)
        self.assertEqual(await self.get(f"{metrics_root}/api/rooms"), 404)
        self.assertEqual(await self.get(metrics_url), 200)

    async def test_openmetrics_is_served_when_asked_for(self) -> None:
        """The exposition negotiates the format (prometheus_client's WSGI app)."""
        _, _, metrics_url = await self.start_service()
        accept = {"Accept": "application/openmetrics-text; version=1.0.0"}
        code, kind, _ = await scrape(metrics_url, self.pool, accept)
        self.assertEqual(code, 200)
        self.assertTrue(kind.startswith("application/openmetrics-text"), kind)

    async def test_stopping_stops_the_metrics_port(self) -> None:
        """After stopService the metrics port is closed too."""
        service, _, _ = await self.start_service()
        self.assertIsNotNone(service.metrics_port)
        await service.stopService()
        self.assertIsNone(service.metrics_port)


class MetricsOffTests(TestCase):
    """METRICS_LISTEN is off by default and checked when given."""

    def test_off_by_default(self) -> None:
        """No setting, no metrics port."""
        self.assertIsNone(Config.defaults().metrics_listen)
        service, _ = make_service()
        self.addCleanup(service.stopService)
        self.assertIsNone(service.metrics_port)

    def test_a_bad_endpoint_names_the_setting(self) -> None:
        """A description Twisted cannot parse stops the start with one line."""
        with self.assertRaises(ConfigError) as raised:
            Config.from_sources({"metrics-listen": "tcp:nine"}, {})
        self.assertIn("METRICS_LISTEN (--metrics-listen)", str(raised.exception))

    def test_the_option_comes_from_the_environment(self) -> None:
        """METRICS_LISTEN in the environment sets it."""
        config = Config.from_sources({}, {"METRICS_LISTEN": "tcp:9100:interface=127.0.0.1"})
        self.assertEqual(config.metrics_listen, "tcp:9100:interface=127.0.0.1")


class RouteLabelTests(TestCase):
    """HTTP requests are labelled by route template, never by raw path."""

    def setUp(self) -> None:
        service, _ = make_service()
        self.addCleanup(service.stopService)
        self.rest = Rest(service.resource())

    def count(self, route: str, method: str, status: str) -> float:
        """The request count of one label set, read from the registry directly."""
        return current(HTTP, route=route, method=method, status=status)

    def test_a_path_with_an_id_is_counted_under_its_template(self) -> None:
        """PATCH /api/rooms/12345 counts under /api/rooms/<int:room_id>."""
        template = ("/api/rooms/<int:room_id>", "PATCH", "401")
        before = self.count(*template)
        status, _ = self.rest.call("PATCH", "/api/rooms/12345", body={"name": "x"})
        self.assertEqual(status, 401)
        self.assertEqual(self.count(*template) - before, 1)
        self.assertEqual(self.count("/api/rooms/12345", "PATCH", "401"), 0)

    def test_unknown_paths_and_methods_share_fixed_labels(self) -> None:
        """Unknown paths are ``unmatched``, unknown methods ``other``, preflights ``preflight``."""
        before = self.count(UNMATCHED, "GET", "404")
        self.assertEqual(self.rest.call("GET", "/api/no/such/thing")[0], 404)
        self.assertEqual(self.rest.call("GET", "/api/another/unknown")[0], 404)
        self.assertEqual(self.count(UNMATCHED, "GET", "404") - before, 2)
        before = self.count(UNMATCHED, "other", "405")
        status, _ = self.rest.call("BREW", "/api/rooms")
        self.assertEqual(status, 405)
        self.assertEqual(self.count(UNMATCHED, "other", "405") - before, 1)
        before = self.count(PREFLIGHT, "OPTIONS", "204")
        self.assertEqual(self.rest.call_raw("OPTIONS", "/api/rooms/7")[0], 204)
        self.assertEqual(self.count(PREFLIGHT, "OPTIONS", "204") - before, 1)
        before = self.count(OTHER, "GET", "200")
        self.assertEqual(self.rest.call_raw("GET", "/")[0], 200)
        self.assertEqual(self.count(OTHER, "GET", "200") - before, 1)
