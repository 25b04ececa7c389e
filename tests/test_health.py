"""``GET /health`` through the ``Health`` use case: the exact bodies and statuses."""

from __future__ import annotations

from twisted.internet.defer import Deferred, fail, succeed
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer

from chatservice import __version__
from chatservice.errors import StoreFull, StoreReadOnly, StoreUnavailable
from chatservice.health import Health
from chatservice.hub import IHub, IHubStatus, LocalHub
from chatservice.store import IChatStore, IWriteState
from chatservice.store.memory import MemoryStore
from tests.fakes import FakeReactor
from tests.rest_support import RestTestCase


@implementer(IChatStore, IWriteState)
class FaultyStore(MemoryStore):
    """A memory store whose ping and write state the test sets."""

    reachable = True
    fault: StoreUnavailable | None = None

    def ping(self) -> Deferred[None]:
        return succeed(None) if self.reachable else fail(StoreUnavailable())

    def write_fault(self) -> StoreUnavailable | None:
        return self.fault


class HealthRouteTests(RestTestCase):
    """What load balancers and operators see."""

    def make_store(self, reactor: FakeReactor) -> IChatStore:
        self.store = FaultyStore(reactor)
        return self.store

    def health(self) -> tuple[int, object]:
        reply = self.request("GET", "/health")
        self.assertEqual(reply.header("content-type"), "application/json")
        return reply.code, reply.json()

    def test_ok(self) -> None:
        """200 ``{"status": "ok", "store": "ok", "version"}``."""
        self.assertEqual(
            self.health(), (200, {"status": "ok", "store": "ok", "version": __version__})
        )

    def test_unreachable(self) -> None:
        """503 ``store: unreachable`` when the ping fails."""
        self.store.reachable = False
        self.assertEqual(
            self.health(),
            (503, {"status": "unavailable", "store": "unreachable", "version": __version__}),
        )

    def test_full_disk(self) -> None:
        """503 ``store: cannot_write`` with ``reason: store_full`` during a full-disk episode."""
        self.store.fault = StoreFull()
        self.assertEqual(
            self.health(),
            (
                503,
                {
                    "status": "unavailable",
                    "store": "cannot_write",
                    "reason": "store_full",
                    "version": __version__,
                },
            ),
        )

    def test_read_only(self) -> None:
        """``reason: store_read_only`` while the database refuses writes."""
        self.store.fault = StoreReadOnly()
        code, body = self.health()
        self.assertEqual((code, body["reason"]), (503, "store_read_only"))  # type: ignore[index]

    def test_unreachable_wins_over_cannot_write(self) -> None:
        """A store that does not answer is unreachable, whatever its last write did."""
        self.store.fault = StoreFull()
        self.store.reachable = False
        code, body = self.health()
        self.assertEqual((code, body["store"]), (503, "unreachable"))  # type: ignore[index]

    def test_episode_end_is_200_again(self) -> None:
        """Once a write commits again, health is 200."""
        self.store.fault = StoreFull()
        self.assertEqual(self.health()[0], 503)
        self.store.fault = None
        self.assertEqual(self.health()[0], 200)


@implementer(IHub, IHubStatus)
class StatusHub(LocalHub):
    """A local hub that says whether "Redis" is reachable, as the test sets."""

    up = True

    def reachable(self) -> bool:
        return self.up


class HubHealthTests(SynchronousTestCase):
    """With a hub that reaches other processes, ``/health`` names its state and stays 200."""

    def check(self, hub: IHub, store: IChatStore | None = None) -> dict[str, object]:
        report = self.successResultOf(
            Deferred.fromCoroutine(Health(store or MemoryStore(), hub).check())
        )
        body: dict[str, object] = {"status_code": report.http_status, **report.to_json()}
        return body

    def test_redis_ok_and_down(self) -> None:
        hub = StatusHub()
        self.assertEqual(
            self.check(hub), {"status_code": 200, "status": "ok", "store": "ok", "redis": "ok"}
        )
        hub.up = False
        self.assertEqual(
            self.check(hub), {"status_code": 200, "status": "ok", "store": "ok", "redis": "down"}
        )

    def test_a_local_hub_says_nothing_of_redis(self) -> None:
        self.assertEqual(
            self.check(LocalHub()), {"status_code": 200, "status": "ok", "store": "ok"}
        )

    def test_the_store_still_decides_the_status(self) -> None:
        store = FaultyStore()
        store.reachable = False
        self.assertEqual(self.check(StatusHub(), store)["status_code"], 503)
        self.assertEqual(self.check(StatusHub(), store)["redis"], "ok")

    def test_a_stopped_redis_hub_is_down(self) -> None:
        """A RedisHub never started (or whose connection is gone) is ``down``."""
        from chatservice.redishub import RedisHub

        hub = RedisHub.from_url("redis://127.0.0.1:6379/15", FakeReactor())
        self.assertFalse(hub.reachable())
