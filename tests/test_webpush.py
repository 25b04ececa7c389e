"""Web Push end to end against a push service inside the test, and the sender's retries.

``PushServiceTests`` runs a real push service (twisted.web on 127.0.0.1:0)
that verifies each push's VAPID header and decrypts its body with the
browser's private key, as a browser would. ``SenderTests`` drives the
answers, timeouts and backoff in memory on a ``Clock``.
"""

from __future__ import annotations

from typing import Any

from twisted.internet import reactor
from twisted.internet.defer import CancelledError, Deferred, succeed
from twisted.internet.endpoints import TCP4ServerEndpoint
from twisted.internet.error import ConnectionDone, ConnectionLost
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase, TestCase
from twisted.web.client import Agent, ResponseDone
from twisted.web.server import Site

from chatservice.cluster import LocalCluster
from chatservice.models import Message, NewMessage, NewRoom, Room, User
from chatservice.push_models import NewPushSubscription, PushSubscription
from chatservice.push_notifier import PushNotifier, excerpt
from chatservice.store.memory import MemoryStore
from chatservice.vapid import Vapid, new_key_pair
from chatservice.webpush import (
    DELIVERED,
    FAILED,
    GONE,
    Answer,
    PushSender,
    TreqPushHTTP,
    discard_body,
)
from tests.push_support import (
    Browser,
    EndlessPushService,
    PushServiceResource,
    RecordingPushHTTP,
    TrackingFactory,
    check_vapid,
)

SUBJECT = "mailto:ops@chat.example"
PRIVATE_KEY, PUBLIC_KEY = new_key_pair()
LONG = "word " * 60


async def chat(
    store: MemoryStore, content: str = "hello @bob, are you there?"
) -> tuple[User, User, Room, Message]:
    """Alice and bob, a room, and alice's message in it."""
    alice = await store.create_user("alice", b"hash", 1)
    bob = await store.create_user("bob", b"hash", 1)
    room = await store.create_room(NewRoom("Ops", "", alice.id, 1))
    new = NewMessage(room.id, alice.id, "alice", content, 1_700_000_000_000, None)
    posted = await store.add_messages([new])
    return alice, bob, room, posted[0].message


async def subscribe(store: MemoryStore, user: User, browser: Browser, endpoint: str) -> None:
    """Store ``browser``'s subscription for ``user``, as the REST route would."""
    keys = browser.subscription(endpoint)["keys"]
    new = NewPushSubscription(user.id, endpoint, keys["p256dh"], keys["auth"], 1)
    await store.add_push_subscription(new, 10)


