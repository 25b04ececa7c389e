"""Must-show 2: webhooks to a real HTTPS receiver in the test, through failures and a restart.

A real ``ChatService`` on a SQLite file and a real port; a real HTTPS
receiver (self-signed certificate for ``hooks.test``, which a fake
resolver maps to 127.0.0.1, ``WEBHOOK_ALLOW_PRIVATE`` on) that checks every
signature. Backoff and timeouts run on a ``Clock`` the test advances; the
network is real. The receiver answers, then fails with 503, then never
answers (timeouts), then is gone (a closed port) while the service is
restarted; afterwards every event after the registration was accepted
exactly once and in order, or is in the dead-letter list. While deliveries
are failing and one is in flight, a message sent over one WebSocket reaches
another, and the delivery that hangs is still unanswered when it does: the
broadcast did not wait for it (no wall-clock bound: that would be a timed
unit test, and a slow machine would fail it).
"""

from __future__ import annotations

from typing import Any

import treq
from twisted.internet import reactor
from twisted.internet.interfaces import IListeningPort
from twisted.internet.ssl import Certificate, trustRootFromCertificates
from twisted.internet.task import Clock
from twisted.trial.unittest import TestCase
from twisted.web.client import HTTPConnectionPool
from twisted.web.server import Site

from chatservice.hook_models import DeliveryPolicy
from chatservice.service import ChatService
from chatservice.store.sql import SQLStore
from chatservice.webhook_client import WebhookTransport
from chatservice.wire import CredentialsForm
from tests.fakes import ImmediateThreadPool, config_for_tests
from tests.tls_support import self_signed
from tests.webhook_support import FakeResolver, Receiver
from tests.wsclient import RecordingClient, join_tcp, serve_tcp, stop_service

POLICY = DeliveryPolicy(
    retry_for=20.0, backoff_base=1.0, backoff_max=4.0, timeout=5.0, poll_interval=1.0
)


