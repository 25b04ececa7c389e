"""Listening sockets for ``--workers``: which endpoints can be shared, binding, adopting.

Also the settings several workers refuse (``workers.check_supported``) and
the ``WORKERS`` setting itself.
"""

from __future__ import annotations

import os
import socket

import treq
from twisted.internet import reactor
from twisted.internet.testing import MemoryReactor
from twisted.trial.unittest import SynchronousTestCase, TestCase
from twisted.web.client import HTTPConnectionPool
from twisted.web.resource import Resource
from twisted.web.server import Site

from chatservice.config import Config, ConfigError
from chatservice.listening import (
    DEFAULT_BACKLOG,
    AdoptedPort,
    bind_shared,
    open_ports,
    shared_tcp_address,
)
from chatservice.service import ChatService
from chatservice.workers import check_supported
from tests.fakes import ImmediateThreadPool, config_for_tests

REDIS = "redis://127.0.0.1:6379/15"


class SharedAddressTests(SynchronousTestCase):
    """``tcp:``/``tcp6:`` descriptions parse as Twisted's own endpoints do; others are refused."""

    def test_tcp_with_keywords(self) -> None:
        """Port, interface and backlog by name."""
        address = shared_tcp_address("tcp:8081:interface=127.0.0.1:backlog=128")
        self.assertEqual(
            (address.family, address.interface, address.port, address.backlog),
            (socket.AF_INET, "127.0.0.1", 8081, 128),
        )

    def test_positional_arguments_follow_twisteds_order(self) -> None:
        """tcp: is PORT:INTERFACE:BACKLOG, tcp6: is PORT:BACKLOG:INTERFACE."""
        four = shared_tcp_address("tcp:8081:10.0.0.1:7")
        self.assertEqual((four.interface, four.backlog), ("10.0.0.1", 7))
        six = shared_tcp_address(r"tcp6:8081:7:\:\:1")
        self.assertEqual((six.family, six.interface, six.backlog), (socket.AF_INET6, "::1", 7))

    def test_defaults_are_every_interface(self) -> None:
        """No interface: every IPv4 (or IPv6) address, backlog 50."""
        self.assertEqual(shared_tcp_address("tcp:0").interface, "")
        self.assertEqual(shared_tcp_address("tcp6:0").interface, "::")
        self.assertEqual(shared_tcp_address("tcp:0").backlog, DEFAULT_BACKLOG)

    def test_other_endpoint_types_are_refused_naming_the_option(self) -> None:
        """unix:, ssl: and friends cannot be shared: the message names --listen and tcp:."""
        for description in ("unix:/run/chat.sock", "ssl:8443:privateKey=k.pem", "systemd:0"):
            with self.assertRaises(ConfigError) as raised:
                shared_tcp_address(description)
            self.assertIn("--listen", str(raised.exception))
            self.assertIn("tcp:", str(raised.exception))

    def test_malformed_tcp_descriptions_are_refused(self) -> None:
        """A port that is no number or out of range, an unknown keyword, a repeated one."""
        for description in (
            "tcp:http",
            "tcp:70000",
            "tcp:8081:reusePort=1",
            "tcp:8081:interface=a:interface=b",
            "tcp:8081:a:1:extra",
        ):
            with self.assertRaises(ConfigError, msg=description):
                shared_tcp_address(description)


class BindSharedTests(SynchronousTestCase):
    """The supervisor's socket: bound, listening, non-blocking."""

    def test_binds_a_listening_non_blocking_socket(self) -> None:
        """A client can connect at once; the socket is what ``adoptStreamPort`` needs."""
        shared = bind_shared("tcp:0:interface=127.0.0.1")
        self.addCleanup(shared.close)
        self.assertFalse(shared.getblocking())
        self.assertEqual(shared.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN), 1)
        with socket.create_connection(shared.getsockname(), timeout=5):
            pass

    def test_an_address_in_use_raises(self) -> None:
        """Binding where another socket listens is an OSError for the supervisor to report."""
        shared = bind_shared("tcp:0:interface=127.0.0.1")
        self.addCleanup(shared.close)
        port = shared.getsockname()[1]
        with self.assertRaises(OSError):
            bind_shared(f"tcp:{port}:interface=127.0.0.1").close()


class AdoptedPortTests(TestCase):
    """A ChatService serves an adopted socket and leaves it listening for the others."""

    timeout = 30

    async def serve_once(self, shared: socket.socket, pool: HTTPConnectionPool) -> None:
        """Adopt a duplicate of ``shared`` in a new service, answer /health, stop."""
        fd = os.dup(shared.fileno())
        service = ChatService(
            config_for_tests(listen=("tcp:0:interface=127.0.0.1",)),
            reactor,
            password_pool=ImmediateThreadPool(),  # type: ignore[arg-type]
            adopted=[AdoptedPort(fd, socket.AF_INET, "tcp:0:interface=127.0.0.1")],
        )
        service.startService()
        self.addCleanup(lambda: service.stopService() if service.running else None)
        await service.ready
        with self.assertRaises(OSError, msg="the inherited number is closed once adopted"):
            os.fstat(fd)
        port = shared.getsockname()[1]
        response = await treq.get(f"http://127.0.0.1:{port}/health", pool=pool)
        self.assertEqual(response.code, 200)
        self.assertEqual((await response.json())["status"], "ok")
        await service.stopService()

    async def test_a_stopped_worker_leaves_the_shared_socket_listening(self) -> None:
        """Two services in turn on one socket: the first one's stop did not shut it down."""
        shared = bind_shared("tcp:0:interface=127.0.0.1")
        self.addCleanup(shared.close)
        pool = HTTPConnectionPool(reactor, persistent=False)
        await self.serve_once(shared, pool)
        self.assertEqual(shared.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN), 1)
        await self.serve_once(shared, pool)