class PushServiceTests(TestCase):
    """A push reaches a real push service signed, encrypted, and only when the user is away."""

    timeout = 20

    async def start(self, *, hide_content: bool = False) -> None:
        self.push_service = PushServiceResource()
        factory = TrackingFactory(Site(self.push_service))
        port = await TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1").listen(factory)
        self.addCleanup(port.stopListening)
        self.addCleanup(factory.closed)  # runs first: connections gone, then the port
        self.origin = f"http://127.0.0.1:{port.getHost().port}"
        self.store = MemoryStore(reactor)
        self.alice, self.bob, self.room, self.message = await chat(self.store)
        self.browser = Browser()
        self.endpoint = f"{self.origin}/wpush/v2/bob-browser"
        await subscribe(self.store, self.bob, self.browser, self.endpoint)
        self.vapid = Vapid(PRIVATE_KEY, SUBJECT, reactor)
        http = TreqPushHTTP(Agent(reactor))
        sender = PushSender(self.vapid, http, reactor, self.store.forget_push_endpoint)
        self.cluster = LocalCluster(reactor)
        self.notifier = PushNotifier(
            self.store, self.cluster, sender, reactor, hide_content=hide_content
        )
        self.addCleanup(self.notifier.stop)

    async def test_a_push_is_vapid_signed_and_only_the_browser_can_read_it(self) -> None:
        """The push service sees a valid VAPID JWT for its origin; the browser decrypts it."""
        await self.start()
        sent = await self.notifier.notify([self.bob.id], self.room, self.message, "mention")
        self.assertEqual(sent, 1)
        [push] = self.push_service.received
        self.assertEqual(push.path, "/wpush/v2/bob-browser")
        claims = check_vapid(push.headers["authorization"], self.origin, reactor.seconds())
        self.assertEqual((claims["sub"], claims["k"]), (SUBJECT, PUBLIC_KEY))
        self.assertEqual(push.headers["content-encoding"], "aes128gcm")
        self.assertEqual(push.headers["ttl"], "86400")
        self.assertNotIn(b"hello", push.body)
        self.assertEqual(
            self.browser.decrypt(push.body),
            {
                "type": "mention",
                "room_id": self.room.id,
                "room_name": "Ops",
                "direct": False,
                "message_id": self.message.id,
                "sender_id": self.alice.id,
                "sender": "alice",
                "ts": 1_700_000_000_000,
                "excerpt": "hello @bob, are you there?",
            },
        )

    async def test_a_410_removes_the_subscription(self) -> None:
        """A push service answering 410 Gone: the subscription is deleted, nothing is retried."""
        await self.start()
        self.push_service.statuses = [410]
        sent = await self.notifier.notify([self.bob.id], self.room, self.message, "mention")
        self.assertEqual((sent, len(self.push_service.received)), (0, 1))
        self.assertEqual(await self.store.push_subscriptions([self.bob.id]), [])

    async def test_no_push_while_the_user_has_an_open_socket(self) -> None:
        """A user with a socket open (anywhere the cluster counts) gets no push."""
        await self.start()
        self.cluster.count_socket(self.bob.id)
        sent = await self.notifier.notify([self.bob.id], self.room, self.message, "mention")
        self.assertEqual((sent, self.push_service.received), (0, []))
        self.cluster.release_socket(self.bob.id)
        sent = await self.notifier.notify([self.bob.id], self.room, self.message, "mention")
        self.assertEqual((sent, len(self.push_service.received)), (1, 1))

    async def test_the_notification_sink_calls_push_to_an_absent_user(self) -> None:
        """``mentioned`` and ``direct_message`` (the mentions code's hooks) push once each."""
        await self.start()
        direct = await self.store.open_direct(self.alice.id, self.bob.id, 1)
        new = NewMessage(direct.id, self.alice.id, "alice", "psst", 1, None)
        [posted] = await self.store.add_messages([new])
        self.notifier.mentioned(self.bob.id, self.message, self.room)
        self.notifier.direct_message(self.bob.id, posted.message, direct)
        self.notifier.mentioned(self.alice.id, self.message, self.room)  # the sender
        # Not a member of that room (any more): no direct push.
        self.notifier.direct_message(self.bob.id, self.message, self.room)
        await self.notifier.settled()
        reasons = sorted(self.browser.decrypt(p.body)["type"] for p in self.push_service.received)
        self.assertEqual(reasons, ["direct", "mention"])

    async def test_the_sender_is_never_pushed_to(self) -> None:
        """Mentioning oneself pushes nothing."""
        await self.start()
        await subscribe(self.store, self.alice, Browser(), f"{self.origin}/alice")
        sent = await self.notifier.notify([self.alice.id], self.room, self.message, "mention")
        self.assertEqual((sent, self.push_service.received), (0, []))

    async def test_encrypted_at_rest_no_content_leaves_in_a_push(self) -> None:
        """With messages encrypted at rest, the payload names room and sender but no excerpt."""
        await self.start(hide_content=True)
        await self.notifier.notify([self.bob.id], self.room, self.message, "mention")
        [push] = self.push_service.received
        payload = self.browser.decrypt(push.body)
        self.assertEqual((payload["excerpt"], payload["sender"]), (None, "alice"))
        self.assertNotIn("there", repr(payload))


class EndlessAnswerTests(TestCase):
    """A push service that never ends its answer loses the connection at the timeout."""

    timeout = 20

    async def test_the_timeout_drops_an_endless_answer(self) -> None:
        """An answer that never ends: at the timeout the connection is dropped."""
        service = EndlessPushService()
        factory = TrackingFactory(Site(service))
        port = await TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1").listen(factory)
        self.addCleanup(port.stopListening)
        self.addCleanup(factory.closed)
        clock = Clock()  # times the attempt; the network runs on the reactor
        sender = PushSender(
            Vapid(PRIVATE_KEY, SUBJECT, clock),
            TreqPushHTTP(Agent(reactor)),
            clock,
            lambda endpoint: succeed(None),
            retry_delays=(),
        )
        endpoint = f"http://127.0.0.1:{port.getHost().port}/endless"
        sending = Deferred.fromCoroutine(sender.send(subscription(endpoint), b"{}"))
        request = await service.arrived
        finished = request.notifyFinish()
        clock.advance(10)
        self.assertEqual(await sending, FAILED)
        await self.assertFailure(finished, ConnectionDone, ConnectionLost)


class DiscardBodyTests(SynchronousTestCase):
    """An answer's body is read and dropped; cancelled, its connection stops."""

    def test_a_body_is_read_to_its_end(self) -> None:
        """The Deferred fires when the body ends, whatever it held."""
        response = FakeResponse()
        reading = discard_body(response)
        response.reader.dataReceived(b"x" * 100_000)
        self.assertNoResult(reading)
        response.reader.connectionLost(Failure(ResponseDone()))
        self.assertIsNone(self.successResultOf(reading))

    def test_cancelling_stops_the_connection(self) -> None:
        """The attempt's timeout cancels the read: the transport stops producing (is dropped)."""
        response = FakeResponse()
        reading = discard_body(response)
        reading.cancel()
        self.assertEqual(response.transport.producerState, "stopped")
        self.failureResultOf(reading, CancelledError)


class FakeResponse:
    """What ``discard_body`` uses of a response: ``deliverBody``."""

    def __init__(self) -> None:
        self.transport = StringTransport()

    def deliverBody(self, protocol: Any) -> None:  # noqa: N802 - twisted.web's name
        self.reader = protocol
        protocol.makeConnection(self.transport)


