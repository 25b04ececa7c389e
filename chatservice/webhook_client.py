"""The treq client of webhook deliveries (guarded endpoints, no pooled connections), wired.

Built once per service. Every connection goes through the SSRF guard's
endpoint factory (``ssrf.GuardedEndpointFactory``), which resolves, checks
and connects to the vetted address with the connect timeout; the total
timeout is ``webhook_delivery``'s. Connections are not kept between
deliveries: an endpoint is delivered to one request at a time anyway, and
a kept connection would skip the address check of the next one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from treq.client import HTTPClient
from twisted.internet.interfaces import IHostnameResolver, IReactorTime
from twisted.web.client import Agent, HTTPConnectionPool
from twisted.web.iweb import IAgent

from chatservice.config import Config
from chatservice.ssrf import GuardedEndpointFactory
from chatservice.store import IChatStore
from chatservice.timeline import Timeline
from chatservice.webhook_delivery import WebhookDelivery


@dataclass(frozen=True, slots=True)
class WebhookTransport:
    """Where deliveries resolve names and keep time, and which CAs ``https`` trusts.

    A service takes the reactor's; a test gives a fake resolver (names that
    resolve to private addresses), a ``Clock`` for backoff and timeouts, and
    its own self-signed certificate as the trust root.
    """

    resolver: IHostnameResolver
    clock: IReactorTime
    trust_root: Any = None  # an IOpenSSLTrustRoot; None: the platform's CAs

    @classmethod
    def of(cls, reactor: Any) -> WebhookTransport:
        """The reactor's resolver and clock, and the platform's CAs."""
        return cls(reactor.nameResolver, reactor)


def guarded_agent(
    reactor: Any, transport: WebhookTransport, *, allow_private: bool, connect_timeout: float
) -> IAgent:
    """An agent whose every connection passes the SSRF guard, none kept for the next.

    Shared by webhook deliveries and Web Push (``push.guarded_push_http``):
    both POST to URLs a user chose.
    """
    endpoints = GuardedEndpointFactory(
        reactor,
        transport.resolver,
        allow_private=allow_private,
        connect_timeout=connect_timeout,
        trust_root=transport.trust_root,
    )
    pool = HTTPConnectionPool(reactor, persistent=False)
    agent: IAgent = Agent.usingEndpointFactory(reactor, endpoints, pool=pool)
    return agent


def webhook_client(reactor: Any, transport: WebhookTransport, config: Config) -> HTTPClient:
    """A treq client whose every request passes the SSRF guard."""
    agent = guarded_agent(
        reactor,
        transport,
        allow_private=config.webhook_allow_private,
        connect_timeout=config.webhooks.connect_timeout,
    )
    return HTTPClient(agent)


def webhook_delivery(
    store: IChatStore,
    timeline: Timeline,
    reactor: Any,
    config: Config,
    owner: str,
    transport: WebhookTransport | None = None,
) -> WebhookDelivery:
    """The service's webhook deliveries: its store, its settings, the reactor's network."""
    transport = transport or WebhookTransport.of(reactor)
    client = webhook_client(reactor, transport, config)
    return WebhookDelivery(
        store, timeline, client, transport.clock, owner=owner, policy=config.webhooks
    )