class WebhookEndToEndTests(TestCase):
    """Signed, ordered, retried, dead-lettered, and durable across a restart."""

    timeout = 90

    async def start_receiver(self, port: int = 0) -> IListeningPort:
        """Listen with TLS on 127.0.0.1 (a given port to come back on it)."""
        self.listening = await self.cert.serve(Site(self.receiver), port)
        return self.listening

    async def stop_receiver(self) -> None:
        """Close the receiver's port (and any request left hanging)."""
        for request in self.receiver.hanging:
            if request.channel is not None:
                request.channel.transport.abortConnection()  # type: ignore[union-attr]
        self.receiver.hanging.clear()
        stopping = self.listening.stopListening()
        if stopping is not None:
            await stopping

    def make_service(self) -> ChatService:
        """A service on the test's SQLite file, delivering on the test's clock and resolver."""
        config = config_for_tests(
            listen=("tcp:0:interface=127.0.0.1",),
            webhook_allow_private=True,
            webhook_retry_for=POLICY.retry_for,
            webhook_backoff_base=POLICY.backoff_base,
            webhook_backoff_max=POLICY.backoff_max,
            webhook_timeout=POLICY.timeout,
            webhook_poll_interval=POLICY.poll_interval,
        )
        return ChatService(
            config,
            reactor,
            store=SQLStore.sqlite(self.db_path, reactor),
            password_pool=ImmediateThreadPool(),  # type: ignore[arg-type]
            webhook_transport=self.transport,
        )

    async def api(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """A REST call to the service as alice."""
        headers: dict[bytes | str, bytes | str] = {"Authorization": f"Bearer {self.token}"}
        response = await treq.request(
            method,
            f"http://127.0.0.1:{self.port}{path}",
            json=body,
            headers=headers,
            pool=HTTPConnectionPool(reactor, persistent=False),
        )
        return response.code, await response.json()

    async def next_attempt(self) -> None:
        """Advance the clock to the webhook's next attempt (and a poll), and let it finish."""
        hook = await self.service.store.get_webhook(self.hook_id)
        wait = max(hook.next_attempt_at / 1000 - self.clock.seconds(), 0.0)
        self.clock.advance(wait + POLICY.poll_interval)
        await self.service.webhook_delivery.settled()

    async def broadcast(self, alice: RecordingClient, bob: RecordingClient) -> None:
        """Send one message over alice's socket; return once bob and alice both have it."""
        bob.inbox.pending.clear()  # what bob heard before
        alice.send_json({"content": "broadcast probe"})
        while (await bob.next_of("message"))["content"] != "broadcast probe":
            pass  # one alice sent before, still on its way to bob
        while (await alice.next_of("message"))["content"] != "broadcast probe":
            pass

    async def say(self, client: RecordingClient, *contents: str) -> None:
        """Send messages over a socket; return once each is committed (echoed back)."""
        for content in contents:
            client.send_json({"content": content})
            self.assertEqual((await client.next_of("message"))["content"], content)

    async def test_every_event_is_delivered_once_in_order_or_dead_lettered(self) -> None:
        """5xx, timeouts, a closed port and a restart: nothing lost, nothing twice, no stalls."""
        self.cert = self_signed("hooks.test")
        self.clock = Clock()
        self.clock.advance(reactor.seconds())
        self.receiver = Receiver(now=self.clock.seconds)
        receiver_port = (await self.start_receiver()).getHost().port  # type: ignore[attr-defined]
        self.addCleanup(self.stop_receiver)
        trust = trustRootFromCertificates([Certificate.loadPEM(self.cert.cert_pem)])
        resolver = FakeResolver({"hooks.test": ["127.0.0.1"]})
        self.transport = WebhookTransport(resolver, self.clock, trust)
        self.db_path = self.mktemp() + ".sqlite3"

        self.service = self.make_service()
        self.port = await serve_tcp(self, self.service)
        session = await self.service.accounts.register(CredentialsForm("alice", "password-1"))
        self.token = session.token
        await self.service.store.set_admin("alice", True)
        bob = await self.service.accounts.register(CredentialsForm("bob", "password-1"))
        alice_ws = await join_tcp(self, reactor, self.port, self.token)
        bob_ws = await join_tcp(self, reactor, self.port, bob.token)

        # A server admin registers a webhook on General (it has no owner).
        url = f"https://hooks.test:{receiver_port}/hook"
        status, created = await self.api("POST", "/api/rooms/1/webhooks", {"url": url})
        self.assertEqual(status, 201, created)
        self.hook_id, self.receiver.secret = created["id"], created["secret"]
        start = created["delivered_through"]

        # 1. The receiver answers: delivered, signed, to the name it was given.
        await self.say(alice_ws, "one", "two", "three")
        await self.next_attempt()
        self.assertEqual(len(self.receiver.accepted), 3)
        self.assertTrue(all(d.signed for d in self.receiver.received))
        self.assertEqual(self.receiver.received[0].host, f"hooks.test:{receiver_port}")

        # 2. It fails with 503 for a while: retried with backoff, nothing skipped.
        self.receiver.mode = "fail"
        await self.say(alice_ws, "four", "five")
        for _ in range(3):
            await self.next_attempt()
            await self.broadcast(alice_ws, bob_ws)
        hook = await self.service.store.get_webhook(self.hook_id)
        self.assertEqual((hook.attempts, hook.last_error), (3, "HTTP 503"))

        # 3. It stops answering: a delivery hangs in flight while a broadcast
        # goes through, then times out on the clock.
        self.receiver.mode = "hang"
        hook = await self.service.store.get_webhook(self.hook_id)
        self.clock.advance(max(hook.next_attempt_at / 1000 - self.clock.seconds(), 0) + 1)
        await self.receiver.next_request()
        self.assertTrue(self.service.webhook_delivery.running)
        [hanging] = self.receiver.hanging
        answered_or_dropped = hanging.notifyFinish()
        await self.broadcast(alice_ws, bob_ws)
        # Delivered while the hook's request is still open and unanswered.
        self.assertIn(self.hook_id, self.service.webhook_delivery.running)
        self.assertFalse(answered_or_dropped.called)
        answered_or_dropped.addErrback(lambda _: None)  # dropped by the timeout below
        self.clock.advance(POLICY.timeout)
        await self.service.webhook_delivery.settled()
        hook = await self.service.store.get_webhook(self.hook_id)
        self.assertEqual(hook.last_error, "no answer within 5 s")

        # 4. It is gone (a closed port) until the head is dead-lettered and
        # the next event fails too.
        await self.stop_receiver()
        for _ in range(30):
            await self.next_attempt()
            if await self.service.store.list_dead_letters(self.hook_id, None, 10):
                break
        [letter] = await self.service.store.list_dead_letters(self.hook_id, None, 10)
        self.assertIn("refused", letter.last_error.lower())
        await self.say(alice_ws, "six")
        await self.broadcast(alice_ws, bob_ws)
        await self.next_attempt()

        # 5. The service restarts while the receiver is still gone; then it comes back.
        await stop_service(self.service)
        self.service = self.make_service()
        self.port = await serve_tcp(self, self.service)
        self.receiver.mode = "ok"
        await self.start_receiver(receiver_port)
        for _ in range(10):
            await self.next_attempt()
        hook = await self.service.store.get_webhook(self.hook_id)
        self.assertEqual((hook.attempts, hook.last_error), (0, None))

        # Every event after the registration: accepted once, in order, or dead.
        expected = [e.id for e in await self.service.timeline.page(1, start, 1000)]
        accepted = [d.event_id for d in self.receiver.accepted]
        dead = [
            d.event_id for d in await self.service.store.list_dead_letters(self.hook_id, None, 100)
        ]
        self.assertEqual(len(accepted), len(set(accepted)), "an event was accepted twice")
        self.assertEqual(accepted, sorted(accepted), "events were accepted out of order")
        self.assertEqual(sorted(accepted + dead), expected)
        self.assertEqual(dead, [letter.event_id])
        self.assertTrue(all(d.signed for d in self.receiver.received))
        self.assertEqual(
            {d.delivery for d in self.receiver.received},
            {f"{self.hook_id}.{e}" for e in expected},
        )

        # The owner sees the dead letter with its error, and can have it sent again.
        status, letters = await self.api(
            "GET", f"/api/rooms/1/webhooks/{self.hook_id}/dead-letters"
        )
        self.assertEqual((status, [d["event_id"] for d in letters]), (200, dead))
        status, retried = await self.api(
            "POST", f"/api/rooms/1/webhooks/{self.hook_id}/dead-letters/{letter.id}/retry"
        )
        self.assertEqual((status, retried["retry_pending"]), (200, True))
        await self.next_attempt()
        self.assertEqual(self.receiver.accepted[-1].event_id, letter.event_id)
        self.assertEqual(await self.service.store.list_dead_letters(self.hook_id, None, 10), [])
