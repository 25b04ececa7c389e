"""Web Push through the whole service: a browser registers over REST, a direct message is pushed.

The service listens on 127.0.0.1:0 and is called with treq. The push
service is inside the test, on TLS (``https://localhost``, a
self-signed certificate the service's agent is told to trust), as real
endpoints are: the subscription passes the same ``https`` check as any.
It verifies the VAPID header and the browser decrypts the push; then it
answers 410 and the subscription is gone.
"""

from __future__ import annotations

import json
from typing import Any

from treq.client import HTTPClient
from twisted.internet import reactor
from twisted.internet.ssl import Certificate
from twisted.trial.unittest import TestCase
from twisted.web.client import Agent, BrowserLikePolicyForHTTPS, HTTPConnectionPool
from twisted.web.server import Site

from chatservice.service import ChatService
from chatservice.store.memory import MemoryStore
from chatservice.webpush import TreqPushHTTP
from tests.fakes import ImmediateThreadPool, config_for_tests
from tests.push_support import (
    PUSH_SETTINGS,
    VAPID_PUBLIC_KEY,
    Browser,
    PushServiceResource,
    TrackingFactory,
    check_vapid,
)
from tests.rest_support import PASSWORD
from tests.tls_support import self_signed


class EndToEndTests(TestCase):
    """REST registration, a direct message, a TLS push service that checks and decrypts."""

    timeout = 30

    async def start(self) -> None:
        """The push service, then the service; both stopped at clean-up."""
        tls = self_signed("localhost")
        self.push_service = PushServiceResource()
        factory = TrackingFactory(Site(self.push_service))
        port = await tls.serve(factory)
        self.addCleanup(port.stopListening)
        self.addCleanup(factory.closed)
        self.origin = f"https://localhost:{port.getHost().port}"  # type: ignore[attr-defined]
        trust = BrowserLikePolicyForHTTPS(trustRoot=Certificate.loadPEM(tls.cert_pem))
        self.service = ChatService(
            config_for_tests(listen=("tcp:0:interface=127.0.0.1",), **PUSH_SETTINGS),
            reactor,
            store=MemoryStore(reactor),
            password_pool=ImmediateThreadPool(),  # type: ignore[arg-type]
            push_http=TreqPushHTTP(Agent(reactor, contextFactory=trust)),
        )
        self.service.startService()
        self.addCleanup(self.service.stopService)
        await self.service.ready
        address = self.service.listening_ports[0].getHost()
        self.base = f"http://127.0.0.1:{address.port}"  # type: ignore[attr-defined]
        # Not persistent: every connection is closed when its answer is read.
        self.client = HTTPClient(
            Agent(reactor, pool=HTTPConnectionPool(reactor, persistent=False))
        )

    async def call(
        self, method: str, path: str, token: str | None = None, body: Any = None
    ) -> Any:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        kwargs: dict[str, Any] = {"headers": headers}
        if body is not None:
            kwargs["json"] = body
        response = await self.client.request(method, self.base + path, **kwargs)
        answer = json.loads(await response.content())
        self.assertLess(response.code, 300, answer)
        return answer

    async def register(self, name: str) -> tuple[str, int]:
        body = {"username": name, "password": PASSWORD}
        answer = await self.call("POST", "/api/register", body=body)
        return answer["token"], answer["user"]["id"]

    async def test_a_direct_message_reaches_the_browser_and_410_unsubscribes_it(self) -> None:
        """Bob's browser decrypts alice's direct message; a 410 later removes his subscription."""
        await self.start()
        alice, _ = await self.register("alice")
        bob, bob_id = await self.register("bob")
        key = await self.call("GET", "/api/push/vapid-public-key")
        self.assertEqual(key, {"public_key": VAPID_PUBLIC_KEY})
        browser = Browser()
        subscription = browser.subscription(f"{self.origin}/push/v1/bob")
        await self.call("POST", "/api/push/subscriptions", bob, subscription)
        room = await self.call("POST", "/api/dms", alice, {"user_id": bob_id})
        body = {"room_id": room["id"], "content": "the build is red, can you look?"}
        sent = await self.call("POST", "/api/messages", alice, body)
        await self.service.push.settled()  # type: ignore[union-attr]

        [push] = self.push_service.received
        self.assertEqual(push.path, "/push/v1/bob")
        claims = check_vapid(push.headers["authorization"], self.origin, reactor.seconds())
        self.assertEqual(claims["k"], VAPID_PUBLIC_KEY)
        payload = browser.decrypt(push.body)
        self.assertEqual(
            {k: payload[k] for k in ("type", "room_id", "message_id", "sender", "excerpt")},
            {
                "type": "direct",
                "room_id": room["id"],
                "message_id": sent["id"],
                "sender": "alice",
                "excerpt": "the build is red, can you look?",
            },
        )

        self.push_service.statuses = [410]
        await self.call("POST", "/api/messages", alice, {**body, "content": "ping"})
        await self.service.push.settled()  # type: ignore[union-attr]
        self.assertEqual(len(self.push_service.received), 2)
        self.assertEqual(await self.call("GET", "/api/push/subscriptions", bob), [])
