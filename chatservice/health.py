"""The health check as a use case: can the service serve, and if not, why.

``GET /health`` renders a ``HealthReport``; it lives here so the REST layer
never talks to the store. Two things make the service unable to serve: a
store that does not answer, and a store that answers but refuses writes (a
full disk, a read-only database), which would otherwise look healthy while
every post fails.
"""

from __future__ import annotations

from dataclasses import dataclass

from chatservice.errors import StoreUnavailable
from chatservice.hub import IHub, IHubStatus
from chatservice.store import IChatStore, IWriteState

STORE_OK = "ok"
STORE_UNREACHABLE = "unreachable"
STORE_CANNOT_WRITE = "cannot_write"
REDIS_OK = "ok"
REDIS_DOWN = "down"


@dataclass(frozen=True, slots=True)
class HealthReport:
    """The state of the service, as ``/health`` tells it.

    Attributes:
        store: ``"ok"``, ``"unreachable"`` (ping failed) or ``"cannot_write"``
            (it answers, but its last write was refused).
        reason: with ``cannot_write``, the error code writes fail with right
            now (``store_full`` or ``store_read_only``); otherwise None.
        redis: with ``REDIS_URL``, ``"ok"`` or ``"down"``; otherwise None.
            A hub that is down degrades the service (other processes' events
            arrive late, through catch-up) but does not stop it: it is
            shown, and the status stays 200.
    """

    store: str
    reason: str | None = None
    redis: str | None = None

    @property
    def ok(self) -> bool:
        """Whether the service can serve every request."""
        return self.store == STORE_OK

    @property
    def http_status(self) -> int:
        """200 when ok, else 503, so a load balancer stops sending traffic."""
        return 200 if self.ok else 503

    def to_json(self) -> dict[str, str]:
        """The body's fields: ``status``, ``store`` and, when writes fail, ``reason``."""
        body = {"status": "ok" if self.ok else "unavailable", "store": self.store}
        if self.reason is not None:
            body["reason"] = self.reason
        if self.redis is not None:
            body["redis"] = self.redis
        return body


class Health:
    """Checks the store: its ping, then whether writes are being refused."""

    def __init__(self, store: IChatStore, hub: IHub | None = None) -> None:
        """Check ``store`` (its write episodes too, with ``IWriteState``) and ``hub``'s reach."""
        self._store = store
        self._writes: IWriteState | None = IWriteState(store, None)
        self._hub: IHubStatus | None = IHubStatus(hub, None) if hub is not None else None

    async def check(self) -> HealthReport:
        """Return the service's health now.

        A write episode lasts until a write commits again (see
        ``WriteEpisode``): ``cannot_write`` is the state of the last write,
        not a fresh probe, since no probe can tell a full disk from a page
        with some room left.
        """
        redis = None
        if self._hub is not None:
            redis = REDIS_OK if self._hub.reachable() else REDIS_DOWN
        try:
            await self._store.ping()
        except StoreUnavailable:
            return HealthReport(STORE_UNREACHABLE, redis=redis)
        fault = self._writes.write_fault() if self._writes is not None else None
        if fault is not None:
            return HealthReport(STORE_CANNOT_WRITE, fault.code, redis)
        return HealthReport(STORE_OK, redis=redis)
