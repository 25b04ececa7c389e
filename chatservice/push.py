"""Web Push subscriptions: the use cases behind ``/api/push/*``.

A browser subscribes with the service's VAPID public key as its
``applicationServerKey`` and registers the resulting ``PushSubscription``
here; ``push_notifier`` then pushes to it while the user has no socket open.
Each user keeps a bounded number of subscriptions (one per browser,
usually): registering past the bound drops the oldest, which is most likely
a browser that is gone.

Without ``VAPID_PRIVATE_KEY`` the service pushes nothing: the public key
and registration answer 404, while listing and deleting still work (a key
may be removed after browsers registered).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from twisted.internet.interfaces import IReactorTime

from chatservice.cluster import ICluster
from chatservice.config import Config
from chatservice.errors import NotFound
from chatservice.push_models import NewPushSubscription, PushSubscription, parse_subscription
from chatservice.push_notifier import PushNotifier
from chatservice.store import IChatStore
from chatservice.tokens import Identity
from chatservice.vapid import Vapid
from chatservice.webhook_client import WebhookTransport, guarded_agent
from chatservice.webpush import DEFAULT_TIMEOUT, PushHTTP, PushSender, TreqPushHTTP

DEFAULT_MAX_SUBSCRIPTIONS = 10
NOT_CONFIGURED = "Web Push is not configured on this server (no VAPID_PRIVATE_KEY)."


class PushSubscriptions:
    """Register, list and delete a user's push subscriptions."""

    def __init__(
        self,
        store: IChatStore,
        clock: IReactorTime,
        *,
        public_key: str | None,
        limit: int = DEFAULT_MAX_SUBSCRIPTIONS,
        require_https: bool = True,
        allow_private: bool = False,
    ) -> None:
        """Build the use cases.

        Args:
            store: where subscriptions live.
            clock: stamps registrations.
            public_key: the VAPID public key, None when push is off.
            limit: subscriptions kept per user.
            require_https: refuse ``http`` endpoints (tests and a local push
                service may turn it off; the service never does).
            allow_private: accept an endpoint whose host is a loopback,
                private or link-local address (``WEBHOOK_ALLOW_PRIVATE``).
        """
        self._store = store
        self._clock = clock
        self._public_key = public_key
        self._limit = limit
        self._require_https = require_https
        self._allow_private = allow_private

    def public_key(self) -> str:
        """The ``applicationServerKey`` for browsers; ``NotFound`` when push is off."""
        if self._public_key is None:
            raise NotFound(NOT_CONFIGURED)
        return self._public_key

    async def register(self, identity: Identity, body: bytes) -> PushSubscription:
        """Store a browser's subscription (its JSON); the same endpoint again replaces it.

        Raises:
            NotFound: push is off.
            InvalidRequest, InvalidJSON: not a usable ``PushSubscription``.
        """
        self.public_key()
        form = parse_subscription(
            body, require_https=self._require_https, allow_private=self._allow_private
        )
        new = NewPushSubscription(
            identity.user_id,
            form.endpoint,
            form.p256dh,
            form.auth,
            int(self._clock.seconds() * 1000),
        )
        return await self._store.add_push_subscription(new, self._limit)

    async def list(self, identity: Identity) -> Sequence[PushSubscription]:
        """The user's subscriptions, oldest id first."""
        return await self._store.push_subscriptions([identity.user_id])

    async def delete(self, identity: Identity, subscription_id: int) -> None:
        """Delete one of the user's subscriptions; ``NotFound`` if it is not theirs."""
        await self._store.delete_push_subscription(identity.user_id, subscription_id)


def setup_push(
    config: Config,
    store: IChatStore,
    cluster: ICluster,
    reactor: Any,
    http: PushHTTP | None = None,
    transport: WebhookTransport | None = None,
) -> tuple[PushSubscriptions, PushNotifier | None]:
    """The service's push use cases: subscriptions always, a notifier with a VAPID key.

    ``http`` replaces the guarded ``treq`` client (tests); ``transport`` is
    where that client resolves names (the reactor's by default, a test's fake
    resolver). Message content stays out of pushes while messages are
    encrypted at rest (``ENCRYPTION_KEY``).
    """
    clock: IReactorTime = reactor
    allow_private = config.webhook_allow_private
    if config.vapid_private_key is None or config.vapid_subject is None:
        subscriptions = PushSubscriptions(
            store,
            clock,
            public_key=None,
            limit=config.push_max_subscriptions,
            allow_private=allow_private,
        )
        return subscriptions, None
    vapid = Vapid(config.vapid_private_key, config.vapid_subject, clock)
    if http is None:
        http = guarded_push_http(reactor, transport or WebhookTransport.of(reactor), config)
    sender = PushSender(vapid, http, clock, store.forget_push_endpoint)
    # A push service is a third party: with messages encrypted at rest
    # (ENCRYPTION_KEY), their text does not leave in a push either.
    hidden = config.encryption is not None
    notifier = PushNotifier(store, cluster, sender, clock, hide_content=hidden)
    subscriptions = PushSubscriptions(
        store,
        clock,
        public_key=vapid.public_key,
        limit=config.push_max_subscriptions,
        allow_private=allow_private,
    )
    return subscriptions, notifier


def guarded_push_http(reactor: Any, transport: WebhookTransport, config: Config) -> PushHTTP:
    """Pushes through the webhooks' SSRF guard, resolved once and connected to the vetted IP.

    A push endpoint is a URL a user chose, so it gets the same guard (and the
    same ``WEBHOOK_ALLOW_PRIVATE`` exception) as a webhook's URL; the connect
    timeout is the push sender's own.
    """
    return TreqPushHTTP(
        guarded_agent(
            reactor,
            transport,
            allow_private=config.webhook_allow_private,
            connect_timeout=DEFAULT_TIMEOUT,
        )
    )
