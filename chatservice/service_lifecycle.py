"""How a ChatService starts, reports that it serves, drains and stops: the order, not the parts.

``service.py`` builds the object graph (what is made from what); the base
class here runs it. Kept apart because the two change for different
reasons: a new use case is wiring, while the order below is what keeps the
promises of ``DESIGN.md``. Nothing listens before the store is migrated and
the General room exists; on the way down nothing new arrives (the ports
close first), what was accepted is delivered and committed, and only then
does the store close.

Start-up is asynchronous (the store opens, Redis may be slow) while
``IService.startService`` returns nothing, so ``ready`` reports how it
went, and a stop that comes while starting cancels the start.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from twisted.application.service import Service
from twisted.internet import defer
from twisted.internet.defer import CancelledError, Deferred
from twisted.internet.interfaces import IListeningPort, IReactorCore
from twisted.logger import Logger
from twisted.python.failure import Failure

from chatservice.errors import ChatError
from chatservice.listening import AdoptedPort, open_ports
from chatservice.metrics import REGISTRY
from chatservice.metrics_endpoint import listen_metrics
from chatservice.store import redact_url

if TYPE_CHECKING:
    from twisted.internet.task import LoopingCall
    from twisted.python.threadpool import ThreadPool
    from twisted.web.server import Site

    from chatservice.cluster import ICluster
    from chatservice.config import Config
    from chatservice.fanout import ChatServerFactory
    from chatservice.files_setup import BlobPlace
    from chatservice.messages import Messages
    from chatservice.push_notifier import PushNotifier
    from chatservice.redishub import RedisHub
    from chatservice.revocation import Revocation
    from chatservice.rooms import Rooms
    from chatservice.store import IChatStore
    from chatservice.webhook_delivery import WebhookDelivery


class ServiceLifecycle(Service):
    """Start, ``ready``, drain and stop, for the parts a subclass wires.

    ``ChatService.__init__`` sets the parts declared below and provides
    ``site()``; everything here only starts, waits for and stops them.
    """

    log = Logger()

    # The parts, set by ``ChatService.__init__`` (service.py).
    config: Config
    store: IChatStore
    rooms: Rooms
    revocation: Revocation
    cluster: ICluster
    sockets: ChatServerFactory
    messages: Messages
    push: PushNotifier | None
    webhook_delivery: WebhookDelivery
    _reactor: Any
    _redis: RedisHub | None
    _owns_pool: bool
    _password_pool: ThreadPool
    _owns_files_pool: bool
    _files_pool: ThreadPool
    _collector: LoopingCall
    _blob_place: BlobPlace

    def __init__(
        self, *, adopted: Sequence[AdoptedPort] = (), stop_reactor_on_failure: bool = False
    ) -> None:
        """Set up the lifecycle's own state; see ``ChatService`` for the arguments."""
        self._ports: list[IListeningPort] = []
        self._metrics_port: IListeningPort | None = None
        self._adopted = tuple(adopted)
        self._stop_reactor_on_failure = stop_reactor_on_failure
        self._started = False
        self._start_failure: Failure | None = None
        self._ready_waiters: list[Deferred[None]] = []
        self._starting: Deferred[None] | None = None

    def site(self) -> Site:
        """The ``Site`` to listen with (``ChatService.site``)."""
        raise NotImplementedError

    @property
    def ready(self) -> Deferred[None]:
        """A new Deferred that fires once the service serves, or fails if start-up failed.

        Each access gives a Deferred of its own, so a failure nobody asked
        about is logged once (by ``startService``), not again as an
        "Unhandled error in Deferred".
        """
        waiter: Deferred[None] = Deferred()
        if self._started:
            waiter.callback(None)
        elif self._start_failure is not None:
            waiter.errback(self._start_failure)
        else:
            self._ready_waiters.append(waiter)
        return waiter

    def startService(self) -> None:  # noqa: N802 - Twisted hook
        """Open the store, then listen; failures are logged and fail ``ready``."""
        super().startService()
        self._starting = Deferred.fromCoroutine(self._start())
        self._starting.addCallbacks(self._start_succeeded, self._start_failed)

    def _start_succeeded(self, _: object) -> None:
        self._started = True
        waiters, self._ready_waiters = self._ready_waiters, []
        for waiter in waiters:
            waiter.callback(None)

    async def _start(self) -> None:
        if self._owns_pool:
            self._password_pool.start()
        if self._owns_files_pool:
            self._files_pool.start()
        await self.store.start()
        await self.rooms.ensure_general()
        # Hourly: files of deleted messages, uploads never attached.
        self._collector.start(3600.0, now=False)
        self.revocation.start()
        self.webhook_delivery.start()
        if self.config.uses_dev_secret:
            self.log.warn(
                "JWT_SECRET is the development default: anyone can forge tokens. "
                "Set JWT_SECRET to 32+ random bytes before exposing this service."
            )
        if self._redis is not None:
            # Bounded: if Redis is down this warns and start-up goes on.
            await self._redis.start()
        await self.cluster.start()
        if self.config.metrics_listen:
            # Before the chat port: a metrics port that cannot listen fails
            # the start before anything serves.
            self._metrics_port = await listen_metrics(
                self._reactor, self.config.metrics_listen, REGISTRY
            )
        site = self.site()
        await open_ports(self._reactor, site, self.config.listen, self._adopted, self._ports)
        endpoints = ", ".join(self.config.listen) if self.config.listen else "(embedded)"
        self.log.info(
            "chatservice {how} {endpoints}; store {store}",
            # A worker's line must not read as the supervisor's "listening on".
            how="serving the shared sockets of" if self._adopted else "listening on",
            endpoints=endpoints,
            store=redact_url(self.config.database_url),
        )

    def _start_failed(self, failure: Failure) -> None:
        self._start_failure = failure
        waiters, self._ready_waiters = self._ready_waiters, []
        for waiter in waiters:
            waiter.errback(failure)
        if failure.check(CancelledError):
            self.log.info("chatservice stopped while starting")
            return
        if failure.check(ChatError):
            # e.g. the store is unreachable: the message says it all.
            self.log.error(
                "chatservice failed to start: {reason}", reason=failure.getErrorMessage()
            )
        else:
            self.log.failure("chatservice failed to start", failure)
        if (
            self._stop_reactor_on_failure
            and IReactorCore.providedBy(self._reactor)
            and self._reactor.running
        ):
            self._reactor.stop()

    @property
    def failed_to_start(self) -> bool:
        """True once start-up has failed (not merely been cancelled by a stop)."""
        return self._start_failure is not None and not self._start_failure.check(CancelledError)

    @property
    def listening_ports(self) -> list[IListeningPort]:
        """The ports this service listens on (for tests: ``port.getHost().port``)."""
        return list(self._ports)

    @property
    def metrics_port(self) -> IListeningPort | None:
        """The port serving ``/metrics`` (``METRICS_LISTEN``), None when off."""
        return self._metrics_port

    def stopService(self) -> Deferred[None]:  # noqa: N802 - Twisted hook
        """Stop listening, drain and close sockets, close the store."""
        super().stopService()
        return Deferred.fromCoroutine(self._stop())

    async def _stop(self) -> None:
        if self._starting is not None and not self._starting.called:
            self._starting.cancel()
        for port in self._ports:
            stopping = port.stopListening()
            if stopping is not None:
                await stopping
        self._ports.clear()
        if self._metrics_port is not None:
            metrics_port, self._metrics_port = self._metrics_port, None
            stopping = metrics_port.stopListening()
            if stopping is not None:
                await stopping
        deadline = self._reactor.seconds() + self.config.shutdown_timeout
        self.revocation.stop()
        await self.sockets.drain(self.config.shutdown_timeout)
        await self.webhook_delivery.stop_within(deadline - self._reactor.seconds(), self._reactor)
        if self.push is not None:
            self.push.stop()  # pushes still retrying are given up
        await self.cluster.stop()
        if self._redis is not None:
            await self._redis.stop()
        # Through the committer: it commits whatever it already accepted
        # first, but a commit that never ends must not stop the shutdown.
        closing = self.messages.close()
        left = deadline - self._reactor.seconds()
        if not closing.called:
            if left > 0:
                closing.addTimeout(left, self._reactor)
            else:
                closing.cancel()
        try:
            await closing
        except (defer.TimeoutError, CancelledError):  # addTimeout's, not the builtin
            self.log.warn("the last commit did not finish in time; closing the store anyway")
            await self.store.close()
        if self._owns_pool and self._password_pool.started:
            self._password_pool.stop()
        if self._collector.running:
            self._collector.stop()
        if self._owns_files_pool and self._files_pool.started:
            self._files_pool.stop()
        self._blob_place.close()
        self.log.info("chatservice stopped")