def subscription(endpoint: str = "https://push.example/send/abc") -> PushSubscription:
    """A stored subscription of a new browser."""
    browser = Browser()
    keys = browser.subscription(endpoint)["keys"]
    return PushSubscription(1, 2, endpoint, keys["p256dh"], keys["auth"], 1)


class SenderTests(SynchronousTestCase):
    """The sender's answers: retries with backoff and timeouts, drops, give-ups."""

    def setUp(self) -> None:
        self.clock = Clock()
        self.http = RecordingPushHTTP()
        self.forgotten: list[str] = []
        self.vapid = Vapid(PRIVATE_KEY, SUBJECT, self.clock)
        self.sender = PushSender(self.vapid, self.http, self.clock, self.forget)

    async def forget(self, endpoint: str) -> None:
        self.forgotten.append(endpoint)

    def send(self) -> Deferred[str]:
        return Deferred.fromCoroutine(self.sender.send(subscription(), b'{"a": 1}', "room5"))

    def test_5xx_and_429_are_retried_after_a_backoff(self) -> None:
        """503, 429 (Retry-After 5), 201: delivered on the third attempt, after 2 + 10 s."""
        self.http.answers = [Answer(503), Answer(429, retry_after=5.0), Answer(201)]
        sending = self.send()
        self.assertEqual(len(self.http.sent), 1)
        self.clock.advance(1.9)
        self.assertEqual(len(self.http.sent), 1)
        self.clock.advance(0.1)  # the first backoff: 2 s
        self.assertEqual(len(self.http.sent), 2)
        self.clock.advance(4.9)  # the second backoff (10 s) is longer than Retry-After
        self.assertEqual(len(self.http.sent), 2)
        self.clock.advance(5.1)
        self.assertEqual(self.successResultOf(sending), DELIVERED)
        self.assertEqual(len(self.http.sent), 3)
        self.assertEqual(self.forgotten, [])

    def test_retries_are_bounded(self) -> None:
        """Three 500s: given up after the third attempt."""
        self.http.answers = [Answer(500)] * 5
        sending = self.send()
        self.clock.pump([2.0, 10.0])
        self.assertEqual(self.successResultOf(sending), FAILED)
        self.assertEqual(len(self.http.sent), 3)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_every_attempt_has_a_timeout(self) -> None:
        """A push service that never answers: each attempt is cut at 10 s, then given up."""
        hanging: list[Deferred[Answer]] = [Deferred() for _ in range(3)]
        self.http.answers = list(hanging)
        sending = self.send()
        self.clock.pump([10.0, 2.0, 10.0, 10.0, 10.0])
        self.assertEqual(self.successResultOf(sending), FAILED)
        self.assertEqual(len(self.http.sent), 3)
        # Each one was cancelled by its timeout (nothing else would fire it).
        self.assertEqual([request.called for request in hanging], [True] * 3)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_404_forgets_the_endpoint(self) -> None:
        """404 (like 410): the subscription is dropped at once."""
        self.http.answers = [Answer(404)]
        self.assertEqual(self.successResultOf(self.send()), GONE)
        self.assertEqual(self.forgotten, ["https://push.example/send/abc"])

    def test_other_refusals_are_not_retried(self) -> None:
        """400, 401, 403 and 413 are given up at once: trying again would not help."""
        for status in (400, 401, 403, 413):
            self.http.answers = [Answer(status)]
            self.assertEqual(self.successResultOf(self.send()), FAILED)
        self.assertEqual(len(self.http.sent), 4)

    def test_the_request_headers(self) -> None:
        """Encrypted body, VAPID for the endpoint's origin, TTL, urgency and the room's topic."""
        self.successResultOf(self.send())
        [sent] = self.http.sent
        self.assertEqual(
            {k: v for k, v in sent.headers.items() if k != "Authorization"},
            {
                "Content-Encoding": "aes128gcm",
                "Content-Type": "application/octet-stream",
                "TTL": "86400",
                "Urgency": "high",
                "Topic": "room5",
            },
        )
        claims = check_vapid(sent.headers["Authorization"], "https://push.example", 0)
        self.assertEqual(claims["exp"], 12 * 3600)

    def test_the_vapid_token_is_reused_until_it_nears_expiry(self) -> None:
        """One signature per origin for 11 hours, then a new one."""
        first = self.vapid.authorization("https://push.example")
        self.clock.advance(11 * 3600 - 1)
        self.assertEqual(self.vapid.authorization("https://push.example"), first)
        self.assertNotEqual(self.vapid.authorization("https://other.example"), first)
        self.clock.advance(2)
        self.assertNotEqual(self.vapid.authorization("https://push.example"), first)


class ExcerptTests(SynchronousTestCase):
    """The payload's excerpt is short and on one line."""

    def test_an_excerpt_is_at_most_100_characters(self) -> None:
        """Long text is cut with an ellipsis; whitespace runs become one space."""
        cut = excerpt(LONG)
        self.assertEqual((len(cut), cut[-1]), (100, "…"))
        self.assertEqual(excerpt("a\n\n  b\tc"), "a b c")
        self.assertEqual(excerpt("x" * 100), "x" * 100)
