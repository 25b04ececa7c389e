"""ChatService: builds the object graph from a Config, starts it, drains and stops it.

It is an ordinary ``IService``: ``twistd chat`` runs it, and a host
application can add it to its own ``MultiService`` or mount ``resource()``
in its own ``Site``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from twisted.application.service import Service
from twisted.internet import defer
from twisted.internet.defer import CancelledError, Deferred
from twisted.internet.interfaces import IListeningPort, IReactorCore, IReactorTime
from twisted.internet.task import LoopingCall
from twisted.internet.threads import deferToThreadPool
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.python.threadpool import ThreadPool
from twisted.web.resource import IResource
from twisted.web.server import Site

from chatservice.access import RoomAccess
from chatservice.accesscheck import AccessRecheck
from chatservice.accounts import AccountLimits, Accounts
from chatservice.admin_rooms import RoomAdmin
from chatservice.admin_users import UserAdmin
from chatservice.bodylimit import limited_request_factory
from chatservice.bots import Bots
from chatservice.changes import MessageChanges
from chatservice.cluster import ICluster, LocalCluster
from chatservice.config import Config
from chatservice.control import Control
from chatservice.errors import ChatError
from chatservice.fanout import ChatServerFactory
from chatservice.file_links import LinkSigner, derive_key, install
from chatservice.files import DEFAULT_GRACE_SECONDS, UPLOAD_LIMITER, Files, UploadLimits
from chatservice.files_setup import open_blobs
from chatservice.handshake import HandshakeGate
from chatservice.health import Health
from chatservice.http import ApiRoot, CorsPolicy
from chatservice.hub import IHub, LocalHub, instance_id
from chatservice.listening import AdoptedPort, open_ports
from chatservice.membership import Membership
from chatservice.mentions import Mentions
from chatservice.messages import MESSAGE_LIMITER, Messages
from chatservice.metrics import REGISTRY
from chatservice.metrics_endpoint import listen_metrics
from chatservice.metrics_http import MeasuredRoot
from chatservice.moderation import Moderation
from chatservice.notifications import Notifications
from chatservice.notify_hooks import NotificationHooks
from chatservice.passwords import PasswordHasher
from chatservice.push import setup_push
from chatservice.ratelimit import Rate
from chatservice.read_markers import ReadMarkers
from chatservice.rest import ChatAPI
from chatservice.revocation import Revocation
from chatservice.rooms import Rooms
from chatservice.search import Search
from chatservice.sessions import Sessions
from chatservice.store import IChatStore, IWriteState, open_store, redact_url
from chatservice.store.batching import GroupCommitStore
from chatservice.store.upload_interface import IUploadStore
from chatservice.tickets import TicketBook
from chatservice.timeline import Timeline
from chatservice.tokens import TokenIssuer
from chatservice.upload_body import MULTIPART_SLACK
from chatservice.upload_gate import UploadGate
from chatservice.userframes import UserFrames
from chatservice.webhook_client import WebhookTransport, webhook_delivery
from chatservice.webhooks import Webhooks
from chatservice.webpush import PushHTTP

if TYPE_CHECKING:
    from chatservice.redishub import RedisHub


class ChatService(Service):
    """The chat backend as one Twisted service.

    Start-up opens the store (applying migrations), makes sure the General
    room exists, and only then listens on ``config.listen``; ``ready`` fires
    when it serves. Stopping stops listening, delivers what was accepted,
    closes every WebSocket with 1001, and closes the store.
    """

    log = Logger()

    def __init__(
        self,
        config: Config,
        reactor: Any = None,
        *,
        store: IChatStore | None = None,
        hub: IHub | None = None,
        cluster: ICluster | None = None,
        password_pool: ThreadPool | None = None,
        file_pool: ThreadPool | None = None,
        stop_reactor_on_failure: bool = False,
        adopted: Sequence[AdoptedPort] = (),
        webhook_transport: WebhookTransport | None = None,
        push_http: PushHTTP | None = None,
    ) -> None:
        """Build the service; nothing is opened until ``startService``.

        Args:
            config: the validated settings.
            reactor: the reactor to listen, time and thread with (the global
                one by default); tests pass a fake.
            store: a store to use instead of opening ``config.database_url``.
            hub: a hub instead of the ``LocalHub`` (or, with ``config.redis_url``,
                the ``RedisHub`` this service starts and stops).
            cluster: where per-user limits, presence and tickets are counted
                (by default in Redis with ``config.redis_url`` and no ``hub``
                given, else in this process).
            password_pool: a thread pool for bcrypt instead of a dedicated one.
            file_pool: a thread pool for file work (staging, hashing, Pillow,
                the local files directory) instead of a dedicated one.
            stop_reactor_on_failure: stop the reactor if start-up fails (what
                ``twistd chat`` wants: nobody else would notice); an
                embedding application hears of it through ``ready`` instead.
            adopted: listening sockets handed to this process (a worker of
                ``twistd chat --workers``) to serve instead of ``config.listen``.
            webhook_transport: the resolver, clock and TLS trust of webhook
                deliveries instead of the reactor's (tests).
            push_http: sends Web Push requests instead of ``treq`` (tests).
        """
        if reactor is None:
            from twisted.internet import reactor as global_reactor

            reactor = global_reactor
        self.config = config
        self._reactor = reactor
        clock: IReactorTime = reactor
        self.store = (
            store
            if store is not None
            else open_store(config.database_url, clock, config.encryption)
        )
        # One id for this instance: its Redis origin and its connection ids.
        self.instance_id = instance_id()
        self._redis: RedisHub | None = None
        if hub is None and config.redis_url:
            # Imported only here: txredisapi imports the global reactor.
            from chatservice import redishub

            hub = self._redis = redishub.RedisHub.from_url(
                config.redis_url, reactor, origin=self.instance_id
            )
        self.hub = hub if hub is not None else LocalHub()
        self.tickets = TicketBook(clock)
        if cluster is None:
            cluster = LocalCluster(clock, self.tickets)
            if self._redis is not None and config.redis_url:
                from chatservice.rediscluster import RedisCluster

                cluster = RedisCluster.from_url(
                    config.redis_url, reactor, instance=self.instance_id, local=cluster
                )
        self.cluster = cluster
        self._owns_pool = password_pool is None
        self._password_pool = password_pool or ThreadPool(
            minthreads=0, maxthreads=config.bcrypt_threads, name="chatservice-bcrypt"
        )
        hasher = PasswordHasher(reactor, self._password_pool, config.bcrypt_rounds)
        tokens = self._tokens = TokenIssuer(config.jwt_secret, config.jwt_expiry_seconds, clock)
        limits = AccountLimits(
            login_failures=Rate.per(config.login_failure_limit, config.login_failure_window),
            registrations=Rate.per(config.register_limit, config.register_window),
        )
        # What every token check reads, kept current across processes
        # through the control events of ``self.sockets.control`` (below).
        self.revocation = Revocation(self.store, clock)
        self.accounts = Accounts(self.store, hasher, tokens, clock, limits, self.revocation)
        self.rooms = Rooms(self.store, clock)
        # Files (issue 12): their own thread pool for disk, hashing and Pillow.
        self._owns_files_pool = file_pool is None
        self._files_pool = file_pool or ThreadPool(
            minthreads=0, maxthreads=4, name="chatservice-files"
        )

        def run_in_files_pool(fn: Any, *args: Any) -> Deferred[Any]:
            return deferToThreadPool(reactor, self._files_pool, fn, *args)

        # ENCRYPTION_KEY seals file bodies as it seals message text.
        ring = config.encryption
        self._blob_place = open_blobs(
            config.database_url, config.files_dir, self.store, run_in_files_pool, ring
        )
        install(LinkSigner(derive_key(config.jwt_secret), clock))
        # Web Push: subscriptions, and (with a VAPID key) the notifier that
        # every new message is shown to, after its publication.
        self.push_subscriptions, self.push = setup_push(
            config, self.store, cluster, reactor, push_http, webhook_transport
        )
        # One message rate per user for posts, edits and reactions alike.
        limiter = cluster.rate(
            MESSAGE_LIMITER, Rate(burst=config.message_burst, per_second=config.message_rate)
        )
        # Control events: what every process must do to its sockets (below).
        control = Control(self.hub)
        # Mentions and notifications (``notifications.py``): frames to a
        # user's sockets on every process, and ``notify_hooks`` for sinks
        # such as Web Push (``service.notify_hooks.add(sink)``).
        user_frames = UserFrames(control)
        self.notify_hooks = NotificationHooks()
        mentions = Mentions(self.store)
        notifications = Notifications(self.store, user_frames, self.notify_hooks)
        self.messages = Messages(
            self.store,
            self.hub,
            clock,
            # Posts that arrive during a commit share the next one; closed
            # last on shutdown, through ``messages.close()``.
            committer=GroupCommitStore(
                self.store, clock=clock, min_interval=commit_interval(config, self.store)
            ),
            limiter=limiter,
            mentions=mentions,
            notifications=notifications,
            attachments=self._attachments,
        )
        if self.push is not None:
            # Mentions and direct messages reach Web Push through the hooks.
            self.notify_hooks.add(self.push)
        # Access control: who reads and posts where (access), rooms and their
        # members (membership), their moderators' rights (moderation); the
        # control events close and restrict sockets on every process.
        self.access = RoomAccess(self.store, self.hub, clock)
        self.files = Files(
            IUploadStore(self.store),
            self._blob_place.blobs,
            self.access,
            clock,
            run_in_files_pool,
            cluster.rate(UPLOAD_LIMITER, Rate.per(config.upload_rate, 60.0)),
            UploadLimits(config.max_upload_bytes, config.upload_quota_bytes),
        )
        self._collector = LoopingCall(self._collect_files)
        self._collector.clock = clock
        self.membership = Membership(self.store, self.access, control)
        self.moderation = Moderation(self.store, self.access, control)
        self.changes = MessageChanges(
            self.store,
            self.hub,
            clock,
            limiter,
            access=self.access,
            moderation=self.moderation,
            mentions=mentions,
            notifications=notifications,
        )
        self.timeline = Timeline(self.store)
        cors = CorsPolicy(config.cors_origins)
        self.sockets = ChatServerFactory(
            messages=self.messages,
            timeline=self.timeline,
            changes=self.changes,
            hub=self.hub,
            clock=clock,
            max_message_length=config.max_message_length,
            ping_interval=config.ws_ping_interval,
            ping_timeout=config.ws_ping_timeout,
            outbox_limit=config.ws_max_buffer,
            cluster=cluster,
            control=control,
        )
        # Kicks, bans, mutes and archives lost in a hub outage apply after it.
        recheck = AccessRecheck(self.store, self.sockets.open_sockets, self.sockets.policy)
        control.on_restored(recheck.recheck)
        self.revocation.attach(self.sockets.control, self.sockets.open_sockets)
        user_frames.attach(self.sockets)
        self.read_markers = ReadMarkers(self.store, self.access, user_frames)
        self.sockets.read_markers = self.read_markers
        user_admin = UserAdmin(self.store, self.revocation, self.hub, clock)
        # Outgoing webhooks: delivered from the store's timeline, off the request path.
        self.webhook_delivery = webhook_delivery(
            self.store, self.timeline, reactor, config, self.instance_id, webhook_transport
        )
        api = ChatAPI(
            accounts=self.accounts,
            sessions=Sessions(self.store, self.accounts, self.hub, clock),
            admin=user_admin,
            room_admin=RoomAdmin(self.store, user_admin, self.moderation, control),
            access=self.access,
            membership=self.membership,
            moderation=self.moderation,
            messages=self.messages,
            changes=self.changes,
            timeline=self.timeline,
            search=Search(self.store, self.access),
            max_message_length=config.max_message_length,
            cluster=cluster,
            health=Health(self.store, self.hub),
            handshakes=HandshakeGate(
                accounts=self.accounts,
                access=self.access,
                cluster=cluster,
                cors=cors,
                sockets=self.sockets,
                max_sockets_per_user=config.max_sockets_per_user,
                instance=self.instance_id,
            ),
            max_body=config.max_body_bytes,
            read_markers=self.read_markers,
            files=self.files,
            trusted_proxies=config.trust_x_forwarded_for,
            webhooks=Webhooks(self.store, self.access, user_admin, clock),
            bots=Bots(self.store, self.access, user_admin, self.revocation, control, clock),
            allow_private_webhooks=config.webhook_allow_private,
            push=self.push_subscriptions,
        )
        # Every request timed and counted by route (``metrics_http``).
        self._root = MeasuredRoot(
            ApiRoot(api.resource(), cors, config.max_body_bytes, max_upload=self._max_upload_body)
        )
        self._ports: list[IListeningPort] = []
        self._metrics_port: IListeningPort | None = None
        self._adopted = tuple(adopted)
        self._stop_reactor_on_failure = stop_reactor_on_failure
        self._started = False
        self._start_failure: Failure | None = None
        self._ready_waiters: list[Deferred[None]] = []
        self._starting: Deferred[None] | None = None

    @property
    def _max_upload_body(self) -> int:
        """The upload route's body limit: the file, and a multipart body's framing."""
        return self.config.max_upload_bytes + MULTIPART_SLACK

    async def _attachments(self, sender: Any, upload_ids: Sequence[int]) -> Any:
        # Late-bound: Messages is built before Files.
        return await self.files.attachments(sender, upload_ids)

    async def _collect_files(self) -> None:
        try:
            uploads, blobs = await self.files.collect(DEFAULT_GRACE_SECONDS)
        except Exception:
            self.log.failure("collecting unused files failed")
            return
        if uploads or blobs:
            self.log.info("collected {n} uploads, {b} files", n=uploads, b=blobs)

    def resource(self) -> IResource:
        """The root resource: REST under ``/api``, ``/health``, and ``/ws``.

        Mount it at any path of a host ``Site``; the service must be started
        for it to answer.
        """
        return self._root

    def site(self) -> Site:
        """A ``Site`` serving ``resource()`` with the request-body limit applied early."""
        # The Site's idle timeouts must run on our reactor too, not the global one.
        site = Site(self._root, reactor=self._reactor)
        # Uploads without a valid token are refused before their body is spooled.
        site.requestFactory = limited_request_factory(
            self.config.max_body_bytes, self._max_upload_body, UploadGate(self._tokens)
        )
        site.displayTracebacks = False
        # twisted.web's access log would write /ws?token=... query strings.
        site.log = lambda request: None  # type: ignore[method-assign]
        return site

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


def commit_interval(config: Config, store: IChatStore) -> float:
    """Seconds between the starts of two message commits (``COMMIT_INTERVAL``), for ``store``.

    Only a durable store (SQLite, PostgreSQL: those that report write
    faults) pays an fsync per commit worth sharing; the memory store's
    commits cost nothing to repeat, and pacing them would only add latency.
    """
    return config.commit_interval / 1000 if IWriteState.providedBy(store) else 0.0
