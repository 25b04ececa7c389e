"""Two complete services on one PostgreSQL schema and one Redis, as two processes would be.

Shared by ``test_two_services`` (the conversation and the per-user rules)
and ``test_two_services_accounts`` (revocation), so that both start their
services the same way.
"""

from __future__ import annotations

from typing import Any, ClassVar

from twisted.internet import reactor

from chatservice.rediscluster import RedisCluster
from chatservice.redishub import RedisHub
from chatservice.service import ChatService
from tests.fakes import ImmediateThreadPool, config_for_tests
from tests.test_redishub import NO_REDIS, REDIS_URL
from tests.test_store_postgresql import SKIP, PostgreSQLDatabase
from tests.wsclient import serve_tcp


def bearer(token: str) -> dict[bytes | str, bytes | str]:
    """The headers of a treq request made with ``token``."""
    return {"Authorization": f"Bearer {token}"}


class TwoServices(PostgreSQLDatabase):
    """A test mixin: ``start_service`` twice with one prefix gives two services as one."""

    skip = SKIP or (NO_REDIS if REDIS_URL is None else None)
    timeout = 30
    # What the services' Config changes beyond ``config_for_tests``' (a class's limits).
    settings: ClassVar[dict[str, Any]] = {}

    def setUp(self) -> None:
        super().setUp()
        self.hubs: list[RedisHub] = []

    async def start_service(self, prefix: str) -> tuple[ChatService, int]:
        """A service on the shared schema, with a hub and a cluster on ``prefix``; its port.

        Its hub is appended to ``self.hubs``: a test subscribes it to see what
        the other service publishes.
        """
        assert REDIS_URL is not None
        hub = RedisHub.from_url(REDIS_URL, reactor, channel_prefix=prefix)
        self.assertIs(await hub.start(), True)
        self.addCleanup(hub.stop)
        service = ChatService(
            config_for_tests(listen=("tcp:0:interface=127.0.0.1",), **self.settings),
            reactor,
            store=self.build_store(),
            hub=hub,
            cluster=RedisCluster.from_url(
                REDIS_URL, reactor, instance=hub.client_name, prefix=prefix
            ),
            password_pool=ImmediateThreadPool(),  # type: ignore[arg-type]
        )
        self.hubs.append(hub)
        return service, await serve_tcp(self, service)
