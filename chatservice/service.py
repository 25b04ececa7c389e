"""ChatService: builds the object graph from a Config; its base starts, drains and stops it.

It is an ordinary ``IService``: ``twistd chat`` runs it, and a host
application can add it to its own ``MultiService`` or mount ``resource()``
in its own ``Site``. This module is the wiring (what is made from what);
the order of start-up and shutdown is ``service_lifecycle.py``'s.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import LoopingCall
from twisted.internet.threads import deferToThreadPool
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
from chatservice.fanout import ChatServerFactory
from chatservice.file_links import LinkSigner, derive_key, install
from chatservice.files import DEFAULT_GRACE_SECONDS, UPLOAD_LIMITER, Files, UploadLimits
from chatservice.files_setup import open_blobs
from chatservice.handshake import HandshakeGate
from chatservice.health import Health
from chatservice.http import ApiRoot, CorsPolicy
from chatservice.hub import IHub, LocalHub, instance_id
from chatservice.listening import AdoptedPort
from chatservice.membership import Membership
from chatservice.mentions import Mentions
from chatservice.messages import MESSAGE_LIMITER, Messages
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
from chatservice.service_lifecycle import ServiceLifecycle
from chatservice.sessions import Sessions
from chatservice.store import IChatStore, IWriteState, open_store
from chatservice.store.batching import GroupCommitStore
from chatservice.store.upload_interface import IUploadStore
from chatservice.tickets import TicketBook
from chatservice.timeline import Timeline
from chatservice.tokens import TokenIssuer
from chatservice.upgrade_router import UpgradeRouter
from chatservice.upload_body import MULTIPART_SLACK
from chatservice.upload_gate import UploadGate
from chatservice.userframes import UserFrames
from chatservice.webhook_client import WebhookTransport, webhook_delivery
from chatservice.webhooks import Webhooks
from chatservice.webpush import PushHTTP


class ChatService(ServiceLifecycle):
    """The chat backend as one Twisted service.

    Start-up opens the store (applying migrations), makes sure the General
    room exists, and only then listens on ``config.listen``; ``ready`` fires
    when it serves. Stopping stops listening, delivers what was accepted,
    closes every WebSocket with 1001, and closes the store.
    """

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
        super().__init__(adopted=adopted, stop_reactor_on_failure=stop_reactor_on_failure)
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
        self._redis = None  # the RedisHub this service starts and stops, if any
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
                self.store,
                clock=clock,
                min_interval=commit_interval(config, self.store),
                gather_turn=True,
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
            # Group commit gathers a reactor turn's posts (``gather_turn``)
            # and hands each socket one write per commit: worth sending at
            # once (``eager_send``), on every store.
            eager_send=True,
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
        self.handshakes = HandshakeGate(
            accounts=self.accounts,
            access=self.access,
            cluster=cluster,
            cors=cors,
            sockets=self.sockets,
            max_sockets_per_user=config.max_sockets_per_user,
            instance=self.instance_id,
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
            handshakes=self.handshakes,
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

    def server_factory(self) -> UpgradeRouter:
        """What the service's own ports serve: ``site()``, ``/ws`` upgrades let straight in."""
        return UpgradeRouter(self.site(), self.sockets, self.handshakes)


def commit_interval(config: Config, store: IChatStore) -> float:
    """Seconds between the starts of two message commits (``COMMIT_INTERVAL``), for ``store``.

    Only a durable store (SQLite, PostgreSQL: those that report write
    faults) pays an fsync per commit worth sharing; the memory store's
    commits cost nothing to repeat, and pacing them would only add latency.
    """
    return config.commit_interval / 1000 if IWriteState.providedBy(store) else 0.0