class BacklogTests(TestCase):
    """Twisted's default accept queue (50) overflows under bursts of connects.

    A connect whose SYN finds the queue full waits for the client's SYN
    retransmit, a whole second: with 64 handshakes in flight the shared
    harness saw 1.0 s handshakes in every step of 1,000 (S3), halving the
    connect rate at half a core of CPU. Unless the description names one,
    every TCP and TLS port gets ``DEFAULT_BACKLOG`` (the kernel caps it at
    ``net.core.somaxconn``).
    """

    async def backlogs(self, *listen: str) -> list[int]:
        memory = MemoryReactor()
        await open_ports(memory, Site(Resource()), listen, (), [])
        return [backlog for _port, _factory, backlog, _interface in memory.tcpServers]

    async def test_tcp_ports_get_the_default_backlog(self) -> None:
        self.assertEqual(
            await self.backlogs("tcp:8081", "tcp:8082:interface=127.0.0.1", "tcp6:8083"),
            [DEFAULT_BACKLOG] * 3,
        )
        self.assertGreaterEqual(DEFAULT_BACKLOG, 511)

    async def test_a_backlog_given_by_name_or_position_is_kept(self) -> None:
        self.assertEqual(
            await self.backlogs(
                "tcp:8081:backlog=7", "tcp:8082:127.0.0.1:8", "tcp6:8083:9", "tcp6:8084:backlog=10"
            ),
            [7, 8, 9, 10],
        )

    def test_a_shared_socket_gets_the_default_backlog(self) -> None:
        self.assertEqual(shared_tcp_address("tcp:8081").backlog, DEFAULT_BACKLOG)


class CheckSupportedTests(SynchronousTestCase):
    """Several workers need a shared database and Redis; one worker takes anything."""

    def config(self, **changes: object) -> Config:
        values: dict[str, object] = {
            "workers": 2,
            "database_url": "sqlite:///chat.sqlite3",
            "redis_url": REDIS,
            "listen": ("tcp:8081",),
        }
        values.update(changes)
        return config_for_tests(**values)

    def refusal(self, **changes: object) -> str:
        with self.assertRaises(ConfigError) as raised:
            check_supported(self.config(**changes))
        message = str(raised.exception)
        self.assertNotIn("\n", message)
        return message

    def test_memory_store_is_refused_naming_database_url(self) -> None:
        """memory: lives in one process."""
        self.assertTrue(self.refusal(database_url="memory:").startswith("DATABASE_URL"))

    def test_no_redis_is_refused_naming_redis_url(self) -> None:
        """Without Redis a message would reach only its own worker's sockets."""
        self.assertTrue(self.refusal(redis_url=None).startswith("REDIS_URL"))

    def test_an_unsupported_database_or_redis_url_is_refused_once(self) -> None:
        """What every worker would fail on is refused by the supervisor, naming the setting."""
        self.assertTrue(self.refusal(database_url="mysql://x").startswith("DATABASE_URL"))
        self.assertTrue(self.refusal(redis_url="http://x").startswith("REDIS_URL"))

    def test_a_unix_endpoint_is_refused_naming_listen(self) -> None:
        """Only TCP endpoints are shared."""
        self.assertTrue(self.refusal(listen=("unix:/tmp/chat.sock",)).startswith("--listen"))

    def test_sqlite_and_postgresql_with_redis_are_accepted(self) -> None:
        """A SQLite file on one host is shared (its lock serialises writers); so is PostgreSQL."""
        check_supported(self.config())
        check_supported(self.config(database_url="postgresql://chat@db/chat"))

    def test_one_worker_takes_anything(self) -> None:
        """--workers 1 is today's single process: memory:, no Redis, unix: are fine."""
        check_supported(
            self.config(
                workers=1, database_url="memory:", redis_url=None, listen=("unix:/tmp/c.sock",)
            )
        )


class WorkersSettingTests(SynchronousTestCase):
    """WORKERS / --workers: a number from 1 to 64, default 1."""

    def test_default_is_one(self) -> None:
        """Unset, there is one process."""
        self.assertEqual(Config.from_sources({}, {}).workers, 1)

    def test_option_beats_environment(self) -> None:
        """--workers wins over WORKERS."""
        config = Config.from_sources({"workers": "4"}, {"WORKERS": "2"})
        self.assertEqual(config.workers, 4)

    def test_out_of_range_is_refused_naming_workers(self) -> None:
        """0, 65 and words are refused with WORKERS in the message."""
        for value in ("0", "65", "two"):
            with self.assertRaises(ConfigError) as raised:
                Config.from_sources({}, {"WORKERS": value})
            self.assertIn("WORKERS (--workers)", str(raised.exception))
